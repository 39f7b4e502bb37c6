// The format's halving bit-packing: the portable implementation (any width, any lane count) and
// the compile-time schedule that the SIMD versions (simd_kernels.inc) unroll.
#pragma once

#include <cstdint>
#include <cstring>

#include "common.h"

namespace {

// ------------------------------------------------------------------ portable halving packing
// Lanes are 16-bit; d is modified in place (it is scratch). z is scratch of >= count*width/8 bytes.
// The steps: fold the upper half onto the lower half (shifted by the width) while width < 8,
// emit low bytes, shift right by 8, repeat; finally store bytes Z[i] | Z[i+H] << 8 as u16 words.
void halving_pack(uint16_t* d, int64_t count, int width, uint8_t* out, uint8_t* z) {
  if (width == 0) return;
  int64_t len = count, zpos = 0;
  int w = width;
  while (w > 0) {
    while (w < 8) {
      const int64_t h = len / 2;
      const int s = w;
      for (int64_t i = 0; i < h; ++i) d[i] = (uint16_t)(d[i] | (d[i + h] << s));
      len = h;
      w *= 2;
    }
    for (int64_t i = 0; i < len; ++i) z[zpos + i] = (uint8_t)d[i];
    for (int64_t i = 0; i < len; ++i) d[i] = (uint16_t)(d[i] >> 8);
    zpos += len;
    w -= 8;
  }
  const int64_t H = zpos / 2;
  for (int64_t i = 0; i < H; ++i) { out[2 * i] = z[i]; out[2 * i + 1] = z[i + H]; }
}

void halving_unpack(const uint8_t* in, int64_t count, int width, uint16_t* d, uint8_t* z) {
  if (width == 0) { std::memset(d, 0, count * 2); return; }
  // replay the schedule to know each emit's lane count
  int steps_kind[16], steps_arg[16], nsteps = 0;
  int64_t lens[16];
  {
    int64_t len = count;
    int w = width;
    while (w > 0) {
      while (w < 8) { steps_kind[nsteps] = 0; steps_arg[nsteps] = w; len /= 2; lens[nsteps++] = len; w *= 2; }
      steps_kind[nsteps] = 1; steps_arg[nsteps] = 0; lens[nsteps++] = len;
      w -= 8;
    }
  }
  const int64_t total = packed_bytes(count, width);
  const int64_t H = total / 2;
  for (int64_t i = 0; i < H; ++i) { z[i] = in[2 * i]; z[i + H] = in[2 * i + 1]; }
  int64_t pos = total;
  int64_t cur = lens[nsteps - 1];
  std::memset(d, 0, cur * 2);
  for (int s = nsteps - 1; s >= 0; --s) {
    if (steps_kind[s] == 1) {
      pos -= cur;
      const uint8_t* zz = z + pos;
      for (int64_t i = 0; i < cur; ++i) d[i] = (uint16_t)((d[i] << 8) | zz[i]);
    } else {
      const int w = steps_arg[s];
      const uint16_t mask = (uint16_t)((1u << w) - 1);
      for (int64_t i = 0; i < cur; ++i) { uint16_t v = d[i]; d[i + cur] = (uint16_t)(v >> w); d[i] = (uint16_t)(v & mask); }
      cur *= 2;
    }
  }
}

// The halving schedule of a width known at compile time: kind 0 = fold (arg = width), 1 = emit;
// fb = folds before the step.
struct Sched {
  int n = 0, folds = 0;
  int kind[16] = {}, arg[16] = {}, fb[16] = {};
};
constexpr Sched make_sched(int W) {
  Sched s;
  int w = W, f = 0;
  while (w > 0) {
    while (w < 8) { s.kind[s.n] = 0; s.arg[s.n] = w; s.fb[s.n] = f; ++s.n; ++f; w *= 2; }
    s.kind[s.n] = 1; s.arg[s.n] = 0; s.fb[s.n] = f; ++s.n;
    w -= 8;
  }
  s.folds = f;
  return s;
}

}  // namespace
