// Filled convex hull of a 2D mask. Pure C++: no Python here. Arrays are C-contiguous [H, W] uint8.
//
// Convention: pixel centres. The hull is the convex polygon through the centres of the foreground pixels (as
// cv2.convexHull of the pixel coordinates); the output holds every pixel whose centre lies inside or on it. All
// arithmetic is on integers, so the result is exact (no rasterisation rule: collinear or one-pixel-wide
// foreground gives exactly the pixels on the segment).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>
#include <vector>

namespace radseg {
namespace hull {

struct Pt {
    int64_t x, y;  // x = column, y = row
};

inline int64_t cross(const Pt& o, const Pt& a, const Pt& b) {
    return (a.x - o.x) * (b.y - o.y) - (a.y - o.y) * (b.x - o.x);
}

// Andrew's monotone chain over points sorted by (x, y); returns the hull without repeated or collinear vertices.
inline std::vector<Pt> monotone_chain(std::vector<Pt> p) {
    std::sort(p.begin(), p.end(), [](const Pt& a, const Pt& b) { return a.x < b.x || (a.x == b.x && a.y < b.y); });
    p.erase(std::unique(p.begin(), p.end(), [](const Pt& a, const Pt& b) { return a.x == b.x && a.y == b.y; }),
            p.end());
    if (p.size() < 3) return p;
    std::vector<Pt> h(2 * p.size());
    size_t k = 0;
    for (size_t i = 0; i < p.size(); ++i) {
        while (k >= 2 && cross(h[k - 2], h[k - 1], p[i]) <= 0) --k;
        h[k++] = p[i];
    }
    for (size_t i = p.size() - 1, t = k + 1; i-- > 0;) {
        while (k >= t && cross(h[k - 2], h[k - 1], p[i]) <= 0) --k;
        h[k++] = p[i];
    }
    h.resize(k - 1);
    return h;
}

inline int64_t floor_div(int64_t n, int64_t d) {  // d > 0
    return n >= 0 ? n / d : -((-n + d - 1) / d);
}
inline int64_t ceil_div(int64_t n, int64_t d) {  // d > 0
    return -floor_div(-n, d);
}

// Filled convex hull of the nonzero pixels of m [H, W] into out (0/1).
inline void convex_hull_fill(const uint8_t* m, int64_t H, int64_t W, uint8_t* out) {
    std::memset(out, 0, static_cast<size_t>(H * W));
    // Only the leftmost and rightmost pixel of each row can be hull vertices.
    std::vector<Pt> cand;
    for (int64_t y = 0; y < H; ++y) {
        const uint8_t* r = m + y * W;
        int64_t x0 = 0;
        while (x0 < W && !r[x0]) ++x0;
        if (x0 == W) continue;
        int64_t x1 = W - 1;
        while (!r[x1]) --x1;
        cand.push_back({x0, y});
        if (x1 != x0) cand.push_back({x1, y});
    }
    if (cand.empty()) return;
    const std::vector<Pt> v = monotone_chain(std::move(cand));
    int64_t ymin = v[0].y, ymax = v[0].y;
    for (const auto& p : v) { ymin = std::min(ymin, p.y); ymax = std::max(ymax, p.y); }
    const int64_t rows = ymax - ymin + 1;
    std::vector<int64_t> lo(static_cast<size_t>(rows), std::numeric_limits<int64_t>::max());
    std::vector<int64_t> hi(static_cast<size_t>(rows), std::numeric_limits<int64_t>::min());
    auto take = [&](int64_t y, int64_t l, int64_t h) {
        lo[y - ymin] = std::min(lo[y - ymin], l);
        hi[y - ymin] = std::max(hi[y - ymin], h);
    };
    const size_t n = v.size();
    for (size_t i = 0; i < n; ++i) {
        const Pt a = v[i], b = v[(i + 1) % n];
        take(a.y, a.x, a.x);
        if (a.y == b.y) { take(b.y, b.x, b.x); continue; }
        const Pt p = a.y < b.y ? a : b, q = a.y < b.y ? b : a;
        const int64_t dy = q.y - p.y, dx = q.x - p.x;
        // x(y) = p.x + (y - p.y) * dx / dy, exactly: pixel centres with ceil(x) <= col <= floor(x) lie on the edge.
        for (int64_t y = p.y; y <= q.y; ++y) {
            const int64_t num = p.x * dy + (y - p.y) * dx;
            take(y, ceil_div(num, dy), floor_div(num, dy));
        }
    }
    for (int64_t y = ymin; y <= ymax; ++y) {
        const int64_t l = std::max<int64_t>(0, lo[y - ymin]), h = std::min<int64_t>(W - 1, hi[y - ymin]);
        if (l <= h) std::memset(out + y * W + l, 1, static_cast<size_t>(h - l + 1));
    }
}

}  // namespace hull
}  // namespace radseg
