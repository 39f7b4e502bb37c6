// AVX-512 kernels (BW, VBMI, VBMI2): full BF16, FP16 and FP32 blocks and the exponent histogram.
// The block encoder and decoder and the halving pack are simd_kernels.inc, shared with the AVX2
// kernels; this file defines the vector operations they are written over, the outlier steps
// (vpcompressb / vpexpandb) and the histogram.
#pragma once

#include "simd_level.h"

#if ENEC_X86
#include <algorithm>
#include <cstdint>
#include <cstring>

#include "common.h"
#include "halving.h"
#include "portable.h"

// GCC 12's intrinsic headers trip -Wmaybe-uninitialized (_mm512_undefined_*) when inlined
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

namespace {
namespace avx512 {

using Vec = __m512i;
constexpr int kWords = 32;

ENEC_AVX512 inline Vec load_vec(const void* p) { return _mm512_loadu_si512(p); }
// Store 64 bytes; non-temporal when nt (dst is then 32-byte aligned: the blob and output buffers
// are 64-byte aligned by native.py and every section offset and block stride is a multiple of 32).
ENEC_AVX512 inline void store_vec(void* dst, Vec v, bool nt) {
  if (!nt) { _mm512_storeu_si512(dst, v); return; }
  if (((uintptr_t)dst & 63) == 0) { _mm512_stream_si512((__m512i*)dst, v); return; }
  _mm256_stream_si256((__m256i*)dst, _mm512_castsi512_si256(v));
  _mm256_stream_si256((__m256i*)dst + 1, _mm512_extracti64x4_epi64(v, 1));
}
ENEC_AVX512 inline Vec splat8(int v) { return _mm512_set1_epi8((char)v); }
ENEC_AVX512 inline Vec vec_and(Vec a, Vec b) { return _mm512_and_si512(a, b); }
ENEC_AVX512 inline Vec vec_xor(Vec a, Vec b) { return _mm512_xor_si512(a, b); }
ENEC_AVX512 inline Vec sub8(Vec a, Vec b) { return _mm512_sub_epi8(a, b); }
ENEC_AVX512 inline Vec words_srl(Vec a, int s) { return _mm512_srli_epi16(a, s); }
ENEC_AVX512 inline Vec rotl1(Vec w) { return _mm512_shldi_epi16(w, w, 1); }
ENEC_AVX512 inline Vec rotr1(Vec w) { return _mm512_shrdi_epi16(w, w, 1); }

// vpermt2b index of the even bytes of two registers (byte 2k in lane k), a compile-time constant
constexpr long long even_bytes_q(int q) {
  unsigned long long v = 0;
  for (int j = 0; j < 8; ++j) v |= (unsigned long long)(16 * q + 2 * j) << (8 * j);
  return (long long)v;
}
ENEC_AVX512 inline __m512i even_bytes_index() {
  return _mm512_set_epi64(even_bytes_q(7), even_bytes_q(6), even_bytes_q(5), even_bytes_q(4),
                          even_bytes_q(3), even_bytes_q(2), even_bytes_q(1), even_bytes_q(0));
}
ENEC_AVX512 inline Vec low_bytes2(Vec a, Vec c) { return _mm512_permutex2var_epi8(a, even_bytes_index(), c); }

// Load 32 BF16 words (or the high halves of 32 FP32 words, storing their low halves to lo_out).
template <bool F32>
ENEC_AVX512 inline Vec load_hi16(const void* words, int64_t i, uint8_t* lo_out, bool nt) {
  if (!F32) return _mm512_loadu_si512((const uint16_t*)words + i);
  const uint32_t* w = (const uint32_t*)words + i;
  const __m512i x0 = _mm512_loadu_si512(w), x1 = _mm512_loadu_si512(w + 16);
  const __m512i ev = _mm512_set_epi16(62, 60, 58, 56, 54, 52, 50, 48, 46, 44, 42, 40, 38, 36, 34, 32,
                                      30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
  const __m512i od = _mm512_add_epi16(ev, _mm512_set1_epi16(1));
  store_vec(lo_out, _mm512_permutex2var_epi16(x0, ev, x1), nt);
  return _mm512_permutex2var_epi16(x0, od, x1);
}

ENEC_AVX512 inline Vec raw_byte_pairs(Vec wa, Vec wc) {
  return _mm512_mask_mov_epi8(rotl1(wa), 0xAAAAAAAAAAAAAAAAull, _mm512_slli_epi16(rotl1(wc), 8));
}
ENEC_AVX512 inline Vec mantissa_top3(Vec wa, Vec wc) {
  return _mm512_and_si512(low_bytes2(_mm512_srli_epi16(wa, 7), _mm512_srli_epi16(wc, 7)), _mm512_set1_epi8(7));
}

// Store the 64 bytes v as Y[i .. i+32) (its low half) and Y[i+HB .. i+HB+32) (its high half).
ENEC_AVX512 inline void store_halves(uint8_t* Y, int64_t i, Vec v) {
  _mm256_storeu_si256((__m256i*)(Y + i), _mm512_castsi512_si256(v));
  _mm256_storeu_si256((__m256i*)(Y + i + kBlock / 2), _mm512_extracti64x4_epi64(v, 1));
}
// The inverse of store_halves.
ENEC_AVX512 inline Vec load_halves(const uint8_t* Y, int64_t i) {
  return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i*)(Y + i))),
                            _mm256_loadu_si256((const __m256i*)(Y + i + kBlock / 2)), 1);
}

ENEC_AVX512 inline Vec widen_first(Vec x) { return _mm512_cvtepu8_epi16(_mm512_castsi512_si256(x)); }
ENEC_AVX512 inline Vec widen_second(Vec x) { return _mm512_cvtepu8_epi16(_mm512_extracti64x4_epi64(x, 1)); }
ENEC_AVX512 inline Vec under_even(Vec r, Vec x) {     // (r & 0xFF) | x << 8
  return _mm512_ternarylogic_epi32(r, _mm512_set1_epi16(0xFF), _mm512_slli_epi16(x, 8), 0xEA);
}
ENEC_AVX512 inline Vec under_odd(Vec r, Vec x) { return _mm512_shldi_epi16(x, r, 8); }   // x << 8 | r >> 8
ENEC_AVX512 inline Vec fp16_high_byte(Vec x, Vec top) {      // (x << 3 & f8) | top
  return _mm512_ternarylogic_epi32(_mm512_slli_epi16(x, 3), _mm512_set1_epi8((char)0xF8), top, 0xEA);
}
ENEC_AVX512 inline void store_f32(uint32_t* o, Vec lo, Vec hi, bool nt) {
  const __m512i il0 = _mm512_set_epi16(47, 15, 46, 14, 45, 13, 44, 12, 43, 11, 42, 10, 41, 9, 40, 8,
                                       39, 7, 38, 6, 37, 5, 36, 4, 35, 3, 34, 2, 33, 1, 32, 0);
  const __m512i il1 = _mm512_add_epi16(il0, _mm512_set1_epi16(16));
  store_vec(o, _mm512_permutex2var_epi16(lo, il0, hi), nt);
  store_vec(o + 16, _mm512_permutex2var_epi16(lo, il1, hi), nt);
}

// flags: OR of the 16 members (lanes j + k*G) of each group, then test the bits above m.
// Returns the flagged groups.
ENEC_AVX512 inline int64_t flag_groups(const uint8_t* Y, int m, uint8_t* fl) {
  const __m512i himask = _mm512_set1_epi8((char)(0xFF & ~((1u << m) - 1)));
  int64_t f = 0;
  for (int64_t j = 0; j < kGroups; j += 64) {
    __m512i acc = _mm512_loadu_si512(Y + j);
#pragma GCC unroll 16
    for (int k = 1; k < kGroupLen; ++k) acc = _mm512_or_si512(acc, _mm512_loadu_si512(Y + k * kGroups + j));
    const uint64_t mk = _mm512_test_epi8_mask(acc, himask);
    std::memcpy(fl + j / 8, &mk, 8);
    f += _mm_popcnt_u64(mk);
  }
  return f;
}

// outliers: row k of the groups, compressed by the flags, is slots [k*f, (k+1)*f)
ENEC_AVX512 inline void compact_outliers(const uint8_t* Y, const uint8_t* fl, int64_t f, int m, uint8_t* HI) {
  const __m512i hm = _mm512_set1_epi8((char)(0xFF >> m));
  for (int k = 0; k < kGroupLen; ++k) {
    int64_t pos = k * f;
    for (int q = 0; q < kGroups / 64; ++q) {
      uint64_t fm;                                  // the flags of groups 64q .. 64q + 63
      std::memcpy(&fm, fl + 8 * q, 8);
      const __m512i v = _mm512_and_si512(_mm512_srli_epi16(_mm512_loadu_si512(Y + k * kGroups + 64 * q), m), hm);
      _mm512_storeu_si512(HI + pos, _mm512_maskz_compress_epi8(fm, v));
      pos += _mm_popcnt_u64(fm);
    }
  }
}

// every flagged group has a non-zero high part: OR its 16 slots (r, r+f, ..., r+15f)
ENEC_AVX512 inline bool every_group_has_high_bits(const uint8_t* HI, int64_t f) {
  for (int64_t r = 0; r < f; r += 64) {
    const __mmask64 valid = (f - r >= 64) ? ~0ull : ((1ull << (f - r)) - 1);
    __m512i acc = _mm512_setzero_si512();
    for (int k = 0; k < kGroupLen; ++k) acc = _mm512_or_si512(acc, _mm512_maskz_loadu_epi8(valid, HI + k * f + r));
    if (_mm512_mask_test_epi8_mask(valid, acc, acc) != valid) return false;
  }
  return true;
}

// The inverse of compact_outliers: each group's high bits back above its m low bits in Y.
ENEC_AVX512 inline void expand_outliers(uint8_t* Y, const uint8_t* fl, const uint8_t* HI, int64_t f, int m) {
  uint64_t fm[kGroups / 64];
  std::memcpy(fm, fl, sizeof fm);
  const __m512i sm = _mm512_set1_epi8((char)(0xFF & (0xFF << m)));
  for (int k = 0; k < kGroupLen; ++k) {
    int64_t pos = k * f;
    for (int q = 0; q < kGroups / 64; ++q) {
      if (!fm[q]) continue;
      const __m512i v = _mm512_maskz_expand_epi8(fm[q], _mm512_loadu_si512(HI + pos));
      uint8_t* yp = Y + k * kGroups + 64 * q;
      _mm512_storeu_si512(yp, _mm512_or_si512(_mm512_loadu_si512(yp),
                                              _mm512_and_si512(_mm512_slli_epi16(v, m), sm)));
      pos += _mm_popcnt_u64(fm[q]);
    }
  }
}

// The halving pack's 32 lanes of 16 bits: one register.
using Lanes = __m512i;
using Splat = __m512i;
ENEC_AVX512 inline Lanes lanes_from_bytes(const uint8_t* p) {
  return _mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i*)p));
}
ENEC_AVX512 inline Lanes lanes_from_high_bytes(const uint8_t* p) { return _mm512_srli_epi16(_mm512_loadu_si512(p), 8); }
ENEC_AVX512 inline void store_low_bytes(uint8_t* p, Lanes v) { _mm256_storeu_si256((__m256i*)p, _mm512_cvtepi16_epi8(v)); }
ENEC_AVX512 inline Lanes lanes_or(Lanes a, Lanes b) { return _mm512_or_si512(a, b); }
ENEC_AVX512 inline Lanes lanes_and(Lanes a, Splat k) { return _mm512_and_si512(a, k); }
ENEC_AVX512 inline Lanes lanes_sll(Lanes a, int s) { return _mm512_slli_epi16(a, s); }
ENEC_AVX512 inline Lanes lanes_srl(Lanes a, int s) { return _mm512_srli_epi16(a, s); }
ENEC_AVX512 inline Lanes lanes_zero() { return _mm512_setzero_si512(); }
ENEC_AVX512 inline Splat splat16(int v) { return _mm512_set1_epi16((short)v); }

// The last step of every halving pack: bytes Z[i] | Z[i + H] << 8 as little-endian u16 words.
ENEC_AVX512 void interleave_halves(const uint8_t* Z, int64_t H, uint8_t* out, bool nt) {
  int64_t i = 0;
  for (; i + 32 <= H; i += 32) {
    const __m512i a = _mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i*)(Z + i)));
    const __m512i b = _mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i*)(Z + H + i)));
    store_vec(out + 2 * i, _mm512_or_si512(a, _mm512_slli_epi16(b, 8)), nt);
  }
  for (; i < H; ++i) { out[2 * i] = Z[i]; out[2 * i + 1] = Z[i + H]; }
}

// The inverse: 2H bytes of u16 words -> Z.
ENEC_AVX512 void deinterleave_halves(const uint8_t* in, int64_t H, uint8_t* Z) {
  int64_t i = 0;
  for (; i + 32 <= H; i += 32) {
    const __m512i w = _mm512_loadu_si512(in + 2 * i);
    _mm256_storeu_si256((__m256i*)(Z + i), _mm512_cvtepi16_epi8(w));
    _mm256_storeu_si256((__m256i*)(Z + H + i), _mm512_cvtepi16_epi8(_mm512_srli_epi16(w, 8)));
  }
  for (const uint8_t* q = in + 2 * i; i < H; ++i, q += 2) { Z[i] = q[0]; Z[i + H] = q[1]; }
}

#define ENEC_TARGET ENEC_AVX512
#include "simd_kernels.inc"
#undef ENEC_TARGET

// Exponent histogram of words [s, e): 15 consecutive exponents [lo, lo+15) and one more (z) are
// counted with byte compares (64 elements at a time); any other exponent goes to a scalar count.
// With `bitmap` (s a multiple of 64), also the zero bitmap's bits of the whole 64-element groups
// from s (bit i = word i is non-zero), from the same loads; the caller writes the rest.
ENEC_AVX512 void histogram(const void* words, int64_t s, int64_t e, int dt, int lo, int z,
                           int64_t* hist, uint8_t* bitmap = nullptr) {
  constexpr int K = 16;
  __m512i bins[K];
  for (int k = 0; k < K - 1; ++k) bins[k] = _mm512_set1_epi8((char)(lo + k));
  bins[K - 1] = _mm512_set1_epi8((char)z);
  const __m512i lov = _mm512_set1_epi8((char)lo), span = _mm512_set1_epi8(K - 1);
  const __m512i ones = _mm512_set1_epi8(1), zero = _mm512_setzero_si512();
  const __m512i idx = even_bytes_index();
  alignas(64) uint8_t idx4b[64];
  for (int k = 0; k < 64; ++k) idx4b[k] = (uint8_t)(4 * k);
  const __m512i idx4 = _mm512_load_si512(idx4b);
  const __m512i fp16mask = _mm512_set1_epi8(0x1F);
  int64_t sums[K] = {};
  alignas(64) uint8_t spill[64];
  int64_t i = s;
  while (i + 64 <= e) {
    __m512i acc[K];
    for (int k = 0; k < K; ++k) acc[k] = zero;
    const int64_t stop = std::min(e - 63, i + 64 * 255);
    for (; i < stop; i += 64) {
      __m512i x;
      if (dt == FP32) {
        const uint32_t* w = (const uint32_t*)words + i;
        const __m512i w0 = _mm512_loadu_si512(w), w1 = _mm512_loadu_si512(w + 16);
        const __m512i w2 = _mm512_loadu_si512(w + 32), w3 = _mm512_loadu_si512(w + 48);
        const __m512i p01 = _mm512_permutex2var_epi8(_mm512_srli_epi32(w0, 23), idx4, _mm512_srli_epi32(w1, 23));
        const __m512i p23 = _mm512_permutex2var_epi8(_mm512_srli_epi32(w2, 23), idx4, _mm512_srli_epi32(w3, 23));
        x = _mm512_inserti64x4(p01, _mm512_castsi512_si256(p23), 1);
        if (bitmap) {
          const uint64_t nz = (uint64_t)_mm512_test_epi32_mask(w0, w0) | (uint64_t)_mm512_test_epi32_mask(w1, w1) << 16
                            | (uint64_t)_mm512_test_epi32_mask(w2, w2) << 32 | (uint64_t)_mm512_test_epi32_mask(w3, w3) << 48;
          std::memcpy(bitmap + i / 8, &nz, 8);
        }
      } else {
        const uint16_t* w = (const uint16_t*)words + i;
        const int sh = dt == BF16 ? 7 : 10;
        const __m512i wa = _mm512_loadu_si512(w), wc = _mm512_loadu_si512(w + 32);
        x = _mm512_permutex2var_epi8(_mm512_srli_epi16(wa, sh), idx, _mm512_srli_epi16(wc, sh));
        if (dt == FP16) x = _mm512_and_si512(x, fp16mask);
        if (bitmap) {
          const uint64_t nz = (uint64_t)_mm512_test_epi16_mask(wa, wa) | (uint64_t)_mm512_test_epi16_mask(wc, wc) << 32;
          std::memcpy(bitmap + i / 8, &nz, 8);
        }
      }
#pragma GCC unroll 16
      for (int k = 0; k < K; ++k)
        acc[k] = _mm512_mask_add_epi8(acc[k], _mm512_cmpeq_epi8_mask(x, bins[k]), acc[k], ones);
      const __mmask64 out = _mm512_mask_cmpneq_epi8_mask(
          _mm512_cmpgt_epu8_mask(_mm512_sub_epi8(x, lov), _mm512_sub_epi8(span, ones)), x, bins[K - 1]);
      if (out) {
        _mm512_store_si512(spill, x);
        uint64_t bits = out;
        while (bits) { hist[spill[__builtin_ctzll(bits)]]++; bits &= bits - 1; }
      }
    }
    for (int k = 0; k < K; ++k) sums[k] += _mm512_reduce_add_epi64(_mm512_sad_epu8(acc[k], zero));
  }
  for (int k = 0; k < K - 1; ++k) hist[lo + k] += sums[k];
  hist[z] += sums[K - 1];
  if (i < e) histogram_portable(words, i, e, dt, hist);
}

}  // namespace avx512
}  // namespace

#pragma GCC diagnostic pop
#endif  // ENEC_X86
