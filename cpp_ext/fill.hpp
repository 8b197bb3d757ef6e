// Flood fill and hole filling by span (scan-line) filling, 2D and 3D. Pure C++: no Python here.
// Arrays are C-contiguous uint8, viewed as [Z, H, W] (a 2D image is one slice); a "line" is one row (z, y).
//
// Connectivity c counts orthogonal hops, as in scipy.ndimage.generate_binary_structure(ndim, c): two elements
// are neighbours when their offsets are all in {-1, 0, 1} and at most c of them are nonzero (2D: 1 = 4-, 2 = 8-
// neighbourhood; 3D: 1 = 6-, 2 = 18-, 3 = 26-neighbourhood).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <vector>

namespace radseg {
namespace fill {

// Byte scanning helpers shared by the fill, component and morphology kernels: they skip 8 bytes at a time over
// stretches that cannot match.
namespace scan {

inline bool word_has(uint64_t v, bool nonzero) {
    constexpr uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    return nonzero ? v != 0 : ((v - ones) & ~v & highs) != 0;  // some byte nonzero / some byte zero
}

// First index i in [x, n) with (r[i] != 0) == Nonzero, or n.
template <bool Nonzero>
inline int64_t next(const uint8_t* r, int64_t x, int64_t n) {
    for (; x + 8 <= n; x += 8) {
        uint64_t v;
        std::memcpy(&v, r + x, 8);
        if (word_has(v, Nonzero)) break;
    }
    for (; x < n; ++x)
        if ((r[x] != 0) == Nonzero) return x;
    return n;
}

// Last index i in [0, x] with (r[i] != 0) == Nonzero, or -1.
template <bool Nonzero>
inline int64_t prev(const uint8_t* r, int64_t x) {
    for (; x >= 7; x -= 8) {
        uint64_t v;
        std::memcpy(&v, r + x - 7, 8);
        if (word_has(v, Nonzero)) break;
    }
    for (; x >= 0; --x)
        if ((r[x] != 0) == Nonzero) return x;
    return -1;
}

// Bounding box [lo, hi] (inclusive) of the nonzero elements of a [Z, H, W] array; false when there are none.
inline bool foreground_box(const uint8_t* m, int64_t Z, int64_t H, int64_t W, int64_t lo[3], int64_t hi[3]) {
    lo[0] = Z; lo[1] = H; lo[2] = W;
    hi[0] = hi[1] = hi[2] = -1;
    for (int64_t z = 0; z < Z; ++z)
        for (int64_t y = 0; y < H; ++y) {
            const uint8_t* row = m + (z * H + y) * W;
            const int64_t x0 = next<true>(row, 0, W);
            if (x0 == W) continue;
            const int64_t x1 = prev<true>(row, W - 1);
            lo[0] = std::min(lo[0], z); hi[0] = std::max(hi[0], z);
            lo[1] = std::min(lo[1], y); hi[1] = std::max(hi[1], y);
            lo[2] = std::min(lo[2], x0); hi[2] = std::max(hi[2], x1);
        }
    return hi[0] >= 0;
}

}  // namespace scan

// A maximal run of fillable elements [x0, x1] on line (z, y).
struct Span {
    int64_t z, y, x0, x1;
};

// A neighbouring line (dz, dy) and whether diagonal steps along x are allowed to reach it.
struct LineOffset {
    int64_t dz, dy, ext;
};

inline std::vector<LineOffset> line_offsets(bool is_3d, int connectivity) {
    std::vector<LineOffset> out;
    const int zr = is_3d ? 1 : 0;
    for (int dz = -zr; dz <= zr; ++dz)
        for (int dy = -1; dy <= 1; ++dy) {
            const int k = (dz != 0) + (dy != 0);
            if (k == 0 || k > connectivity) continue;
            out.push_back({dz, dy, k + 1 <= connectivity ? 1 : 0});
        }
    return out;
}

// Span filler over a state array st of shape [Z, H, W]: 0 = fillable, 1 = blocked, 2 = filled.
class SpanFiller {
   public:
    SpanFiller(uint8_t* st, int64_t Z, int64_t H, int64_t W, bool is_3d, int connectivity)
        : st_(st), Z_(Z), H_(H), W_(W), offsets_(line_offsets(is_3d, connectivity)) {}

    // Fill the run through (z, y, x) if that element is fillable, then everything connected to it.
    void seed(int64_t z, int64_t y, int64_t x) {
        uint8_t* row = st_ + (z * H_ + y) * W_;
        if (row[x] != 0) return;
        push_run(z, y, row, x);
        drain();
    }

   private:
    void push_run(int64_t z, int64_t y, uint8_t* row, int64_t x) {
        const int64_t s = scan::prev<true>(row, x) + 1, e = scan::next<true>(row, x, W_) - 1;
        std::memset(row + s, 2, static_cast<size_t>(e - s + 1));
        stack_.push_back({z, y, s, e});
    }

    void drain() {
        while (!stack_.empty()) {
            const Span sp = stack_.back();
            stack_.pop_back();
            for (const auto& o : offsets_) {
                const int64_t z = sp.z + o.dz, y = sp.y + o.dy;
                if (z < 0 || z >= Z_ || y < 0 || y >= H_) continue;
                uint8_t* row = st_ + (z * H_ + y) * W_;
                const int64_t a = std::max<int64_t>(0, sp.x0 - o.ext), b = std::min<int64_t>(W_ - 1, sp.x1 + o.ext);
                for (int64_t x = scan::next<false>(row, a, b + 1); x <= b; x = scan::next<false>(row, x, b + 1)) {
                    push_run(z, y, row, x);
                    x = stack_.back().x1 + 2;  // the run ends at x1; x1 + 1 is blocked or filled
                }
            }
        }
    }

    uint8_t* st_;
    int64_t Z_, H_, W_;
    std::vector<LineOffset> offsets_;
    std::vector<Span> stack_;
};

// Region of elements equal to m[seed] connected to seed -> out (0/1), all [Z, H, W].
inline void flood_fill(const uint8_t* m, int64_t Z, int64_t H, int64_t W, bool is_3d, int connectivity,
                       int64_t sz, int64_t sy, int64_t sx, uint8_t* out) {
    if (sz < 0 || sz >= Z || sy < 0 || sy >= H || sx < 0 || sx >= W) throw std::out_of_range("seed outside the array");
    const int64_t total = Z * H * W;
    const bool value = m[(sz * H + sy) * W + sx] != 0;
    for (int64_t i = 0; i < total; ++i) out[i] = static_cast<uint8_t>((m[i] != 0) != value);  // 0 = same value
    SpanFiller(out, Z, H, W, is_3d, connectivity).seed(sz, sy, sx);
    for (int64_t i = 0; i < total; ++i) out[i] = out[i] == 2;
}

// Holes of m filled -> out (0/1), all [Z, H, W]: background not connected to the array border through background
// (with `connectivity`, default face) becomes foreground. Work is restricted to the foreground's bounding box:
// background outside it always reaches the border, and so does background on the box's faces.
inline void fill_holes(const uint8_t* m, int64_t Z, int64_t H, int64_t W, bool is_3d, int connectivity,
                       uint8_t* out) {
    const int64_t total = Z * H * W;
    if (total == 0) return;
    std::memset(out, 0, static_cast<size_t>(total));
    int64_t lo[3], hi[3];
    if (!scan::foreground_box(m, Z, H, W, lo, hi)) return;
    const int64_t bz = hi[0] - lo[0] + 1, by = hi[1] - lo[1] + 1, bx = hi[2] - lo[2] + 1;
    // State of the box: 0 = background not yet reached, 1 = foreground, 2 = background reached from the faces.
    std::vector<uint8_t> st(static_cast<size_t>(bz * by * bx));
    for (int64_t z = 0; z < bz; ++z)
        for (int64_t y = 0; y < by; ++y) {
            const uint8_t* src = m + ((z + lo[0]) * H + y + lo[1]) * W + lo[2];
            uint8_t* dst = st.data() + (z * by + y) * bx;
            for (int64_t x = 0; x < bx; ++x) dst[x] = src[x] != 0;
        }
    SpanFiller filler(st.data(), bz, by, bx, is_3d, connectivity);
    for (int64_t z = 0; z < bz; ++z)
        for (int64_t y = 0; y < by; ++y) {
            const bool face_line = (is_3d && (z == 0 || z == bz - 1)) || y == 0 || y == by - 1;
            if (face_line) {
                for (int64_t x = 0; x < bx; ++x) filler.seed(z, y, x);
            } else {
                filler.seed(z, y, 0);
                filler.seed(z, y, bx - 1);
            }
        }
    for (int64_t z = 0; z < bz; ++z)
        for (int64_t y = 0; y < by; ++y) {
            const uint8_t* src = st.data() + (z * by + y) * bx;
            uint8_t* dst = out + ((z + lo[0]) * H + y + lo[1]) * W + lo[2];
            for (int64_t x = 0; x < bx; ++x) dst[x] = src[x] != 2;
        }
}

}  // namespace fill
}  // namespace radseg
