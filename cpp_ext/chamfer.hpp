// Chamfer (approximate Euclidean) distance transforms by two raster scans (Rosenfeld & Pfaltz; Borgefors 1986).
// Pure C++: no Python here. Arrays are C-contiguous [rows, cols] or [slices, rows, cols].
//
// Each element gets the length of the shortest path of mask steps to a zero element, where a step to a neighbour at
// offset o costs w(o). Zeros get 0; a mask without zeros gets +inf everywhere (as the exact EDT). The forward scan
// (raster order) uses the offsets that precede the element in raster order, the backward scan the others.
// Kinds (weights are divided by the face weight, then multiplied by the spacing):
//   Borgefors34:   2D 3x3 {face 3, diagonal 4}; 3D 3x3x3 {face 3, edge 4, corner 5}   (isotropic spacing)
//   Borgefors5711: 2D 5x5 {face 5, diagonal 7, knight (1,2) 11}                       (isotropic spacing, 2D)
//   Quasi:         3x3 (2D) / 3x3x3 (3D), each step costs its exact length in mm (quasi-Euclidean; anisotropic ok)
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <stdexcept>
#include <vector>

namespace radseg {

enum class ChamferKind { Borgefors34 = 0, Borgefors5711 = 1, Quasi = 2 };

namespace detail {

struct ChamferStep {
    int dz, dy, dx;
    float w;
};

// The steps of the forward half mask (raster-earlier neighbours); the backward half is their negation.
inline std::vector<ChamferStep> chamfer_forward_steps(ChamferKind kind, bool is3d, const double sp[3]) {
    std::vector<ChamferStep> steps;
    const int r = kind == ChamferKind::Borgefors5711 ? 2 : 1;
    for (int dz = is3d ? -1 : 0; dz <= 0; ++dz)
        for (int dy = -r; dy <= r; ++dy)
            for (int dx = -r; dx <= r; ++dx) {
                // raster-earlier: (dz, dy, dx) < 0 lexicographically
                const bool earlier = dz < 0 || (dz == 0 && (dy < 0 || (dy == 0 && dx < 0)));
                if (!earlier) continue;
                const int ay = dy < 0 ? -dy : dy, ax = dx < 0 ? -dx : dx, az = dz < 0 ? -dz : dz;
                float w = 0.0f;
                if (kind == ChamferKind::Quasi) {
                    w = static_cast<float>(std::sqrt(az * sp[0] * az * sp[0] + ay * sp[1] * ay * sp[1] +
                                                     ax * sp[2] * ax * sp[2]));
                } else if (kind == ChamferKind::Borgefors34) {
                    const int nonzero = (az > 0) + (ay > 0) + (ax > 0);
                    w = static_cast<float>((nonzero == 1 ? 3.0 : nonzero == 2 ? 4.0 : 5.0) / 3.0 * sp[2]);
                } else {  // 5-7-11 on a 5x5 neighbourhood; (2,2) and (0,2) are redundant and left out
                    const int lo = ay < ax ? ay : ax, hi = ay < ax ? ax : ay;
                    if (hi == 1) w = static_cast<float>((lo == 0 ? 5.0 : 7.0) / 5.0 * sp[2]);
                    else if (lo == 1) w = static_cast<float>(11.0 / 5.0 * sp[2]);
                    else continue;
                }
                steps.push_back({dz, dy, dx, w});
            }
    return steps;
}

// row[x] = min(row[x], src[x] + w), x in [0, n): one step of the mask applied to a whole row. src is another row
// (an earlier row or slice of the padded buffer), so the two never overlap and the loop vectorises. Zeros stay 0.
inline void relax_row(float* __restrict row, const float* __restrict src, float w, int64_t n) {
    for (int64_t x = 0; x < n; ++x) {
        const float c = src[x] + w;
        row[x] = c < row[x] ? c : row[x];
    }
}

}  // namespace detail

// Chamfer distance of `mask` (nonzero = foreground) into `out` (float32, same shape), shape of 2 or 3 entries.
inline void chamfer_distance(const uint8_t* mask, const std::vector<int64_t>& shape,
                             const std::vector<double>& spacing, ChamferKind kind, float* out) {
    const bool is3d = shape.size() == 3;
    const int64_t Z = is3d ? shape[0] : 1, Y = shape[shape.size() - 2], X = shape[shape.size() - 1];
    if (Z * Y * X == 0) return;
    const double sp[3] = {is3d ? spacing[0] : 1.0, spacing[spacing.size() - 2], spacing[spacing.size() - 1]};
    const int r = kind == ChamferKind::Borgefors5711 ? 2 : 1;
    const int rz = is3d ? r : 0;
    constexpr float inf = std::numeric_limits<float>::infinity();

    // Padded working copy: the border of width r is +inf (outside the array is not a zero), so no bounds checks.
    const int64_t PX = X + 2 * r, PY = Y + 2 * r, PZ = Z + 2 * rz;
    std::vector<float> d(PZ * PY * PX, inf);
    auto at = [&](int64_t z, int64_t y, int64_t x) { return ((z + rz) * PY + (y + r)) * PX + (x + r); };
    std::vector<uint8_t> has_fg(Z * Y, 0);  // rows without foreground are all zeros and stay so: skipped
    for (int64_t z = 0; z < Z; ++z)
        for (int64_t y = 0; y < Y; ++y) {
            const uint8_t* m = mask + (z * Y + y) * X;
            float* row = d.data() + at(z, y, 0);
            uint8_t any = 0;
            for (int64_t x = 0; x < X; ++x) {
                row[x] = m[x] ? inf : 0.0f;
                any |= m[x];
            }
            has_fg[z * Y + y] = any != 0;
        }

    // Split the half mask into the in-row step (dx = -1, needs the value just updated: a sequential scan) and the
    // steps into rows / slices already done in this pass (independent across x: a vectorised min per step).
    const auto fwd = detail::chamfer_forward_steps(kind, is3d, sp);
    std::vector<int64_t> off;
    std::vector<float> w;
    float w_row = inf;
    for (const auto& st : fwd) {
        if (st.dz == 0 && st.dy == 0) {
            w_row = st.w;  // (0, 0, -1); the 5x5 mask has no (0, 0, -2) step
            continue;
        }
        off.push_back((st.dz * PY + st.dy) * PX + st.dx);  // negative: raster-earlier
        w.push_back(st.w);
    }
    const size_t ns = off.size();
    float* base = d.data();
    for (int64_t z = 0; z < Z; ++z)
        for (int64_t y = 0; y < Y; ++y) {
            if (!has_fg[z * Y + y]) continue;
            float* row = base + at(z, y, 0);
            for (size_t k = 0; k < ns; ++k) detail::relax_row(row, row + off[k], w[k], X);
            for (int64_t x = 0; x < X; ++x) {
                const float c = row[x - 1] + w_row;
                row[x] = c < row[x] ? c : row[x];
            }
        }
    for (int64_t z = Z - 1; z >= 0; --z)
        for (int64_t y = Y - 1; y >= 0; --y) {
            if (!has_fg[z * Y + y]) continue;
            float* row = base + at(z, y, 0);
            for (size_t k = 0; k < ns; ++k) detail::relax_row(row, row - off[k], w[k], X);
            for (int64_t x = X - 1; x >= 0; --x) {
                const float c = row[x + 1] + w_row;
                row[x] = c < row[x] ? c : row[x];
            }
        }
    for (int64_t z = 0; z < Z; ++z)
        for (int64_t y = 0; y < Y; ++y) {
            const float* row = base + at(z, y, 0);
            float* o = out + (z * Y + y) * X;
            for (int64_t x = 0; x < X; ++x) o[x] = row[x];
        }
}

}  // namespace radseg
