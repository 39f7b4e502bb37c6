// Native CPU implementation of the enec stream format v1 (docs/FORMAT.md).
//
// Plain C ABI, no torch or Python headers: the package builds without torch and Python loads
// this library with ctypes (which releases the GIL during each call). Every block is encoded and
// decoded independently, so blocks are split across threads. Output is byte-identical to the
// numpy reference (python/enec/reference.py); the layout constants mirror python/enec/format.py,
// which passes every section offset in, so the layout is defined once.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include <sys/mman.h>

namespace {

constexpr int64_t kBlock = 16384;   // N
constexpr int kGroupLen = 16;       // L
constexpr int kRound = 256;         // last-block lane rounding

enum DType { BF16 = 0, FP16 = 1, FP32 = 2 };

inline int64_t round_up(int64_t x, int64_t k) { return (x + k - 1) / k * k; }
inline int64_t packed_bytes(int64_t count, int width) { return count * width / 8; }
inline int raw_bits(int dt) { return dt == BF16 ? 8 : dt == FP16 ? 11 : 24; }
inline int exp_bits(int dt) { return dt == FP16 ? 5 : 8; }
inline int64_t outlier_slots(int64_t f) { return kGroupLen * round_up(f, 16); }

struct Geometry {
  int64_t numel, blocks, full;
  int64_t last_real, last_lanes;
  explicit Geometry(int64_t n) : numel(n) {
    blocks = (n + kBlock - 1) / kBlock;
    full = n / kBlock;
    last_real = blocks ? n - (blocks - 1) * kBlock : 0;
    last_lanes = blocks ? round_up(last_real, kRound) : 0;
  }
  int64_t lanes(int64_t t) const { return t < full ? kBlock : last_lanes; }
  int64_t real(int64_t t) const { return t < full ? kBlock : last_real; }
};

// ------------------------------------------------------------------ hierarchical halving packing
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

// ------------------------------------------------------------------ field split
struct Fields {
  int dt;
  // exponent, raw parts of one element
  static inline void split16(uint16_t w, int mant, int ebits, uint16_t& x, uint16_t& raw) {
    x = (uint16_t)((w >> mant) & ((1u << ebits) - 1));
    raw = (uint16_t)(((w & ((1u << mant) - 1)) << 1) | (w >> 15));
  }
  static inline uint16_t join16(uint16_t x, uint16_t raw, int mant) {
    return (uint16_t)(((raw & 1u) << 15) | ((uint32_t)x << mant) | (raw >> 1));
  }
};

struct Scratch {
  std::vector<uint16_t> a, b, c, d;
  std::vector<uint8_t> z;
  Scratch() : a(kBlock), b(kBlock), c(kBlock), d(kBlock), z(4 * kBlock) {}
};

struct Params {
  int dt, b, n, m;
  int64_t numel, raw_off, low_off, flags_off, index_off, out_off;
};

template <typename F>
void parallel_blocks(int64_t blocks, int nthreads, F fn) {
  nthreads = (int)std::max<int64_t>(1, std::min<int64_t>(nthreads, blocks));
  if (nthreads == 1) { Scratch s; for (int64_t t = 0; t < blocks; ++t) fn(t, s); return; }
  std::atomic<int64_t> next{0};
  std::vector<std::thread> pool;
  const int64_t chunk = 4;
  for (int i = 0; i < nthreads; ++i)
    pool.emplace_back([&] {
      Scratch s;
      for (;;) {
        int64_t t0 = next.fetch_add(chunk);
        if (t0 >= blocks) break;
        for (int64_t t = t0; t < std::min(blocks, t0 + chunk); ++t) fn(t, s);
      }
    });
  for (auto& th : pool) th.join();
}

int64_t raw_block_bytes(int dt, int64_t lanes) { return packed_bytes(lanes, raw_bits(dt)); }

// Load block t's exponents into x (lanes, zero padded) and pack its raw fields to out.
void load_block(const Params& p, const void* words, int64_t t, int64_t lanes, int64_t real,
                uint16_t* x, uint8_t* raw_out, Scratch& s) {
  const int64_t start = t * kBlock;
  if (p.dt == FP32) {
    const uint32_t* w = (const uint32_t*)words + start;
    uint16_t* lo = s.c.data();
    uint16_t* rhi = s.d.data();
    for (int64_t i = 0; i < real; ++i) {
      uint32_t v = w[i];
      lo[i] = (uint16_t)(v & 0xFFFF);
      Fields::split16((uint16_t)(v >> 16), 7, 8, x[i], rhi[i]);
    }
    for (int64_t i = real; i < lanes; ++i) { lo[i] = 0; rhi[i] = 0; x[i] = 0; }
    // pack(lo, 16) is the identity on little-endian u16; then pack(rhi, 8)
    std::memcpy(raw_out, lo, lanes * 2);
    uint8_t* o = raw_out + 2 * lanes;
    const int64_t h = lanes / 2;
    for (int64_t i = 0; i < h; ++i) { o[2 * i] = (uint8_t)rhi[i]; o[2 * i + 1] = (uint8_t)rhi[i + h]; }
    return;
  }
  const uint16_t* w = (const uint16_t*)words + start;
  uint16_t* raw = s.c.data();
  const int mant = p.dt == BF16 ? 7 : 10, eb = exp_bits(p.dt);
  for (int64_t i = 0; i < real; ++i) Fields::split16(w[i], mant, eb, x[i], raw[i]);
  for (int64_t i = real; i < lanes; ++i) { raw[i] = 0; x[i] = 0; }
  if (p.dt == BF16) {
    const int64_t h = lanes / 2;
    for (int64_t i = 0; i < h; ++i) { raw_out[2 * i] = (uint8_t)raw[i]; raw_out[2 * i + 1] = (uint8_t)raw[i + h]; }
  } else {
    halving_pack(raw, lanes, 11, raw_out, s.z.data());
  }
}

}  // namespace

extern "C" {

int enec_native_version() { return 1; }

// Ask for transparent huge pages on a large, not yet touched output buffer: first-touch page
// faults of 4 KiB pages otherwise cost as much as the codec itself. Best effort, no error.
void enec_advise_huge(void* p, int64_t len) {
#ifdef MADV_HUGEPAGE
  const uintptr_t huge = 2u << 20;
  uintptr_t a = ((uintptr_t)p + huge - 1) & ~(huge - 1);
  uintptr_t e = ((uintptr_t)p + (uintptr_t)len) & ~(huge - 1);
  if (e > a) madvise((void*)a, e - a, MADV_HUGEPAGE);
#else
  (void)p; (void)len;
#endif
}

// Exponent histogram (2^W counts) of numel words.
int enec_histogram(const void* words, int64_t numel, int dt, int64_t* hist, int nthreads) {
  const int W = exp_bits(dt);
  const int64_t bins = 1 << W;
  std::fill(hist, hist + bins, 0);
  const int64_t per = 1 << 20;
  const int64_t chunks = (numel + per - 1) / per;
  std::vector<std::vector<int64_t>> partial(std::max<int64_t>(chunks, 1), std::vector<int64_t>(bins, 0));
  parallel_blocks(chunks, nthreads, [&](int64_t c, Scratch&) {
    int64_t h4[4][256] = {};
    const int64_t s = c * per, e = std::min(numel, s + per);
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
      const unsigned mask = (1u << W) - 1;
      int64_t i = s;
      for (; i + 4 <= e; i += 4) {
        h4[0][(w[i] >> sh) & mask]++; h4[1][(w[i + 1] >> sh) & mask]++;
        h4[2][(w[i + 2] >> sh) & mask]++; h4[3][(w[i + 3] >> sh) & mask]++;
      }
      for (; i < e; ++i) h4[0][(w[i] >> sh) & mask]++;
    }
    for (int64_t k = 0; k < bins; ++k) partial[c][k] = h4[0][k] + h4[1][k] + h4[2][k] + h4[3][k];
  });
  for (int64_t c = 0; c < chunks; ++c)
    for (int64_t k = 0; k < bins; ++k) hist[k] += partial[c][k];
  return 0;
}

// Encode into blob (already holding the header; sized to the format's maximum). Writes the raw,
// low, flag, index and outlier sections at the given offsets; returns the outlier section's size
// in bytes (>= 0) or a negative error code.
int64_t enec_encode(const void* words, int64_t numel, int dt, int b, int n, int m,
                    int64_t raw_off, int64_t low_off, int64_t flags_off, int64_t index_off,
                    int64_t out_off, uint8_t* blob, int nthreads) {
  Params p{dt, b, n, m, numel, raw_off, low_off, flags_off, index_off, out_off};
  Geometry g(numel);
  const uint16_t nmask = (uint16_t)((1u << n) - 1), mmask = (uint16_t)((1u << m) - 1);
  const int h = n - m;
  std::vector<int64_t> fcount(g.blocks, 0);
  // phase 1: raw, low bits and flags of every block, and its flagged-group count
  parallel_blocks(g.blocks, nthreads, [&](int64_t t, Scratch& s) {
    const int64_t lanes = g.lanes(t), real = g.real(t), G = lanes / kGroupLen;
    uint16_t* y = s.a.data();
    load_block(p, words, t, lanes, real, y, blob + raw_off + t * raw_block_bytes(dt, kBlock), s);
    for (int64_t i = 0; i < real; ++i) y[i] = (uint16_t)((b - y[i]) & nmask);    // transform
    for (int64_t i = real; i < lanes; ++i) y[i] = 0;                              // padding lanes: code 0
    // flags: OR-fold the 16 members of each group (lanes j + k*G)
    uint16_t* acc = s.b.data();
    std::memcpy(acc, y, G * 2);
    for (int k = 1; k < kGroupLen; ++k) {
      const uint16_t* row = y + k * G;
      for (int64_t j = 0; j < G; ++j) acc[j] |= row[j];
    }
    uint8_t* fl = blob + flags_off + t * (kBlock / 128);
    int64_t f = 0;
    for (int64_t j8 = 0; j8 < G / 8; ++j8) {
      uint8_t byte = 0;
      for (int q = 0; q < 8; ++q) byte |= (uint8_t)(((acc[j8 * 8 + q] >> m) != 0) << q);
      fl[j8] = byte;
      f += __builtin_popcount(byte);
    }
    fcount[t] = (n > m) ? f : 0;
    // low bits
    uint16_t* low = s.b.data();
    for (int64_t i = 0; i < lanes; ++i) low[i] = (uint16_t)(y[i] & mmask);
    halving_pack(low, lanes, m, blob + low_off + t * packed_bytes(kBlock, m), s.z.data());
  });
  // exclusive scan of the outlier sizes -> index
  std::vector<int64_t> start(g.blocks + 1, 0);
  for (int64_t t = 0; t < g.blocks; ++t)
    start[t + 1] = start[t] + (h ? packed_bytes(outlier_slots(fcount[t]), h) : 0);
  for (int64_t t = 0; t < g.blocks; ++t) {
    uint64_t v = (uint64_t)start[t];
    std::memcpy(blob + index_off + 8 * t, &v, 8);
  }
  if (h == 0) return 0;
  // phase 2: outlier high bits of flagged groups, in slot order k*F + rank
  parallel_blocks(g.blocks, nthreads, [&](int64_t t, Scratch& s) {
    const int64_t f = fcount[t];
    if (f == 0) return;
    const int64_t lanes = g.lanes(t), real = g.real(t), G = lanes / kGroupLen;
    const uint8_t* fl = blob + flags_off + t * (kBlock / 128);
    int32_t* flagged = (int32_t*)s.c.data();           // scratch: up to G ints fit in 2*N bytes
    int64_t nf = 0;
    for (int64_t q = 0; q < G / 64; ++q) {             // walk the set flag bits, 64 at a time
      uint64_t bits;
      std::memcpy(&bits, fl + 8 * q, 8);
      while (bits) { flagged[nf++] = (int32_t)(64 * q + __builtin_ctzll(bits)); bits &= bits - 1; }
    }
    for (int64_t j = (G / 64) * 64; j < G; ++j) if ((fl[j >> 3] >> (j & 7)) & 1) flagged[nf++] = (int32_t)j;
    const int64_t slots = outlier_slots(f);
    uint16_t* hi = s.b.data();
    const int64_t base = t * kBlock;
    const uint16_t bb = (uint16_t)b;
    // exponent of lane i (code 0 for padding lanes: x = b), per dtype outside the loops
    auto fill = [&](auto exponent) {
      for (int k = 0; k < kGroupLen; ++k) {
        uint16_t* row = hi + k * f;
        const int64_t off = k * G;
        if (off + G <= real) {
          for (int64_t r = 0; r < f; ++r)
            row[r] = (uint16_t)(((uint16_t)(bb - exponent(base + off + flagged[r])) & nmask) >> m);
        } else {
          for (int64_t r = 0; r < f; ++r) {
            const int64_t i = off + flagged[r];
            row[r] = i < real ? (uint16_t)(((uint16_t)(bb - exponent(base + i)) & nmask) >> m) : 0;
          }
        }
      }
    };
    if (dt == FP32) fill([&](int64_t i) { return (uint16_t)((((const uint32_t*)words)[i] >> 23) & 0xFF); });
    else if (dt == BF16) fill([&](int64_t i) { return (uint16_t)((((const uint16_t*)words)[i] >> 7) & 0xFF); });
    else fill([&](int64_t i) { return (uint16_t)((((const uint16_t*)words)[i] >> 10) & 0x1F); });
    std::fill(hi + kGroupLen * f, hi + slots, 0);
    halving_pack(hi, slots, h, blob + out_off + start[t], s.z.data());
  });
  return start[g.blocks];
}

// Decode. Returns 0, or a negative code with a message in err.
// Decode blocks [t_begin, t_end) into out, which receives elements t_begin*N ... The whole
// outlier index is still checked against the flags (a cheap sequential pass).
int enec_decode(const uint8_t* blob, int64_t size, int dt, int64_t numel, int b, int n, int m,
                int64_t raw_off, int64_t low_off, int64_t flags_off, int64_t index_off, int64_t out_off,
                void* out, int nthreads, char* err, int errlen, int64_t t_begin, int64_t t_end) {
  Geometry g(numel);
  const int h = n - m, W = exp_bits(dt);
  const int64_t out_bytes = size - out_off;
  // sequential pre-pass: the flags give every block's outlier size; the index must agree
  std::vector<int64_t> start(g.blocks + 1, 0), fcount(g.blocks, 0);
  for (int64_t t = 0; t < g.blocks; ++t) {
    const int64_t G = g.lanes(t) / kGroupLen;
    const uint8_t* fl = blob + flags_off + t * (kBlock / 128);
    int64_t f = 0;
    for (int64_t q = 0; q < G / 8; ++q) f += __builtin_popcount(fl[q]);
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
  std::atomic<int64_t> bad_block{-1};
  std::atomic<int> bad_kind{0};
  const uint16_t nmask = (uint16_t)((1u << n) - 1), wmask = (uint16_t)((1u << W) - 1);
  const uint16_t signbit = (uint16_t)(1u << (n - 1));
  if (t_begin < 0 || t_end > g.blocks || t_begin > t_end) {
    std::snprintf(err, errlen, "block range [%lld, %lld) outside [0, %lld)", (long long)t_begin,
                  (long long)t_end, (long long)g.blocks);
    return -1;
  }
  parallel_blocks(t_end - t_begin, nthreads, [&](int64_t tt, Scratch& s) {
    const int64_t t = tt + t_begin;
    if (bad_block.load() >= 0) return;
    const int64_t lanes = g.lanes(t), real = g.real(t), G = lanes / kGroupLen, f = fcount[t];
    uint16_t* y = s.a.data();
    halving_unpack(blob + low_off + t * packed_bytes(kBlock, m), lanes, m, y, s.z.data());
    if (f && h) {
      const int64_t slots = outlier_slots(f);
      uint16_t* hi = s.b.data();
      halving_unpack(blob + out_off + start[t], slots, h, hi, s.z.data());
      for (int64_t q = kGroupLen * f; q < slots; ++q)
        if (hi[q]) { bad_block = t; bad_kind = 1; return; }
      const uint8_t* fl = blob + flags_off + t * (kBlock / 128);
      int64_t r = 0;
      for (int64_t j = 0; j < G; ++j) {
        if (!((fl[j >> 3] >> (j & 7)) & 1)) continue;
        uint16_t any = 0;
        for (int k = 0; k < kGroupLen; ++k) {
          const uint16_t v = hi[k * f + r];
          any |= v;
          y[k * G + j] |= (uint16_t)(v << m);
        }
        if (!any) { bad_block = t; bad_kind = 2; return; }
        ++r;
      }
    }
    // inverse transform x = (b - signext_n(y)) mod 2^W, branch-free 16-bit arithmetic
    // (sign extension as (v ^ s) - s with s the code's sign bit), so the loops vectorise
    const uint16_t bb = (uint16_t)b;
    auto inv = [=](uint16_t v) -> uint16_t {
      v = (uint16_t)(v & nmask);
      const uint16_t sv = (uint16_t)((v ^ signbit) - signbit);
      return (uint16_t)((uint16_t)(bb - sv) & wmask);
    };
    const int64_t start_el = (t - t_begin) * kBlock;
    const uint8_t* rawp = blob + raw_off + t * raw_block_bytes(dt, kBlock);
    const int64_t hh = lanes / 2;
    const int64_t r1 = std::min(real, hh);
    if (dt == FP32) {
      uint32_t* o = (uint32_t*)out + start_el;
      const uint8_t* lo = rawp;                     // identity packing of the low 16 bits
      const uint8_t* ph = rawp + 2 * lanes;
      for (int64_t i = 0; i < r1; ++i) {
        const uint32_t hiw = Fields::join16(inv(y[i]), ph[2 * i], 7);
        o[i] = (hiw << 16) | (uint32_t)(lo[2 * i] | (lo[2 * i + 1] << 8));
      }
      for (int64_t i = hh; i < real; ++i) {
        const uint32_t hiw = Fields::join16(inv(y[i]), ph[2 * (i - hh) + 1], 7);
        o[i] = (hiw << 16) | (uint32_t)(lo[2 * i] | (lo[2 * i + 1] << 8));
      }
    } else if (dt == BF16) {
      uint16_t* o = (uint16_t*)out + start_el;
      for (int64_t i = 0; i < r1; ++i) o[i] = Fields::join16(inv(y[i]), rawp[2 * i], 7);
      for (int64_t i = hh; i < real; ++i) o[i] = Fields::join16(inv(y[i]), rawp[2 * (i - hh) + 1], 7);
    } else {
      uint16_t* raw = s.c.data();
      halving_unpack(rawp, lanes, 11, raw, s.z.data());
      uint16_t* o = (uint16_t*)out + start_el;
      for (int64_t i = 0; i < real; ++i) o[i] = Fields::join16(inv(y[i]), raw[i], 10);
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
