// Native kernels of enec's codecs 2 and 3 (Quad Length Codes, APack) and of codec 4's zero
// pattern (bitmap, two-level bitmap, run length, CSR): a plain C ABI loaded with ctypes by
// python/enec/codecs/native.py.
//
// Tables (QLC areas, APack ranges and frequencies) are chosen in Python from the histogram
// (shared by every implementation), so these kernels only do the per-element work and must
// produce exactly the bytes of the numpy references in python/enec/codecs/{qlc,apack}.py
// (docs/FORMAT.md §7). Decoders validate everything they read and return a negative code on
// corrupt input; they never read or write outside the buffers they are given.
//
// Bit streams are LSB-first: bit i of a stream is bit (i % 8) of byte i / 8.

#include <atomic>
#include <cstdint>
#include <algorithm>
#include <cstring>
#include <thread>
#include <vector>
#include "popcount.h"
#if defined(__x86_64__) || defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

namespace {

// --------------------------------------------------------------------------- bit I/O

struct BitWriter {
    uint8_t* out;
    int64_t cap;
    int64_t pos = 0;        // bytes written
    uint64_t acc = 0;
    int nacc = 0;
    bool overflow = false;

    BitWriter(uint8_t* o, int64_t c) : out(o), cap(c) {}

    inline void put(uint64_t v, int w) {  // w <= 32
        if (w == 0) return;
        acc |= v << nacc;
        nacc += w;
        while (nacc >= 8) {
            if (pos >= cap) { overflow = true; return; }
            out[pos++] = (uint8_t)acc;
            acc >>= 8;
            nacc -= 8;
        }
    }
    inline void flush() {  // pad the last byte with zeros
        if (nacc > 0) {
            if (pos >= cap) { overflow = true; return; }
            out[pos++] = (uint8_t)acc;
        }
        acc = 0;
        nacc = 0;
    }
};

struct BitReader {
    const uint8_t* buf;
    int64_t len;            // bytes
    int64_t bit = 0;

    BitReader(const uint8_t* b, int64_t l) : buf(b), len(l) {}

    // reads w <= 32 bits; the caller checks bounds with bits_left()
    inline uint32_t get(int w) {
        if (w == 0) return 0;
        uint64_t v = 0;
        int64_t byte = bit >> 3;
        int sh = (int)(bit & 7);
        int need = (sh + w + 7) >> 3;
        for (int j = 0; j < need; j++) v |= (uint64_t)buf[byte + j] << (8 * j);
        bit += w;
        return (uint32_t)((v >> sh) & ((1ull << w) - 1));
    }
    inline int64_t bits_left() const { return 8 * len - bit; }
};

inline int area_width(int64_t count) {
    int k = 0;
    while ((1ll << k) < count) k++;
    return k;
}

// --------------------------------------------------------------------------- APack constants

constexpr int LANES = 32;
constexpr int PROB_BITS = 12;
constexpr uint32_t PROB_SCALE = 1u << PROB_BITS;
constexpr uint64_t RANS_L = 1ull << 16;

}  // namespace

extern "C" {

int codecs_abi_version() { return 4; }   // 2: sparse pattern kernels, 3: sparse_scan, 4: its values optional

void codecs_hist8(const uint8_t* x, int64_t n, int64_t* hist) {
    int64_t h[4][256];
    std::memset(h, 0, sizeof(h));
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        h[0][x[i]]++; h[1][x[i + 1]]++; h[2][x[i + 2]]++; h[3][x[i + 3]]++;
    }
    for (; i < n; i++) h[0][x[i]]++;
    for (int s = 0; s < 256; s++) hist[s] = h[0][s] + h[1][s] + h[2][s] + h[3][s];
}

// ------------------------------------------------------------------------------- QLC

// prefix_out: ceil(3n/8) bytes; data_out: data_cap bytes; ends: one per chunk (cumulative).
// Returns the index-stream bytes written, or -1 when data_cap is too small.
int64_t qlc_encode(const uint8_t* sym, int64_t n, const uint8_t* area_of, const uint16_t* index_of,
                   const uint8_t* k, int64_t chunk, uint8_t* prefix_out, uint8_t* data_out,
                   int64_t data_cap, int64_t* ends) {
    BitWriter pw(prefix_out, (3 * n + 7) / 8);
    for (int64_t i = 0; i < n; i++) pw.put(area_of[sym[i]], 3);
    pw.flush();
    BitWriter dw(data_out, data_cap);
    int64_t c = 0;
    for (int64_t s = 0; s < n; s += chunk, c++) {
        int64_t e = s + chunk < n ? s + chunk : n;
        for (int64_t i = s; i < e; i++) {
            uint8_t a = area_of[sym[i]];
            dw.put(index_of[sym[i]], k[a]);
        }
        dw.flush();
        if (dw.overflow) return -1;
        ends[c] = dw.pos;
    }
    return dw.pos;
}

// Returns 0, or a negative code: -1 prefix names an empty area, -2 chunk index disagrees with
// the code lengths, -3 non-zero padding bits, -4 an index lies past its area's symbols.
int qlc_decode(const uint8_t* prefix, int64_t prefix_len, const uint8_t* data, int64_t data_len,
               const int64_t* ends, int64_t n, const int64_t* counts, const uint8_t* symbols,
               int64_t chunk, uint8_t* out) {
    int k[8];
    int64_t first[8];
    int64_t f = 0;
    for (int a = 0; a < 8; a++) { k[a] = area_width(counts[a]); first[a] = f; f += counts[a]; }
    if ((3 * n + 7) / 8 != prefix_len) return -2;
    BitReader pr(prefix, prefix_len);
    int64_t c = 0;
    int64_t start = 0;
    for (int64_t s = 0; s < n; s += chunk, c++) {
        int64_t e = s + chunk < n ? s + chunk : n;
        int64_t stop = ends[c];
        if (stop < start || stop > data_len) return -2;
        BitReader dr(data + start, stop - start);
        for (int64_t i = s; i < e; i++) {
            int a = (int)pr.get(3);
            if (counts[a] == 0) return -1;
            if (dr.bits_left() < k[a]) return -2;
            int64_t idx = dr.get(k[a]);
            if (idx >= counts[a]) return -4;
            out[i] = symbols[first[a] + idx];
        }
        if ((dr.bit + 7) / 8 != stop - start) return -2;
        if ((dr.bit & 7) && (data[stop - 1] >> (dr.bit & 7))) return -3;
        start = stop;
    }
    return 0;
}

// ------------------------------------------------------------------------------- APack

// rans_out: rans_cap bytes; rans_ends / off_ends: one per chunk (cumulative).
// Returns 0, or -1 when a capacity is too small.
int apack_encode(const uint8_t* sym, int64_t n, const uint8_t* rng_of_byte, const uint8_t* off_of_byte,
                 const uint8_t* widths, const uint32_t* freq, int nranges, int64_t chunk,
                 uint8_t* rans_out, int64_t rans_cap, int64_t* rans_ends,
                 uint8_t* off_out, int64_t off_cap, int64_t* off_ends) {
    uint32_t cum[17];
    cum[0] = 0;
    for (int r = 0; r < nranges; r++) cum[r + 1] = cum[r] + freq[r];
    std::vector<uint16_t> tmp((size_t)(chunk > 0 ? chunk : 1));
    BitWriter ow(off_out, off_cap);
    int64_t rpos = 0;
    int64_t c = 0;
    for (int64_t s = 0; s < n; s += chunk, c++) {
        int64_t e = s + chunk < n ? s + chunk : n;
        // offsets
        for (int64_t i = s; i < e; i++) ow.put(off_of_byte[sym[i]], widths[rng_of_byte[sym[i]]]);
        ow.flush();
        if (ow.overflow) return -1;
        off_ends[c] = ow.pos;
        // rANS, elements in reverse; words land in tmp from the back (ascending element order)
        uint64_t x[LANES];
        for (int l = 0; l < LANES; l++) x[l] = RANS_L;
        int64_t p = (int64_t)tmp.size();
        for (int64_t i = e - 1; i >= s; i--) {
            int l = (int)((i - s) % LANES);
            int r = rng_of_byte[sym[i]];
            uint64_t f = freq[r];
            uint64_t xi = x[l];
            if (xi >= (f << 20)) {
                tmp[--p] = (uint16_t)(xi & 0xFFFF);
                xi >>= 16;
            }
            x[l] = ((xi / f) << PROB_BITS) + (xi % f) + cum[r];
        }
        int64_t nw = (int64_t)tmp.size() - p;
        if (rpos + 4 * LANES + 2 * nw > rans_cap) return -1;
        for (int l = 0; l < LANES; l++)
            for (int j = 0; j < 4; j++) rans_out[rpos++] = (uint8_t)(x[l] >> (8 * j));
        for (int64_t w = p; w < (int64_t)tmp.size(); w++) {
            rans_out[rpos++] = (uint8_t)tmp[w];
            rans_out[rpos++] = (uint8_t)(tmp[w] >> 8);
        }
        rans_ends[c] = rpos;
    }
    return 0;
}

// Returns 0, or: -1 a chunk's rANS stream is too short or odd, -2 a lane state is below 2^16,
// -3 a rANS stream ends early, -4 a rANS stream does not end where its chunk ends, -5 offset
// chunk index disagrees with the decoded ranges, -6 non-zero offset padding, -7 an offset lies
// outside its range.
int apack_decode(const uint8_t* rans, int64_t rans_len, const int64_t* rans_ends,
                 const uint8_t* offs, int64_t offs_len, const int64_t* off_ends, int64_t n,
                 const uint32_t* freq, const uint8_t* widths, const int64_t* sizes,
                 const int64_t* starts, int nranges, const uint8_t* inv, int64_t chunk,
                 uint8_t* out) {
    uint32_t cum[17];
    cum[0] = 0;
    for (int r = 0; r < nranges; r++) cum[r + 1] = cum[r] + freq[r];
    uint8_t slot2sym[PROB_SCALE];
    {
        int r = 0;
        for (uint32_t sl = 0; sl < PROB_SCALE; sl++) {
            while (r < nranges && sl >= cum[r + 1]) r++;
            slot2sym[sl] = (uint8_t)(r < nranges ? r : 0);
        }
    }
    std::vector<uint8_t> rng((size_t)(chunk > 0 ? chunk : 1));
    int64_t rstart = 0, ostart = 0;
    int64_t c = 0;
    for (int64_t s = 0; s < n; s += chunk, c++) {
        int64_t e = s + chunk < n ? s + chunk : n;
        int64_t rstop = rans_ends[c];
        if (rstop < rstart + 4 * LANES || rstop > rans_len || ((rstop - rstart) & 1)) return -1;
        uint64_t x[LANES];
        const uint8_t* st = rans + rstart;
        for (int l = 0; l < LANES; l++) {
            x[l] = (uint64_t)st[4 * l] | ((uint64_t)st[4 * l + 1] << 8) | ((uint64_t)st[4 * l + 2] << 16)
                   | ((uint64_t)st[4 * l + 3] << 24);
            if (x[l] < RANS_L) return -2;
        }
        const uint8_t* words = st + 4 * LANES;
        int64_t nwords = (rstop - rstart - 4 * LANES) / 2;
        int64_t ptr = 0;
        for (int64_t i = s; i < e; i++) {
            int l = (int)((i - s) % LANES);
            uint64_t xi = x[l];
            uint32_t slot = (uint32_t)(xi & (PROB_SCALE - 1));
            int r = slot2sym[slot];
            xi = (uint64_t)freq[r] * (xi >> PROB_BITS) + slot - cum[r];
            if (xi < RANS_L) {
                if (ptr >= nwords) return -3;
                xi = (xi << 16) | (uint64_t)words[2 * ptr] | ((uint64_t)words[2 * ptr + 1] << 8);
                ptr++;
            }
            x[l] = xi;
            rng[i - s] = (uint8_t)r;
        }
        if (ptr != nwords) return -4;
        for (int l = 0; l < LANES; l++)
            if (x[l] != RANS_L) return -4;
        // offsets
        int64_t bits = 0;
        for (int64_t i = s; i < e; i++) bits += widths[rng[i - s]];
        int64_t ostop = off_ends[c];
        if (ostop < ostart || ostop > offs_len || (bits + 7) / 8 != ostop - ostart) return -5;
        if ((bits & 7) && (offs[ostop - 1] >> (bits & 7))) return -6;
        BitReader orr(offs + ostart, ostop - ostart);
        for (int64_t i = s; i < e; i++) {
            int r = rng[i - s];
            int64_t off = orr.get(widths[r]);
            if (off >= sizes[r]) return -7;
            out[i] = inv[starts[r] + off];
        }
        rstart = rstop;
        ostart = ostop;
    }
    return 0;
}

}  // extern "C"

// --------------------------------------------------------------------------- sparse helpers

namespace {

inline int bitlen(uint64_t x) { return x ? 64 - __builtin_clzll(x) : 0; }

// Bits [bit, bit + w) of buf, w <= 56; the caller guarantees they lie inside the buffer. The
// 8-byte load is used only where 8 bytes remain, so the last bytes never read past the end.
inline uint64_t bits_at(const uint8_t* buf, int64_t len, int64_t bit, int w) {
    if (w == 0) return 0;
    int64_t byte = bit >> 3;
    int sh = (int)(bit & 7);
    uint64_t v = 0;
    if (byte + 8 <= len) {
        std::memcpy(&v, buf + byte, 8);          // little-endian hosts (x86-64, aarch64)
    } else {
        int need = (sh + w + 7) >> 3;
        for (int j = 0; j < need; j++) v |= (uint64_t)buf[byte + j] << (8 * j);
    }
    return (v >> sh) & ((1ull << w) - 1);
}

// Calls f(i) for every set bit i of buf in [start, start + n), ascending; returns false as soon
// as f does.
template <class F>
inline bool for_set_bits(const uint8_t* buf, int64_t len, int64_t start, int64_t n, F&& f) {
    for (int64_t off = 0; off < n; off += 56) {
        int w = (int)(n - off < 56 ? n - off : 56);
        uint64_t v = bits_at(buf, len, start + off, w);
        while (v) {
            if (!f(off + __builtin_ctzll(v))) return false;
            v &= v - 1;
        }
    }
    return true;
}

inline int64_t popcount_bits(const uint8_t* buf, int64_t len, int64_t start, int64_t n) {
    int64_t c = 0;
    for (int64_t off = 0; off < n; off += 56) {
        int w = (int)(n - off < 56 ? n - off : 56);
        c += enec_bits::popcount64(bits_at(buf, len, start + off, w));
    }
    return c;
}

// The pattern must be exactly ceil(nbits / 8) bytes with zero padding bits (as
// _bits.check_tail_zero): 0, or -1 (size) / -2 (padding).
inline int check_tail(const uint8_t* pat, int64_t len, int64_t nbits) {
    if ((nbits + 7) / 8 != len) return -1;
    if ((nbits & 7) && (pat[len - 1] >> (nbits & 7))) return -2;
    return 0;
}

constexpr int SP_BITMAP = 1, SP_BITMAP2 = 2, SP_RLE = 3, SP_CSR = 4;

// Compaction of the non-zero words with AVX-512 (VBMI2's byte and word compress), when the CPU
// has it: chosen at run time, capped by sparse_set_simd (tests run both paths).
#if defined(__x86_64__) && defined(__GNUC__)
#define SPARSE_X86 1
bool detect_vbmi2() {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vbmi2");
}
const bool kHasVbmi2 = detect_vbmi2();

bool detect_count512() {
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512cd") &&
           __builtin_cpu_supports("avx512vpopcntdq") && __builtin_cpu_supports("avx512dq") &&
           __builtin_cpu_supports("avx512bw");
}
const bool kHasCount512 = detect_count512();

// What sparse_scan's first pass counts, for one range (see there).
struct PatternCounts {
    int64_t nnz = 0, run = 0, max_small = 0;
    int64_t nonempty[8] = {};
    int64_t* small = nullptr;             // gaps of fewer than kSmall zeros, by length
    std::vector<int64_t>* large = nullptr;
};

// The counts of up to `groups` groups of 8 bitmap words (512 elements each, from a multiple of
// 512) with AVX-512: the bitmap2 folds with vector popcounts, and the gaps when every word of a
// group holds a non-zero (then each gap is the zeros after one word's last non-zero plus those
// before the next word's first, or lies inside a word). Stops before the first group with an
// all-zero word (the caller counts that one word by word); returns the groups counted. The
// popcounts are summed in vectors and reduced once.
// (GCC 12 warns inside its own _mm512_reduce_add_epi64, which starts from an undefined register)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
__attribute__((target("avx512f,avx512cd,avx512vpopcntdq,avx512dq,avx512bw,popcnt")))
int64_t count8_avx512(const uint8_t* bm, int64_t groups, PatternCounts& c, int64_t small_cap) {
    const __m512i ones = _mm512_set1_epi64(-1), k1 = _mm512_set1_epi64(1), k2 = _mm512_set1_epi64(2);
    const __m512i f4 = _mm512_set1_epi64(0x1111111111111111ll), f8 = _mm512_set1_epi64(0x0101010101010101ll);
    const __m512i f16 = _mm512_set1_epi64(0x0001000100010001ll), f32 = _mm512_set1_epi64(0x0000000100000001ll);
    __m512i nnz = _mm512_setzero_si512(), ne0 = nnz, ne1 = nnz, ne2 = nnz, ne3 = nnz, s1 = nnz, s2 = nnz;
    __m512i prev_trail = _mm512_set1_epi64(c.run);
    int64_t gs1 = 0, gs2 = 0, q = 0;
    for (; q < groups; ++q) {
        const __m512i m = _mm512_loadu_si512(bm + 64 * q);
        if (_mm512_test_epi64_mask(m, m) != 0xFF) break;
        nnz = _mm512_add_epi64(nnz, _mm512_popcnt_epi64(m));
        // blocks of 4 .. 64 elements inside each word (every word is non-empty)
        __m512i f = _mm512_or_si512(m, _mm512_srli_epi64(m, 1));
        f = _mm512_or_si512(f, _mm512_srli_epi64(f, 2));
        ne0 = _mm512_add_epi64(ne0, _mm512_popcnt_epi64(_mm512_and_si512(f, f4)));
        f = _mm512_or_si512(f, _mm512_srli_epi64(f, 4));
        ne1 = _mm512_add_epi64(ne1, _mm512_popcnt_epi64(_mm512_and_si512(f, f8)));
        f = _mm512_or_si512(f, _mm512_srli_epi64(f, 8));
        ne2 = _mm512_add_epi64(ne2, _mm512_popcnt_epi64(_mm512_and_si512(f, f16)));
        f = _mm512_or_si512(f, _mm512_srli_epi64(f, 16));
        ne3 = _mm512_add_epi64(ne3, _mm512_popcnt_epi64(_mm512_and_si512(f, f32)));
        // gaps: lead[i] zeros before word i's first non-zero, trail[i] after its last
        const __m512i lead = _mm512_popcnt_epi64(_mm512_andnot_si512(m, _mm512_add_epi64(m, ones)));   // tz
        const __m512i trail = _mm512_lzcnt_epi64(m);
        // the gap that ends at word i's first non-zero: trail[i - 1] (before word 0: the carried run) + lead[i]
        const __m512i g = _mm512_add_epi64(_mm512_alignr_epi64(trail, prev_trail, 7), lead);
        prev_trail = trail;
        gs1 += __builtin_popcount(_mm512_cmpeq_epi64_mask(g, k1));
        gs2 += __builtin_popcount(_mm512_cmpeq_epi64_mask(g, k2));
        const __mmask8 g3 = _mm512_cmpgt_epi64_mask(g, k2);
        if (g3) {
            alignas(64) int64_t gv[8];
            _mm512_store_si512(gv, g);
            for (unsigned k = g3; k; k &= k - 1) {
                const int64_t x = gv[__builtin_ctz(k)];
                if (x < small_cap) { c.small[x]++; c.max_small = std::max(c.max_small, x); }
                else c.large->push_back(x);
            }
        }
        // gaps inside each word, between its first and last non-zero
        const __m512i span = _mm512_and_si512(_mm512_sllv_epi64(ones, lead), _mm512_srlv_epi64(ones, trail));
        const __m512i zi = _mm512_andnot_si512(m, span);
        const __m512i z1 = _mm512_srli_epi64(zi, 1), z2 = _mm512_srli_epi64(zi, 2);
        const __m512i starts = _mm512_andnot_si512(_mm512_slli_epi64(zi, 1), zi);
        s1 = _mm512_add_epi64(s1, _mm512_popcnt_epi64(_mm512_andnot_si512(z1, starts)));
        s2 = _mm512_add_epi64(s2, _mm512_popcnt_epi64(_mm512_andnot_si512(z2, _mm512_and_si512(starts, z1))));
        const __m512i longer = _mm512_and_si512(_mm512_and_si512(starts, z1), z2);
        const __mmask8 lm = _mm512_test_epi64_mask(longer, longer);
        if (lm) {
            alignas(64) uint64_t lv[8], zv[8];
            _mm512_store_si512(lv, longer);
            _mm512_store_si512(zv, zi);
            for (unsigned k = lm; k; k &= k - 1) {
                const int i = __builtin_ctz(k);
                for (uint64_t b = lv[i]; b; b &= b - 1) {
                    const int64_t x = __builtin_ctzll(~(zv[i] >> __builtin_ctzll(b)));
                    if (x < small_cap) { c.small[x]++; c.max_small = std::max(c.max_small, x); }
                    else c.large->push_back(x);
                }
            }
        }
    }
    if (q == 0) return 0;
    c.nnz += _mm512_reduce_add_epi64(nnz);
    c.nonempty[0] += _mm512_reduce_add_epi64(ne0);
    c.nonempty[1] += _mm512_reduce_add_epi64(ne1);
    c.nonempty[2] += _mm512_reduce_add_epi64(ne2);
    c.nonempty[3] += _mm512_reduce_add_epi64(ne3);
    c.nonempty[4] += 8 * q;
    c.nonempty[5] += 4 * q;
    c.nonempty[6] += 2 * q;
    c.nonempty[7] += q;
    c.small[1] += gs1 + _mm512_reduce_add_epi64(s1);
    c.small[2] += gs2 + _mm512_reduce_add_epi64(s2);
    c.max_small = std::max<int64_t>(c.max_small, 2);
    alignas(64) int64_t tv[8];
    _mm512_store_si512(tv, prev_trail);
    c.run = tv[7];
    return q;
}
#pragma GCC diagnostic pop

// The non-zero words (bit set in `bitmap`) of the full 64-word chunks [lo, hi) to out + at;
// masked stores never write past the last one (another thread fills what follows).
template <class T>
__attribute__((target("avx512f,avx512bw,avx512vbmi2")))
int64_t compact_avx512(const T* w, const uint8_t* bitmap, int64_t lo, int64_t hi, T* out, int64_t at) {
    constexpr int per = 64 / sizeof(T);          // words per register
    for (int64_t base = lo; base < hi; base += 64) {
        uint64_t mask;
        std::memcpy(&mask, bitmap + base / 8, 8);
        for (int k = 0; k < 64; k += per) {
            const uint64_t m = per == 64 ? mask : (mask >> k) & ((1ull << per) - 1);
            const __m512i v = _mm512_loadu_si512(w + base + k);
            const int c = enec_bits::popcount64(m);
            const uint64_t keep = c == 64 ? ~0ull : (1ull << c) - 1;
            if (sizeof(T) == 1)
                _mm512_mask_storeu_epi8(out + at, keep, _mm512_maskz_compress_epi8(m, v));
            else if (sizeof(T) == 2)
                _mm512_mask_storeu_epi16(out + at, (__mmask32)keep, _mm512_maskz_compress_epi16((__mmask32)m, v));
            else
                _mm512_mask_storeu_epi32(out + at, (__mmask16)keep, _mm512_maskz_compress_epi32((__mmask16)m, v));
            at += c;
        }
    }
    return at;
}

// Bitmap bits of the full 64-word chunks [lo, hi) (lo, hi multiples of 64 from the range start).
template <class T>
__attribute__((target("avx512f,avx512bw")))
void nonzero_bits_avx512(const T* w, int64_t lo, int64_t hi, uint8_t* bitmap) {
    for (int64_t base = lo; base < hi; base += 64) {
        uint64_t mask;
        if (sizeof(T) == 1) {
            mask = _mm512_test_epi8_mask(_mm512_loadu_si512(w + base), _mm512_set1_epi8(-1));
        } else if (sizeof(T) == 2) {
            const __m512i ones = _mm512_set1_epi16(-1);
            mask = (uint64_t)_mm512_test_epi16_mask(_mm512_loadu_si512(w + base), ones)
                 | (uint64_t)_mm512_test_epi16_mask(_mm512_loadu_si512(w + base + 32), ones) << 32;
        } else {
            const __m512i ones = _mm512_set1_epi32(-1);
            mask = 0;
            for (int k = 0; k < 4; ++k)
                mask |= (uint64_t)_mm512_test_epi32_mask(_mm512_loadu_si512(w + base + 16 * k), ones) << (16 * k);
        }
        std::memcpy(bitmap + base / 8, &mask, 8);
    }
}
#else
#define SPARSE_X86 0
#endif
std::atomic<bool> g_sparse_simd{true};

// Bit i = (w[i] != 0), for n <= 64 words.
template <class T>
inline uint64_t nonzero_mask(const T* w, int n) {
    uint64_t mask = 0;
    for (int i = 0; i < n; ++i) mask |= (uint64_t)(w[i] != 0) << i;
    return mask;
}

// The same for 64 words, 16 bytes at a time with SSE2 (every x86-64 CPU has it).
template <class T>
inline uint64_t nonzero_mask64(const T* w) {
#if defined(__x86_64__) || defined(__SSE2__)
    const __m128i zero = _mm_setzero_si128();
    uint64_t zeros = 0;
    constexpr int per = 16 / sizeof(T);
    for (int i = 0; i < 64; i += per) {
        const __m128i v = _mm_loadu_si128((const __m128i*)(w + i));
        uint64_t bits;
        if (sizeof(T) == 1) bits = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, zero));
        else if (sizeof(T) == 2) bits = (unsigned)_mm_movemask_epi8(_mm_packs_epi16(_mm_cmpeq_epi16(v, zero), zero));
        else bits = (unsigned)_mm_movemask_ps(_mm_castsi128_ps(_mm_cmpeq_epi32(v, zero)));
        zeros |= bits << i;
    }
    return ~zeros;
#else
    return nonzero_mask(w, 64);
#endif
}

}  // namespace

extern "C" {

// ------------------------------------------------------------------------------- sparse

// Whether sparse_scan may use AVX-512 (its compaction, bitmap and counting; tests run both
// paths); returns whether the CPU has the compaction's VBMI2.
int sparse_set_simd(int enable) {
    g_sparse_simd.store(enable != 0);
#if SPARSE_X86
    return kHasVbmi2;
#else
    return 0;
#endif
}

// One pass over numel words of wbytes (1, 2 or 4) bytes, for codec 4's "auto" decision (the
// numbers sparse.candidates computes from the positions, without building them):
//   values:  the non-zero words, in order (numel words of room), or null: not extracted (codec
//            "auto" encodes them straight from the words and the bitmap, enec_encode_nonzeros)
//   words null: the bitmap is given (enec_analyze_bitmap wrote it) and only counted
//   bitmap:  the bitmap pattern (ceil(numel / 8) bytes, bit i = element i is non-zero)
//   counts:  [0, 8)  non-empty blocks of 2^p elements, p = 2 .. 9 (bitmap2)
//            [8, 32) run-length fillers of width w = 1 .. 24: sum over the gaps g (the zeros
//                    before each non-zero) of g / (2^w - 1)
// Up to nthreads threads take ranges of whole 512-element blocks: a first parallel pass writes
// the bitmap and counts each range's non-zeros and gaps, a second one moves each range's
// non-zeros to their place. Returns the number of non-zeros.
int64_t sparse_scan(const void* words, int64_t numel, int wbytes, void* values, uint8_t* bitmap,
                    int64_t* counts, int nthreads) {
    constexpr int64_t kSuper = 512, kSmall = 1 << 12;
    const int64_t supers = (numel + kSuper - 1) / kSuper;
    // threads start per call (~50 us): counting a given bitmap is ~20x cheaper than reading
    // the words, so it splits only far larger tensors
    const int T = (int)std::max<int64_t>(1, std::min<int64_t>(nthreads, numel >> (words ? 20 : 26)));
    struct Range {
        int64_t lo = 0, hi = 0, nnz = 0, lead = 0, trail = 0, max_small = 0;
        bool any = false;
        int64_t nonempty[8] = {};
        std::vector<int64_t> small, large;   // gaps inside the range (after its first non-zero)
    };
    std::vector<Range> R(T);
    for (int t = 0; t < T; ++t) {
        R[t].lo = std::min(numel, supers * t / T * kSuper);
        R[t].hi = std::min(numel, supers * (t + 1) / T * kSuper);
    }
    // The bitmap bits of words [lo, hi) (lo a multiple of 64).
    auto fill_bits = [&](auto* w, int64_t lo, int64_t hi) {
        const int64_t full_end = hi - (hi - lo) % 64;
        int64_t b = lo;
#if SPARSE_X86
        if (kHasVbmi2 && g_sparse_simd.load(std::memory_order_relaxed)) {
            nonzero_bits_avx512(w, lo, full_end, bitmap);
            b = full_end;
        }
#endif
        for (; b < full_end; b += 64) {
            const uint64_t m = nonzero_mask64(w + b);
            std::memcpy(bitmap + b / 8, &m, 8);
        }
        if (full_end < hi) {
            const uint64_t m = nonzero_mask(w + full_end, (int)(hi - full_end));
            std::memcpy(bitmap + full_end / 8, &m, (hi - full_end + 7) / 8);
        }
    };
    // pass 1: bitmap (unless given: words null), block counts, gaps, non-zero count of range r.
    // The counters are locals: stores to the bitmap (uint8_t) could alias r's fields and would
    // keep them in memory otherwise.
    auto pass1 = [&](auto* w, Range& r) {
#if SPARSE_X86
        const bool count512 = kHasCount512 && g_sparse_simd.load(std::memory_order_relaxed);
#endif
        r.small.assign(kSmall, 0);
        int64_t* small = r.small.data();
        int64_t run = 0, nnz = 0, max_small = 0, lead = 0;
        bool any = false;
        int64_t nonempty[8] = {};
        uint64_t wide = 0;             // which 64-element chunks of the current 512 block are non-empty
        auto add_gap = [&](int64_t g) {
            if (g < kSmall) { small[g]++; max_small = std::max(max_small, g); }
            else r.large.push_back(g);
        };
        constexpr int64_t kTile = 4096;     // the bitmap of a tile is written, then read back from cache
        for (int64_t tile = r.lo; tile < r.hi; tile += kTile) {
            const int64_t tile_end = std::min<int64_t>(r.hi, tile + kTile);
            if (w) fill_bits(w, tile, tile_end);
            for (int64_t base = tile; base < tile_end; base += 64) {
#if SPARSE_X86
                // 8 words at a time with AVX-512 (after the range's first non-zero, from a 512 boundary)
                if (count512 && any && (base & 511) == 0 && base + 512 <= tile_end) {
                    PatternCounts pc;
                    pc.nnz = nnz; pc.run = run; pc.max_small = max_small;
                    std::copy(nonempty, nonempty + 8, pc.nonempty);
                    pc.small = small; pc.large = &r.large;
                    const int64_t q = count8_avx512(bitmap + base / 8, (tile_end - base) / 512, pc, kSmall);
                    if (q) {
                        nnz = pc.nnz; run = pc.run; max_small = pc.max_small;
                        std::copy(pc.nonempty, pc.nonempty + 8, nonempty);
                        base += 512 * q - 64;
                        continue;
                    }
                }
#endif
                const int vc = (int)std::min<int64_t>(64, tile_end - base);
                uint64_t mask = 0;
                if (vc == 64) std::memcpy(&mask, bitmap + base / 8, 8);
                else std::memcpy(&mask, bitmap + base / 8, (vc + 7) / 8);
                nnz += enec_bits::popcount64(mask);
                // bitmap2, blocks of 4 .. 64 inside the 64 elements: fold each block onto its first bit
                if (mask == ~0ull) {
                    for (int p = 2; p <= 6; ++p) nonempty[p - 2] += 64 >> p;
                } else {
                    uint64_t f = mask | mask >> 1;
                    f |= f >> 2;  nonempty[0] += enec_bits::popcount64(f & 0x1111111111111111ull);
                    f |= f >> 4;  nonempty[1] += enec_bits::popcount64(f & 0x0101010101010101ull);
                    f |= f >> 8;  nonempty[2] += enec_bits::popcount64(f & 0x0001000100010001ull);
                    f |= f >> 16; nonempty[3] += enec_bits::popcount64(f & 0x0000000100000001ull);
                    f |= f >> 32; nonempty[4] += f & 1;
                }
                // blocks of 128 .. 512: 2, 4, 8 consecutive 64-element chunks
                const int64_t c = base >> 6;
                wide |= (uint64_t)(mask != 0) << (c & 7);
                if ((c & 7) == 7 || base + vc == r.hi) {
                    nonempty[5] += enec_bits::popcount64((wide | wide >> 1) & 0x55);
                    nonempty[6] += enec_bits::popcount64((wide | wide >> 1 | wide >> 2 | wide >> 3) & 0x11);
                    nonempty[7] += wide != 0;
                    wide = 0;
                }
                if (mask == ~0ull && run == 0) continue;    // no gap ends here
                if (mask == 0) { run += vc; continue; }     // the gap goes on
                // the gap that ends at the chunk's first non-zero (it may have begun chunks before)
                const int first = __builtin_ctzll(mask), last = 63 - __builtin_clzll(mask);
                const int64_t g0 = run + first;
                if (!any) { lead = g0; any = true; }
                else if (g0) add_gap(g0);
                // gaps between the first and the last non-zero, found with bit operations: runs of
                // one and two zeros (nearly all of them in a mostly dense tensor) are counted,
                // longer runs visited one by one
                const uint64_t span = (last == 63 ? ~0ull : (1ull << (last + 1)) - 1) & (~0ull << first);
                const uint64_t zi = ~mask & span;
                if (zi) {
                    const uint64_t starts = zi & ~(zi << 1);
                    const uint64_t one = starts & ~(zi >> 1), two = starts & (zi >> 1) & ~(zi >> 2);
                    small[1] += enec_bits::popcount64(one);
                    small[2] += enec_bits::popcount64(two);
                    max_small = std::max<int64_t>(max_small, two ? 2 : 1);
                    for (uint64_t longer = starts & (zi >> 1) & (zi >> 2); longer; longer &= longer - 1) {
                        const int st = __builtin_ctzll(longer);
                        add_gap(__builtin_ctzll(~(zi >> st)));
                    }
                }
                run = vc - 1 - last;                        // zeros after the last non-zero
            }
        }
        r.nnz = nnz;
        r.max_small = max_small;
        r.any = any;
        for (int k = 0; k < 8; ++k) r.nonempty[k] = nonempty[k];
        if (any) { r.lead = lead; r.trail = run; } else r.lead = run;
    };
    // pass 2: the non-zeros of range r to values[at ...], by the bitmap of pass 1
    auto pass2 = [&](auto* w, auto* out, const Range& r, int64_t at) {
        int64_t base = r.lo;
#if SPARSE_X86
        if (kHasVbmi2 && g_sparse_simd.load(std::memory_order_relaxed)) {
            const int64_t full = r.lo + (r.hi - r.lo) / 64 * 64;
            at = compact_avx512(w, bitmap, r.lo, full, out, at);
            base = full;
        }
#endif
        for (; base < r.hi; base += 64) {
            const int vc = (int)std::min<int64_t>(64, r.hi - base);
            uint64_t mask = 0;
            std::memcpy(&mask, bitmap + base / 8, (vc + 7) / 8);
            if (mask == ~0ull) {
                std::memcpy(out + at, w + base, 64 * sizeof(*w));
                at += 64;
                continue;
            }
            // runs of 8 non-zeros (most of them, in a mostly dense tensor) are copied whole
            for (int j = 0; j < vc; j += 8) {
                const unsigned byte = (unsigned)(mask >> j) & 0xFF;
                if (byte == 0xFF) {
                    std::memcpy(out + at, w + base + j, 8 * sizeof(*w));
                    at += 8;
                } else {
                    for (unsigned b = byte; b; b &= b - 1) out[at++] = w[base + j + __builtin_ctz(b)];
                }
            }
        }
    };
    auto run_all = [&](auto* w, auto* out) {
        auto parallel = [&](auto fn) {
            std::vector<std::thread> th;
            for (int t = 1; t < T; ++t) th.emplace_back(fn, t);
            fn(0);
            for (auto& x : th) x.join();
        };
        parallel([&](int t) { pass1(w, R[t]); });
        std::vector<int64_t> at(T + 1, 0);
        for (int t = 0; t < T; ++t) at[t + 1] = at[t] + R[t].nnz;
        if (out && w) parallel([&](int t) { pass2(w, out, R[t], at[t]); });
        return at[T];
    };
    int64_t nnz;
    if (wbytes == 1) nnz = run_all((const uint8_t*)words, (uint8_t*)values);
    else if (wbytes == 2) nnz = run_all((const uint16_t*)words, (uint16_t*)values);
    else nnz = run_all((const uint32_t*)words, (uint32_t*)values);
    // merge: a range's leading zeros continue the previous ranges' trailing ones
    std::vector<int64_t> small(kSmall, 0), large;
    int64_t max_small = 0, carry = 0;
    int64_t nonempty[8] = {};
    auto gap = [&](int64_t g) {
        if (g < kSmall) { small[g]++; max_small = std::max(max_small, g); } else large.push_back(g);
    };
    for (auto& r : R) {
        for (int k = 0; k < 8; ++k) nonempty[k] += r.nonempty[k];
        if (r.small.empty()) continue;                 // an empty range (numel == 0)
        for (int64_t g = 0; g <= r.max_small; ++g) small[g] += r.small[g];
        max_small = std::max(max_small, r.max_small);
        large.insert(large.end(), r.large.begin(), r.large.end());
        if (r.any) { gap(carry + r.lead); carry = r.trail; }
        else carry += r.lead;
    }
    small[0] = 0;                                        // gaps of 0 zeros add no filler
    for (int w = 1; w <= 24; ++w) {
        const int64_t m = (1ll << w) - 1;
        int64_t fill = 0;
        for (int64_t g = m; g <= max_small; ++g) fill += small[g] * (g / m);
        for (int64_t g : large) fill += g / m;
        counts[8 + w - 1] = fill;
    }
    for (int k = 0; k < 8; ++k) counts[k] = nonempty[k];
    return nnz;
}

// Encodes the sorted non-zero positions pos[0..nnz) of a tensor of numel elements (cols = its
// row length, for CSR) as pattern format fmt with parameter param (docs/FORMAT.md §7.4).
// out: cap bytes. Returns the pattern bytes, or -1 positions not strictly increasing inside
// [0, numel), -2 cap too small, -3 unknown format or parameter.
int64_t sparse_pattern_encode(int fmt, int param, int64_t numel, int64_t cols, const int64_t* pos,
                              int64_t nnz, uint8_t* out, int64_t cap) {
    // The writers index by position, so each position is checked (inside [0, numel), above the
    // previous one) before it is used, in the pass that first reads it.
    auto bad = [&](int64_t i) { return pos[i] < 0 || pos[i] >= numel || (i && pos[i] <= pos[i - 1]); };
    if (fmt == SP_BITMAP) {
        int64_t nb = (numel + 7) / 8;
        if (nb > cap) return -2;
        std::memset(out, 0, (size_t)nb);
        for (int64_t i = 0; i < nnz; i++) {
            if (bad(i)) return -1;
            out[pos[i] >> 3] |= (uint8_t)(1u << (pos[i] & 7));
        }
        return nb;
    }
    if (fmt == SP_BITMAP2) {
        if (param < 2 || param > 9) return -3;
        const int64_t s = 1ll << param;
        const int64_t nblk = (numel + s - 1) / s;
        // pass 1: the plain bitmap of all nblk * s elements, and the count of non-empty blocks
        std::vector<uint8_t> full((size_t)((nblk * s + 7) / 8));
        int64_t ne = 0, last = -1;
        for (int64_t i = 0; i < nnz; i++) {
            if (bad(i)) return -1;
            full[pos[i] >> 3] |= (uint8_t)(1u << (pos[i] & 7));
            if ((pos[i] >> param) != last) { last = pos[i] >> param; ne++; }
        }
        const int64_t nbytes = (nblk + ne * s + 7) / 8;
        if (nbytes > cap) return -2;
        std::memset(out, 0, (size_t)nbytes);
        // pass 2, over blocks: the block bit, then the block's s bits appended to the element
        // bits (a bit writer that starts at bit nblk, after the block bitmap's last bits)
        for (int64_t b = 0; b < nblk; b++)
            if (bits_at(full.data(), (int64_t)full.size(), b * s, s < 56 ? (int)s : 56) != 0
                || (s > 56 && popcount_bits(full.data(), (int64_t)full.size(), b * s, s)))
                out[b >> 3] |= (uint8_t)(1u << (b & 7));
        BitWriter bw(out, nbytes);
        bw.pos = nblk >> 3;
        bw.nacc = (int)(nblk & 7);
        bw.acc = bw.nacc ? (uint64_t)(out[bw.pos] & ((1u << bw.nacc) - 1)) : 0;
        const int piece = s < 32 ? (int)s : 32;
        for (int64_t b = 0; b < nblk; b++) {
            if (!((out[b >> 3] >> (b & 7)) & 1)) continue;
            for (int64_t j = 0; j < s; j += piece)
                bw.put(bits_at(full.data(), (int64_t)full.size(), b * s + j, piece), piece);
        }
        bw.flush();
        if (bw.overflow || bw.pos != nbytes) return -2;   // cannot happen: ne blocks were counted
        return nbytes;
    }
    if (fmt == SP_RLE) {
        if (param < 1 || param > 24) return -3;
        const int w = param;
        const int64_t m = (1ll << w) - 1;
        BitWriter bw(out, cap);
        int64_t prev = -1;
        for (int64_t i = 0; i < nnz; i++) {
            if (bad(i)) return -1;
            int64_t g = pos[i] - prev - 1;
            for (int64_t q = g / m; q > 0; q--) bw.put((uint64_t)m, w);   // fillers
            bw.put((uint64_t)(g % m), w);
            if (bw.overflow) return -2;
            prev = pos[i];
        }
        bw.flush();
        if (bw.overflow) return -2;
        return bw.pos;
    }
    if (fmt == SP_CSR) {
        if (param != 0 || cols < 0) return -3;
        int64_t rows = cols ? numel / cols : 0;
        int pw = bitlen((uint64_t)nnz), cw = bitlen((uint64_t)(cols > 1 ? cols - 1 : 0));
        if (pw > 56 || cw > 56) return -3;
        for (int64_t i = 0; i < nnz; i++)
            if (bad(i)) return -1;
        BitWriter bw(out, cap);
        bw.put(0, pw);
        int64_t k = 0;
        for (int64_t r = 0; r < rows; r++) {        // pointer r + 1: non-zeros before row r + 1
            int64_t end = (r + 1) * cols;
            while (k < nnz && pos[k] < end) k++;
            bw.put((uint64_t)k, pw);
            if (bw.overflow) return -2;
        }
        for (int64_t i = 0; i < nnz; i++) {
            bw.put((uint64_t)(pos[i] % cols), cw);
            if (bw.overflow) return -2;
        }
        bw.flush();
        if (bw.overflow) return -2;
        return bw.pos;
    }
    return -3;
}

// Decodes pattern pat[0..pat_len) (hostile bytes; fmt, param, numel, cols and nnz come from a
// validated header) into the nnz sorted positions out[0..nnz), with the checks of the numpy
// reference sparse.decode_pattern. Returns 0 or a negative code:
//   -1 pattern size differs from the size its fields need (info[0] = the bytes needed)
//   -2 non-zero padding bits           -3 a count other than nnz (info[0] = the count)
//   -4 bitmap2 pattern shorter than its block bitmap
//   -5 a bitmap2 block marked non-empty is empty
//   -6 a non-zero lies past the tensor's end
//   -7 rle: fewer non-zeros than nnz   -8 csr row pointers not 0 .. nnz, non-decreasing
//   -9 csr column past the row length  -10 csr columns not increasing within a row
//   -11 unknown format or parameter
// Only out[0..nnz) is written, and only pat[0..pat_len) is read.
int sparse_pattern_decode(int fmt, int param, int64_t numel, int64_t cols, int64_t nnz,
                          const uint8_t* pat, int64_t pat_len, int64_t* out, int64_t* info) {
    info[0] = 0;
    if (numel < 0 || nnz < 0 || pat_len < 0 || pat_len > (INT64_MAX >> 4)) return -11;
    if (fmt == SP_BITMAP) {
        int rc = check_tail(pat, pat_len, numel);
        if (rc) { info[0] = (numel + 7) / 8; return rc; }
        int64_t k = 0;
        for_set_bits(pat, pat_len, 0, numel, [&](int64_t i) {
            if (k < nnz) out[k] = i;
            k++;                        // keep counting past nnz for the message
            return true;
        });
        if (k != nnz) { info[0] = k; return -3; }
        return 0;
    }
    if (fmt == SP_BITMAP2) {
        if (param < 2 || param > 9) return -11;
        const int64_t s = 1ll << param;
        const int64_t nblk = (numel + s - 1) / s;
        if (pat_len * 8 < nblk) return -4;
        const int64_t ne = popcount_bits(pat, pat_len, 0, nblk);
        const int64_t nbits = nblk + ne * s;      // ne <= nblk: no overflow
        int rc = check_tail(pat, pat_len, nbits);
        if (rc) { info[0] = (nbits + 7) / 8; return rc; }
        // now every marked block's bits lie inside the pattern
        int64_t k = 0, rank = 0;
        int err = 0;
        for_set_bits(pat, pat_len, 0, nblk, [&](int64_t b) {
            int64_t base = nblk + rank * s;
            rank++;
            bool any = false;
            for_set_bits(pat, pat_len, base, s, [&](int64_t j) {
                any = true;
                int64_t p = b * s + j;
                if (p >= numel) { err = -6; return false; }
                if (k < nnz) out[k] = p;
                k++;
                return true;
            });
            if (!err && !any) err = -5;
            return err == 0;
        });
        if (err) return err;
        if (k != nnz) { info[0] = k; return -3; }
        return 0;
    }
    if (fmt == SP_RLE) {
        if (param < 1 || param > 24) return -11;
        const int w = param;
        const int64_t m = (1ll << w) - 1;
        const int64_t count = pat_len * 8 / w;   // whole fields in the pattern
        int64_t p = -1, k = 0, e = 0;
        // read fields up to the nnz-th non-zero; the gaps are < 2^24 and there are at most
        // 8·pat_len fields, so p cannot overflow
        for (; k < nnz && e < count; e++) {
            int64_t v = (int64_t)bits_at(pat, pat_len, e * w, w);
            if (v == m) { p += m; continue; }
            p += v + 1;
            if (p >= numel) return -6;
            out[k++] = p;
        }
        if (k < nnz) return -7;
        int rc = check_tail(pat, pat_len, e * w);
        if (rc) { info[0] = (e * w + 7) / 8; return rc; }
        return 0;
    }
    if (fmt == SP_CSR) {
        if (param != 0 || cols < 0) return -11;
        const int64_t rows = cols ? numel / cols : 0;
        const int pw = bitlen((uint64_t)nnz), cw = bitlen((uint64_t)(cols > 1 ? cols - 1 : 0));
        if (pw > 56 || cw > 56) return -11;
        int64_t a, b, nbits;
        if (__builtin_mul_overflow(rows + 1, (int64_t)pw, &a) || __builtin_mul_overflow(nnz, (int64_t)cw, &b)
            || __builtin_add_overflow(a, b, &nbits) || nbits > INT64_MAX - 7) {
            info[0] = -1;               // needs more bytes than any buffer: a size error
            return -1;
        }
        int rc = check_tail(pat, pat_len, nbits);
        if (rc) { info[0] = (nbits + 7) / 8; return rc; }
        // pointers first, all of them (as the reference) so that a bad pointer is reported as such
        int64_t prev = 0;
        for (int64_t r = 0; r <= rows; r++) {
            int64_t v = (int64_t)bits_at(pat, pat_len, r * pw, pw);
            if ((r == 0 && v != 0) || v < prev || v > nnz) return -8;
            prev = v;
        }
        if (prev != nnz) return -8;
        // pointers are 0 .. nnz non-decreasing, so the writes below stay inside out[0..nnz)
        int64_t k = 0;
        int err = 0;
        for (int64_t r = 0; r < rows; r++) {
            int64_t hi = (int64_t)bits_at(pat, pat_len, (r + 1) * pw, pw);
            int64_t last = -1;
            for (; k < hi; k++) {
                int64_t c = (int64_t)bits_at(pat, pat_len, a + k * cw, cw);
                if (c >= cols) return -9;
                if (c <= last) err = -10;   // the reference reports columns past the row first
                last = c;
                out[k] = r * cols + c;
            }
        }
        return err;
    }
    return -11;
}

}  // extern "C"
