// Overlap counts of two binary masks in one pass: true positives, false positives, false negatives, true negatives.
// Pure C++: no Python here. Masks are contiguous uint8 arrays of the same length, nonzero = foreground.
#pragma once

#include <cstdint>

namespace radseg {

struct OverlapCounts {
    int64_t tp = 0;  // pred and ref
    int64_t fp = 0;  // pred, not ref
    int64_t fn = 0;  // ref, not pred
    int64_t tn = 0;  // neither
};

namespace detail {

// Counts over [begin, end) (at most 2^32 elements) of nonzero bytes. 32-bit accumulators and byte-wide 0/1 flags
// let the loop vectorise (compare, and, widening adds); 64-bit accumulators would not.
#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target_clones("avx2", "default")))
#endif
inline void overlap_block(const uint8_t* __restrict pred, const uint8_t* __restrict ref, int64_t begin,
                          int64_t end, int64_t& both, int64_t& n_pred, int64_t& n_ref) {
    uint32_t s_both = 0, s_pred = 0, s_ref = 0;
    for (int64_t i = begin; i < end; ++i) {
        const uint8_t p = pred[i] != 0, r = ref[i] != 0;
        s_both += p & r;
        s_pred += p;
        s_ref += r;
    }
    both += s_both;
    n_pred += s_pred;
    n_ref += s_ref;
}

}  // namespace detail

// TP/FP/FN/TN of `pred` against `ref` (n elements each), OpenMP-parallel over chunks.
inline OverlapCounts overlap_counts(const uint8_t* pred, const uint8_t* ref, int64_t n) {
    int64_t both = 0, n_pred = 0, n_ref = 0;
    constexpr int64_t kChunk = 1 << 18;
    const int64_t chunks = (n + kChunk - 1) / kChunk;
#pragma omp parallel for schedule(static) reduction(+ : both, n_pred, n_ref) if (chunks > 1)
    for (int64_t c = 0; c < chunks; ++c) {
        const int64_t b = c * kChunk, e = b + kChunk < n ? b + kChunk : n;
        detail::overlap_block(pred, ref, b, e, both, n_pred, n_ref);
    }
    OverlapCounts out;
    out.tp = both;
    out.fp = n_pred - both;
    out.fn = n_ref - both;
    out.tn = n - n_pred - n_ref + both;
    return out;
}

}  // namespace radseg
