// Portable C++ kernels: every dtype, every block (the SIMD kernels take only full blocks), any CPU.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "common.h"
#include "halving.h"

namespace {

// ------------------------------------------------------------------ field split
inline void split16(uint16_t w, int mant, int ebits, uint16_t& x, uint16_t& raw) {
  x = (uint16_t)((w >> mant) & ((1u << ebits) - 1));
  raw = (uint16_t)(((w & ((1u << mant) - 1)) << 1) | (w >> 15));
}
inline uint16_t join16(uint16_t x, uint16_t raw, int mant) {
  return (uint16_t)(((raw & 1u) << 15) | ((uint32_t)x << mant) | (raw >> 1));
}

// Load block t's exponents into x (lanes, zero padded) and pack its raw fields to out.
void load_block(const Ctx& p, int64_t t, int64_t lanes, int64_t real, uint16_t* x, uint8_t* raw_out,
                Scratch& s) {
  const int64_t start = t * kBlock - p.first;
  if (p.dt == FP32) {
    const uint32_t* w = (const uint32_t*)p.words + start;
    uint16_t* lo = s.c.data();
    uint16_t* rhi = s.d.data();
    for (int64_t i = 0; i < real; ++i) {
      uint32_t v = w[i];
      lo[i] = (uint16_t)(v & 0xFFFF);
      split16((uint16_t)(v >> 16), 7, 8, x[i], rhi[i]);
    }
    for (int64_t i = real; i < lanes; ++i) { lo[i] = 0; rhi[i] = 0; x[i] = 0; }
    // pack(lo, 16) is the identity on little-endian u16; then pack(rhi, 8)
    std::memcpy(raw_out, lo, lanes * 2);
    uint8_t* o = raw_out + 2 * lanes;
    const int64_t h = lanes / 2;
    for (int64_t i = 0; i < h; ++i) { o[2 * i] = (uint8_t)rhi[i]; o[2 * i + 1] = (uint8_t)rhi[i + h]; }
    return;
  }
  const uint16_t* w = (const uint16_t*)p.words + start;
  uint16_t* raw = s.c.data();
  const int mant = p.dt == BF16 ? 7 : 10, eb = exp_bits(p.dt);
  for (int64_t i = 0; i < real; ++i) split16(w[i], mant, eb, x[i], raw[i]);
  for (int64_t i = real; i < lanes; ++i) { raw[i] = 0; x[i] = 0; }
  if (p.dt == BF16) {
    const int64_t h = lanes / 2;
    for (int64_t i = 0; i < h; ++i) { raw_out[2 * i] = (uint8_t)raw[i]; raw_out[2 * i + 1] = (uint8_t)raw[i + h]; }
  } else {
    halving_pack(raw, lanes, 11, raw_out, s.z.data());
  }
}

// Portable encoder of one block: raw, low bits and flags to the blob, packed outliers to oscr.
// Returns the outlier bytes.
int64_t encode_block_portable(const Ctx& p, const Geometry& g, int64_t t, uint8_t* oscr, Scratch& s) {
  const int64_t lanes = g.lanes(t), real = g.real(t), G = lanes / kGroupLen;
  const int b = p.b, n = p.n, m = p.m, h = n - m;
  const uint16_t nmask = (uint16_t)((1u << n) - 1), mmask = (uint16_t)((1u << m) - 1);
  uint16_t* y = s.a.data();
  load_block(p, t, lanes, real, y, p.raw_out(t), s);
  for (int64_t i = 0; i < real; ++i) y[i] = (uint16_t)((b - y[i]) & nmask);    // transform
  for (int64_t i = real; i < lanes; ++i) y[i] = 0;                              // padding lanes: code 0
  // flags: OR-fold the 16 members of each group (lanes j + k*G)
  uint16_t* acc = s.b.data();
  std::memcpy(acc, y, G * 2);
  for (int k = 1; k < kGroupLen; ++k) {
    const uint16_t* row = y + k * G;
    for (int64_t j = 0; j < G; ++j) acc[j] |= row[j];
  }
  uint8_t* fl = p.flags_out(t);
  int64_t f = 0;
  for (int64_t j8 = 0; j8 < G / 8; ++j8) {
    uint8_t byte = 0;
    for (int q = 0; q < 8; ++q) byte |= (uint8_t)(((acc[j8 * 8 + q] >> m) != 0) << q);
    fl[j8] = byte;
    f += __builtin_popcount(byte);
  }
  // low bits
  uint16_t* low = s.b.data();
  for (int64_t i = 0; i < lanes; ++i) low[i] = (uint16_t)(y[i] & mmask);
  halving_pack(low, lanes, m, p.low_out(t), s.z.data());
  if (h == 0 || f == 0) return 0;
  // outlier high bits of flagged groups, in slot order k*F + rank
  int32_t* flagged = (int32_t*)s.c.data();           // up to G ints fit in 2*N bytes
  int64_t nf = 0;
  for (int64_t j = 0; j < G; ++j) if ((fl[j >> 3] >> (j & 7)) & 1) flagged[nf++] = (int32_t)j;
  const int64_t slots = outlier_slots(f);
  uint16_t* hi = s.b.data();
  for (int k = 0; k < kGroupLen; ++k)
    for (int64_t r = 0; r < f; ++r) hi[k * f + r] = (uint16_t)(y[k * G + flagged[r]] >> m);
  std::fill(hi + kGroupLen * f, hi + slots, 0);
  halving_pack(hi, slots, h, oscr, s.z.data());
  return packed_bytes(slots, h);
}

// Portable decoder of one block into out (real elements). Returns 0, 1 (non-zero outlier
// padding) or 2 (a flagged group without high bits).
int decode_block_portable(const Ctx& p, const Geometry& g, int64_t t, const uint8_t* blob,
                          const uint8_t* outliers, int64_t f, void* out, Scratch& s) {
  const int64_t lanes = g.lanes(t), real = g.real(t), G = lanes / kGroupLen;
  const int n = p.n, m = p.m, h = n - m, W = exp_bits(p.dt);
  const uint16_t nmask = (uint16_t)((1u << n) - 1), wmask = (uint16_t)((1u << W) - 1);
  const uint16_t signbit = (uint16_t)(1u << (n - 1));
  uint16_t* y = s.a.data();
  halving_unpack(blob + p.low_off + t * packed_bytes(kBlock, m), lanes, m, y, s.z.data());
  if (f && h) {
    const int64_t slots = outlier_slots(f);
    uint16_t* hi = s.b.data();
    halving_unpack(outliers, slots, h, hi, s.z.data());
    for (int64_t q = kGroupLen * f; q < slots; ++q)
      if (hi[q]) return 1;
    const uint8_t* fl = blob + p.flags_off + t * (kBlock / 128);
    int64_t r = 0;
    for (int64_t j = 0; j < G; ++j) {
      if (!((fl[j >> 3] >> (j & 7)) & 1)) continue;
      uint16_t any = 0;
      for (int k = 0; k < kGroupLen; ++k) {
        const uint16_t v = hi[k * f + r];
        any |= v;
        y[k * G + j] |= (uint16_t)(v << m);
      }
      if (!any) return 2;
      ++r;
    }
  }
  // inverse transform x = (b - signext_n(y)) mod 2^W, branch-free 16-bit arithmetic
  const uint16_t bb = (uint16_t)p.b;
  auto inv = [=](uint16_t v) -> uint16_t {
    v = (uint16_t)(v & nmask);
    const uint16_t sv = (uint16_t)((v ^ signbit) - signbit);
    return (uint16_t)((uint16_t)(bb - sv) & wmask);
  };
  const uint8_t* rawp = blob + p.raw_off + t * raw_block_bytes(p.dt, kBlock);
  const int64_t hh = lanes / 2;
  const int64_t r1 = std::min(real, hh);
  if (p.dt == FP32) {
    uint32_t* o = (uint32_t*)out;
    const uint8_t* lo = rawp;                     // identity packing of the low 16 bits
    const uint8_t* ph = rawp + 2 * lanes;
    for (int64_t i = 0; i < r1; ++i) {
      const uint32_t hiw = join16(inv(y[i]), ph[2 * i], 7);
      o[i] = (hiw << 16) | (uint32_t)(lo[2 * i] | (lo[2 * i + 1] << 8));
    }
    for (int64_t i = hh; i < real; ++i) {
      const uint32_t hiw = join16(inv(y[i]), ph[2 * (i - hh) + 1], 7);
      o[i] = (hiw << 16) | (uint32_t)(lo[2 * i] | (lo[2 * i + 1] << 8));
    }
  } else if (p.dt == BF16) {
    uint16_t* o = (uint16_t*)out;
    for (int64_t i = 0; i < r1; ++i) o[i] = join16(inv(y[i]), rawp[2 * i], 7);
    for (int64_t i = hh; i < real; ++i) o[i] = join16(inv(y[i]), rawp[2 * (i - hh) + 1], 7);
  } else {
    uint16_t* raw = s.c.data();
    halving_unpack(rawp, lanes, 11, raw, s.z.data());
    uint16_t* o = (uint16_t*)out;
    for (int64_t i = 0; i < real; ++i) o[i] = join16(inv(y[i]), raw[i], 10);
  }
  return 0;
}

void histogram_portable(const void* words, int64_t s, int64_t e, int dt, int64_t* hist) {
  int64_t h4[4][256] = {};
  if (dt == FP32) {
    const uint32_t* w = (const uint32_t*)words;
    int64_t i = s;
    for (; i + 4 <= e; i += 4) {
      h4[0][(w[i] >> 23) & 0xFF]++; h4[1][(w[i + 1] >> 23) & 0xFF]++;
      h4[2][(w[i + 2] >> 23) & 0xFF]++; h4[3][(w[i + 3] >> 23) & 0xFF]++;
    }
    for (; i < e; ++i) h4[0][(w[i] >> 23) & 0xFF]++;
  } else {
    const uint16_t* w = (const uint16_t*)words;
    const int sh = dt == BF16 ? 7 : 10;
    const unsigned mask = (1u << exp_bits(dt)) - 1;
    int64_t i = s;
    for (; i + 4 <= e; i += 4) {
      h4[0][(w[i] >> sh) & mask]++; h4[1][(w[i + 1] >> sh) & mask]++;
      h4[2][(w[i + 2] >> sh) & mask]++; h4[3][(w[i + 3] >> sh) & mask]++;
    }
    for (; i < e; ++i) h4[0][(w[i] >> sh) & mask]++;
  }
  for (int k = 0; k < 256; ++k) hist[k] += h4[0][k] + h4[1][k] + h4[2][k] + h4[3][k];
}

}  // namespace
