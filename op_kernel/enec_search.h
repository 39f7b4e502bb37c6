// The per-tensor parameter search (python/enec/params.py: choose_params), written once for the host
// and the device:
//   * host (op_host/enec_host.cpp EnecChooseParams: native CPU library, emulation, NPU binding with a
//     host histogram): EnecSearchParams<EnecHostDouble>, IEEE doubles of the CPU;
//   * device (op_kernel/enec_params.cpp, the AI Core's scalar unit): EnecSearchParams<EnecSoftDouble>,
//     the same double operations done exactly in integer arithmetic. The AscendC documentation
//     lists double among the A2 built-in types (CANN 9.0 "Built-in Data Types", not usable with
//     immediate values) but says nothing of how the scalar unit computes with it (hardware or a
//     compiler runtime, IEEE binary64 rounding or not), and bit-equal costs are what the search
//     needs; so the few operations it uses are written out here: int64 -> double, /, *, - and + of
//     non-negative finite values, each rounded to nearest, ties to even, exactly like one IEEE
//     binary64 operation.
//     The search's values never leave the normal range (p >= 2^-63, so p^16 >= 2^-1008), so there
//     are no subnormals, infinities or NaNs to handle.
// tests/test_ascendc_kernels.py checks each soft operation against the CPU's doubles on millions of
// operands and the device search against params.py on MiniLM and random histograms.
#ifndef ENEC_SEARCH_H
#define ENEC_SEARCH_H

#include "enec_tiling.h"
#if !(defined(__CCE_AICORE__) || defined(__DAV_C220_VEC__)) || defined(ENEC_HOST_DOUBLE)
#include <cmath>
#endif

// A non-negative finite double as mant * 2^exp: mant in [2^52, 2^53), or mant = exp = 0 for zero.
struct EnecSoftDouble {
    uint64_t mant;
    int32_t exp;
};

struct EnecSoftOps {
    using T = EnecSoftDouble;
    static ENEC_LAYOUT_FN T Zero()
    {
        T r;
        r.mant = 0;
        r.exp = 0;
        return r;
    }
    static ENEC_LAYOUT_FN int32_t BitLen(uint64_t v)
    {
        int32_t n = 0;
        if (v >> 32) { n += 32; v >>= 32; }
        if (v >> 16) { n += 16; v >>= 16; }
        if (v >> 8) { n += 8; v >>= 8; }
        if (v >> 4) { n += 4; v >>= 4; }
        if (v >> 2) { n += 2; v >>= 2; }
        if (v >> 1) { n += 1; v >>= 1; }
        return n + static_cast<int32_t>(v);
    }
    // v * 2^e rounded to 53 bits, to nearest, ties to even. v is exact, or carries the bits it lost
    // OR-ed into bit 0 (a sticky bit) with at least 55 significant bits, which rounds the same.
    static ENEC_LAYOUT_FN T Round(uint64_t v, int32_t e)
    {
        if (v == 0) return Zero();
        const int32_t len = BitLen(v);
        T r;
        if (len <= 53) {
            r.mant = v << (53 - len);
            r.exp = e - (53 - len);
            return r;
        }
        int32_t s = len - 53;
        uint64_t q = v >> s;
        const uint64_t rem = v & ((1ull << s) - 1), half = 1ull << (s - 1);
        if (rem > half || (rem == half && (q & 1) != 0)) {
            ++q;
            if (q == (1ull << 53)) { q >>= 1; ++s; }
        }
        r.mant = q;
        r.exp = e + s;
        return r;
    }
    static ENEC_LAYOUT_FN T FromU64(uint64_t v) { return Round(v, 0); }
    // ceil(a * 2^32) for 0 <= a < 2^31
    static ENEC_LAYOUT_FN uint64_t CeilQ32(T a)
    {
        if (a.mant == 0) return 0;
        const int32_t e = a.exp + 32;
        if (e >= 0) return a.mant << e;
        if (e <= -64) return 1;
        return (a.mant >> -e) + ((a.mant & ((1ull << -e) - 1)) != 0 ? 1 : 0);
    }
    static ENEC_LAYOUT_FN T Mul(T a, T b)
    {
        if (a.mant == 0 || b.mant == 0) return Zero();
        // the exact 106-bit product, from 32-bit halves
        const uint64_t a0 = a.mant & 0xFFFFFFFFull, a1 = a.mant >> 32, b0 = b.mant & 0xFFFFFFFFull, b1 = b.mant >> 32;
        const uint64_t p00 = a0 * b0, p01 = a0 * b1, p10 = a1 * b0, p11 = a1 * b1;
        const uint64_t mid = (p00 >> 32) + (p01 & 0xFFFFFFFFull) + (p10 & 0xFFFFFFFFull);
        const uint64_t lo = (p00 & 0xFFFFFFFFull) | (mid << 32);
        const uint64_t hi = p11 + (p01 >> 32) + (p10 >> 32) + (mid >> 32);
        // down to 62 bits, the dropped bits as a sticky bit
        const int32_t len = hi != 0 ? 64 + BitLen(hi) : BitLen(lo);
        const int32_t k = len > 62 ? len - 62 : 0;
        uint64_t v;
        bool sticky;
        if (k == 0) {
            v = lo;
            sticky = false;
        } else if (k < 64) {
            v = (lo >> k) | (hi << (64 - k));
            sticky = (lo & ((1ull << k) - 1)) != 0;
        } else {
            v = hi >> (k - 64);
            sticky = lo != 0 || (hi & ((1ull << (k - 64)) - 1)) != 0;
        }
        return Round(v | (sticky ? 1ull : 0ull), a.exp + b.exp + k);
    }
    // a / b, b > 0: 62 quotient bits by restoring division, the remainder as a sticky bit
    static ENEC_LAYOUT_FN T Div(T a, T b)
    {
        if (a.mant == 0) return Zero();
        uint64_t rem = a.mant, q = 0;
        for (int32_t i = 0; i < 62; ++i) {
            q <<= 1;
            if (rem >= b.mant) { rem -= b.mant; q |= 1; }
            rem <<= 1;
        }
        return Round(q | (rem != 0 ? 1ull : 0ull), a.exp - b.exp - 61);
    }
    // b aligned to a (a.exp >= b.exp), 9 guard bits; sticky: b lost bits below them
    static ENEC_LAYOUT_FN uint64_t Align(T a, T b, bool& sticky)
    {
        const int32_t d = a.exp - b.exp;
        if (d >= 64) { sticky = true; return 0; }
        const uint64_t full = b.mant << 9;
        sticky = (full & ((1ull << d) - 1)) != 0;
        return full >> d;
    }
    // a - b for a >= b >= 0. With a sticky b the exact difference lies strictly between
    // ma - mb - 1 and ma - mb: one more bit, set, stands for it.
    static ENEC_LAYOUT_FN T Sub(T a, T b)
    {
        if (b.mant == 0) return a;
        bool sticky = false;
        const uint64_t ma = a.mant << 9, mb = Align(a, b, sticky);
        if (!sticky) return Round(ma - mb, a.exp - 9);
        return Round(((ma - mb - 1) << 1) | 1, a.exp - 10);
    }
    static ENEC_LAYOUT_FN T Add(T a, T b)
    {
        if (a.mant == 0) return b;
        if (b.mant == 0) return a;
        if (Less(a, b)) { const T c = a; a = b; b = c; }
        bool sticky = false;
        const uint64_t sum = (a.mant << 9) + Align(a, b, sticky);
        if (!sticky) return Round(sum, a.exp - 9);
        return Round((sum << 1) | 1, a.exp - 10);
    }
    static ENEC_LAYOUT_FN bool Less(T a, T b)
    {
        if (a.mant == 0) return b.mant != 0;
        if (b.mant == 0) return false;
        if (a.exp != b.exp) return a.exp < b.exp;
        return a.mant < b.mant;
    }
    static ENEC_LAYOUT_FN bool Equal(T a, T b) { return a.mant == b.mant && a.exp == b.exp; }
};

#if !(defined(__CCE_AICORE__) || defined(__DAV_C220_VEC__)) || defined(ENEC_HOST_DOUBLE)
// The CPU's doubles. volatile: every operation rounded on its own as in numpy, never fused into an
// FMA (-ffp-contract=fast, the GCC default, would fuse with -march flags that have FMA).
struct EnecHostDouble {
    using T = double;
    static inline T FromU64(uint64_t v) { return static_cast<double>(v); }
    static inline uint64_t CeilQ32(T a) { return static_cast<uint64_t>(std::ceil(a * 4294967296.0)); }
    static inline T Mul(T a, T b) { volatile double r = a * b; return r; }
    static inline T Div(T a, T b) { volatile double r = a / b; return r; }
    static inline T Sub(T a, T b) { volatile double r = a - b; return r; }
    static inline T Add(T a, T b) { volatile double r = a + b; return r; }
    static inline bool Less(T a, T b) { return a < b; }
    static inline bool Equal(T a, T b) { return a == b; }
};
#endif

// The search of python/enec/params.py (the spec): for every pivot b the smallest lossless n, then
// the m minimising m + (n - m)(1 - p_m^16); ties go to the smaller n, then b, then m. The
// floating-point steps are the ones numpy does (exact integer sums, one division, four squarings,
// a subtraction, a product and a sum, each rounded once), so the costs are equal bit for bit.
// `cum`: scratch of 2 * 2^w + 1 int64 (the caller's, so that the device keeps it where it likes).
// Returns 0, or -1 for w outside 1..8.
template <class F>
ENEC_LAYOUT_FN int EnecSearchParams(const int64_t* hist, uint32_t w, int64_t* cum, uint32_t* bOut, uint32_t* nOut,
    uint32_t* mOut)
{
    using T = typename F::T;
    if (w < 1 || w > 8) return -1;
    const int32_t W = static_cast<int32_t>(w), size = 1 << W, mask = size - 1;
    int32_t present = 0, first = -1;
    int64_t totalInt = 0;
    for (int32_t x = 0; x < size; ++x) {
        if (hist[x] != 0) { ++present; if (first < 0) first = x; totalInt += hist[x]; }
    }
    if (present == 0) { *bOut = 0; *nOut = 1; *mOut = 0; return 0; }
    if (present == 1) { *bOut = static_cast<uint32_t>(first); *nOut = 1; *mOut = 0; return 0; }
    const T total = F::FromU64(static_cast<uint64_t>(totalInt));
    const T one = F::FromU64(1);
    T best = F::FromU64(0);
    uint64_t bestQ = 0;
    int32_t bb = -1, bn = 0, bm = 0;
    // Circular prefix sums of the histogram: the mass of any run of exponents in O(1). For pivot b
    // the signed distance s = b - x (mod 2^W) of every exponent of a lossless n lies in
    // [-2^(n-1), 2^(n-1)), where the code is y = s mod 2^n: bit length k (1 <= k < n) for s in
    // [2^(k-1), 2^k), n for s < 0, 0 for s = 0. So n and the counts per code length are sums
    // over runs of s, the same exact integers as visiting every exponent.
    cum[0] = 0;
    for (int32_t i = 0; i < 2 * size; ++i) cum[i + 1] = cum[i] + hist[i & mask];
    int32_t mode = 0;
    for (int32_t x = 1; x < size; ++x) if (hist[x] > hist[mode]) mode = x;
    // The pivot at the most common exponent first: its cost is near the optimum, so for every other
    // pivot the m loop stops early (cost >= m). The order does not change the answer: ties are
    // broken explicitly by (cost, n, b, m), the order in which params.py ranks them.
    for (int32_t bi = 0; bi <= size; ++bi) {
        const int32_t b = bi == 0 ? mode : bi - 1;
        if (bi > 0 && b == mode) continue;
        // the mass of the exponents x = b - s for s in [sLo, sHi] (mod 2^W)
#define ENEC_RUN_MASS(sLo, sHi) (cum[((b - (sHi)) & mask) + ((sHi) - (sLo) + 1)] - cum[(b - (sHi)) & mask])
        int32_t n = 1;
        while (n < W && ENEC_RUN_MASS(-(1 << (n - 1)), (1 << (n - 1)) - 1) != totalInt) ++n;
        int64_t byLen[9] = {0, 0, 0, 0, 0, 0, 0, 0, 0};
        byLen[0] = hist[b];
        for (int32_t k = 1; k < n; ++k) byLen[k] = ENEC_RUN_MASS(1 << (k - 1), (1 << k) - 1);
        byLen[n] = ENEC_RUN_MASS(-(1 << (n - 1)), -1);
#undef ENEC_RUN_MASS
        int64_t below = 0;
        for (int32_t m = 0; m <= n; ++m) {              // m > n costs infinity in the spec
            // cost >= m: once m exceeds the best cost, no larger m can win or tie
            if (bb >= 0 && F::Less(best, F::FromU64(static_cast<uint64_t>(m)))) break;
            below += byLen[m];
            // A bound first, in integers only: with p <= 1 - 2^-j (j = 1..8),
            // 1 - p^16 >= 1 - (1 - 2^-j)^16 > kBound[j] * 2^-32 + 2^-20, so the exact cost exceeds
            // lb = m + (n - m) * kBound[j] * 2^-32 by more than 2^-20, far above the rounding
            // errors of the computed cost (< 2^-44 at costs <= 17): lb >= best means the computed
            // cost > best, a candidate that can neither win nor tie. (lb * 2^32 is an integer;
            // bestQ = ceil(best * 2^32).)
            if (bb >= 0 && n > m) {
                const int64_t rest = totalInt - below;
                int32_t j = 1;
                while (j <= 8 && rest < ((totalInt + (static_cast<int64_t>(1) << j) - 1) >> j)) ++j;
                if (j <= 8) {
                    const uint64_t kBound[8] = {4294897664ull, 4251916479ull, 3787868922ull, 2765636454ull,
                                                1710637125ull, 956634710ull, 506527834ull, 260708596ull};
                    const uint64_t lbQ = (static_cast<uint64_t>(m) << 32) + static_cast<uint64_t>(n - m) * kBound[j - 1];
                    if (lbQ >= bestQ) continue;
                }
            }
            const T p = F::Div(F::FromU64(static_cast<uint64_t>(below)), total);
            // p^16 by four squarings, exactly as params.py (pow() may differ in the last bit)
            const T p2 = F::Mul(p, p), p4 = F::Mul(p2, p2), p8 = F::Mul(p4, p4), p16 = F::Mul(p8, p8);
            const T spread = F::Mul(F::FromU64(static_cast<uint64_t>(n - m)), F::Sub(one, p16));
            const T cost = F::Add(F::FromU64(static_cast<uint64_t>(m)), spread);
            if (bb < 0 || F::Less(cost, best) ||
                (F::Equal(cost, best) && (n < bn || (n == bn && (b < bb || (b == bb && m < bm)))))) {
                best = cost; bb = b; bn = n; bm = m;
                bestQ = F::CeilQ32(best);
            }
        }
    }
    *bOut = static_cast<uint32_t>(bb); *nOut = static_cast<uint32_t>(bn); *mOut = static_cast<uint32_t>(bm);
    return 0;
}

#endif
