// Native CPU implementation of the enec stream format v1 (docs/FORMAT.md): its C ABI.
//
// Plain C ABI, no torch or Python headers: the package builds without torch and Python loads
// this library with ctypes (which releases the GIL during each call). Every block is encoded and
// decoded independently, so blocks are split across threads. Output is byte-identical to the
// numpy reference (python/enec/reference.py). The layout (section offsets), the header and the
// parameter search come from op_host/enec_host.{h,cpp} and op_kernel/enec_tiling.h, the one C++
// definition the emulation and the NPU binding use as well (python/enec/format.py and params.py
// are the Python one; the tests hold the two equal).
//
// Three kernel sets produce the same bytes, detected at run time (the library itself is built
// without -march so it runs everywhere); enec_set_simd(level) caps the level (tests compare every
// level with the reference):
//   * portable C++ (any CPU, any dtype, short last blocks): enec_native/portable.h,
//   * AVX-512 (x86-64 with AVX-512 BW, VBMI and VBMI2): enec_native/avx512.h, and
//   * AVX2 (x86-64 with AVX2): enec_native/avx2.h,
// for full BF16, FP16 and FP32 blocks and the histogram. The two x86 sets share their block
// encoder, block decoder and halving pack (enec_native/simd_kernels.inc), written over each set's
// vector operations.
//
// Encode is one pass over the input: each block's raw bits, low bits and flags go straight to
// their final place in the output; its packed outliers go to a per-thread scratch and are copied
// to their final offset as soon as the outlier sizes of all earlier blocks are known (chunks are
// handed out in order and publish an inclusive prefix sum, a "decoupled look-back").
//
// One translation unit: the headers under enec_native/ are included here only (all their names
// have internal linkage). They are, by role:
//   common.h       constants and block geometry (from enec_host.h), per-thread scratch, the per-call context
//   simd_level.h   run-time kernel selection (and the target attributes of the x86 sets)
//   thread_pool.h  worker threads kept between calls, parallel_for
//   pages.h        output buffers' pages: huge pages, mapping a fresh buffer before it is written
//   halving.h      the format's halving bit-packing (portable) and its compile-time schedule
//   portable.h, avx512.h, avx2.h, simd_kernels.inc   the kernels
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <memory>
#include <thread>
#include <vector>

#include <sys/mman.h>

#include "popcount.h"
#include "enec_native/common.h"
#include "enec_native/simd_level.h"
#include "enec_native/thread_pool.h"
#include "enec_native/pages.h"
#include "enec_native/halving.h"
#include "enec_native/portable.h"
#include "enec_native/avx512.h"
#include "enec_native/avx2.h"

extern "C" {

int enec_native_version() { return 5; }   // 4: enec_encode_nonzeros, enec_zero_group_outlier_bytes, enec_analyze_bitmap; 5: enec_prefault

// The kernels in use: 0 portable C++, 1 AVX2, 2 AVX-512.
int enec_simd_level() { return simd_level(); }

// The kernels the CPU has, whatever enec_set_simd says.
int enec_simd_detected() { return kDetected; }

// Cap the kernel level (for tests: every level writes the same bytes): 0 forces the portable
// code, 1 at most AVX2, 2 (or more) whatever the CPU supports.
void enec_set_simd(int max_level) { g_simd_cap.store(std::max(0, std::min(max_level, (int)kAVX512))); }

// Output buffers' pages (enec_native/pages.h): huge pages for a large, not yet touched buffer;
// mapping a fresh one over nthreads threads before the decoder writes it. Best effort, no error.
void enec_advise_huge(void* p, int64_t len) { advise_huge(p, len); }
void enec_prefault(void* p, int64_t len, int nthreads) { prefault(p, len, nthreads); }

}  // extern "C"

namespace {

// The zero bitmap of words [s, e) (s a multiple of 64): bit i = word i is non-zero, the sparse
// codec's bitmap pattern. Written while the words are in cache from the histogram (the AVX-512
// histogram writes the bits of whole 64-word groups itself: this does the others).
template <class T>
void nonzero_bits(const T* w, int64_t s, int64_t e, uint8_t* bitmap) {
  for (int64_t i = s; i < e; i += 64) {
    const int c = (int)std::min<int64_t>(64, e - i);
    uint64_t mask = 0;
    for (int k = 0; k < c; ++k) mask |= (uint64_t)(w[i + k] != 0) << k;
    std::memcpy(bitmap + i / 8, &mask, (size_t)(c + 7) / 8);
  }
}

// enec_histogram, and with `bitmap` the zero bitmap of the words in the same pass.
int histogram_impl(const void* words, int64_t numel, int dt, int64_t* hist, uint8_t* bitmap, int nthreads) {
  const int W = exp_bits(dt);
  if (W == 0) return -2;
  const int64_t bins = 1 << W;
  std::fill(hist, hist + bins, 0);
  if (numel <= 0) return 0;
  const int64_t per = 1 << 18;
  const int64_t chunks = (numel + per - 1) / per;
  nthreads = (int)std::max<int64_t>(1, std::min<int64_t>(nthreads, chunks));
  std::vector<std::vector<int64_t>> partial(nthreads, std::vector<int64_t>(256, 0));
  const int level = numel >= 4096 ? simd_level() : kPortable;
  const bool simd = level != kPortable;
  int lo = 0, z = 0;
  if (simd) {
    // the 15-wide window and the extra bin come from a sample; any choice gives exact counts
    std::vector<int64_t> sh(256, 0);
    const int64_t span = 1024, nspans = std::min<int64_t>(16, numel / span);
    for (int64_t q = 0; q < nspans; ++q) {
      const int64_t st = (numel - span) * q / std::max<int64_t>(1, nspans - 1);
      histogram_portable(words, st, st + span, dt, sh.data());
    }
    int64_t best = -1;
    for (int l = 0; l + 15 <= bins; ++l) {
      int64_t sum = 0;
      for (int k = 0; k < 15; ++k) sum += sh[l + k];
      if (sum > best) { best = sum; lo = l; }
    }
    z = lo + 15 < bins ? lo + 15 : lo - 1;
    int64_t zb = -1;
    for (int v = 0; v < bins; ++v)
      if ((v < lo || v >= lo + 15) && sh[v] > zb) { zb = sh[v]; z = v; }
  }
  // descending order: the start of the data is read last and is still in cache for the encoder
  // With a bitmap: the AVX-512 histogram writes its bits from the same loads (all but a last
  // partial group of 64); the other kernel sets histogram a tile, then write the tile's bits.
  const int64_t tile = bitmap && level != kAVX512 ? 1 << 14 : per;
  parallel_for(chunks, nthreads, 1, true, [&](int64_t c, int ti) {
    const int64_t s0 = c * per, e0 = std::min(numel, s0 + per);
    for (int64_t s = s0; s < e0; s += tile) {
      const int64_t e = std::min(e0, s + tile);
      int64_t bits_from = s;                 // the bitmap from here on is still to be written
#if ENEC_X86
      if (level == kAVX512) {
        avx512::histogram(words, s, e, dt, lo, z, partial[ti].data(), bitmap);
        bits_from = s + (e - s) / 64 * 64;
      } else if (level == kAVX2) {
        avx2::histogram(words, s, e, dt, lo, z, partial[ti].data());
      } else
#endif
        histogram_portable(words, s, e, dt, partial[ti].data());
      if (!bitmap || bits_from == e) continue;
      if (dt == FP32) nonzero_bits((const uint32_t*)words, bits_from, e, bitmap);
      else nonzero_bits((const uint16_t*)words, bits_from, e, bitmap);
    }
  });
  for (auto& p : partial)
    for (int64_t k = 0; k < bins; ++k) hist[k] += p[k];
  return 0;
}

}  // namespace

extern "C" {

// Exponent histogram (2^W counts) of numel words.
int enec_histogram(const void* words, int64_t numel, int dt, int64_t* hist, int nthreads) {
  return histogram_impl(words, numel, dt, hist, nullptr, nthreads);
}

// Parameter choice: EnecChooseParams (op_host/enec_host.cpp), the search of python/enec/params.py.
void enec_choose_params(const int64_t* hist, int dt, int* out) {
  uint32_t b = 0, n = 1, m = 0;
  EnecChooseParams(hist, (uint32_t)dt, &b, &n, &m);
  out[0] = (int)b; out[1] = (int)n; out[2] = (int)m;
}

// Histogram and parameter choice in one call (small tensors: one crossing of the ctypes border).
int enec_analyze(const void* words, int64_t numel, int dt, int64_t* hist, int* params, int nthreads) {
  const int rc = enec_histogram(words, numel, dt, hist, nthreads);
  if (rc) return rc;
  enec_choose_params(hist, dt, params);
  return 0;
}

// enec_analyze, and the zero bitmap of the words (ceil(numel / 8) bytes, bit i = word i is
// non-zero: the sparse codec's bitmap pattern) from the same pass over them: codec "auto" on a
// tensor that holds zeros needs both, and a second pass costs as much as the first.
int enec_analyze_bitmap(const void* words, int64_t numel, int dt, int64_t* hist, int* params, uint8_t* bitmap,
                        int nthreads) {
  const int rc = histogram_impl(words, numel, dt, hist, bitmap, nthreads);
  if (rc) return rc;
  enec_choose_params(hist, dt, params);
  return 0;
}

// The outlier section's size enec_encode would write for these parameters, without writing
// anything: one read-only pass that ORs the codes of every group (codec "auto" compares the
// exact dense size with the sparse candidate's before encoding either). Returns the bytes, or
// -2 for invalid parameters.
int64_t enec_outlier_bytes(const void* words, int64_t numel, int dt, int b, int n, int m, int nthreads) {
  EnecTilingData tl;
  if (dt < 0 || b < 0 || n < 0 || m < 0 || numel < 0 ||
      EnecComputeTiling((uint32_t)dt, (uint64_t)numel, 0, (uint32_t)b, (uint32_t)n, (uint32_t)m, 1, &tl) != 0)
    return -2;
  Geometry g(tl);
  const int h = n - m;
  if (h == 0 || g.blocks == 0) return 0;
  std::vector<int64_t> per(g.blocks, 0);
  auto count = [&](auto* w, int shift, unsigned emask) {
    const uint16_t nmask = (uint16_t)((1u << n) - 1);
    parallel_for(g.blocks, useful_threads(nthreads, numel), 4, false, [&](int64_t t, int) {
      const int64_t lanes = g.lanes(t), real = g.real(t), G = lanes / kGroupLen;
      const auto* x = w + t * kBlock;
      uint16_t acc[kGroups] = {};
      if (real == lanes) {                      // every lane real: a loop the compiler vectorizes
        for (int k = 0; k < kGroupLen; ++k)
          for (int64_t j = 0; j < G; ++j)
            acc[j] |= (uint16_t)((b - (int)((x[k * G + j] >> shift) & emask)) & nmask);
      } else {                                  // padding lanes have code 0
        for (int64_t i = 0; i < real; ++i) acc[i % G] |= (uint16_t)((b - (int)((x[i] >> shift) & emask)) & nmask);
      }
      int64_t f = 0;
      for (int64_t j = 0; j < G; ++j) f += (acc[j] >> m) != 0;
      per[t] = f ? packed_bytes(outlier_slots(f), h) : 0;
    });
  };
  if (dt == FP32) count((const uint32_t*)words, 23, 0xFF);
  else count((const uint16_t*)words, dt == BF16 ? 7 : 10, (1u << exp_bits(dt)) - 1);
  int64_t total = 0;
  for (int64_t v : per) total += v;
  return total;
}

}  // extern "C"

namespace {

// The non-zero words of a tensor as the input of enec_encode_nonzeros: bitmap bit i (little-endian
// bit order) says word i of src is non-zero; start[t] is the index in src of the non-zero that
// opens block t of the gathered tensor.
struct Gather {
  const void* src;
  int64_t src_numel;
  const uint8_t* bitmap;
  std::vector<int64_t> start;

  // bitmap bits [64 wi, 64 wi + 64), those past src_numel cleared
  uint64_t word(int64_t wi) const {
    const int64_t at = wi * 8, nbytes = (src_numel + 7) / 8;
    uint64_t m = 0;
    if (at + 8 <= nbytes && (wi + 1) * 64 <= src_numel) {     // a whole word (a fixed-size copy: no call)
      std::memcpy(&m, bitmap + at, 8);
      return m;
    }
    if (at >= nbytes) return 0;
    std::memcpy(&m, bitmap + at, (size_t)std::min<int64_t>(8, nbytes - at));
    const int64_t valid = src_numel - wi * 64;
    return valid >= 64 ? m : m & ((1ull << valid) - 1);
  }
};

// The lowest k set bits of mask (k below its popcount).
inline uint64_t lowest_set_bits(uint64_t mask, int k) {
  uint64_t rest = mask;
  for (int i = 0; i < k; ++i) rest &= rest - 1;
  return mask ^ rest;
}

#if ENEC_X86
bool detect_vpopcnt() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vpopcntdq");
}
const bool kHasVpopcnt = detect_vpopcnt();

// The non-zeros of the 8 whole bitmap words from word wi.
__attribute__((target("avx512f,avx512vpopcntdq"))) int64_t popcount8_avx512(const uint8_t* bitmap, int64_t wi) {
  alignas(64) int64_t c[8];
  _mm512_store_si512(c, _mm512_popcnt_epi64(_mm512_loadu_si512(bitmap + wi * 8)));
  return c[0] + c[1] + c[2] + c[3] + c[4] + c[5] + c[6] + c[7];
}
#endif

// Fill g.start for `blocks` blocks of kBlock non-zeros; false when the bitmap does not hold
// exactly nnz non-zeros. One sequential walk over the bitmap (1/64 of the words; with AVX-512,
// 8 words at a time where no block starts among them).
bool gather_starts(Gather& g, int64_t blocks, int64_t nnz, int level) {
  g.start.assign((size_t)blocks, 0);
  int64_t cum = 0, t = 0;
  const int64_t words = (g.src_numel + 63) / 64;
#if ENEC_X86
  const bool wide = level == kAVX512 && kHasVpopcnt;
#else
  const bool wide = false;
#endif
  (void)level;
  for (int64_t wi = 0; wi < words;) {
#if ENEC_X86
    if (wide && (wi + 8) * 64 <= g.src_numel) {
      const int64_t c8 = popcount8_avx512(g.bitmap, wi);
      if (t >= blocks || cum + c8 <= t * kBlock) {      // no block starts in these 8 words
        cum += c8;
        wi += 8;
        continue;
      }
    }
#endif
    const int64_t stop = std::min(words, wi + 8);
    for (; wi < stop; ++wi) {
      const uint64_t m = g.word(wi);
      const int c = enec_bits::popcount64(m);
      while (t < blocks && cum + c > t * kBlock) {
        const uint64_t below = lowest_set_bits(m, (int)(t * kBlock - cum));   // the set bits before it
        g.start[(size_t)t] = wi * 64 + __builtin_ctzll(m ^ below);
        ++t;
      }
      cum += c;
    }
  }
  return cum == nnz && t == blocks;
}

// The `count` non-zeros of g.src from index `from` on (a set bit there), a bitmap word at a time:
// take() gives the bits of the current word still to take (at most the count left) and the index
// of its bit 0, then moves to the next word.
struct NonzeroRun {
  const Gather& g;
  int64_t wi, left;
  uint64_t next;
  NonzeroRun(const Gather& gg, int64_t from, int64_t count)
      : g(gg), wi(from >> 6), left(count), next(gg.word(from >> 6) & (~0ull << (from & 63))) {}
  uint64_t take(int64_t* base) {
    uint64_t m = next;
    const int c = enec_bits::popcount64(m);
    if (c > left) m = lowest_set_bits(m, (int)left);
    left -= std::min<int64_t>(c, left);
    *base = wi * 64;
    next = g.word(++wi);
    return m;
  }
};

// The `count` non-zero words of g.src from index `from` on (a set bit there) into dst.
template <class T>
void gather_portable(const Gather& g, int64_t from, int64_t count, T* dst) {
  const T* w = (const T*)g.src;
  NonzeroRun run(g, from, count);
  int64_t got = 0;
  while (run.left) {
    int64_t base;
    const uint64_t mask = run.take(&base);
    if (mask == ~0ull) {
      std::memcpy(dst + got, w + base, 64 * sizeof(T));
      got += 64;
    } else {
      for (uint64_t r = mask; r; r &= r - 1) dst[got++] = w[base + __builtin_ctzll(r)];
    }
  }
}

#if ENEC_X86
// The same with AVX-512 VBMI2's compress. Whole 64-word chunks inside the tensor are loaded
// plainly, the last one with masked loads (they never touch a word whose bit is clear); dst has
// a register of slack past `count` words (Scratch::GW), so the stores need no mask.
template <class T>
ENEC_AVX512 void gather_avx512(const Gather& g, int64_t from, int64_t count, T* dst) {
  constexpr int per = 64 / sizeof(T);          // words per register
  NonzeroRun run(g, from, count);
  int64_t got = 0;
  while (run.left) {
    int64_t base;
    const uint64_t mask = run.take(&base);
    const T* src = (const T*)g.src + base;
    const bool whole = base + 64 <= g.src_numel;
    for (int k = 0; k < 64; k += per) {
      const uint64_t m = (mask >> k) & (per == 64 ? ~0ull : (1ull << per) - 1);
      if (!m) continue;
      if (sizeof(T) == 2) {
        const __m512i v = whole ? _mm512_loadu_si512(src + k) : _mm512_maskz_loadu_epi16((__mmask32)m, src + k);
        _mm512_storeu_si512(dst + got, _mm512_maskz_compress_epi16((__mmask32)m, v));
      } else {
        const __m512i v = whole ? _mm512_loadu_si512(src + k) : _mm512_maskz_loadu_epi32((__mmask16)m, src + k);
        _mm512_storeu_si512(dst + got, _mm512_maskz_compress_epi32((__mmask16)m, v));
      }
      got += enec_bits::popcount64(m);
    }
  }
}
#endif

// Block t's non-zeros into the thread's scratch block; returns the words pointer for its Ctx.
const void* gather_block(const Gather& g, const Geometry& geo, int64_t t, int dt, int level, Scratch& s) {
  const int64_t count = geo.real(t), from = g.start[(size_t)t];
#if ENEC_X86
  if (level == kAVX512) {
    if (dt == FP32) gather_avx512(g, from, count, (uint32_t*)s.GW.p);
    else gather_avx512(g, from, count, (uint16_t*)s.GW.p);
    return s.GW.p;
  }
#endif
  (void)level;
  if (dt == FP32) gather_portable(g, from, count, (uint32_t*)s.GW.p);
  else gather_portable(g, from, count, (uint16_t*)s.GW.p);
  return s.GW.p;
}

// enec_encode's work; with `gather`, the tensor is the non-zeros of gather->src (numel of them).
int64_t encode_blob(const void* words, int64_t numel, int dt, int ndim, const uint64_t* shape, int b, int n,
                    int m, uint8_t* blob, int nthreads, Gather* gather) {
  EnecTilingData tl;
  if (dt < 0 || b < 0 || n < 0 || m < 0 || numel < 0 || ndim < 0 ||
      EnecComputeTiling((uint32_t)dt, (uint64_t)numel, (uint32_t)ndim, (uint32_t)b, (uint32_t)n, (uint32_t)m, 1,
                        &tl) != 0)
    return -2;
  const int64_t raw_off = (int64_t)tl.rawOffset, low_off = (int64_t)tl.lowOffset, flags_off = (int64_t)tl.flagsOffset,
                index_off = (int64_t)tl.indexOffset, out_off = (int64_t)tl.outlierOffset;
  // The sections are written below; the alignment gaps between them must be zero. A gap is the
  // (at most ENEC_SECTION_ALIGN - 1) bytes before a section's start, so zero those now and let the
  // encoder overwrite the ones that are data.
  for (const int64_t off : {low_off, flags_off, index_off, out_off}) {
    const int64_t from = std::max<int64_t>(raw_off, off - (int64_t)(ENEC_SECTION_ALIGN - 1));
    std::memset(blob + from, 0, (size_t)(off - from));
  }
  // non-temporal stores need 32-byte aligned destinations: native.py's own buffers are 64-byte
  // aligned; a caller's buffer (compress into `out`) may not be
  const bool stream = numel >= kStreamElems && ((uintptr_t)blob & 63) == 0;
  Ctx p{dt, b, n, m, stream, numel, raw_off, low_off, flags_off, index_off, out_off, words, blob};
  Geometry g(tl);
  if (gather && !gather_starts(*gather, g.blocks, numel, simd_level())) return -3;
  if (g.blocks == 0) return (int64_t)EnecPackHeader(&tl, (uint32_t)ndim, shape, 0, blob);
  const int h = n - m;
  const int level = simd_level();
  const int64_t CB = 4;                                   // blocks per chunk
  const int64_t nchunks = (g.blocks + CB - 1) / CB;
  const int64_t max_ob = packed_bytes(kBlock, h);         // outlier bytes of a block, at most
  // A chunk's outliers can be placed once the previous chunk has published its inclusive prefix.
  // A finished chunk that cannot be placed yet (its predecessor is still being encoded, e.g. by a
  // preempted thread) is kept as a copy of its packed outliers, up to kPendingBytes per thread,
  // and the thread goes on; only beyond that it waits. The smallest unplaced chunk can always be
  // placed, so this never deadlocks.
  constexpr int64_t kPendingBytes = 4 << 20;
  std::unique_ptr<std::atomic<int64_t>[]> incl(new std::atomic<int64_t>[nchunks]);
  for (int64_t c = 0; c < nchunks; ++c) incl[c].store(-1, std::memory_order_relaxed);
  nthreads = (int)std::max<int64_t>(1, std::min<int64_t>(useful_threads(nthreads, numel), nchunks));
  struct Pending { int64_t c, total, sizes[4]; std::vector<uint8_t> data; };
  auto place = [&](int64_t c, const int64_t* sizes, int64_t total, const uint8_t* data, int64_t stride,
                   int64_t start) {
    incl[c].store(start + total, std::memory_order_release);
    const int64_t t0 = c * CB, t1 = std::min(g.blocks, t0 + CB);
    int64_t off = 0;
    for (int64_t t = t0; t < t1; ++t) {
      const uint64_t v = (uint64_t)start;
      std::memcpy(blob + index_off + 8 * t, &v, 8);
      const int64_t sz = sizes[t - t0];
      if (sz) std::memcpy(blob + out_off + start, data + (stride ? (t - t0) * stride : off), sz);
      start += sz;
      off += sz;
    }
  };
  auto ready = [&](int64_t c) -> int64_t { return c == 0 ? 0 : incl[c - 1].load(std::memory_order_acquire); };
  auto wait_ready = [&](int64_t c) -> int64_t {
    int64_t start;
    int spins = 0;
    while ((start = ready(c)) < 0)
      if (++spins > 64) std::this_thread::yield();
    return start;
  };
  // A large blob is fresh memory in transparent huge pages, which the kernel clears on the first
  // write to each 2 MB page. Chunks are handed out in order, so every thread would write into the
  // same pages of the raw and low sections and fault on them together; instead each thread first
  // touches its own contiguous share (writing zeros: every byte below out_off is either written
  // by the encoder afterwards or is a gap that must be zero), and all wait for each other before
  // encoding, so a touch never lands on a byte already encoded.
  const bool pretouch = p.nt && nthreads > 1;
  std::atomic<int> touched{0};
  auto touch = [&](int ti) {
    const int64_t huge = 2 << 20;
    const int64_t per = round_up((out_off + nthreads - 1) / nthreads, huge);
    const int64_t s0 = std::min<int64_t>(out_off, ti * per), e0 = std::min<int64_t>(out_off, s0 + per);
    volatile uint8_t* v = blob;
    for (int64_t q = s0; q < e0; q += 4096) v[q] = 0;
    touched.fetch_add(1, std::memory_order_acq_rel);
    while (touched.load(std::memory_order_acquire) < nthreads) std::this_thread::yield();
  };
  auto body = [&](int ti, std::atomic<int64_t>* next) {
    if (pretouch) touch(ti);
    Scratch& s = thread_scratch();
    AlignedBuf tmp(CB * max_ob + 64);
    std::deque<Pending> q;
    int64_t pending_bytes = 0;
    auto drain = [&](bool wait) {
      while (!q.empty()) {
        Pending& e = q.front();
        int64_t start = ready(e.c);
        if (start < 0) {
          if (!wait) return;
          start = wait_ready(e.c);
        }
        place(e.c, e.sizes, e.total, e.data.data(), 0, start);
        pending_bytes -= e.total;
        q.pop_front();
      }
    };
    for (;;) {
      const int64_t c = next->fetch_add(1);
      if (c >= nchunks) break;
      const int64_t t0 = c * CB, t1 = std::min(g.blocks, t0 + CB);
      int64_t sizes[4] = {0, 0, 0, 0}, total = 0;
      for (int64_t t = t0; t < t1; ++t) {
        uint8_t* dst = tmp.p + (t - t0) * max_ob;
        Ctx gathered;
        const Ctx* pc = &p;
        if (gather) {                // block t's words: its non-zeros, gathered into scratch
          gathered = p;
          gathered.words = gather_block(*gather, g, t, dt, level, s);
          gathered.first = t * kBlock;
          pc = &gathered;
        }
        const Ctx& q = *pc;
        int64_t sz;
#if ENEC_X86
        if (level == kAVX512 && t < g.full)
          sz = dt == FP32 ? avx512::encode_block<FP32>(q, t, dst, s)
             : dt == BF16 ? avx512::encode_block<BF16>(q, t, dst, s) : avx512::encode_block<FP16>(q, t, dst, s);
        else if (level == kAVX2 && t < g.full)
          sz = dt == FP32 ? avx2::encode_block<FP32>(q, t, dst, s)
             : dt == BF16 ? avx2::encode_block<BF16>(q, t, dst, s) : avx2::encode_block<FP16>(q, t, dst, s);
        else
#endif
          sz = encode_block_portable(q, g, t, dst, s);
        sizes[t - t0] = sz;
        total += sz;
      }
      drain(false);
      const int64_t start = q.empty() ? ready(c) : -1;
      if (start >= 0) {
        place(c, sizes, total, tmp.p, max_ob, start);
        continue;
      }
      Pending e;
      e.c = c;
      e.total = total;
      std::memcpy(e.sizes, sizes, sizeof sizes);
      e.data.resize(total);
      int64_t off = 0;
      for (int64_t t = t0; t < t1; ++t) {
        // a block without outliers has size 0, and data() of an empty vector may be null
        if (sizes[t - t0]) std::memcpy(e.data.data() + off, tmp.p + (t - t0) * max_ob, sizes[t - t0]);
        off += sizes[t - t0];
      }
      pending_bytes += total;
      q.push_back(std::move(e));
      if (pending_bytes > kPendingBytes) drain(true);
    }
    drain(true);
  };
  std::atomic<int64_t> next{0};
  {
    WorkerPool::get().run(nthreads, [&](int ti) { body(ti, &next); });
  }
  return (int64_t)EnecPackHeader(&tl, (uint32_t)ndim, shape, (uint64_t)incl[nchunks - 1].load(), blob);
}

}  // namespace

extern "C" {

// Encode a whole blob (header included, checksum kind 0) into blob, sized to the format's maximum
// for these parameters. The section offsets are EnecComputeTiling's, the header EnecPackHeader's.
// Returns the blob's size in bytes (> 0) or a negative error code.
int64_t enec_encode(const void* words, int64_t numel, int dt, int ndim, const uint64_t* shape, int b, int n,
                    int m, uint8_t* blob, int nthreads) {
  return encode_blob(words, numel, dt, ndim, shape, b, n, m, blob, nthreads, nullptr);
}

// The blob enec_encode writes for the 1-D tensor of the non-zero words of `words` (src_numel of
// them; bitmap: ceil(src_numel / 8) bytes, bit i = word i is non-zero, the sparse codec's bitmap
// pattern), without extracting them first: each block gathers its nnz-tensor words from `words`
// into scratch. Same bytes as enec_encode on the extracted words (codec "auto" writes a sparse
// blob's values this way). Returns the size, -2 for invalid parameters, or -3 when the bitmap does
// not hold exactly nnz non-zeros.
int64_t enec_encode_nonzeros(const void* words, int64_t src_numel, const uint8_t* bitmap, int64_t nnz, int dt,
                             int b, int n, int m, uint8_t* blob, int nthreads) {
  if (src_numel < 0 || nnz < 0 || nnz > src_numel) return -2;
  Gather gather{words, src_numel, bitmap, {}};
  const uint64_t shape[1] = {(uint64_t)nnz};
  return encode_blob(nullptr, nnz, dt, 1, shape, b, n, m, blob, nthreads, &gather);
}

// A lower bound of the outlier bytes enec_encode writes for a tensor of numel words with these
// parameters, from its zero pattern alone (bitmap as above): a word 0 has exponent 0, and when
// that code is an outlier every group holding a zero is flagged. Codec "auto" uses it to keep a
// sparse blob without the exact dense size's pass over the words. Returns the bytes, or -2.
int64_t enec_zero_group_outlier_bytes(const uint8_t* bitmap, int64_t numel, int dt, int b, int n, int m) {
  EnecTilingData tl;
  if (dt < 0 || b < 0 || n < 0 || m < 0 || numel < 0 ||
      EnecComputeTiling((uint32_t)dt, (uint64_t)numel, 0, (uint32_t)b, (uint32_t)n, (uint32_t)m, 1, &tl) != 0)
    return -2;
  const int h = n - m;
  const uint32_t zero_code = (uint32_t)b & ((1u << n) - 1);      // y = (b - 0) mod 2^n
  if (h == 0 || (zero_code >> m) == 0) return 0;
  Geometry g(tl);
  auto bit = [&](int64_t i) { return (bitmap[i >> 3] >> (i & 7)) & 1; };
  int64_t total = 0;
  for (int64_t t = 0; t < g.blocks; ++t) {
    const int64_t lanes = g.lanes(t), real = g.real(t), G = lanes / kGroupLen, base = t * kBlock;
    int64_t f = 0;
    if (real == lanes && G == kBlock / kGroupLen) {   // a full block: OR the rows' zero masks
      constexpr int64_t kRowWords = kBlock / kGroupLen / 64;
      uint64_t any_zero[kRowWords] = {};
      for (int k = 0; k < kGroupLen; ++k) {
        uint64_t row[kRowWords];
        std::memcpy(row, bitmap + (base + k * G) / 8, sizeof row);
        for (int64_t j = 0; j < kRowWords; ++j) any_zero[j] |= ~row[j];
      }
      for (int64_t j = 0; j < kRowWords; ++j) f += enec_bits::popcount64(any_zero[j]);
    } else {                                     // a short last block, lane by lane (padding lanes: code 0)
      for (int64_t j = 0; j < G; ++j) {
        bool z = false;
        for (int k = 0; k < kGroupLen && !z; ++k) {
          const int64_t i = k * G + j;
          z = i < real && !bit(base + i);
        }
        f += z;
      }
    }
    total += f ? packed_bytes(outlier_slots(f), h) : 0;
  }
  return total;
}

// Decode. Returns 0, or a negative code with a message in err.
// Decode blocks [t_begin, t_end) of a blob of `size` bytes whose header (already validated by the
// caller) gives dt, numel, ndim, b, n, m into out, which receives elements t_begin*N ... The
// section offsets are EnecComputeTiling's. The whole outlier index is still checked against the
// flags (a cheap sequential pass).
int enec_decode(const uint8_t* blob, int64_t size, int dt, int64_t numel, int ndim, int b, int n, int m,
                void* out, int nthreads, char* err, int errlen, int64_t t_begin, int64_t t_end) {
  EnecTilingData tl;
  if (dt < 0 || b < 0 || n < 0 || m < 0 || numel < 0 || ndim < 0 ||
      EnecComputeTiling((uint32_t)dt, (uint64_t)numel, (uint32_t)ndim, (uint32_t)b, (uint32_t)n, (uint32_t)m, 1,
                        &tl) != 0) {
    std::snprintf(err, errlen, "invalid parameters b=%d n=%d m=%d", b, n, m);
    return -1;
  }
  const int64_t raw_off = (int64_t)tl.rawOffset, low_off = (int64_t)tl.lowOffset, flags_off = (int64_t)tl.flagsOffset,
                index_off = (int64_t)tl.indexOffset, out_off = (int64_t)tl.outlierOffset;
  if (size < out_off) {
    std::snprintf(err, errlen, "blob of %lld bytes ends before its outlier section (%lld)", (long long)size,
                  (long long)out_off);
    return -1;
  }
  Geometry g(tl);
  const int h = n - m;
  const int64_t out_bytes = size - out_off;
  if (t_begin < 0 || t_end > g.blocks || t_begin > t_end) {
    std::snprintf(err, errlen, "block range [%lld, %lld) outside [0, %lld)", (long long)t_begin,
                  (long long)t_end, (long long)g.blocks);
    return -1;
  }
  // sequential pre-pass: the flags give every block's outlier size; the index must agree
  std::vector<int64_t> start(g.blocks + 1, 0), fcount(g.blocks, 0);
  for (int64_t t = 0; t < g.blocks; ++t) {
    const int64_t G = g.lanes(t) / kGroupLen;
    const uint8_t* fl = blob + flags_off + t * (kBlock / 128);
    int64_t f = 0;
    int64_t q = 0;
    for (; q + 8 <= G / 8; q += 8) { uint64_t v; std::memcpy(&v, fl + q, 8); f += enec_bits::popcount64(v); }
    for (; q < G / 8; ++q) f += __builtin_popcount(fl[q]);
    fcount[t] = f;
    if (h == 0 && f) { std::snprintf(err, errlen, "block %lld: flagged groups although n == m", (long long)t); return -1; }
    uint64_t idx;
    std::memcpy(&idx, blob + index_off + 8 * t, 8);
    const int64_t ob = h ? packed_bytes(outlier_slots(f), h) : 0;
    if ((int64_t)idx != start[t] || start[t] + ob > out_bytes) {
      std::snprintf(err, errlen, "block %lld: outlier index %llu disagrees with the flags (expected %lld) or runs past the blob end",
                    (long long)t, (unsigned long long)idx, (long long)start[t]);
      return -1;
    }
    start[t + 1] = start[t] + ob;
  }
  if (start[g.blocks] != out_bytes) {
    std::snprintf(err, errlen, "outlier section holds %lld bytes, the flags account for %lld",
                  (long long)out_bytes, (long long)start[g.blocks]);
    return -1;
  }
  const bool stream = (t_end - t_begin) * kBlock >= kStreamElems && ((uintptr_t)out & 63) == 0;
  Ctx p{dt, b, n, m, stream, numel, raw_off, low_off, flags_off, index_off, out_off, nullptr, nullptr};
  const int level = simd_level();
  std::atomic<int64_t> bad_block{-1};
  std::atomic<int> bad_kind{0};
  const int64_t nb = t_end - t_begin;
  const int wb = dt == FP32 ? 4 : 2;
  // A large output is fresh memory in transparent huge pages: a thread's first write to a 2 MB
  // page makes the kernel clear all of it, so each thread takes whole 2 MB pieces of the output
  // (the threads then clear their pages in parallel, and never both fault on the same page).
  const int64_t grain = p.nt ? std::max<int64_t>(4, (2 << 20) / (kBlock * wb)) : 4;
  nthreads = (int)std::max<int64_t>(1, std::min<int64_t>(useful_threads(nthreads, nb * kBlock), (nb + grain - 1) / grain));
  parallel_for(nb, nthreads, grain, false, [&](int64_t tt, int /*ti*/) {
    if (bad_block.load(std::memory_order_relaxed) >= 0) return;
    Scratch& s = thread_scratch();
    const int64_t t = tt + t_begin;
    void* o = (uint8_t*)out + tt * kBlock * wb;
    const uint8_t* ol = blob + out_off + start[t];
    int rc;
#if ENEC_X86
    if (level == kAVX512 && t < g.full)
      rc = dt == FP32 ? avx512::decode_block<FP32>(p, t, blob, ol, fcount[t], o, s)
         : dt == BF16 ? avx512::decode_block<BF16>(p, t, blob, ol, fcount[t], o, s)
                      : avx512::decode_block<FP16>(p, t, blob, ol, fcount[t], o, s);
    else if (level == kAVX2 && t < g.full)
      rc = dt == FP32 ? avx2::decode_block<FP32>(p, t, blob, ol, fcount[t], o, s)
         : dt == BF16 ? avx2::decode_block<BF16>(p, t, blob, ol, fcount[t], o, s)
                      : avx2::decode_block<FP16>(p, t, blob, ol, fcount[t], o, s);
    else
#endif
      rc = decode_block_portable(p, g, t, blob, ol, fcount[t], o, s);
    if (rc) {
      int64_t expected = -1;
      if (bad_block.compare_exchange_strong(expected, t)) bad_kind = rc;
    }
  });
  if (bad_block.load() >= 0) {
    std::snprintf(err, errlen, bad_kind == 1 ? "block %lld: non-zero outlier padding"
                                             : "block %lld: a flagged group has no high bits",
                  (long long)bad_block.load());
    return -1;
  }
  return 0;
}

}  // extern "C"
