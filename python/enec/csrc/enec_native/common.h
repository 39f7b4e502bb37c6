// Constants, block geometry, scratch and the per-call context shared by every kernel set.
// Part of enec_native.cpp's one translation unit (see there): everything has internal linkage.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

// The format's layout (block size, group length, section offsets, header) and the parameter search
// are defined once in C++, in op_kernel/enec_tiling.h and op_host/enec_host.{h,cpp}, which the
// emulation and the NPU binding use too; setup.py compiles enec_host.cpp into this library.
#include "../../../../op_host/enec_host.h"

namespace {

constexpr int64_t kBlock = ENEC_BLOCK_ELEMS;       // N
constexpr int kGroupLen = ENEC_GROUP_LEN;          // L
constexpr int64_t kGroups = kBlock / kGroupLen;
constexpr int64_t kStreamElems = 1 << 22;   // outputs of this many elements or more bypass the caches

enum DType { BF16 = 0, FP16 = 1, FP32 = 2 };

inline int64_t round_up(int64_t x, int64_t k) { return (x + k - 1) / k * k; }
inline int64_t packed_bytes(int64_t count, int width) { return count * width / 8; }
inline int exp_bits(int dt) { return (int)EnecExpBits((uint32_t)dt); }
inline int64_t outlier_slots(int64_t f) { return kGroupLen * round_up(f, 16); }
inline int64_t raw_block_bytes(int dt, int64_t lanes) { return packed_bytes(lanes, (int)EnecRawBits(dt)); }

// Block geometry of a tensor, as EnecLayout defines it.
struct Geometry {
  int64_t numel, blocks, full;
  int64_t last_real, last_lanes;
  explicit Geometry(const EnecTilingData& t)
      : numel((int64_t)t.numel), blocks((int64_t)t.blocks), full((int64_t)t.fullBlocks),
        last_real((int64_t)t.lastReal), last_lanes((int64_t)t.lastLanes) {}
  int64_t lanes(int64_t t) const { return t < full ? kBlock : last_lanes; }
  int64_t real(int64_t t) const { return t < full ? kBlock : last_real; }
};

// 64-byte aligned scratch
struct AlignedBuf {
  uint8_t* p = nullptr;
  explicit AlignedBuf(size_t n) { p = (uint8_t*)std::aligned_alloc(64, round_up((int64_t)n, 64)); }
  ~AlignedBuf() { std::free(p); }
  AlignedBuf(const AlignedBuf&) = delete;
  AlignedBuf& operator=(const AlignedBuf&) = delete;
};

// Per-thread scratch of every kernel set (a .. z: the portable code; Y, Z, HI, RZ, R3: the SIMD code).
struct Scratch {
  std::vector<uint16_t> a, b, c, d;
  std::vector<uint8_t> z;
  AlignedBuf Y{kBlock + 128}, Z{kBlock + 128}, HI{kBlock + 128};
  // FP16's 11-bit raw field (SIMD paths): RZ holds the halving-pack bytes before they are
  // interleaved (the low bytes, then the top 3 bits packed with width 3), R3 the top 3 bits
  AlignedBuf RZ{2 * kBlock + 128}, R3{kBlock + 128};
  // one block of gathered input words (enec_encode_nonzeros), FP32 at most, and one register
  // of slack for the gather's unmasked stores
  AlignedBuf GW{4 * kBlock + 128};
  Scratch() : a(kBlock), b(kBlock), c(kBlock), d(kBlock), z(4 * kBlock) {}
};

// Each thread's scratch lives as long as the thread: the calling thread reuses it across calls
// (many small tensors would otherwise allocate and zero ~250 KB per call).
Scratch& thread_scratch() {
  static thread_local std::unique_ptr<Scratch> s;
  if (!s) s.reset(new Scratch());
  return *s;
}

// Threads worth using for `elems` elements: below ~256 Ki elements per thread, handing data to
// another core (its caches are cold) costs about what the split saves (measured on MiniLM-sized
// tensors), so each thread gets at least kMinThreadElems elements.
constexpr int64_t kMinThreadElems = 1 << 18;
inline int useful_threads(int nthreads, int64_t elems) {
  return (int)std::max<int64_t>(1, std::min<int64_t>(nthreads, elems / kMinThreadElems));
}

struct Ctx {
  int dt, b, n, m;
  bool nt;   // large output: write it with non-temporal stores (no read-for-ownership)
  int64_t numel, raw_off, low_off, flags_off, index_off, out_off;   // section offsets: EnecLayout's
  const void* words;
  uint8_t* blob;
  // the element index `words` points at: 0 for a whole tensor; t * kBlock when `words` holds only
  // block t (the non-zeros of a tensor gathered into a scratch block, enec_encode_nonzeros)
  int64_t first = 0;
  uint8_t* raw_out(int64_t t) const { return blob + raw_off + t * raw_block_bytes(dt, kBlock); }
  uint8_t* low_out(int64_t t) const { return blob + low_off + t * packed_bytes(kBlock, m); }
  uint8_t* flags_out(int64_t t) const { return blob + flags_off + t * (kBlock / 128); }
};

}  // namespace
