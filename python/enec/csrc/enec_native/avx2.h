// AVX2 kernels, for CPUs with AVX2 only (e.g. AMD Zen 1-3, most client CPUs): the same work as
// the AVX-512 kernels. The block encoder and decoder and the halving pack are simd_kernels.inc,
// shared with them; this file defines the vector operations they are written over, the outlier
// steps and the histogram. Byte compress/expand of the outliers use pshufb with a 256-entry table
// instead of vpcompressb/vpexpandb (BMI2 pext would do too, but it is microcoded and slow on
// Zen 1/2).
#pragma once

#include "simd_level.h"

#if ENEC_X86
#include <algorithm>
#include <cstdint>
#include <cstring>

#include "common.h"
#include "halving.h"
#include "portable.h"

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

namespace {
namespace avx2 {

using Vec = __m256i;
constexpr int kWords = 16;

ENEC_AVX2 inline Vec load_vec(const void* p) { return _mm256_loadu_si256((const __m256i*)p); }
ENEC_AVX2 inline void store_vec(void* dst, Vec v, bool nt) {
  if (nt && ((uintptr_t)dst & 31) == 0) _mm256_stream_si256((__m256i*)dst, v);
  else _mm256_storeu_si256((__m256i*)dst, v);
}
ENEC_AVX2 inline Vec splat8(int v) { return _mm256_set1_epi8((char)v); }
ENEC_AVX2 inline Vec vec_and(Vec a, Vec b) { return _mm256_and_si256(a, b); }
ENEC_AVX2 inline Vec vec_xor(Vec a, Vec b) { return _mm256_xor_si256(a, b); }
ENEC_AVX2 inline Vec sub8(Vec a, Vec b) { return _mm256_sub_epi8(a, b); }
ENEC_AVX2 inline Vec words_srl(Vec a, int s) { return _mm256_srli_epi16(a, s); }
ENEC_AVX2 inline Vec rotl1(Vec w) { return _mm256_or_si256(_mm256_slli_epi16(w, 1), _mm256_srli_epi16(w, 15)); }
ENEC_AVX2 inline Vec rotr1(Vec w) { return _mm256_or_si256(_mm256_srli_epi16(w, 1), _mm256_slli_epi16(w, 15)); }

// The low bytes of the 16 words a, then of the 16 words c, of words already < 256 (packus
// saturates) ...
ENEC_AVX2 inline Vec pack_words(Vec a, Vec c) { return _mm256_permute4x64_epi64(_mm256_packus_epi16(a, c), 0xD8); }
// ... and of any words.
ENEC_AVX2 inline Vec low_bytes2(Vec a, Vec c) {
  const __m256i ff = _mm256_set1_epi16(0xFF);
  return pack_words(_mm256_and_si256(a, ff), _mm256_and_si256(c, ff));
}

template <bool F32>
ENEC_AVX2 inline Vec load_hi16(const void* words, int64_t i, uint8_t* lo_out, bool nt) {
  if (!F32) return _mm256_loadu_si256((const __m256i*)((const uint16_t*)words + i));
  const uint32_t* w = (const uint32_t*)words + i;
  const __m256i x0 = _mm256_loadu_si256((const __m256i*)w), x1 = _mm256_loadu_si256((const __m256i*)(w + 8));
  const __m256i lm = _mm256_set1_epi32(0xFFFF);
  const __m256i lo = _mm256_packus_epi32(_mm256_and_si256(x0, lm), _mm256_and_si256(x1, lm));
  const __m256i hi = _mm256_packus_epi32(_mm256_srli_epi32(x0, 16), _mm256_srli_epi32(x1, 16));
  store_vec(lo_out, _mm256_permute4x64_epi64(lo, 0xD8), nt);
  return _mm256_permute4x64_epi64(hi, 0xD8);
}

ENEC_AVX2 inline Vec raw_byte_pairs(Vec wa, Vec wc) {
  const __m256i rc = _mm256_or_si256(_mm256_slli_epi16(wc, 9), _mm256_slli_epi16(_mm256_srli_epi16(wc, 15), 8));
  return _mm256_or_si256(_mm256_and_si256(rotl1(wa), _mm256_set1_epi16(0xFF)), rc);
}
ENEC_AVX2 inline Vec mantissa_top3(Vec wa, Vec wc) {
  const __m256i seven = _mm256_set1_epi16(7);
  return pack_words(_mm256_and_si256(_mm256_srli_epi16(wa, 7), seven), _mm256_and_si256(_mm256_srli_epi16(wc, 7), seven));
}

// Store the 32 bytes v as Y[i .. i+16) (its low half) and Y[i+HB .. i+HB+16) (its high half).
ENEC_AVX2 inline void store_halves(uint8_t* Y, int64_t i, Vec v) {
  _mm_storeu_si128((__m128i*)(Y + i), _mm256_castsi256_si128(v));
  _mm_storeu_si128((__m128i*)(Y + i + kBlock / 2), _mm256_extracti128_si256(v, 1));
}
ENEC_AVX2 inline Vec load_halves(const uint8_t* Y, int64_t i) {
  return _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i*)(Y + i))),
                                 _mm_loadu_si128((const __m128i*)(Y + i + kBlock / 2)), 1);
}

ENEC_AVX2 inline Vec widen_first(Vec x) { return _mm256_cvtepu8_epi16(_mm256_castsi256_si128(x)); }
ENEC_AVX2 inline Vec widen_second(Vec x) { return _mm256_cvtepu8_epi16(_mm256_extracti128_si256(x, 1)); }
ENEC_AVX2 inline Vec under_even(Vec r, Vec x) {
  return _mm256_or_si256(_mm256_and_si256(r, _mm256_set1_epi16(0xFF)), _mm256_slli_epi16(x, 8));
}
ENEC_AVX2 inline Vec under_odd(Vec r, Vec x) { return _mm256_or_si256(_mm256_srli_epi16(r, 8), _mm256_slli_epi16(x, 8)); }
ENEC_AVX2 inline Vec fp16_high_byte(Vec x, Vec top) {
  return _mm256_or_si256(_mm256_and_si256(_mm256_slli_epi16(x, 3), _mm256_set1_epi8((char)0xF8)), top);
}
ENEC_AVX2 inline void store_f32(uint32_t* o, Vec lo, Vec hi, bool nt) {
  const __m256i l = _mm256_unpacklo_epi16(lo, hi), h = _mm256_unpackhi_epi16(lo, hi);
  store_vec(o, _mm256_permute2x128_si256(l, h, 0x20), nt);
  store_vec(o + 8, _mm256_permute2x128_si256(l, h, 0x31), nt);
}

ENEC_AVX2 inline int64_t flag_groups(const uint8_t* Y, int m, uint8_t* fl) {
  const __m256i himask = _mm256_set1_epi8((char)(0xFF & ~((1u << m) - 1)));
  const __m256i zero = _mm256_setzero_si256();
  int64_t f = 0;
  for (int64_t j = 0; j < kGroups; j += 32) {
    __m256i acc = _mm256_loadu_si256((const __m256i*)(Y + j));
#pragma GCC unroll 16
    for (int k = 1; k < kGroupLen; ++k) acc = _mm256_or_si256(acc, _mm256_loadu_si256((const __m256i*)(Y + k * kGroups + j)));
    const uint32_t mk = ~(uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(_mm256_and_si256(acc, himask), zero));
    std::memcpy(fl + j / 8, &mk, 4);
    f += _mm_popcnt_u32(mk);
  }
  return f;
}

// pshufb tables for 8-byte compress (the bytes whose mask bit is set, moved to the front) and
// expand (the inverse; unset positions become 0).
struct ByteShuffleTables {
  alignas(16) uint8_t comp[256][8], expand[256][8];
  ByteShuffleTables() {
    for (int mk = 0; mk < 256; ++mk) {
      int r = 0;
      for (int k = 0; k < 8; ++k) { comp[mk][k] = 0x80; expand[mk][k] = 0x80; }
      for (int k = 0; k < 8; ++k)
        if ((mk >> k) & 1) { comp[mk][r] = (uint8_t)k; expand[mk][k] = (uint8_t)r; ++r; }
    }
  }
};
const ByteShuffleTables kShuf;

// outliers: row k of the groups, compacted by the flags, is slots [k*f, (k+1)*f). Eight groups
// (one flag byte) at a time, all 16 rows under the same shuffle: the rows share the flags, so one
// table lookup and one branch serve 16 stores. Each store writes 8 bytes of which popcount are
// kept; the slack lands in the row's own later slots (overwritten next), except near the row's
// end, where it would clobber the next row's start: those last flag bytes go through a staging
// buffer.
ENEC_AVX2 inline void compact_outliers(const uint8_t* Y, const uint8_t* fl, int64_t f, int m, uint8_t* HI) {
  const __m128i hm = _mm_set1_epi8((char)(0xFF >> m));
  const __m128i sh = _mm_cvtsi32_si128(m);
  int64_t pos = 0;
  for (int64_t q = 0; q < kGroups / 8; ++q) {
    const unsigned mb = fl[q];
    if (!mb) continue;
    const __m128i cs = _mm_loadl_epi64((const __m128i*)kShuf.comp[mb]);
    const int c = _mm_popcnt_u32(mb);
    const uint8_t* col = Y + 8 * q;
    if (pos + 8 <= f) {
#pragma GCC unroll 16
      for (int k = 0; k < kGroupLen; ++k) {
        __m128i v = _mm_loadl_epi64((const __m128i*)(col + k * kGroups));
        v = _mm_shuffle_epi8(_mm_and_si128(_mm_srl_epi16(v, sh), hm), cs);
        _mm_storel_epi64((__m128i*)(HI + k * f + pos), v);
      }
    } else {
      for (int k = 0; k < kGroupLen; ++k) {
        __m128i v = _mm_loadl_epi64((const __m128i*)(col + k * kGroups));
        v = _mm_shuffle_epi8(_mm_and_si128(_mm_srl_epi16(v, sh), hm), cs);
        alignas(16) uint8_t st[16];
        _mm_storel_epi64((__m128i*)st, v);
        std::memcpy(HI + k * f + pos, st, c);
      }
    }
    pos += c;
  }
}

// every flagged group has a non-zero high part: OR its 16 slots (r, r+f, ..., r+15f)
ENEC_AVX2 inline bool every_group_has_high_bits(const uint8_t* HI, int64_t f) {
  const __m256i zero = _mm256_setzero_si256();
  for (int64_t r = 0; r < f; r += 32) {
    __m256i acc = zero;
    for (int k = 0; k < kGroupLen; ++k)     // reads up to 31 bytes past slot 16f: HI has slack
      acc = _mm256_or_si256(acc, _mm256_loadu_si256((const __m256i*)(HI + k * f + r)));
    uint32_t zmask = (uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(acc, zero));
    if (f - r < 32) zmask &= (1u << (f - r)) - 1;
    if (zmask) return false;
  }
  return true;
}

// The inverse of compact_outliers: one flag byte (8 groups) at a time for all 16 rows; the 8-byte
// loads may read past a row's end (into the next row or HI's slack): expand zeroes those lanes.
ENEC_AVX2 inline void expand_outliers(uint8_t* Y, const uint8_t* fl, const uint8_t* HI, int64_t f, int m) {
  // (e << m) & sm: the high parts have n - m bits, so no bit crosses into the next byte's
  // kept bits; sm clears what a 64-bit shift carries into the low m bits of the next byte
  const uint64_t sm = 0x0101010101010101ull * (uint64_t)(0xFF & (0xFF << m));
  int64_t pos = 0;
  for (int64_t q = 0; q < kGroups / 8; ++q) {
    const unsigned mb = fl[q];
    if (!mb) continue;
    const __m128i xs = _mm_loadl_epi64((const __m128i*)kShuf.expand[mb]);
    uint8_t* col = Y + 8 * q;
#pragma GCC unroll 16
    for (int k = 0; k < kGroupLen; ++k) {
      const __m128i v = _mm_shuffle_epi8(_mm_loadl_epi64((const __m128i*)(HI + k * f + pos)), xs);
      const uint64_t e = (uint64_t)_mm_cvtsi128_si64(v);
      uint64_t y;
      std::memcpy(&y, col + k * kGroups, 8);
      y |= (e << m) & sm;
      std::memcpy(col + k * kGroups, &y, 8);
    }
    pos += _mm_popcnt_u32(mb);
  }
}

// The halving pack's 32 lanes of 16 bits: two registers (lanes 0-15 in a, 16-31 in b).
struct Lanes { __m256i a, b; };
using Splat = __m256i;
ENEC_AVX2 inline Lanes lanes_from_bytes(const uint8_t* p) {
  const __m256i x = _mm256_loadu_si256((const __m256i*)p);
  return {_mm256_cvtepu8_epi16(_mm256_castsi256_si128(x)), _mm256_cvtepu8_epi16(_mm256_extracti128_si256(x, 1))};
}
ENEC_AVX2 inline Lanes lanes_from_high_bytes(const uint8_t* p) {
  return {_mm256_srli_epi16(_mm256_loadu_si256((const __m256i*)p), 8),
          _mm256_srli_epi16(_mm256_loadu_si256((const __m256i*)(p + 32)), 8)};
}
// the low byte of each of the 32 lanes
ENEC_AVX2 inline void store_low_bytes(uint8_t* p, Lanes v) {
  _mm256_storeu_si256((__m256i*)p, low_bytes2(v.a, v.b));
}
ENEC_AVX2 inline Lanes lanes_or(Lanes x, Lanes y) { return {_mm256_or_si256(x.a, y.a), _mm256_or_si256(x.b, y.b)}; }
ENEC_AVX2 inline Lanes lanes_and(Lanes x, Splat k) { return {_mm256_and_si256(x.a, k), _mm256_and_si256(x.b, k)}; }
ENEC_AVX2 inline Lanes lanes_sll(Lanes x, int s) { return {_mm256_slli_epi16(x.a, s), _mm256_slli_epi16(x.b, s)}; }
ENEC_AVX2 inline Lanes lanes_srl(Lanes x, int s) { return {_mm256_srli_epi16(x.a, s), _mm256_srli_epi16(x.b, s)}; }
ENEC_AVX2 inline Lanes lanes_zero() { return {_mm256_setzero_si256(), _mm256_setzero_si256()}; }
ENEC_AVX2 inline Splat splat16(int v) { return _mm256_set1_epi16((short)v); }

// bytes Z[i] | Z[i + H] << 8 as little-endian u16 words: interleave the two halves of Z
ENEC_AVX2 void interleave_halves(const uint8_t* Z, int64_t H, uint8_t* out, bool nt) {
  int64_t i = 0;
  for (; i + 32 <= H; i += 32) {
    const __m256i a = _mm256_loadu_si256((const __m256i*)(Z + i));
    const __m256i b = _mm256_loadu_si256((const __m256i*)(Z + H + i));
    const __m256i lo = _mm256_unpacklo_epi8(a, b), hi = _mm256_unpackhi_epi8(a, b);
    store_vec(out + 2 * i, _mm256_permute2x128_si256(lo, hi, 0x20), nt);
    store_vec(out + 2 * i + 32, _mm256_permute2x128_si256(lo, hi, 0x31), nt);
  }
  for (; i < H; ++i) { out[2 * i] = Z[i]; out[2 * i + 1] = Z[i + H]; }
}

ENEC_AVX2 void deinterleave_halves(const uint8_t* in, int64_t H, uint8_t* Z) {
  const __m256i ff = _mm256_set1_epi16(0xFF);
  int64_t i = 0;
  for (; i + 32 <= H; i += 32) {
    const __m256i w0 = _mm256_loadu_si256((const __m256i*)(in + 2 * i));
    const __m256i w1 = _mm256_loadu_si256((const __m256i*)(in + 2 * i + 32));
    const __m256i lo = _mm256_packus_epi16(_mm256_and_si256(w0, ff), _mm256_and_si256(w1, ff));
    const __m256i hi = _mm256_packus_epi16(_mm256_srli_epi16(w0, 8), _mm256_srli_epi16(w1, 8));
    _mm256_storeu_si256((__m256i*)(Z + i), _mm256_permute4x64_epi64(lo, 0xD8));
    _mm256_storeu_si256((__m256i*)(Z + H + i), _mm256_permute4x64_epi64(hi, 0xD8));
  }
  for (; i < H; ++i) { Z[i] = in[2 * i]; Z[i + H] = in[2 * i + 1]; }
}

#define ENEC_TARGET ENEC_AVX2
#include "simd_kernels.inc"
#undef ENEC_TARGET

// Exponent histogram of a 15-value window [lo, lo+15) and one more value z, 32 elements at a
// time; other exponents are counted one by one. Each element becomes a 4-bit index (0 for z,
// 1 + x - lo inside the window, bit 7 set otherwise) and eight pshufb lookups turn it into
// nibble increments: plane p's bytes count index 2p in the low nibble and 2p + 1 in the high one
// (one lookup and one byte add per two bins, where compare-and-subtract costs two ops per bin).
// Nibbles hold 15, so every 15 vectors the planes are flushed into 64-bit sums. AVX2 has 16
// vector registers: each run of 15 vectors is swept twice, planes 0-3 while the indices are
// computed (and staged in L1), then planes 4-7 from the staged indices.
ENEC_AVX2 inline __m256i exponent_bytes(const void* words, int64_t i, int dt) {
  if (dt == FP32) {
    const __m256i m32 = _mm256_set1_epi32(0xFF);
    const __m256i* w = (const __m256i*)((const uint32_t*)words + i);
    const __m256i a = _mm256_packus_epi32(_mm256_and_si256(_mm256_srli_epi32(_mm256_loadu_si256(w), 23), m32),
                                          _mm256_and_si256(_mm256_srli_epi32(_mm256_loadu_si256(w + 1), 23), m32));
    const __m256i c = _mm256_packus_epi32(_mm256_and_si256(_mm256_srli_epi32(_mm256_loadu_si256(w + 2), 23), m32),
                                          _mm256_and_si256(_mm256_srli_epi32(_mm256_loadu_si256(w + 3), 23), m32));
    return _mm256_packus_epi16(a, c);   // the element order is scrambled: a histogram does not mind
  }
  const __m256i ff = _mm256_set1_epi16(0xFF);
  const __m256i* w = (const __m256i*)((const uint16_t*)words + i);
  const int sh = dt == BF16 ? 7 : 10;
  __m256i x = _mm256_packus_epi16(_mm256_and_si256(_mm256_srli_epi16(_mm256_loadu_si256(w), sh), ff),
                                  _mm256_and_si256(_mm256_srli_epi16(_mm256_loadu_si256(w + 1), sh), ff));
  if (dt == FP16) x = _mm256_and_si256(x, _mm256_set1_epi8(0x1F));
  return x;
}

// Add four planes of nibble counters to their eight 64-bit sums (low nibble, high nibble).
ENEC_AVX2 inline void histogram_flush(const __m256i* acc, uint64_t (*sums)[4]) {
  const __m256i nib = _mm256_set1_epi8(0x0F), zero = _mm256_setzero_si256();
  for (int p = 0; p < 4; ++p) {
    const __m256i l = _mm256_sad_epu8(_mm256_and_si256(acc[p], nib), zero);
    const __m256i h = _mm256_sad_epu8(_mm256_and_si256(_mm256_srli_epi16(acc[p], 4), nib), zero);
    __m256i* sl = (__m256i*)sums[2 * p];
    __m256i* sh = (__m256i*)sums[2 * p + 1];
    _mm256_store_si256(sl, _mm256_add_epi64(_mm256_load_si256(sl), l));
    _mm256_store_si256(sh, _mm256_add_epi64(_mm256_load_si256(sh), h));
  }
}

ENEC_AVX2 void histogram(const void* words, int64_t s, int64_t e, int dt, int lo, int z, int64_t* hist) {
  constexpr int R = 15, P = 8;               // vectors per run (a nibble counts to 15), planes
  alignas(32) uint8_t lut[P][32];
  for (int p = 0; p < P; ++p) {
    std::memset(lut[p], 0, 32);
    for (int half = 0; half < 2; ++half) { lut[p][16 * half + 2 * p] = 0x01; lut[p][16 * half + 2 * p + 1] = 0x10; }
  }
  alignas(32) uint8_t staged[R * 32];
  alignas(32) uint64_t sums[2 * P][4] = {};
  const __m256i lov = _mm256_set1_epi8((char)lo), zv = _mm256_set1_epi8((char)z);
  const __m256i bias = _mm256_set1_epi8(0x71), zero = _mm256_setzero_si256();
  alignas(32) uint8_t spill[32];
  int64_t i = s;
  while (i + 32 <= e) {
    const int64_t nv = std::min<int64_t>(R, (e - i) / 32);
    __m256i acc[P / 2], tab[P / 2];
    for (int p = 0; p < P / 2; ++p) { acc[p] = zero; tab[p] = _mm256_load_si256((const __m256i*)lut[p]); }
    for (int64_t v = 0; v < nv; ++v, i += 32) {
      const __m256i x = exponent_bytes(words, i, dt);
      // x - lo in [0, 14] -> 0x71 + (x - lo) (bit 7 clear, low nibble 1 + x - lo); else bit 7 set
      const __m256i d = _mm256_adds_epu8(_mm256_sub_epi8(x, lov), bias);
      const __m256i idx = _mm256_andnot_si256(_mm256_cmpeq_epi8(x, zv), d);   // z -> index 0
      _mm256_store_si256((__m256i*)(staged + 32 * v), idx);
#pragma GCC unroll 4
      for (int p = 0; p < P / 2; ++p) acc[p] = _mm256_add_epi8(acc[p], _mm256_shuffle_epi8(tab[p], idx));
      const uint32_t out = (uint32_t)_mm256_movemask_epi8(idx);
      if (out) {
        _mm256_store_si256((__m256i*)spill, x);
        uint32_t bits = out;
        while (bits) { hist[spill[__builtin_ctz(bits)]]++; bits &= bits - 1; }
      }
    }
    histogram_flush(acc, &sums[0]);
    for (int p = 0; p < P / 2; ++p) { acc[p] = zero; tab[p] = _mm256_load_si256((const __m256i*)lut[P / 2 + p]); }
    for (int64_t v = 0; v < nv; ++v) {
      const __m256i idx = _mm256_load_si256((const __m256i*)(staged + 32 * v));
#pragma GCC unroll 4
      for (int p = 0; p < P / 2; ++p) acc[p] = _mm256_add_epi8(acc[p], _mm256_shuffle_epi8(tab[p], idx));
    }
    histogram_flush(acc, &sums[P]);
  }
  // index 0 is z, index k >= 1 is lo + k - 1
  hist[z] += (int64_t)(sums[0][0] + sums[0][1] + sums[0][2] + sums[0][3]);
  for (int k = 1; k < 2 * P; ++k) hist[lo + k - 1] += (int64_t)(sums[k][0] + sums[k][1] + sums[k][2] + sums[k][3]);
  if (i < e) histogram_portable(words, i, e, dt, hist);
}

}  // namespace avx2
}  // namespace

#pragma GCC diagnostic pop
#endif  // ENEC_X86
