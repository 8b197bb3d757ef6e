// Binary morphology with a disk (2D) or ball (3D) structuring element, exact for anisotropic spacing.
// Pure C++: no Python here. Arrays are C-contiguous uint8 (nonzero = foreground), axis order as given
// ([rows, cols] or [slices, rows, cols]); 2D arrays are handled as one slice of a 3D array.
//
// Structuring element: every integer offset d with sum_a (d_a * spacing_a)^2 <= radius^2 * (1 + kRadiusTol). The
// small relative tolerance keeps offsets that lie exactly on the sphere (radius 5, offset (3, 4)) inside despite
// rounding of non-integer spacings.
//
// Border convention (OpenCV's default): dilation treats everything outside the array as background; erosion
// treats it as foreground. Hence closing(m) contains m and opening(m) is contained in m.
//
// Two exact engines, both restricted to the bounding box of the foreground padded by the element's reach:
//  * 2D: the disk is a union of horizontal segments of half-width w[k] at row offset k. A pass along each row gives
//    the step count to the nearest foreground pixel of that row (h); a pixel is dilated iff h[y + k] <= w[|k|] for
//    some k. Integer-only and vectorised, O(pixels * (2 * reach_rows + 1)).
//  * 3D, or 2D with a very tall disk: threshold the exact squared EDT (edt.hpp), O(voxels) whatever the radius.
//    Dilation: EDT of the complement <= r^2; erosion: EDT of the mask > r^2.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <vector>

#include "edt.hpp"

namespace radseg {
namespace morph {

constexpr double kRadiusTol = 1e-6;
// The segment engine makes (2 * reach + 1) passes per row; beyond this many the EDT engine is cheaper.
constexpr int64_t kMaxSegmentPasses = 161;

// A 3D box [lo, hi) in voxels.
struct Box {
    int64_t lo[3] = {0, 0, 0};
    int64_t hi[3] = {0, 0, 0};
    int64_t size(int a) const { return hi[a] - lo[a]; }
    int64_t count() const { return size(0) * size(1) * size(2); }
};

// Bounding box of the nonzero elements of a [Z, H, W] array; false when there are none.
inline bool foreground_box(const uint8_t* m, const int64_t shape[3], Box& box) {
    const int64_t Z = shape[0], H = shape[1], W = shape[2];
    int64_t lo[3] = {Z, H, W}, hi[3] = {-1, -1, -1};
    for (int64_t z = 0; z < Z; ++z)
        for (int64_t y = 0; y < H; ++y) {
            const uint8_t* row = m + (z * H + y) * W;
            int64_t x0 = 0;
            while (x0 < W && !row[x0]) ++x0;
            if (x0 == W) continue;
            int64_t x1 = W - 1;
            while (!row[x1]) --x1;
            lo[0] = std::min(lo[0], z); hi[0] = std::max(hi[0], z);
            lo[1] = std::min(lo[1], y); hi[1] = std::max(hi[1], y);
            lo[2] = std::min(lo[2], x0); hi[2] = std::max(hi[2], x1);
        }
    if (hi[0] < 0) return false;
    for (int a = 0; a < 3; ++a) { box.lo[a] = lo[a]; box.hi[a] = hi[a] + 1; }
    return true;
}

// `box` grown by pad[a] on both sides of each axis, clipped to the array.
inline Box padded(const Box& box, const int64_t pad[3], const int64_t shape[3]) {
    Box out;
    for (int a = 0; a < 3; ++a) {
        out.lo[a] = std::max<int64_t>(0, box.lo[a] - pad[a]);
        out.hi[a] = std::min<int64_t>(shape[a], box.hi[a] + pad[a]);
    }
    return out;
}

// Squared radius with the inclusion tolerance.
inline double radius_sq(double radius) { return radius * radius * (1.0 + kRadiusTol); }

// Largest k >= 0 with (k * step)^2 <= r2 (r2 >= 0).
inline int64_t reach(double r2, double step) {
    int64_t k = static_cast<int64_t>(std::floor(std::sqrt(r2) / step));
    while (static_cast<double>(k + 1) * step * (static_cast<double>(k + 1) * step) <= r2) ++k;
    while (k > 0 && static_cast<double>(k) * step * (static_cast<double>(k) * step) > r2) --k;
    return k;
}

// Half-widths (in columns) of the disk rows: w[k] for row offsets k = 0..reach_rows.
inline std::vector<int64_t> disk_half_widths(double radius, double row_mm, double col_mm) {
    const double r2 = radius_sq(radius);
    const int64_t ry = reach(r2, row_mm);
    std::vector<int64_t> w(ry + 1);
    for (int64_t k = 0; k <= ry; ++k) {
        const double dy = static_cast<double>(k) * row_mm;
        w[k] = reach(std::max(0.0, r2 - dy * dy), col_mm);
    }
    return w;
}

namespace detail {

// acc[x] |= (row[x] <= thr), the hot loop of the segment engine; compiled for AVX2 and baseline, picked at load.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
__attribute__((target_clones("avx2", "default")))
#endif
static void or_le(uint8_t* __restrict acc, const uint16_t* __restrict row, uint16_t thr, int64_t n) {
    for (int64_t x = 0; x < n; ++x) acc[x] |= static_cast<uint8_t>(row[x] <= thr);
}

// Per row of a [H, W] box (row stride `stride`): h = steps to the nearest "hit" element in the same row, capped at
// `cap`; hit = nonzero (Invert = false) or zero (Invert = true). any[y] = whether row y has a hit.
template <bool Invert>
void row_steps(const uint8_t* in, int64_t stride, int64_t H, int64_t W, uint16_t cap, uint16_t* h, uint8_t* any) {
#pragma omp parallel for schedule(static) if (H * W > (1 << 16))
    for (int64_t y = 0; y < H; ++y) {
        const uint8_t* r = in + y * stride;
        uint16_t* o = h + y * W;
        uint16_t d = cap;
        bool seen = false;
        for (int64_t x = 0; x < W; ++x) {
            const bool hit = Invert ? (r[x] == 0) : (r[x] != 0);
            d = hit ? 0 : static_cast<uint16_t>(d < cap ? d + 1 : cap);
            seen |= hit;
            o[x] = d;
        }
        any[y] = seen;
        if (!seen) continue;
        d = cap;
        for (int64_t x = W - 1; x >= 0; --x) {
            d = o[x] == 0 ? 0 : static_cast<uint16_t>(d < cap ? d + 1 : cap);
            if (d < o[x]) o[x] = d;
        }
    }
}

// Segment-engine dilation of the hits of a [H, W] box into out (row stride ostride); Invert: hits are zeros and
// the result is complemented (erosion of the nonzeros).
template <bool Invert>
void segment_dilate_2d(const uint8_t* in, int64_t stride, int64_t H, int64_t W, const std::vector<int64_t>& w,
                       uint8_t* out, int64_t ostride) {
    const int64_t ry = static_cast<int64_t>(w.size()) - 1;
    int64_t wmax = 0;
    for (auto v : w) wmax = std::max(wmax, v);
    const uint16_t cap = static_cast<uint16_t>(std::min<int64_t>(wmax + 1, 65535));
    std::vector<uint16_t> h(static_cast<size_t>(H * W));
    std::vector<uint8_t> any(static_cast<size_t>(H));
    std::vector<uint16_t> thr(w.size());
    for (size_t k = 0; k < w.size(); ++k) thr[k] = static_cast<uint16_t>(std::min<int64_t>(w[k], 65534));
    row_steps<Invert>(in, stride, H, W, cap, h.data(), any.data());
#pragma omp parallel for schedule(static) if (H * W > (1 << 15))
    for (int64_t y = 0; y < H; ++y) {
        uint8_t* o = out + y * ostride;
        std::memset(o, 0, static_cast<size_t>(W));
        const int64_t k0 = std::max(-ry, -y), k1 = std::min(ry, H - 1 - y);
        for (int64_t k = k0; k <= k1; ++k)
            if (any[y + k]) or_le(o, h.data() + (y + k) * W, thr[k < 0 ? -k : k], W);
        if (Invert)
            for (int64_t x = 0; x < W; ++x) o[x] ^= 1;
    }
}

// Copy a box of a [Z, H, W] array into a contiguous buffer, mapping v -> (v != 0) ^ flip.
inline void gather_box(const uint8_t* m, const int64_t shape[3], const Box& b, bool flip, uint8_t* dst) {
    const int64_t H = shape[1], W = shape[2], bw = b.size(2);
    for (int64_t z = b.lo[0]; z < b.hi[0]; ++z)
        for (int64_t y = b.lo[1]; y < b.hi[1]; ++y) {
            const uint8_t* src = m + (z * H + y) * W + b.lo[2];
            for (int64_t x = 0; x < bw; ++x) *dst++ = static_cast<uint8_t>((src[x] != 0) ^ flip);
        }
}

// EDT-engine dilation (Erode = false) or erosion (Erode = true) restricted to box b; out is the full array and
// must already be zero outside b.
template <bool Erode>
void edt_morph(const uint8_t* m, const int64_t shape[3], const double spacing[3], double radius, const Box& b,
               uint8_t* out) {
    const int64_t H = shape[1], W = shape[2];
    std::vector<uint8_t> sub(static_cast<size_t>(b.count()));
    gather_box(m, shape, b, /*flip=*/!Erode, sub.data());
    std::vector<float> d(sub.size());
    const std::vector<int64_t> sshape = {b.size(0), b.size(1), b.size(2)};
    const std::vector<double> sp = {spacing[0], spacing[1], spacing[2]};
    squared_edt(sub.data(), sshape, sp, d.data());
    const float r2 = static_cast<float>(radius_sq(radius));
    const int64_t bw = b.size(2);
    const float* dp = d.data();
    for (int64_t z = b.lo[0]; z < b.hi[0]; ++z)
        for (int64_t y = b.lo[1]; y < b.hi[1]; ++y, dp += bw) {
            uint8_t* o = out + (z * H + y) * W + b.lo[2];
            for (int64_t x = 0; x < bw; ++x) o[x] = Erode ? static_cast<uint8_t>(dp[x] > r2) : static_cast<uint8_t>(dp[x] <= r2);
        }
}

}  // namespace detail

// Dilation (erode = false) or erosion (erode = true) of a [Z, H, W] uint8 mask into out (0/1), the same size.
// spacing in the array's axis order (use 1 on the Z axis of a 2D image), radius >= 0 in spacing units.
// is_2d: the array is one image (Z == 1) and the element is a disk in the (H, W) plane.
inline void dilate_or_erode(const uint8_t* m, const int64_t shape[3], const double spacing[3], double radius,
                            bool is_2d, bool erode, uint8_t* out) {
    const int64_t total = shape[0] * shape[1] * shape[2];
    if (total == 0) return;
    if (!(radius >= 0.0) || !std::isfinite(radius)) throw std::invalid_argument("radius must be finite and >= 0");
    std::memset(out, 0, static_cast<size_t>(total));
    Box fg;
    if (!foreground_box(m, shape, fg)) return;  // empty stays empty under both operations
    const double r2 = radius_sq(radius);
    int64_t pad[3];
    for (int a = 0; a < 3; ++a) pad[a] = (is_2d && a == 0) ? 0 : (erode ? 1 : reach(r2, spacing[a]));
    const Box b = padded(fg, pad, shape);
    if (radius == 0.0) {
        for (int64_t i = 0; i < total; ++i) out[i] = m[i] != 0;
        return;
    }
    const int64_t W = shape[2];
    const int64_t passes = 2 * reach(r2, spacing[1]) + 1;
    if (is_2d && passes <= kMaxSegmentPasses) {
        const auto w = disk_half_widths(radius, spacing[1], spacing[2]);
        const uint8_t* in = m + b.lo[1] * W + b.lo[2];
        uint8_t* o = out + b.lo[1] * W + b.lo[2];
        if (erode)
            detail::segment_dilate_2d<true>(in, W, b.size(1), b.size(2), w, o, W);
        else
            detail::segment_dilate_2d<false>(in, W, b.size(1), b.size(2), w, o, W);
        return;
    }
    if (erode)
        detail::edt_morph<true>(m, shape, spacing, radius, b, out);
    else
        detail::edt_morph<false>(m, shape, spacing, radius, b, out);
}

// op: 0 dilation, 1 erosion, 2 opening (erosion then dilation), 3 closing (dilation then erosion).
inline void binary_morphology(const uint8_t* m, const int64_t shape[3], const double spacing[3], double radius,
                              bool is_2d, int op, uint8_t* out) {
    if (op == 0 || op == 1) {
        dilate_or_erode(m, shape, spacing, radius, is_2d, op == 1, out);
        return;
    }
    if (op != 2 && op != 3) throw std::invalid_argument("op must be 0 (dilate), 1 (erode), 2 (open) or 3 (close)");
    std::vector<uint8_t> tmp(static_cast<size_t>(shape[0] * shape[1] * shape[2]));
    const bool first_erode = op == 2;
    dilate_or_erode(m, shape, spacing, radius, is_2d, first_erode, tmp.data());
    dilate_or_erode(tmp.data(), shape, spacing, radius, is_2d, !first_erode, out);
}

}  // namespace morph
}  // namespace radseg
