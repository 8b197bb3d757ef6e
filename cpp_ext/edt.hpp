// Exact Euclidean distance transform (Felzenszwalb & Huttenlocher 2012), 1 to 3 dimensions, anisotropic spacing.
// Pure C++: no Python here. Arrays are C-contiguous, axis order as given (e.g. [slices, rows, cols]).
//
// Semantics follow scipy.ndimage.distance_transform_edt: every nonzero element gets the distance to the nearest
// zero element, zeros get 0. A mask with no zero element at all gets +inf everywhere (documented in Python).
//
// Pass order (all exact; the order of the separable passes does not change the result):
//   1. a binary forward/backward scan along axis 0, done row by row over the contiguous remaining axes, so it is a
//      vectorised streaming loop with no gathers;
//   2. (3D) per slice, the parabola lower envelope along axis 1, on tiles of kTile adjacent columns copied into
//      contiguous lines (one cache line per row read), then written back;
//   3. per row, the lower envelope along the last, contiguous axis, in place.
// Passes 2 and 3 run slice by slice while the slice is in cache, OpenMP-parallel across slices (or rows in 2D),
// with a dynamic schedule, in one parallel region; inputs below kParallelMin elements run on one thread.
// Envelopes use float arithmetic with division-free boundary comparisons, skip +inf samples and the interior zeros
// of zero runs, and are split at zeros: a run of nonzero samples only needs the parabolas between its bounding
// zeros, and short runs take a branch-free brute-force minimum instead (envelope_line_runs). The output of an
// envelope is written by a branch-free owner scan (running max of segment starts).
// surface.hpp reuses the pieces (binary_scan_axis0, envelope_axis0_tiled, envelope_line_sampled).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#ifdef _OPENMP
#include <omp.h>
#endif

// Hot streaming loops get an AVX2 clone picked at load time (portable binary, no -march needed).
#if defined(__x86_64__) && defined(__GNUC__) && !defined(RADSEG_NO_CLONES)
#define RADSEG_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define RADSEG_CLONES
#endif

// The streaming loops convert uint8 to float, which GCC only vectorises without -ftrapping-math; this header does
// not rely on floating-point exceptions, so it opts out for its own functions (restored at the end of the file).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC push_options
#pragma GCC optimize("no-trapping-math")
#define RADSEG_EDT_POP_OPTIONS
#endif

namespace radseg {

constexpr float kInf = std::numeric_limits<float>::infinity();

namespace detail {

// Local min: std::min lives outside this file's optimisation options and would not be inlined here.
inline float fmin2(float a, float b) { return b < a ? b : a; }
inline int64_t imin2(int64_t a, int64_t b) { return b < a ? b : a; }

constexpr int64_t kTile = 16;
// Below this many elements the transform runs on one thread: a 512 x 512 image takes about 1 ms there, and a fork
// plus barrier can cost a scheduler time slice when the cores are shared with other processes.
constexpr int64_t kParallelMin = 1 << 19;  // adjacent columns per strided-axis tile: 64 bytes of float per row

// Squared distance along axis 0 of a [n, m] row-major block (row stride `m`), for columns [c0, c1):
// out = (steps to the nearest zero in the same column)^2 * s2, +inf where the column has no zero.
// `back` is scratch of at least c1 - c0 floats. Written as branch-free float arithmetic so that it vectorises:
// a column with no zero yet counts from kBig, whose square overflows to +inf at the end.
RADSEG_CLONES inline void binary_scan_axis0(const uint8_t* in, float* out, int64_t n, int64_t m, int64_t c0,
                                            int64_t c1, float s2, float* back) {
    constexpr float kBig = 1e30f;
    const int64_t w = c1 - c0;
    {
        const uint8_t* r = in + c0;
        float* o = out + c0;
        for (int64_t c = 0; c < w; ++c) o[c] = kBig * fmin2(static_cast<float>(r[c]), 1.0f);
    }
    for (int64_t i = 1; i < n; ++i) {
        const uint8_t* r = in + i * m + c0;
        const float* prev = out + (i - 1) * m + c0;
        float* o = out + i * m + c0;
        for (int64_t c = 0; c < w; ++c) o[c] = (prev[c] + 1.0f) * fmin2(static_cast<float>(r[c]), 1.0f);
    }
    for (int64_t c = 0; c < w; ++c) back[c] = kBig;
    for (int64_t i = n - 1; i >= 0; --i) {
        const uint8_t* r = in + i * m + c0;
        float* o = out + i * m + c0;
        for (int64_t c = 0; c < w; ++c) {
            const float b = (back[c] + 1.0f) * fmin2(static_cast<float>(r[c]), 1.0f);
            back[c] = b;
            const float d = fmin2(o[c], b);
            o[c] = d * d * s2;  // kBig^2 overflows to +inf
        }
    }
}

// Scratch for one envelope of length <= n: parabola roots v, their heights h, boundaries z (n + 1).
struct EnvelopeScratch {
    std::vector<int32_t> v_buf, own_buf;
    std::vector<float> h_buf, z_buf, zd_buf, tile_buf;
    int32_t *v, *own;  // raw views, taken once: the hot loops must not call into std::vector
    float *h, *z, *zd, *tile;
    explicit EnvelopeScratch(int64_t n, int64_t tile_len = 0)
        : v_buf(n + 1), own_buf(n + 1), h_buf(n + 1), z_buf(n + 2), zd_buf(n + 2), tile_buf(tile_len),
          v(v_buf.data()), own(own_buf.data()), h(h_buf.data()), z(z_buf.data()), zd(zd_buf.data()),
          tile(tile_buf.data()) {}
};

// Lower envelope of the parabolas rooted at the finite samples of f (interior zeros of zero runs skipped): roots
// v[0..k], heights h, boundaries z[0..k+1] (z[0] = -inf, z[k+1] = +inf). Returns k, or -1 when f has no finite value.
inline int64_t build_envelope(const float* f, int64_t n, float s2, int32_t* v, float* h, float* z, float* zd) {
    const float inv2s2 = 0.5f / s2;
    int64_t k = -1;
    for (int64_t q = 0; q < n; ++q) {
        const float fq = f[q];
        if (fq == kInf) continue;
        if (fq == 0.0f && q > 0 && q + 1 < n && f[q - 1] == 0.0f && f[q + 1] == 0.0f) continue;
        const float qf = static_cast<float>(q);
        // The parabolas rooted at p and q meet at sx = num / (q - p). Boundaries are kept as fractions z / zd and
        // compared by cross-multiplication, so no division sits on the loop's dependency chain; they are divided
        // out once at the end. num is within a few ulps of |sx| * (q - p) <= n * (q - p).
        float num = 0.0f, dq = 1.0f;
        while (k >= 0) {
            const float p = static_cast<float>(v[k]);
            dq = qf - p;
            num = (fq - h[k]) * inv2s2 + 0.5f * (qf * qf - p * p);
            if (num * zd[k] > z[k] * dq) break;
            --k;
        }
        ++k;
        v[k] = static_cast<int32_t>(q);
        h[k] = fq;
        if (k == 0) {
            z[0] = -kInf;
            zd[0] = 1.0f;
        } else {
            z[k] = num;
            zd[k] = dq;
        }
    }
    if (k < 0) return k;
    for (int64_t j = 1; j <= k; ++j) z[j] /= zd[j];
    z[k + 1] = kInf;
    return k;
}

// In place: f[i] <- min_j f[j] + s2 * (i - j)^2 over one contiguous line of length n. Returns false (and leaves f
// untouched) when f has no finite value.
inline bool envelope_line(float* f, int64_t n, float s2, EnvelopeScratch& s) {
    int32_t* v = s.v;
    float* h = s.h;
    float* z = s.z;
    const int64_t k = build_envelope(f, n, s2, v, h, z, s.zd);
    if (k < 0) return false;
    // Parabola j owns the samples i with z[j] < i <= z[j + 1]. Segments are short (one or two samples), so instead
    // of walking them with data-dependent branches, mark where each one starts and take a running max: the owner of
    // i is the last parabola starting at or before i. Both loops are branch-free.
    int32_t* own = s.own;
    for (int64_t i = 0; i < n; ++i) own[i] = 0;
    const float last = static_cast<float>(n - 1);
    for (int64_t j = 1; j <= k; ++j) {
        const float zj = z[j];
        if (zj >= last) break;  // starts beyond the line; the starts only grow with j
        own[zj < 0.0f ? 0 : static_cast<int64_t>(zj) + 1] = static_cast<int32_t>(j);
    }
    int32_t cur = 0;
    for (int64_t i = 0; i < n; ++i) {
        cur = own[i] > cur ? own[i] : cur;
        const float d = static_cast<float>(i - v[cur]);
        const float e = h[cur] + s2 * d * d;
        f[i] = f[i] == 0.0f ? 0.0f : e;  // zeros stay zero (interior zeros were not pushed)
    }
    return true;
}

// envelope_line, split at zeros. A run of nonzero samples [a, b] only needs the parabolas rooted in [a - 1, b + 1]:
// one rooted beyond a zero is dominated everywhere on the run by that zero's own parabola. Short runs (typical of
// binary images: the zeros are the background) take a branch-free brute-force minimum over that window; long ones
// the envelope. Same result as envelope_line; returns false when f has no finite value.
inline bool envelope_line_runs(float* f, int64_t n, float s2, EnvelopeScratch& s) {
    constexpr int64_t kShort = 6;
    float win[kShort + 2];
    bool finite = false;
    int64_t i = 0;
    while (i < n) {
        if (f[i] == 0.0f) {
            finite = true;
            ++i;
            continue;
        }
        const int64_t a = i;
        while (i < n && f[i] != 0.0f) ++i;
        const int64_t b = i - 1;
        const int64_t lo = a > 0 ? a - 1 : a, hi = b + 1 < n ? b + 1 : b;
        const int64_t len = hi - lo + 1;
        if (b - a + 1 <= kShort) {
            if (lo == a && hi == b) {  // a short line with no zero at all: the envelope handles the inf cases
                finite |= envelope_line(f + lo, len, s2, s);
                continue;
            }
            for (int64_t j = 0; j < len; ++j) win[j] = f[lo + j];
            for (int64_t x = a; x <= b; ++x) {
                float best = kInf;
                const float xf = static_cast<float>(x - lo);
                for (int64_t j = 0; j < len; ++j) {
                    const float d = xf - static_cast<float>(j);
                    const float c = win[j] + s2 * d * d;
                    best = c < best ? c : best;
                }
                f[x] = best;
            }
            finite = true;
        } else {
            finite |= envelope_line(f + lo, len, s2, s);
        }
    }
    return finite;
}

// As envelope_line, but only the samples i with query[i] != 0 get their final value (the others keep their
// input). Used when a transform is sampled at a few points per row (surface metrics). Returns false when the row
// has no query or no finite value.
inline bool envelope_line_sampled(float* f, int64_t n, float s2, EnvelopeScratch& s, const uint8_t* query) {
    uint8_t any = 0;
    for (int64_t i = 0; i < n; ++i) any |= query[i];
    if (!any) return false;
    int32_t* v = s.v;
    float* h = s.h;
    float* z = s.z;
    const int64_t k = build_envelope(f, n, s2, v, h, z, s.zd);
    if (k < 0) return false;
    int64_t j = 0;
    for (int64_t i = 0; i < n; ++i) {
        if (!query[i] || f[i] == 0.0f) continue;
        const float x = static_cast<float>(i);
        while (z[j + 1] < x) ++j;
        const float d = x - static_cast<float>(v[j]);
        f[i] = h[j] + s2 * d * d;
    }
    return true;
}

// Envelope along axis 0 of a [n, m] row-major slice (row stride m), columns processed kTile at a time through a
// transposed tile so every line the envelope sees is contiguous.
inline void envelope_axis0_tiled(float* a, int64_t n, int64_t m, float s2, EnvelopeScratch& s) {
    float* t = s.tile;
    for (int64_t c0 = 0; c0 < m; c0 += kTile) {
        const int64_t w = imin2(kTile, m - c0);
        for (int64_t i = 0; i < n; ++i) {
            const float* r = a + i * m + c0;
            for (int64_t b = 0; b < w; ++b) t[b * n + i] = r[b];
        }
        uint32_t changed = 0;
        for (int64_t b = 0; b < w; ++b)
            if (envelope_line_runs(t + b * n, n, s2, s)) changed |= 1u << b;
        if (!changed) continue;  // every line all-inf: nothing to write back
        for (int64_t i = 0; i < n; ++i) {
            float* r = a + i * m + c0;
            for (int64_t b = 0; b < w; ++b) r[b] = t[b * n + i];
        }
    }
}

RADSEG_CLONES inline void sqrt_inplace(float* a, int64_t n) {
    for (int64_t i = 0; i < n; ++i) a[i] = __builtin_sqrtf(a[i]);  // std::sqrt would not inline here
}

inline int num_threads() {
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

}  // namespace detail

// Squared exact EDT of `mask` (nonzero = foreground) into `out` (same number of elements), in mm^2 when spacing is
// in mm. shape and spacing have 1 to 3 entries, in the array's axis order.
//
// `take_sqrt` returns distances instead of squared distances (the root is taken row by row while the row is in
// cache).
inline void squared_edt(const uint8_t* mask, const std::vector<int64_t>& shape, const std::vector<double>& spacing,
                        float* out, bool take_sqrt = false) {
    const int nd = static_cast<int>(shape.size());
    int64_t total = 1;
    for (auto s : shape) total *= s;
    if (total == 0) return;
    const int64_t n0 = shape[0];
    const int64_t m = total / n0;  // elements per index of axis 0
    const float s2_0 = static_cast<float>(spacing[0] * spacing[0]);

    const int64_t n_last = shape[nd - 1];
    const float s2_last = static_cast<float>(spacing[nd - 1] * spacing[nd - 1]);
    const int64_t n1 = nd == 3 ? shape[1] : 1;
    const float s2_1 = nd == 3 ? static_cast<float>(spacing[1] * spacing[1]) : 1.0f;
    const int threads = detail::num_threads();
    // Work is handed out in pieces several times smaller than a thread's share (dynamic schedule): when the cores
    // are shared with other processes and one thread is descheduled, the others take over its remaining pieces
    // instead of waiting for it at the barrier.
    const int64_t chunk = std::max<int64_t>(1024, (m + 8 * threads - 1) / (8 * threads));
    const int64_t nchunks = (m + chunk - 1) / chunk;

    // One parallel region (a single fork and one barrier between the passes): cheap for small 2D images and
    // robust when the cores are shared with other processes.
#pragma omp parallel if (total >= detail::kParallelMin)
    {
        std::vector<float> back(chunk);
        detail::EnvelopeScratch s(std::max(n1, n_last), nd == 3 ? n1 * detail::kTile : 0);

        // Pass 1: binary scan along axis 0, over column chunks of the [n0, m] view.
#pragma omp for schedule(dynamic)
        for (int64_t c = 0; c < nchunks; ++c) {
            const int64_t c0 = c * chunk, c1 = std::min(m, c0 + chunk);
            detail::binary_scan_axis0(mask, out, n0, m, c0, c1, s2_0, back.data());
        }
        if (nd == 1) {
            if (take_sqrt) {
#pragma omp single
                detail::sqrt_inplace(out, total);
            }
        } else if (nd == 2) {
            // Pass 2: envelope along the contiguous axis, row by row.
#pragma omp for schedule(dynamic, 16)
            for (int64_t r = 0; r < n0; ++r) {
                float* row = out + r * n_last;
                detail::envelope_line_runs(row, n_last, s2_last, s);
                if (take_sqrt) detail::sqrt_inplace(row, n_last);
            }
        } else {
            // 3D: passes 2 and 3 slice by slice, while the slice is in cache.
#pragma omp for schedule(dynamic)
            for (int64_t k = 0; k < n0; ++k) {
                float* slice = out + k * m;
                detail::envelope_axis0_tiled(slice, n1, n_last, s2_1, s);
                for (int64_t r = 0; r < n1; ++r) {
                    float* row = slice + r * n_last;
                    detail::envelope_line_runs(row, n_last, s2_last, s);
                    if (take_sqrt) detail::sqrt_inplace(row, n_last);
                }
            }
        }
    }
}

}  // namespace radseg

#ifdef RADSEG_EDT_POP_OPTIONS
#pragma GCC pop_options
#undef RADSEG_EDT_POP_OPTIONS
#endif
