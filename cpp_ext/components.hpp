// Connected-component labelling by runs and union-find, 2D and 3D; outer contour lengths of 2D components.
// Pure C++: no Python here. Arrays are C-contiguous, viewed as [Z, H, W] (a 2D image is one slice).
//
// Connectivity c counts orthogonal hops (see fill.hpp): 2D 1 = 4-, 2 = 8-neighbourhood; 3D 1 = 6-, 2 = 18-,
// 3 = 26-neighbourhood. Labels are 1..n in raster order of each component's first element (scipy.ndimage.label's
// numbering); 0 is background. sizes[0] counts the background, sizes[i] the elements of label i.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <stdexcept>
#include <vector>

#include "fill.hpp"

namespace radseg {
namespace cc {

// Loops over fewer elements than this run on one thread: below it a parallel region costs more than it saves
// (badly so on a busy machine, where a descheduled thread stalls the whole team).
constexpr int64_t kParallelMin = int64_t{1} << 22;

struct Run {
    int64_t x0, x1;  // inclusive
};

// Runs of nonzero elements, line by line: runs of line l are runs[first[l] .. first[l + 1]).
struct RunTable {
    std::vector<Run> runs;
    std::vector<int64_t> first;
};

inline RunTable find_runs(const uint8_t* m, int64_t lines, int64_t W) {
    RunTable t;
    std::vector<int64_t> count(static_cast<size_t>(lines) + 1, 0);
#pragma omp parallel for schedule(static) if (lines * W > kParallelMin)
    for (int64_t l = 0; l < lines; ++l) {
        const uint8_t* r = m + l * W;
        int64_t c = 0;
        for (int64_t x = fill::scan::next<true>(r, 0, W); x < W; ++c)
            x = fill::scan::next<true>(r, fill::scan::next<false>(r, x, W), W);
        count[l + 1] = c;
    }
    std::partial_sum(count.begin(), count.end(), count.begin());
    t.first = count;
    t.runs.resize(static_cast<size_t>(count[lines]));
#pragma omp parallel for schedule(static) if (lines * W > kParallelMin)
    for (int64_t l = 0; l < lines; ++l) {
        const uint8_t* r = m + l * W;
        Run* out = t.runs.data() + t.first[l];
        for (int64_t x = fill::scan::next<true>(r, 0, W); x < W;) {
            const int64_t e = fill::scan::next<false>(r, x, W);
            *out++ = {x, e - 1};
            x = fill::scan::next<true>(r, e, W);
        }
    }
    return t;
}

inline int64_t find_root(std::vector<int64_t>& parent, int64_t i) {
    int64_t r = i;
    while (parent[r] != r) r = parent[r];
    while (parent[i] != r) {
        const int64_t next = parent[i];
        parent[i] = r;
        i = next;
    }
    return r;
}

// Components of a mask as runs: run i belongs to component run_label[i] (1..n); sizes[0] = background count.
struct Components {
    RunTable t;
    std::vector<int32_t> run_label;
    std::vector<int64_t> sizes;
    int64_t n = 0;
};

inline Components find_components(const uint8_t* m, int64_t Z, int64_t H, int64_t W, bool is_3d, int connectivity) {
    const int64_t lines = Z * H, total = lines * W;
    Components c;
    c.t = find_runs(m, lines, W);
    const RunTable& t = c.t;
    const int64_t nruns = static_cast<int64_t>(t.runs.size());
    std::vector<int64_t> parent(static_cast<size_t>(nruns));
    std::iota(parent.begin(), parent.end(), 0);
    // Earlier neighbouring lines only (raster order), so each pair of lines is joined once.
    std::vector<fill::LineOffset> earlier;
    for (const auto& o : fill::line_offsets(is_3d, connectivity))
        if (o.dz < 0 || (o.dz == 0 && o.dy < 0)) earlier.push_back(o);
    for (int64_t z = 0; z < Z; ++z)
        for (int64_t y = 0; y < H; ++y) {
            const int64_t l = z * H + y;
            const int64_t a0 = t.first[l], a1 = t.first[l + 1];
            if (a0 == a1) continue;
            for (const auto& o : earlier) {
                const int64_t nz = z + o.dz, ny = y + o.dy;
                if (nz < 0 || ny < 0 || ny >= H) continue;
                const int64_t nl = nz * H + ny;
                const int64_t b0 = t.first[nl], b1 = t.first[nl + 1];
                int64_t j = b0;
                for (int64_t i = a0; i < a1; ++i) {
                    const Run& a = t.runs[i];
                    while (j < b1 && t.runs[j].x1 < a.x0 - o.ext) ++j;
                    for (int64_t k = j; k < b1 && t.runs[k].x0 <= a.x1 + o.ext; ++k) {
                        const int64_t ra = find_root(parent, i), rb = find_root(parent, k);
                        if (ra < rb) parent[rb] = ra; else if (rb < ra) parent[ra] = rb;
                    }
                }
            }
        }
    // Final labels: roots (the earliest run of each component) in run order = raster order of first elements.
    c.run_label.resize(static_cast<size_t>(nruns));
    c.sizes.assign(1, 0);
    for (int64_t i = 0; i < nruns; ++i) {
        const int64_t r = find_root(parent, i);
        if (r == i) {
            if (c.n >= INT32_MAX) throw std::overflow_error("more than 2^31 - 1 components");
            c.run_label[i] = static_cast<int32_t>(++c.n);
            c.sizes.push_back(0);
        } else {
            c.run_label[i] = c.run_label[r];
        }
        c.sizes[c.run_label[i]] += t.runs[i].x1 - t.runs[i].x0 + 1;
    }
    int64_t fg = 0;
    for (size_t i = 1; i < c.sizes.size(); ++i) fg += c.sizes[i];
    c.sizes[0] = total - fg;
    return c;
}

// Write value(run_label) over each run of line l of a [lines, W] array of T, zeros elsewhere.
template <typename T, typename F>
void paint_runs(const Components& c, int64_t lines, int64_t W, T* out, F value) {
#pragma omp parallel for schedule(static) if (lines * W > kParallelMin)
    for (int64_t l = 0; l < lines; ++l) {
        T* o = out + l * W;
        std::fill(o, o + W, T(0));
        for (int64_t i = c.t.first[l]; i < c.t.first[l + 1]; ++i)
            std::fill(o + c.t.runs[i].x0, o + c.t.runs[i].x1 + 1, value(c.run_label[i]));
    }
}

// Labels (int32, 0 = background) and sizes (sizes[0] = background) of the nonzero elements of a [Z, H, W] mask.
// Returns the number of components.
inline int64_t label(const uint8_t* m, int64_t Z, int64_t H, int64_t W, bool is_3d, int connectivity,
                     int32_t* labels, std::vector<int64_t>& sizes) {
    Components c = find_components(m, Z, H, W, is_3d, connectivity);
    paint_runs(c, Z * H, W, labels, [](int32_t lab) { return lab; });
    sizes = std::move(c.sizes);
    return c.n;
}

// Mask (0/1) of the components with at least min_size elements, and of those only the `largest` biggest (ties: the
// earlier label); largest < 0 keeps all. Returns the number of components kept.
inline int64_t filter_components(const uint8_t* m, int64_t Z, int64_t H, int64_t W, bool is_3d, int connectivity,
                                 int64_t largest, int64_t min_size, uint8_t* out) {
    const Components c = find_components(m, Z, H, W, is_3d, connectivity);
    std::vector<int32_t> cand;
    for (int64_t i = 1; i <= c.n; ++i)
        if (c.sizes[i] >= min_size) cand.push_back(static_cast<int32_t>(i));
    if (largest >= 0 && static_cast<int64_t>(cand.size()) > largest) {
        auto bigger = [&](int32_t a, int32_t b) {
            return c.sizes[a] > c.sizes[b] || (c.sizes[a] == c.sizes[b] && a < b);
        };
        std::partial_sort(cand.begin(), cand.begin() + largest, cand.end(), bigger);
        cand.resize(static_cast<size_t>(largest));
    }
    std::vector<uint8_t> keep(static_cast<size_t>(c.n) + 1, 0);
    for (auto i : cand) keep[i] = 1;
    paint_runs(c, Z * H, W, out, [&](int32_t lab) { return keep[lab]; });
    return static_cast<int64_t>(cand.size());
}

// Outer border of the 8-connected component with label `lab` whose first raster pixel is (y0, x0), traced as in
// Suzuki & Abe (1985) (what cv2.findContours does): returns the number of border points visited (the length of the
// CHAIN_APPROX_NONE contour) and adds the arc length (1 per axial step, sqrt 2 per diagonal step) to `arc`.
inline int64_t trace_outer(const int32_t* labels, int64_t H, int64_t W, int32_t lab, int64_t y0, int64_t x0,
                           double& arc) {
    // Chain codes: 0 right, 1 up-right, 2 up, 3 up-left, 4 left, 5 down-left, 6 down, 7 down-right (row down), so
    // increasing codes turn counterclockwise on screen.
    static const int dy[8] = {0, -1, -1, -1, 0, 1, 1, 1};
    static const int dx[8] = {1, 1, 0, -1, -1, -1, 0, 1};
    auto on = [&](int64_t y, int64_t x, int d) {
        const int64_t yy = y + dy[d], xx = x + dx[d];
        return yy >= 0 && yy < H && xx >= 0 && xx < W && labels[yy * W + xx] == lab;
    };
    // Step 3.1: clockwise from the left neighbour (code 4) for the first pixel of the component.
    int d1 = -1;
    for (int k = 0; k < 8; ++k) {
        const int d = (4 - k + 8) % 8;
        if (on(y0, x0, d)) { d1 = d; break; }
    }
    if (d1 < 0) return 1;  // isolated pixel
    const int64_t y1 = y0 + dy[d1], x1 = x0 + dx[d1];
    int64_t y3 = y0, x3 = x0;
    int back = d1;  // direction from (y3, x3) to (y2, x2)
    int64_t points = 0;
    int64_t diagonal = 0, axial = 0;
    for (;;) {
        // Step 3.3: counterclockwise from the element after (y2, x2).
        int d4 = -1;
        for (int k = 1; k <= 8; ++k) {
            const int d = (back + k) % 8;
            if (on(y3, x3, d)) { d4 = d; break; }
        }
        ++points;
        (d4 & 1 ? diagonal : axial) += 1;
        const int64_t y4 = y3 + dy[d4], x4 = x3 + dx[d4];
        if (y4 == y0 && x4 == x0 && y3 == y1 && x3 == x1) break;
        back = (d4 + 4) % 8;
        y3 = y4;
        x3 = x4;
    }
    arc += static_cast<double>(axial) + std::sqrt(2.0) * static_cast<double>(diagonal);
    return points;
}

// Outer contours of a 2D [H, W] mask as cv2.findContours(RETR_EXTERNAL, CHAIN_APPROX_NONE) sees them: the
// 8-connected components of the mask with holes filled (4-connected background), each with its pixel count, the
// number of points of its outer contour and that contour's closed arc length. labels receives the components.
inline int64_t outer_contours(const uint8_t* m, int64_t H, int64_t W, int32_t* labels, std::vector<int64_t>& areas,
                              std::vector<int64_t>& lengths, std::vector<double>& arcs) {
    std::vector<uint8_t> filled(static_cast<size_t>(H * W));
    fill::fill_holes(m, 1, H, W, false, 1, filled.data());
    std::vector<int64_t> sizes;
    const int64_t n = label(filled.data(), 1, H, W, false, 2, labels, sizes);
    areas.assign(sizes.begin() + 1, sizes.end());
    lengths.assign(static_cast<size_t>(n), 0);
    arcs.assign(static_cast<size_t>(n), 0.0);
    int32_t next = 1;  // labels appear in raster order: the first pixel seen with label `next` starts its border
    for (int64_t i = 0; i < H * W && next <= n; ++i)
        if (labels[i] == next) {
            lengths[next - 1] = trace_outer(labels, H, W, next, i / W, i % W, arcs[next - 1]);
            ++next;
        }
    return n;
}

}  // namespace cc
}  // namespace radseg
