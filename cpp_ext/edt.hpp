// Exact Euclidean distance transform (Felzenszwalb & Huttenlocher 2012), 1 to 3 dimensions, anisotropic spacing.
// Pure C++: no Python here. Arrays are C-contiguous, axis order as given (e.g. [slices, rows, cols]).
//
// Semantics follow scipy.ndimage.distance_transform_edt: every nonzero element gets the distance to the nearest
// zero element, zeros get 0. A mask with no zero element at all gets +inf everywhere (documented in Python).
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace radseg {

constexpr float kInf = std::numeric_limits<float>::infinity();

namespace detail {

// 1D squared distance along a line of binary values: 0 on zeros, (k * spacing)^2 for k steps to the nearest zero.
inline void binary_line_sq(const uint8_t* in, std::ptrdiff_t stride_in, float* out, std::ptrdiff_t stride_out,
                           int64_t n, double spacing) {
    // Forward then backward scan of the step count; inf while no zero has been seen.
    const float inf = kInf;
    float d = inf;
    for (int64_t i = 0; i < n; ++i) {
        d = in[i * stride_in] ? (d == inf ? inf : d + 1.0f) : 0.0f;
        out[i * stride_out] = d;
    }
    d = inf;
    for (int64_t i = n - 1; i >= 0; --i) {
        d = in[i * stride_in] ? (d == inf ? inf : d + 1.0f) : 0.0f;
        float cur = out[i * stride_out];
        if (d < cur) cur = d;
        const float mm = cur == inf ? inf : static_cast<float>(cur * spacing);
        out[i * stride_out] = mm == inf ? inf : mm * mm;
    }
}

// Lower envelope of parabolas: out[i] = min_j f[j] + ((i - j) * spacing)^2, in place on a gathered line.
// v, z, g are scratch buffers of size n, n + 1, n.
inline void envelope_line(float* f, int64_t n, double spacing, int64_t* v, double* z, float* g) {
    const double s2 = spacing * spacing;
    int64_t k = -1;
    for (int64_t q = 0; q < n; ++q) {
        g[q] = f[q];
        if (f[q] == kInf) continue;
        if (k < 0) {
            k = 0; v[0] = q; z[0] = -std::numeric_limits<double>::infinity();
            z[1] = std::numeric_limits<double>::infinity();
            continue;
        }
        double s;
        for (;;) {
            const int64_t p = v[k];
            // Intersection of the parabolas rooted at p and q, in units of index.
            s = ((f[q] + s2 * q * q) - (f[p] + s2 * p * p)) / (2.0 * s2 * (q - p));
            if (s <= z[k] && k > 0) { --k; continue; }
            if (s <= z[k]) { k = -1; }  // q dominates the only parabola left
            break;
        }
        ++k;
        v[k] = q; z[k] = (k == 0) ? -std::numeric_limits<double>::infinity() : s;
        z[k + 1] = std::numeric_limits<double>::infinity();
    }
    if (k < 0) return;  // no finite value on this line: leave it at inf
    int64_t j = 0;
    for (int64_t i = 0; i < n; ++i) {
        while (z[j + 1] < static_cast<double>(i)) ++j;
        const double d = static_cast<double>(i - v[j]) * spacing;
        f[i] = static_cast<float>(g[v[j]] + d * d);
    }
}

}  // namespace detail

// Squared exact EDT of `mask` (nonzero = foreground) into `out` (same number of elements), in mm^2 when spacing is
// in mm. shape and spacing have 1 to 3 entries, in the array's axis order.
inline void squared_edt(const uint8_t* mask, const std::vector<int64_t>& shape, const std::vector<double>& spacing,
                        float* out) {
    const int nd = static_cast<int>(shape.size());
    std::vector<int64_t> strides(nd, 1);
    for (int a = nd - 2; a >= 0; --a) strides[a] = strides[a + 1] * shape[a + 1];
    int64_t total = 1;
    for (auto s : shape) total *= s;
    if (total == 0) return;

    // Pass 1: binary distances along the last (contiguous) axis.
    const int64_t n_last = shape[nd - 1];
    const int64_t lines_last = total / n_last;
#pragma omp parallel for schedule(static)
    for (int64_t l = 0; l < lines_last; ++l)
        detail::binary_line_sq(mask + l * n_last, 1, out + l * n_last, 1, n_last, spacing[nd - 1]);

    // Passes 2..nd: parabola envelopes along each remaining axis, gathering each line into a buffer.
    for (int a = nd - 2; a >= 0; --a) {
        const int64_t n = shape[a], stride = strides[a];
        const int64_t lines = total / n;
#pragma omp parallel
        {
            std::vector<float> line(n), g(n);
            std::vector<int64_t> v(n);
            std::vector<double> z(n + 1);
#pragma omp for schedule(static)
            for (int64_t l = 0; l < lines; ++l) {
                // Line l: the index with axis a removed; `outer` above a, `inner` below.
                const int64_t outer = l / stride, inner = l % stride;
                float* base = out + outer * stride * n + inner;
                for (int64_t i = 0; i < n; ++i) line[i] = base[i * stride];
                detail::envelope_line(line.data(), n, spacing[a], v.data(), z.data(), g.data());
                for (int64_t i = 0; i < n; ++i) base[i * stride] = line[i];
            }
        }
    }
}

}  // namespace radseg
