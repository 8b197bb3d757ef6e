// Surface distances between two binary masks (Hausdorff, percentile Hausdorff, mean surface distance), 2D and 3D,
// anisotropic spacing, all from one call. Pure C++: no Python here.
//
// Definitions (MONAI's get_mask_edges + get_surface_distance):
//   surface(M)   = foreground voxels of M with at least one face neighbour (4 in 2D, 6 in 3D) that is background or
//                  outside the array, i.e. M XOR binary_erosion(M, cross, border_value=0);
//   d(x, B)      = Euclidean distance in mm from the centre of voxel x to the nearest voxel centre of surface(B);
//   directed A->B: the multiset { d(x, B) : x in surface(A) }; we report its max, percentile and mean.
//
// Method: everything happens in the bounding box of (pred | ref). That is exact: both surfaces lie inside it, and
// the face neighbours just outside the box are background for both masks. Surfaces are extracted in one pass per
// mask. For each direction A->B, the first (binary, axis-0) pass of the EDT of "not surface(B)" runs over the box;
// then each surface voxel of A gets the exact minimum over its slice by an outward search that stops as soon as
// the in-slice distance alone exceeds the best value found (a few cells when the surfaces are close). A slice
// whose searches exceed a budget of about twice its size runs the EDT's remaining passes instead (tiled envelope,
// then an envelope evaluated only at the surface voxels). Both paths give the exact EDT value.
//
// Threads: one OpenMP region for both directions (the axis-0 passes over column chunks, one barrier, then the
// slices of both directions, dynamic schedule). The bounding box and surface extraction are serial passes.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "edt.hpp"

namespace radseg {

struct DirectedSurfaceStats {
    double max = 0.0, percentile = 0.0, mean = 0.0;
    int64_t count = 0;  // surface voxels of the source mask
};

struct SurfaceDistances {
    DirectedSurfaceStats pred_to_ref, ref_to_pred;
    double pooled_percentile = 0.0;  // percentile of both directions' distances together (medpy style)
    double pooled_mean = 0.0;        // mean of both directions' distances together (MONAI symmetric MSD)
};

namespace detail {

struct Box {
    int64_t lo[3] = {0, 0, 0}, hi[3] = {0, 0, 0};  // [lo, hi) per axis of the [Z, Y, X] view
    bool empty = true;
};

// Bounding box of the nonzero elements of a | b, both [Z, Y, X] (2D as Z = 1).
inline Box union_bbox(const uint8_t* a, const uint8_t* b, int64_t Z, int64_t Y, int64_t X) {
    Box box;
    int64_t zlo = Z, zhi = -1, ylo = Y, yhi = -1, xlo = X, xhi = -1;
    for (int64_t z = 0; z < Z; ++z) {
        for (int64_t y = 0; y < Y; ++y) {
            const uint8_t* ra = a + (z * Y + y) * X;
            const uint8_t* rb = b + (z * Y + y) * X;
            uint8_t any = 0;
            for (int64_t x = 0; x < X; ++x) any |= ra[x] | rb[x];
            if (!any) continue;
            int64_t first = 0, last = X - 1;
            while (!(ra[first] | rb[first])) ++first;
            while (!(ra[last] | rb[last])) --last;
            zlo = std::min(zlo, z); zhi = std::max(zhi, z);
            ylo = std::min(ylo, y); yhi = std::max(yhi, y);
            xlo = std::min(xlo, first); xhi = std::max(xhi, last);
        }
    }
    if (zhi < 0) return box;
    box.empty = false;
    box.lo[0] = zlo; box.hi[0] = zhi + 1;
    box.lo[1] = ylo; box.hi[1] = yhi + 1;
    box.lo[2] = xlo; box.hi[2] = xhi + 1;
    return box;
}

// Surface of the 0/1 mask m ([Z, Y, X]) inside `box`, written box-local as its complement: ns = 0 on surface
// voxels, 1 elsewhere (the EDT input whose zeros are the surface), and as surf = 1 - ns (the EDT query where the
// other direction samples). Returns the number of surface voxels per box slice in slice_count. In 2D (is3d false)
// there are no z neighbours. Elements outside the box are background by construction (box bounds pred | ref).
inline void extract_surface(const uint8_t* m, int64_t Y, int64_t X, const Box& box, bool is3d, uint8_t* ns,
                            uint8_t* surf, int64_t* slice_count) {
    const int64_t bz = box.hi[0] - box.lo[0], by = box.hi[1] - box.lo[1], bx = box.hi[2] - box.lo[2];
    std::vector<uint8_t> zeros(bx, 0), ones(bx, 1);
    const uint8_t* zr = zeros.data();
    const uint8_t* on = ones.data();
    for (int64_t z = 0; z < bz; ++z) {
        int64_t count = 0;
        for (int64_t y = 0; y < by; ++y) {
            const uint8_t* row = m + ((box.lo[0] + z) * Y + box.lo[1] + y) * X + box.lo[2];
            const uint8_t* up = y > 0 ? row - X : zr;
            const uint8_t* dn = y + 1 < by ? row + X : zr;
            const uint8_t* pv = !is3d ? on : (z > 0 ? row - Y * X : zr);
            const uint8_t* nx = !is3d ? on : (z + 1 < bz ? row + Y * X : zr);
            uint8_t* o = ns + (z * by + y) * bx;
            // Edges of the row have a background neighbour outside the box.
            o[0] = static_cast<uint8_t>(1 ^ row[0]);
            if (bx > 1) o[bx - 1] = static_cast<uint8_t>(1 ^ row[bx - 1]);
            for (int64_t x = 1; x + 1 < bx; ++x) {
                const uint8_t inner = row[x - 1] & row[x + 1] & up[x] & dn[x] & pv[x] & nx[x];
                o[x] = static_cast<uint8_t>(1 ^ (row[x] & (1 ^ inner)));
            }
            uint8_t* so = surf + (z * by + y) * bx;
            int64_t n_surface = 0;
            for (int64_t x = 0; x < bx; ++x) {
                so[x] = static_cast<uint8_t>(1 ^ o[x]);
                n_surface += so[x];
            }
            count += n_surface;
        }
        slice_count[z] = count;
    }
}

// Exact squared distance from (y0, x0) to the nearest zero of a slice g ([ny, nx], the axis-0 pass of the EDT:
// g = squared distance along axis 0 to the nearest zero of that column) with squared spacings sy2, sx2:
// min over (y, x) of g[y, x] + sy2 (y - y0)^2 + sx2 (x - x0)^2, searched outwards from (y0, x0) and stopped as
// soon as the distance term alone reaches the best value (g >= 0). Returns -1 when more than `budget` cells would
// be visited (the caller then runs the full transform of the slice).
inline float bounded_search(const float* g, int64_t ny, int64_t nx, int64_t y0, int64_t x0, float sy2, float sx2,
                            int64_t budget, int64_t& visited) {
    float best = std::numeric_limits<float>::infinity();
    for (int64_t r = 0;; ++r) {
        const float ry = sy2 * static_cast<float>(r * r);
        if (ry >= best) break;
        const bool up = y0 - r >= 0, down = r > 0 && y0 + r < ny;
        if (!up && !down) break;
        for (int side = 0; side < 2; ++side) {
            if (side == 0 ? !up : !down) continue;
            const float* row = g + (side == 0 ? y0 - r : y0 + r) * nx;
            for (int64_t c = 0;; ++c) {
                const float rx = ry + sx2 * static_cast<float>(c * c);
                if (rx >= best) break;
                const bool left = x0 - c >= 0, right = c > 0 && x0 + c < nx;
                if (!left && !right) break;
                if (left) best = std::min(best, row[x0 - c] + rx);
                if (right) best = std::min(best, row[x0 + c] + rx);
                ++visited;
            }
        }
        if (visited > budget) return -1.0f;
    }
    return best;
}

// One direction A->B of directed_distances: the queries are surf_a != 0, the zeros those of ns_b; buf is the
// direction's nz * ny * nx scratch, offset[z] where slice z's distances start in d.
struct Direction {
    const uint8_t* ns_b;
    const uint8_t* surf_a;
    float* buf;
    std::vector<int64_t> offset;
    std::vector<float> d;
};

// Slice z of one direction, after the axis-0 pass: pruned search per query, or the full-slice fallback.
inline void slice_distances(Direction& dir, int64_t z, int64_t ny, int64_t nx, float s1, float s2,
                            EnvelopeScratch& scratch) {
    const int64_t m = ny * nx;
    float* g = dir.buf + z * m;
    const uint8_t* sa = dir.surf_a + z * m;
    float* out = dir.d.data() + dir.offset[z];
    const int64_t budget = 2 * m + 64;
    int64_t visited = 0, k = 0;
    bool done = true;
    for (int64_t y = 0; y < ny && done; ++y)
        for (int64_t x = 0; x < nx; ++x) {
            if (!sa[y * nx + x]) continue;
            const float v = bounded_search(g, ny, nx, y, x, s1, s2, budget, visited);
            if (v < 0.0f) {
                done = false;
                break;
            }
            out[k++] = std::sqrt(v);
        }
    if (done) return;
    // Fallback: the rest of the exact EDT on this slice, evaluated at its queries.
    if (ny > 1) envelope_axis0_tiled(g, ny, nx, s1, scratch);
    k = 0;
    for (int64_t y = 0; y < ny; ++y) {
        float* row = g + y * nx;
        const uint8_t* q = sa + y * nx;
        if (!envelope_line_sampled(row, nx, s2, scratch, q)) continue;
        for (int64_t x = 0; x < nx; ++x)
            if (q[x]) out[k++] = std::sqrt(row[x]);
    }
}

// Distances (mm) from every surface voxel of A to the nearest surface voxel of B, for both directions at once
// (pred->ref and ref->pred), over a box viewed as [nz, ny, nx] with spacing sp (2D boxes come in as [rows, 1, cols]).
//
// After the EDT's first pass (binary, along axis 0), each query needs a 2D minimum over its slice; when the
// surfaces are close (the usual case) an outward search with pruning visits a few cells per query. A slice whose
// searches exceed a budget proportional to its size falls back to the EDT's remaining passes (tiled envelope along
// axis 1, envelope sampled at the queries along axis 2). Both paths are exact. One parallel region with a single
// barrier: the axis-0 passes of both directions, then the slices of both directions (dynamic schedule).
inline void directed_distances(Direction& ab, Direction& ba, int64_t nz, int64_t ny, int64_t nx, const double sp[3]) {
    const int64_t m = ny * nx;
    for (Direction* dir : {&ab, &ba}) {
        dir->offset.assign(nz + 1, 0);
        for (int64_t z = 0; z < nz; ++z) {
            int64_t c = 0;
            const uint8_t* sa = dir->surf_a + z * m;
            for (int64_t i = 0; i < m; ++i) c += sa[i];
            dir->offset[z + 1] = dir->offset[z] + c;
        }
        dir->d.assign(dir->offset[nz], 0.0f);
    }
    const float s0 = static_cast<float>(sp[0] * sp[0]), s1 = static_cast<float>(sp[1] * sp[1]),
                s2 = static_cast<float>(sp[2] * sp[2]);
    const int64_t chunk = std::max<int64_t>(1024, (m + 15) / 16);
    const int64_t nchunks = (m + chunk - 1) / chunk;
    Direction* dirs[2] = {&ab, &ba};
#pragma omp parallel if (nz * m >= detail::kParallelMin / 2)
    {
        std::vector<float> back(chunk);
        EnvelopeScratch scratch(std::max(ny, nx), ny > 1 ? ny * kTile : 0);
#pragma omp for schedule(dynamic)
        for (int64_t t = 0; t < 2 * nchunks; ++t) {
            Direction& dir = *dirs[t / nchunks];
            const int64_t c0 = (t % nchunks) * chunk, c1 = std::min(m, c0 + chunk);
            binary_scan_axis0(dir.ns_b, dir.buf, nz, m, c0, c1, s0, back.data());
        }
#pragma omp for schedule(dynamic)
        for (int64_t t = 0; t < 2 * nz; ++t) slice_distances(*dirs[t / nz], t % nz, ny, nx, s1, s2, scratch);
    }
}

// numpy.percentile(v, p) with the default 'linear' method; reorders v. v must be non-empty.
inline double percentile_linear(std::vector<float>& v, double p) {
    const int64_t n = static_cast<int64_t>(v.size());
    const double pos = p / 100.0 * static_cast<double>(n - 1);
    int64_t lo = static_cast<int64_t>(std::floor(pos));
    lo = std::min(std::max<int64_t>(lo, 0), n - 1);
    const double t = pos - static_cast<double>(lo);
    std::nth_element(v.begin(), v.begin() + lo, v.end());
    const double a = v[lo];
    if (t <= 0.0 || lo + 1 >= n) return a;
    const double b = *std::min_element(v.begin() + lo + 1, v.end());
    // numpy's _lerp: a + t (b - a), computed from the nearer end for t >= 0.5.
    return t >= 0.5 ? b - (b - a) * (1.0 - t) : a + (b - a) * t;
}

inline DirectedSurfaceStats directed_stats(std::vector<float>& d, double p) {
    DirectedSurfaceStats s;
    s.count = static_cast<int64_t>(d.size());
    if (d.empty()) return s;
    double sum = 0.0, mx = 0.0;
    for (float x : d) {
        sum += x;
        mx = std::max(mx, static_cast<double>(x));
    }
    s.max = mx;
    s.mean = sum / static_cast<double>(d.size());
    s.percentile = percentile_linear(d, p);
    return s;
}

}  // namespace detail

// All surface distances of pred against ref (0/1 uint8 arrays of `shape`, 2 or 3 entries, C order; spacing in the
// same order). percentile in [0, 100]. Both surfaces empty: every value 0. Exactly one empty: every distance +inf
// (counts still reported).
inline SurfaceDistances surface_distances(const uint8_t* pred, const uint8_t* ref, const std::vector<int64_t>& shape,
                                          const std::vector<double>& spacing, double percentile) {
    SurfaceDistances out;
    const bool is3d = shape.size() == 3;
    const int64_t Z = is3d ? shape[0] : 1, Y = shape[shape.size() - 2], X = shape[shape.size() - 1];
    if (Z * Y * X == 0) return out;
    const detail::Box box = detail::union_bbox(pred, ref, Z, Y, X);
    if (box.empty) return out;

    const int64_t bz = box.hi[0] - box.lo[0], by = box.hi[1] - box.lo[1], bx = box.hi[2] - box.lo[2];
    const int64_t nbox = bz * by * bx;
    std::vector<uint8_t> ns_pred(nbox), ns_ref(nbox), s_pred(nbox), s_ref(nbox);
    std::vector<int64_t> count_pred(bz), count_ref(bz);
    detail::extract_surface(pred, Y, X, box, is3d, ns_pred.data(), s_pred.data(), count_pred.data());
    detail::extract_surface(ref, Y, X, box, is3d, ns_ref.data(), s_ref.data(), count_ref.data());
    int64_t n_pred = 0, n_ref = 0;
    for (int64_t z = 0; z < bz; ++z) { n_pred += count_pred[z]; n_ref += count_ref[z]; }
    out.pred_to_ref.count = n_pred;
    out.ref_to_pred.count = n_ref;
    if (n_pred == 0 || n_ref == 0) {  // exactly one empty (both empty returned above)
        const double inf = std::numeric_limits<double>::infinity();
        for (auto* s : {&out.pred_to_ref, &out.ref_to_pred}) s->max = s->percentile = s->mean = inf;
        out.pooled_percentile = out.pooled_mean = inf;
        return out;
    }

    // A 2D box [by, bx] is handled as [by, 1, bx]: the first pass runs along the rows, the search along a row.
    const int64_t nz = is3d ? bz : by, ny = is3d ? by : 1;
    const double sp3[3] = {is3d ? spacing[0] : spacing[0], is3d ? spacing[1] : 1.0, spacing[spacing.size() - 1]};
    std::vector<float> buf_pr(nbox), buf_rp(nbox);
    detail::Direction pr{ns_ref.data(), s_pred.data(), buf_pr.data(), {}, {}};
    detail::Direction rp{ns_pred.data(), s_ref.data(), buf_rp.data(), {}, {}};
    detail::directed_distances(pr, rp, nz, ny, bx, sp3);
    std::vector<float>& d_pr = pr.d;
    std::vector<float>& d_rp = rp.d;
    out.pred_to_ref = detail::directed_stats(d_pr, percentile);
    out.ref_to_pred = detail::directed_stats(d_rp, percentile);
    const double n_all = static_cast<double>(n_pred + n_ref);
    out.pooled_mean = (out.pred_to_ref.mean * static_cast<double>(n_pred) +
                       out.ref_to_pred.mean * static_cast<double>(n_ref)) / n_all;
    d_pr.insert(d_pr.end(), d_rp.begin(), d_rp.end());
    out.pooled_percentile = detail::percentile_linear(d_pr, percentile);
    return out;
}

}  // namespace radseg
