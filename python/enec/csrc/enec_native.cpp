// Native CPU implementation of the enec stream format v1 (docs/FORMAT.md).
//
// Plain C ABI, no torch or Python headers: the package builds without torch and Python loads
// this library with ctypes (which releases the GIL during each call). Every block is encoded and
// decoded independently, so blocks are split across threads. Output is byte-identical to the
// numpy reference (python/enec/reference.py); the layout constants mirror python/enec/format.py,
// which passes every section offset in, so the layout is defined once.
//
// Two code paths produce the same bytes:
//   * portable C++ (any CPU, any dtype, short last blocks), and
//   * AVX-512 kernels for full BF16, FP16 and FP32 blocks and the histogram (x86-64 with AVX-512 BW,
//     VBMI and VBMI2), and AVX2 kernels for the same work (x86-64 with AVX2), detected at run
//     time; the library itself is built without -march so it runs everywhere.
//     enec_set_simd(level) caps the level (tests compare every level with the reference).
//
// Encode is one pass over the input: each block's raw bits, low bits and flags go straight to
// their final place in the output; its packed outliers go to a per-thread scratch and are copied
// to their final offset as soon as the outlier sizes of all earlier blocks are known (chunks are
// handed out in order and publish an inclusive prefix sum, a "decoupled look-back").
#include <algorithm>
#include <cmath>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <memory>
#include <string>
#include <thread>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <unistd.h>
#include <vector>

#include <sys/mman.h>

#if defined(__x86_64__) && defined(__GNUC__)
#define ENEC_X86 1
#include <immintrin.h>
#define ENEC_AVX512 \
  __attribute__((target("avx512f,avx512bw,avx512vl,avx512dq,avx512vbmi,avx512vbmi2,bmi,bmi2,popcnt")))
#define ENEC_AVX2 __attribute__((target("avx2,popcnt")))
#else
#define ENEC_X86 0
#endif

namespace {

constexpr int64_t kBlock = 16384;   // N
constexpr int kGroupLen = 16;       // L
constexpr int kRound = 256;         // last-block lane rounding
constexpr int64_t kGroups = kBlock / kGroupLen;
constexpr int64_t kStreamElems = 1 << 22;   // outputs of this many elements or more bypass the caches

enum DType { BF16 = 0, FP16 = 1, FP32 = 2 };

inline int64_t round_up(int64_t x, int64_t k) { return (x + k - 1) / k * k; }
inline int64_t packed_bytes(int64_t count, int width) { return count * width / 8; }
inline int raw_bits(int dt) { return dt == BF16 ? 8 : dt == FP16 ? 11 : 24; }
inline int exp_bits(int dt) { return dt == FP16 ? 5 : 8; }
inline int64_t outlier_slots(int64_t f) { return kGroupLen * round_up(f, 16); }
inline int64_t raw_block_bytes(int dt, int64_t lanes) { return packed_bytes(lanes, raw_bits(dt)); }

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

// ------------------------------------------------------------------ run-time dispatch
// Levels: 0 portable C++, 1 AVX2, 2 AVX-512 (BW, VBMI, VBMI2).
enum SimdLevel { kPortable = 0, kAVX2 = 1, kAVX512 = 2 };
int detect_simd() {
#if ENEC_X86
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
      __builtin_cpu_supports("avx512vbmi") && __builtin_cpu_supports("avx512vbmi2") &&
      __builtin_cpu_supports("bmi2") && __builtin_cpu_supports("popcnt"))
    return kAVX512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("popcnt")) return kAVX2;
  return kPortable;
#else
  return kPortable;
#endif
}
const int kDetected = detect_simd();
std::atomic<int> g_simd_cap{kAVX512};   // the highest level allowed (tests force lower ones)
inline int simd_level() { return std::min(kDetected, g_simd_cap.load(std::memory_order_relaxed)); }

// ------------------------------------------------------------------ threads
// Worker threads kept between calls: starting a std::thread per call costs tens of microseconds,
// as much as the work on a tensor of a few hundred thousand elements. run(n, fn) calls fn(0) on
// the caller and fn(1) ... fn(n-1) on workers, all at once (the encoder's threads wait for each
// other), and returns when all have returned. One call uses the workers at a time; a concurrent
// call (another Python thread) starts its own threads as before.
class WorkerPool {
 public:
  void run(int n, const std::function<void(int)>& fn) {
    if (n <= 1) { fn(0); return; }
    std::unique_lock<std::mutex> busy(run_mu_, std::try_to_lock);
    if (!busy.owns_lock()) { run_spawned(n, fn); return; }
    {
      std::lock_guard<std::mutex> lk(mu_);
      while ((int)workers_.size() < n - 1) {
        const int idx = (int)workers_.size() + 1;
        workers_.emplace_back([this, idx] { work(idx); });
      }
      job_ = &fn;
      job_n_ = n;
      pending_.store(n - 1, std::memory_order_relaxed);
      gen_.fetch_add(1, std::memory_order_release);
      if (sleepers_) cv_.notify_all();   // spinning workers see gen_ change by themselves
    }
    fn(0);
    for (int i = 0; i < kSpins && pending_.load(std::memory_order_acquire) != 0; ++i) cpu_relax();
    std::unique_lock<std::mutex> lk(mu_);
    done_cv_.wait(lk, [this] { return pending_.load(std::memory_order_relaxed) == 0; });
    job_ = nullptr;
  }

  static void run_spawned(int n, const std::function<void(int)>& fn) {
    std::vector<std::thread> threads;
    threads.reserve(n - 1);
    for (int i = 1; i < n; ++i) threads.emplace_back(fn, i);
    fn(0);
    for (auto& th : threads) th.join();
  }

  // The pool of this process. Never destroyed (idle workers simply end with the process); a
  // forked child gets a new, empty one, since the parent's workers do not exist there (the old
  // one, whose locks may have been held at the fork, is left alone).
  static WorkerPool& get() {
    static std::atomic<WorkerPool*> pool{nullptr};
    WorkerPool* p = pool.load(std::memory_order_acquire);
    while (!p || p->pid_ != getpid()) {
      WorkerPool* fresh = new WorkerPool();          // no threads yet: cheap to drop
      if (pool.compare_exchange_strong(p, fresh, std::memory_order_acq_rel)) return *fresh;
      delete fresh;                                  // another thread installed one: use it
    }
    return *p;
  }

 private:
  const pid_t pid_ = getpid();

  // A worker spins for a while (~50 us) before it sleeps: compressing tensor after tensor, the
  // next call usually comes sooner, and waking a sleeping thread (a halted vCPU in a VM) costs
  // tens of microseconds.
  void work(int idx) {
    uint64_t seen = 0;
    for (;;) {
      for (int i = 0; i < kSpins && gen_.load(std::memory_order_acquire) == seen; ++i) cpu_relax();
      std::unique_lock<std::mutex> lk(mu_);
      if (gen_.load(std::memory_order_relaxed) == seen) {
        ++sleepers_;
        cv_.wait(lk, [&] { return gen_.load(std::memory_order_relaxed) != seen; });
        --sleepers_;
      }
      seen = gen_.load(std::memory_order_relaxed);
      if (idx >= job_n_) continue;
      const std::function<void(int)>* f = job_;
      lk.unlock();
      (*f)(idx);
      lk.lock();
      if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) done_cv_.notify_one();
    }
  }

  static void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#else
    std::this_thread::yield();
#endif
  }
  static constexpr int kSpins = 4000;

  std::mutex run_mu_, mu_;
  std::condition_variable cv_, done_cv_;
  std::vector<std::thread> workers_;
  const std::function<void(int)>* job_ = nullptr;
  int job_n_ = 0, sleepers_ = 0;
  std::atomic<int> pending_{0};
  std::atomic<uint64_t> gen_{0};
};

// Items [0, count) over up to nthreads threads; each thread takes `grain` items at a time, in
// ascending order (or descending with reverse). fn(item, thread_index).
template <typename F>
void parallel_for(int64_t count, int nthreads, int64_t grain, bool reverse, F fn) {
  if (count <= 0) return;
  const int64_t pieces = (count + grain - 1) / grain;
  nthreads = (int)std::max<int64_t>(1, std::min<int64_t>(nthreads, pieces));
  auto run = [&](int ti, std::atomic<int64_t>* next) {
    for (;;) {
      const int64_t p = next->fetch_add(1);
      if (p >= pieces) break;
      const int64_t q = reverse ? pieces - 1 - p : p;
      const int64_t e = std::min(count, (q + 1) * grain);
      for (int64_t i = q * grain; i < e; ++i) fn(i, ti);
    }
  };
  std::atomic<int64_t> next{0};
  if (nthreads == 1) { run(0, &next); return; }
  WorkerPool::get().run(nthreads, [&](int ti) { run(ti, &next); });
}

// 64-byte aligned scratch
struct AlignedBuf {
  uint8_t* p = nullptr;
  explicit AlignedBuf(size_t n) { p = (uint8_t*)std::aligned_alloc(64, round_up((int64_t)n, 64)); }
  ~AlignedBuf() { std::free(p); }
  AlignedBuf(const AlignedBuf&) = delete;
  AlignedBuf& operator=(const AlignedBuf&) = delete;
};

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

// ------------------------------------------------------------------ field split
inline void split16(uint16_t w, int mant, int ebits, uint16_t& x, uint16_t& raw) {
  x = (uint16_t)((w >> mant) & ((1u << ebits) - 1));
  raw = (uint16_t)(((w & ((1u << mant) - 1)) << 1) | (w >> 15));
}
inline uint16_t join16(uint16_t x, uint16_t raw, int mant) {
  return (uint16_t)(((raw & 1u) << 15) | ((uint32_t)x << mant) | (raw >> 1));
}

// Per-thread scratch of both paths.
struct Scratch {
  std::vector<uint16_t> a, b, c, d;
  std::vector<uint8_t> z;
  AlignedBuf Y{kBlock + 128}, Z{kBlock + 128}, HI{kBlock + 128};
  // FP16's 11-bit raw field (SIMD paths): RZ holds the halving-pack bytes before they are
  // interleaved (the low bytes, then the top 3 bits packed with width 3), R3 the top 3 bits
  AlignedBuf RZ{2 * kBlock + 128}, R3{kBlock + 128};
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
  int64_t numel, raw_off, low_off, flags_off, index_off, out_off;
  const void* words;
  uint8_t* blob;
  uint8_t* raw_out(int64_t t) const { return blob + raw_off + t * raw_block_bytes(dt, kBlock); }
  uint8_t* low_out(int64_t t) const { return blob + low_off + t * packed_bytes(kBlock, m); }
  uint8_t* flags_out(int64_t t) const { return blob + flags_off + t * (kBlock / 128); }
};

// Load block t's exponents into x (lanes, zero padded) and pack its raw fields to out.
void load_block(const Ctx& p, int64_t t, int64_t lanes, int64_t real, uint16_t* x, uint8_t* raw_out,
                Scratch& s) {
  const int64_t start = t * kBlock;
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

#if ENEC_X86
// GCC 12's intrinsic headers trip -Wmaybe-uninitialized (_mm512_undefined_*) when inlined
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
// ------------------------------------------------------------------ AVX-512 kernels
// Store 64 bytes; non-temporal when nt (dst is then 32-byte aligned: the blob and output buffers
// are 64-byte aligned by native.py and every section offset and block stride is a multiple of 32).
ENEC_AVX512 inline void store64(void* dst, __m512i v, bool nt) {
  if (!nt) { _mm512_storeu_si512(dst, v); return; }
  if (((uintptr_t)dst & 63) == 0) { _mm512_stream_si512((__m512i*)dst, v); return; }
  _mm256_stream_si256((__m256i*)dst, _mm512_castsi512_si256(v));
  _mm256_stream_si256((__m256i*)dst + 1, _mm512_extracti64x4_epi64(v, 1));
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

// Hierarchical halving pack of `count` (a multiple of 256) byte lanes, each masked to W bits,
// into the count*W/8 bytes Z that the final interleave turns into the output. Works on columns:
// after all folds lane j (< count >> folds) combines lanes j + c*(count >> folds), so 32 columns
// at a time stay in registers.
template <int W>
ENEC_AVX512 void pack_w_z(const uint8_t* in, int64_t count, uint8_t* Z) {
  constexpr Sched S = make_sched(W);
  constexpr int C = 1 << S.folds;
  const int64_t Lf = count >> S.folds;
  const __m512i wmask = _mm512_set1_epi16((1 << W) - 1);
  int64_t zoff[16];
  {
    int64_t z = 0;
    for (int s = 0; s < S.n; ++s) { zoff[s] = z; if (S.kind[s] == 1) z += count >> S.fb[s]; }
  }
  for (int64_t j = 0; j < Lf; j += 32) {
    __m512i v[C];
#pragma GCC unroll 8
    for (int c = 0; c < C; ++c)
      v[c] = _mm512_and_si512(_mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i*)(in + c * Lf + j))), wmask);
#pragma GCC unroll 16
    for (int s = 0; s < S.n; ++s) {
      const int len = C >> S.fb[s];
      if (S.kind[s] == 0) {
#pragma GCC unroll 8
        for (int c = 0; c < len / 2; ++c)
          v[c] = _mm512_or_si512(v[c], _mm512_slli_epi16(v[c + len / 2], S.arg[s]));
      } else {
#pragma GCC unroll 8
        for (int c = 0; c < len; ++c) {
          _mm256_storeu_si256((__m256i*)(Z + zoff[s] + c * Lf + j), _mm512_cvtepi16_epi8(v[c]));
          v[c] = _mm512_srli_epi16(v[c], 8);
        }
      }
    }
  }
}

// The last step of every halving pack: bytes Z[i] | Z[i + H] << 8 as little-endian u16 words.
ENEC_AVX512 void interleave_halves(const uint8_t* Z, int64_t H, uint8_t* out, bool nt) {
  int64_t i = 0;
  for (; i + 32 <= H; i += 32) {
    const __m512i a = _mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i*)(Z + i)));
    const __m512i b = _mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i*)(Z + H + i)));
    store64(out + 2 * i, _mm512_or_si512(a, _mm512_slli_epi16(b, 8)), nt);
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

template <int W>
ENEC_AVX512 void pack_w(const uint8_t* in, int64_t count, uint8_t* out, uint8_t* Z, bool nt) {
  pack_w_z<W>(in, count, Z);
  interleave_halves(Z, count * W / 16, out, nt);
}

// Inverse of pack_w_z: the count*W/8 bytes Z -> count byte lanes. With kHighBytes, Z is not a
// byte array but the high bytes of the u16 words at Z (FP16's raw field keeps its width-3 part
// there: no pass that first extracts them).
template <int W, bool kHighBytes = false>
ENEC_AVX512 void unpack_w_z(const uint8_t* Z, int64_t count, uint8_t* lanes) {
  constexpr Sched S = make_sched(W);
  constexpr int C = 1 << S.folds;
  const int64_t Lf = count >> S.folds;
  int64_t zoff[16];
  {
    int64_t z = 0;
    for (int s = 0; s < S.n; ++s) { zoff[s] = z; if (S.kind[s] == 1) z += count >> S.fb[s]; }
  }
  for (int64_t j = 0; j < Lf; j += 32) {
    __m512i v[C];
#pragma GCC unroll 8
    for (int c = 0; c < C; ++c) v[c] = _mm512_setzero_si512();
#pragma GCC unroll 16
    for (int s = S.n - 1; s >= 0; --s) {
      const int len = C >> S.fb[s];
      if (S.kind[s] == 1) {
#pragma GCC unroll 8
        for (int c = 0; c < len; ++c) {
          const int64_t at = zoff[s] + c * Lf + j;
          const __m512i z = kHighBytes ? _mm512_srli_epi16(_mm512_loadu_si512(Z + 2 * at), 8)
                                       : _mm512_cvtepu8_epi16(_mm256_loadu_si256((const __m256i*)(Z + at)));
          v[c] = _mm512_or_si512(_mm512_slli_epi16(v[c], 8), z);
        }
      } else {
        const __m512i mask = _mm512_set1_epi16((1 << S.arg[s]) - 1);
#pragma GCC unroll 8
        for (int c = 0; c < len / 2; ++c) {
          v[c + len / 2] = _mm512_srli_epi16(v[c], S.arg[s]);
          v[c] = _mm512_and_si512(v[c], mask);
        }
      }
    }
#pragma GCC unroll 8
    for (int c = 0; c < C; ++c)
      _mm256_storeu_si256((__m256i*)(lanes + c * Lf + j), _mm512_cvtepi16_epi8(v[c]));
  }
}

// Inverse of pack_w: count*W/8 bytes -> count byte lanes.
template <int W>
ENEC_AVX512 void unpack_w(const uint8_t* in, int64_t count, uint8_t* lanes, uint8_t* Z) {
  deinterleave_halves(in, count * W / 16, Z);
  unpack_w_z<W>(Z, count, lanes);
}

ENEC_AVX512 void pack_bytes(int W, const uint8_t* in, int64_t count, uint8_t* out, uint8_t* Z, bool nt) {
  switch (W) {
    case 1: pack_w<1>(in, count, out, Z, nt); break;
    case 2: pack_w<2>(in, count, out, Z, nt); break;
    case 3: pack_w<3>(in, count, out, Z, nt); break;
    case 4: pack_w<4>(in, count, out, Z, nt); break;
    case 5: pack_w<5>(in, count, out, Z, nt); break;
    case 6: pack_w<6>(in, count, out, Z, nt); break;
    case 7: pack_w<7>(in, count, out, Z, nt); break;
    case 8: pack_w<8>(in, count, out, Z, nt); break;
    default: break;   // width 0: nothing to write
  }
}

ENEC_AVX512 void unpack_bytes(int W, const uint8_t* in, int64_t count, uint8_t* lanes, uint8_t* Z) {
  switch (W) {
    case 1: unpack_w<1>(in, count, lanes, Z); break;
    case 2: unpack_w<2>(in, count, lanes, Z); break;
    case 3: unpack_w<3>(in, count, lanes, Z); break;
    case 4: unpack_w<4>(in, count, lanes, Z); break;
    case 5: unpack_w<5>(in, count, lanes, Z); break;
    case 6: unpack_w<6>(in, count, lanes, Z); break;
    case 7: unpack_w<7>(in, count, lanes, Z); break;
    case 8: unpack_w<8>(in, count, lanes, Z); break;
    default: std::memset(lanes, 0, count); break;
  }
}

ENEC_AVX512 inline __m512i even_bytes_index() {
  alignas(64) uint8_t idx[64];
  for (int k = 0; k < 64; ++k) idx[k] = (uint8_t)(2 * k);
  return _mm512_load_si512(idx);
}

// Load 32 BF16 words (or the high halves of 32 FP32 words, storing their low halves to lo_out).
template <bool F32>
ENEC_AVX512 inline __m512i load_hi16(const void* words, int64_t i, uint8_t* lo_out, bool nt) {
  if (!F32) return _mm512_loadu_si512((const uint16_t*)words + i);
  const uint32_t* w = (const uint32_t*)words + i;
  const __m512i x0 = _mm512_loadu_si512(w), x1 = _mm512_loadu_si512(w + 16);
  const __m512i ev = _mm512_set_epi16(62, 60, 58, 56, 54, 52, 50, 48, 46, 44, 42, 40, 38, 36, 34, 32,
                                      30, 28, 26, 24, 22, 20, 18, 16, 14, 12, 10, 8, 6, 4, 2, 0);
  const __m512i od = _mm512_add_epi16(ev, _mm512_set1_epi16(1));
  store64(lo_out, _mm512_permutex2var_epi16(x0, ev, x1), nt);
  return _mm512_permutex2var_epi16(x0, od, x1);
}

// Store the 64 bytes v as Y[i .. i+32) (its low half) and Y[i+HB .. i+HB+32) (its high half).
ENEC_AVX512 inline void store_halves(uint8_t* Y, int64_t i, __m512i v) {
  _mm256_storeu_si256((__m256i*)(Y + i), _mm512_castsi512_si256(v));
  _mm256_storeu_si256((__m256i*)(Y + i + kBlock / 2), _mm512_extracti64x4_epi64(v, 1));
}

// The inverse of store_halves.
ENEC_AVX512 inline __m512i load_halves(const uint8_t* Y, int64_t i) {
  return _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_loadu_si256((const __m256i*)(Y + i))),
                            _mm256_loadu_si256((const __m256i*)(Y + i + kBlock / 2)), 1);
}

// One full block of BF16, FP16 or FP32 (the high half words of FP32 are BF16-like, the low
// halves are stored verbatim). Returns the packed outlier bytes written to oscr.
// The raw field of BF16 and FP32 is one byte, rotl16(w, 1) & 0xFF. FP16's is 11 bits: the same
// low byte plus the mantissa's top 3 bits ((w >> 7) & 7); its halving pack emits all the low
// bytes, then packs the top bits with width 3 (the schedule of width 11 after its first emit).
template <int DT>
ENEC_AVX512 int64_t encode_block_avx512(const Ctx& p, int64_t t, uint8_t* oscr, Scratch& s) {
  constexpr bool F32 = DT == FP32, F16 = DT == FP16;
  constexpr int esh = F16 ? 10 : 7;                 // exponent position in the (high) word
  const int b = p.b, n = p.n, m = p.m, h = n - m;
  uint8_t* Y = s.Y.p;
  uint8_t* raw = p.raw_out(t);
  uint8_t* rawb = F32 ? raw + 2 * kBlock : raw;     // the 8-bit sign+mantissa field
  const int64_t base = t * kBlock;
  const __m512i idx = even_bytes_index();
  const __m512i bv = _mm512_set1_epi8((char)b), nm = _mm512_set1_epi8((char)((1u << n) - 1));
  const __m512i seven = _mm512_set1_epi8(7);
  const __mmask64 odd = 0xAAAAAAAAAAAAAAAAull;
  constexpr int64_t HB = kBlock / 2;
  for (int64_t i = 0; i < HB; i += 32) {
    const __m512i wa = load_hi16<F32>(p.words, base + i, raw + 2 * i, p.nt);
    const __m512i wc = load_hi16<F32>(p.words, base + i + HB, raw + 2 * (i + HB), p.nt);
    // raw byte = rotl16(w, 1) & 0xFF; pack(width 8) interleaves the two halves of the block
    const __m512i ra = _mm512_shldi_epi16(wa, wa, 1), rc = _mm512_shldi_epi16(wc, wc, 1);
    if (F16) {
      store_halves(s.RZ.p, i, _mm512_permutex2var_epi8(ra, idx, rc));
      const __m512i top = _mm512_permutex2var_epi8(_mm512_srli_epi16(wa, 7), idx, _mm512_srli_epi16(wc, 7));
      store_halves(s.R3.p, i, _mm512_and_si512(top, seven));
    } else {
      store64(rawb + 2 * i, _mm512_mask_mov_epi8(ra, odd, _mm512_slli_epi16(rc, 8)), p.nt);
    }
    // exponent bytes of both halves, then y = (b - x) & nmask (FP16's sign bit above the
    // exponent drops out: n <= 5)
    const __m512i e = _mm512_permutex2var_epi8(_mm512_srli_epi16(wa, esh), idx, _mm512_srli_epi16(wc, esh));
    store_halves(Y, i, _mm512_and_si512(_mm512_sub_epi8(bv, e), nm));
  }
  if (F16) {
    pack_w_z<3>(s.R3.p, kBlock, s.RZ.p + kBlock);
    interleave_halves(s.RZ.p, kBlock * 11 / 16, raw, p.nt);
  }
  // flags: OR of the 16 members (lanes j + k*G) of each group, then test the bits above m
  uint64_t fm[kGroups / 64];
  const __m512i himask = _mm512_set1_epi8((char)(0xFF & ~((1u << m) - 1)));
  int64_t f = 0;
  uint8_t* fl = p.flags_out(t);
  for (int64_t j = 0; j < kGroups; j += 64) {
    __m512i acc = _mm512_loadu_si512(Y + j);
#pragma GCC unroll 16
    for (int k = 1; k < kGroupLen; ++k) acc = _mm512_or_si512(acc, _mm512_loadu_si512(Y + k * kGroups + j));
    const uint64_t mk = _mm512_test_epi8_mask(acc, himask);
    fm[j / 64] = mk;
    std::memcpy(fl + j / 8, &mk, 8);
    f += _mm_popcnt_u64(mk);
  }
  pack_bytes(m, Y, kBlock, p.low_out(t), s.Z.p, p.nt);
  if (p.nt) _mm_sfence();
  if (h == 0 || f == 0) return 0;
  // outliers: row k of the groups, compressed by the flags, is slots [k*f, (k+1)*f)
  uint8_t* HI = s.HI.p;
  const __m512i hm = _mm512_set1_epi8((char)(0xFF >> m));
  for (int k = 0; k < kGroupLen; ++k) {
    int64_t pos = k * f;
    for (int q = 0; q < kGroups / 64; ++q) {
      const __m512i v = _mm512_and_si512(_mm512_srli_epi16(_mm512_loadu_si512(Y + k * kGroups + 64 * q), m), hm);
      _mm512_storeu_si512(HI + pos, _mm512_maskz_compress_epi8(fm[q], v));
      pos += _mm_popcnt_u64(fm[q]);
    }
  }
  const int64_t slots = outlier_slots(f);
  std::memset(HI + kGroupLen * f, 0, slots - kGroupLen * f);
  pack_bytes(h, HI, slots, oscr, s.Z.p, false);
  return packed_bytes(slots, h);
}

template <int DT>
ENEC_AVX512 int decode_block_avx512(const Ctx& p, int64_t t, const uint8_t* blob, const uint8_t* outliers,
                                    int64_t f, void* out, Scratch& s) {
  constexpr bool F32 = DT == FP32, F16 = DT == FP16;
  const int b = p.b, n = p.n, m = p.m, h = n - m;
  uint8_t* Y = s.Y.p;
  unpack_bytes(m, blob + p.low_off + t * packed_bytes(kBlock, m), kBlock, Y, s.Z.p);
  if (f && h) {
    const int64_t slots = outlier_slots(f);
    uint8_t* HI = s.HI.p;
    unpack_bytes(h, outliers, slots, HI, s.Z.p);
    uint8_t pad = 0;
    for (int64_t q = kGroupLen * f; q < slots; ++q) pad |= HI[q];
    if (pad) return 1;
    // every flagged group has a non-zero high part
    for (int64_t r = 0; r < f; r += 64) {
      const __mmask64 valid = (f - r >= 64) ? ~0ull : ((1ull << (f - r)) - 1);
      __m512i acc = _mm512_setzero_si512();
      for (int k = 0; k < kGroupLen; ++k) acc = _mm512_or_si512(acc, _mm512_maskz_loadu_epi8(valid, HI + k * f + r));
      if (_mm512_mask_test_epi8_mask(valid, acc, acc) != valid) return 2;
    }
    const uint8_t* fl = blob + p.flags_off + t * (kBlock / 128);
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
  // x = (b - signext_n(y)) mod 256; word = rotr16((x << 8) | raw byte, 1)
  const __m512i bv = _mm512_set1_epi8((char)b), sb = _mm512_set1_epi8((char)(1u << (n - 1)));
  const __m512i lowbyte = _mm512_set1_epi16(0xFF);
  const uint8_t* raw = blob + p.raw_off + t * raw_block_bytes(p.dt, kBlock);
  const uint8_t* rawb = F32 ? raw + 2 * kBlock : raw;
  constexpr int64_t HB = kBlock / 2;
  // FP16's raw field, halving-packed with width 11, is the u16 words Z[i] | Z[i + H] << 8 (H =
  // 11N/16) of Z = the N low bytes, then the top 3 bits packed with width 3. So low byte j is
  // the even byte of word j for j < H and the odd byte of word j - H after; the width-3 part is
  // the odd bytes of words N - H .. H - 1, unpacked to R3 first.
  constexpr int64_t H11 = kBlock * 11 / 16, SPLIT = H11 - HB;
  if (F16) unpack_w_z<3, true>(raw + 2 * (kBlock - H11), kBlock, s.R3.p);
  for (int64_t i = 0; i < HB; i += 32) {
    const __m512i y = load_halves(Y, i);
    __m512i x = _mm512_sub_epi8(bv, _mm512_sub_epi8(_mm512_xor_si512(y, sb), sb));
    __m512i va, vc;
    if (F16) {
      // high byte of the rotated word: x (mod 32) above the 3 top raw bits
      x = _mm512_ternarylogic_epi32(_mm512_slli_epi16(x, 3), _mm512_set1_epi8((char)0xF8), load_halves(s.R3.p, i),
                                    0xEA);   // (x<<3 & f8) | top
      const __m512i xa = _mm512_cvtepu8_epi16(_mm512_castsi512_si256(x));
      const __m512i xc = _mm512_cvtepu8_epi16(_mm512_extracti64x4_epi64(x, 1));
      va = _mm512_ternarylogic_epi32(_mm512_loadu_si512(raw + 2 * i), lowbyte, _mm512_slli_epi16(xa, 8), 0xEA);
      if (i < SPLIT)         // low bytes i + HB < H: even bytes of words i + HB
        vc = _mm512_ternarylogic_epi32(_mm512_loadu_si512(raw + 2 * (i + HB)), lowbyte, _mm512_slli_epi16(xc, 8), 0xEA);
      else                   // odd bytes of words i + HB - H
        vc = _mm512_shldi_epi16(xc, _mm512_loadu_si512(raw + 2 * (i - SPLIT)), 8);
    } else {
      const __m512i xa = _mm512_cvtepu8_epi16(_mm512_castsi512_si256(x));
      const __m512i xc = _mm512_cvtepu8_epi16(_mm512_extracti64x4_epi64(x, 1));
      const __m512i r = _mm512_loadu_si512(rawb + 2 * i);
      va = _mm512_ternarylogic_epi32(r, lowbyte, _mm512_slli_epi16(xa, 8), 0xEA);   // (r & ff) | xa<<8
      vc = _mm512_shldi_epi16(xc, r, 8);                                             // xc<<8 | r>>8
    }
    const __m512i oa = _mm512_shrdi_epi16(va, va, 1), oc = _mm512_shrdi_epi16(vc, vc, 1);
    if (!F32) {
      uint16_t* o = (uint16_t*)out;
      store64(o + i, oa, p.nt);
      store64(o + i + HB, oc, p.nt);
    } else {
      uint32_t* o = (uint32_t*)out;
      const __m512i lo_a = _mm512_loadu_si512(raw + 2 * i), lo_c = _mm512_loadu_si512(raw + 2 * (i + HB));
      const __m512i il0 = _mm512_set_epi16(47, 15, 46, 14, 45, 13, 44, 12, 43, 11, 42, 10, 41, 9, 40, 8,
                                           39, 7, 38, 6, 37, 5, 36, 4, 35, 3, 34, 2, 33, 1, 32, 0);
      const __m512i il1 = _mm512_add_epi16(il0, _mm512_set1_epi16(16));
      store64(o + i, _mm512_permutex2var_epi16(lo_a, il0, oa), p.nt);
      store64(o + i + 16, _mm512_permutex2var_epi16(lo_a, il1, oa), p.nt);
      store64(o + i + HB, _mm512_permutex2var_epi16(lo_c, il0, oc), p.nt);
      store64(o + i + HB + 16, _mm512_permutex2var_epi16(lo_c, il1, oc), p.nt);
    }
  }
  if (p.nt) _mm_sfence();
  return 0;
}

// Exponent histogram of words [s, e): 15 consecutive exponents [lo, lo+15) and one more (z) are
// counted with byte compares (64 elements at a time); any other exponent goes to a scalar count.
ENEC_AVX512 void histogram_avx512(const void* words, int64_t s, int64_t e, int dt, int lo, int z,
                                  int64_t* hist) {
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
        const __m512i p01 = _mm512_permutex2var_epi8(_mm512_srli_epi32(_mm512_loadu_si512(w), 23), idx4,
                                                     _mm512_srli_epi32(_mm512_loadu_si512(w + 16), 23));
        const __m512i p23 = _mm512_permutex2var_epi8(_mm512_srli_epi32(_mm512_loadu_si512(w + 32), 23), idx4,
                                                     _mm512_srli_epi32(_mm512_loadu_si512(w + 48), 23));
        x = _mm512_inserti64x4(p01, _mm512_castsi512_si256(p23), 1);
      } else {
        const uint16_t* w = (const uint16_t*)words + i;
        const int sh = dt == BF16 ? 7 : 10;
        x = _mm512_permutex2var_epi8(_mm512_srli_epi16(_mm512_loadu_si512(w), sh), idx,
                                     _mm512_srli_epi16(_mm512_loadu_si512(w + 32), sh));
        if (dt == FP16) x = _mm512_and_si512(x, fp16mask);
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
// ------------------------------------------------------------------ AVX2 kernels
// The same algorithms as the AVX-512 kernels for CPUs with AVX2 only (e.g. AMD Zen 1-3, most
// client CPUs). Byte compress/expand of the outliers use pshufb with a 256-entry table instead of
// vpcompressb/vpexpandb (BMI2 pext would do too, but it is microcoded and slow on Zen 1/2).
ENEC_AVX2 inline void store32(void* dst, __m256i v, bool nt) {
  if (nt && ((uintptr_t)dst & 31) == 0) _mm256_stream_si256((__m256i*)dst, v);
  else _mm256_storeu_si256((__m256i*)dst, v);
}

// 32 lanes of 16 bits in two registers (lanes 0-15 in a, 16-31 in b)
struct V2 { __m256i a, b; };
ENEC_AVX2 inline V2 v2_load_bytes(const uint8_t* p) {
  const __m256i x = _mm256_loadu_si256((const __m256i*)p);
  return {_mm256_cvtepu8_epi16(_mm256_castsi256_si128(x)), _mm256_cvtepu8_epi16(_mm256_extracti128_si256(x, 1))};
}
// the low byte of each of the 32 lanes (the lanes are already < 256 when ff is false)
ENEC_AVX2 inline __m256i v2_low_bytes(V2 v) {
  const __m256i ff = _mm256_set1_epi16(0xFF);
  const __m256i r = _mm256_packus_epi16(_mm256_and_si256(v.a, ff), _mm256_and_si256(v.b, ff));
  return _mm256_permute4x64_epi64(r, 0xD8);   // packus works per 128-bit half: restore lane order
}
ENEC_AVX2 inline V2 v2_or(V2 x, V2 y) { return {_mm256_or_si256(x.a, y.a), _mm256_or_si256(x.b, y.b)}; }
ENEC_AVX2 inline V2 v2_and(V2 x, __m256i k) { return {_mm256_and_si256(x.a, k), _mm256_and_si256(x.b, k)}; }
ENEC_AVX2 inline V2 v2_sll(V2 x, int s) { return {_mm256_slli_epi16(x.a, s), _mm256_slli_epi16(x.b, s)}; }
ENEC_AVX2 inline V2 v2_srl(V2 x, int s) { return {_mm256_srli_epi16(x.a, s), _mm256_srli_epi16(x.b, s)}; }

template <int W>
ENEC_AVX2 void pack_w_z_avx2(const uint8_t* in, int64_t count, uint8_t* Z) {
  constexpr Sched S = make_sched(W);
  constexpr int C = 1 << S.folds;
  const int64_t Lf = count >> S.folds;     // a multiple of 32 (count is a multiple of 256)
  const __m256i wmask = _mm256_set1_epi16((1 << W) - 1);
  int64_t zoff[16];
  {
    int64_t z = 0;
    for (int s = 0; s < S.n; ++s) { zoff[s] = z; if (S.kind[s] == 1) z += count >> S.fb[s]; }
  }
  for (int64_t j = 0; j < Lf; j += 32) {
    V2 v[C];
#pragma GCC unroll 8
    for (int c = 0; c < C; ++c) v[c] = v2_and(v2_load_bytes(in + c * Lf + j), wmask);
#pragma GCC unroll 16
    for (int s = 0; s < S.n; ++s) {
      const int len = C >> S.fb[s];
      if (S.kind[s] == 0) {
#pragma GCC unroll 8
        for (int c = 0; c < len / 2; ++c) v[c] = v2_or(v[c], v2_sll(v[c + len / 2], S.arg[s]));
      } else {
#pragma GCC unroll 8
        for (int c = 0; c < len; ++c) {
          _mm256_storeu_si256((__m256i*)(Z + zoff[s] + c * Lf + j), v2_low_bytes(v[c]));
          v[c] = v2_srl(v[c], 8);
        }
      }
    }
  }
}

// bytes Z[i] | Z[i + H] << 8 as little-endian u16 words: interleave the two halves of Z
ENEC_AVX2 void interleave_halves_avx2(const uint8_t* Z, int64_t H, uint8_t* out, bool nt) {
  int64_t i = 0;
  for (; i + 32 <= H; i += 32) {
    const __m256i a = _mm256_loadu_si256((const __m256i*)(Z + i));
    const __m256i b = _mm256_loadu_si256((const __m256i*)(Z + H + i));
    const __m256i lo = _mm256_unpacklo_epi8(a, b), hi = _mm256_unpackhi_epi8(a, b);
    store32(out + 2 * i, _mm256_permute2x128_si256(lo, hi, 0x20), nt);
    store32(out + 2 * i + 32, _mm256_permute2x128_si256(lo, hi, 0x31), nt);
  }
  for (; i < H; ++i) { out[2 * i] = Z[i]; out[2 * i + 1] = Z[i + H]; }
}

ENEC_AVX2 void deinterleave_halves_avx2(const uint8_t* in, int64_t H, uint8_t* Z) {
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

template <int W>
ENEC_AVX2 void pack_w_avx2(const uint8_t* in, int64_t count, uint8_t* out, uint8_t* Z, bool nt) {
  pack_w_z_avx2<W>(in, count, Z);
  interleave_halves_avx2(Z, count * W / 16, out, nt);
}

// As unpack_w_z (kHighBytes: Z holds u16 words whose high bytes are the packed bytes).
template <int W, bool kHighBytes = false>
ENEC_AVX2 void unpack_w_z_avx2(const uint8_t* Z, int64_t count, uint8_t* lanes) {
  constexpr Sched S = make_sched(W);
  constexpr int C = 1 << S.folds;
  const int64_t Lf = count >> S.folds;
  int64_t zoff[16];
  {
    int64_t z = 0;
    for (int s = 0; s < S.n; ++s) { zoff[s] = z; if (S.kind[s] == 1) z += count >> S.fb[s]; }
  }
  for (int64_t j = 0; j < Lf; j += 32) {
    V2 v[C];
#pragma GCC unroll 8
    for (int c = 0; c < C; ++c) v[c] = {_mm256_setzero_si256(), _mm256_setzero_si256()};
#pragma GCC unroll 16
    for (int s = S.n - 1; s >= 0; --s) {
      const int len = C >> S.fb[s];
      if (S.kind[s] == 1) {
#pragma GCC unroll 8
        for (int c = 0; c < len; ++c) {
          const int64_t at = zoff[s] + c * Lf + j;
          const V2 z = kHighBytes
              ? V2{_mm256_srli_epi16(_mm256_loadu_si256((const __m256i*)(Z + 2 * at)), 8),
                   _mm256_srli_epi16(_mm256_loadu_si256((const __m256i*)(Z + 2 * at + 32)), 8)}
              : v2_load_bytes(Z + at);
          v[c] = v2_or(v2_sll(v[c], 8), z);
        }
      } else {
        const __m256i mask = _mm256_set1_epi16((1 << S.arg[s]) - 1);
#pragma GCC unroll 8
        for (int c = 0; c < len / 2; ++c) {
          v[c + len / 2] = v2_srl(v[c], S.arg[s]);
          v[c] = v2_and(v[c], mask);
        }
      }
    }
#pragma GCC unroll 8
    for (int c = 0; c < C; ++c) _mm256_storeu_si256((__m256i*)(lanes + c * Lf + j), v2_low_bytes(v[c]));
  }
}

template <int W>
ENEC_AVX2 void unpack_w_avx2(const uint8_t* in, int64_t count, uint8_t* lanes, uint8_t* Z) {
  deinterleave_halves_avx2(in, count * W / 16, Z);
  unpack_w_z_avx2<W>(Z, count, lanes);
}

ENEC_AVX2 void pack_bytes_avx2(int W, const uint8_t* in, int64_t count, uint8_t* out, uint8_t* Z, bool nt) {
  switch (W) {
    case 1: pack_w_avx2<1>(in, count, out, Z, nt); break;
    case 2: pack_w_avx2<2>(in, count, out, Z, nt); break;
    case 3: pack_w_avx2<3>(in, count, out, Z, nt); break;
    case 4: pack_w_avx2<4>(in, count, out, Z, nt); break;
    case 5: pack_w_avx2<5>(in, count, out, Z, nt); break;
    case 6: pack_w_avx2<6>(in, count, out, Z, nt); break;
    case 7: pack_w_avx2<7>(in, count, out, Z, nt); break;
    case 8: pack_w_avx2<8>(in, count, out, Z, nt); break;
    default: break;
  }
}

ENEC_AVX2 void unpack_bytes_avx2(int W, const uint8_t* in, int64_t count, uint8_t* lanes, uint8_t* Z) {
  switch (W) {
    case 1: unpack_w_avx2<1>(in, count, lanes, Z); break;
    case 2: unpack_w_avx2<2>(in, count, lanes, Z); break;
    case 3: unpack_w_avx2<3>(in, count, lanes, Z); break;
    case 4: unpack_w_avx2<4>(in, count, lanes, Z); break;
    case 5: unpack_w_avx2<5>(in, count, lanes, Z); break;
    case 6: unpack_w_avx2<6>(in, count, lanes, Z); break;
    case 7: unpack_w_avx2<7>(in, count, lanes, Z); break;
    case 8: unpack_w_avx2<8>(in, count, lanes, Z); break;
    default: std::memset(lanes, 0, count); break;
  }
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

template <bool F32>
ENEC_AVX2 inline __m256i load_hi16_avx2(const void* words, int64_t i, uint8_t* lo_out, bool nt) {
  if (!F32) return _mm256_loadu_si256((const __m256i*)((const uint16_t*)words + i));
  const uint32_t* w = (const uint32_t*)words + i;
  const __m256i x0 = _mm256_loadu_si256((const __m256i*)w), x1 = _mm256_loadu_si256((const __m256i*)(w + 8));
  const __m256i lm = _mm256_set1_epi32(0xFFFF);
  const __m256i lo = _mm256_packus_epi32(_mm256_and_si256(x0, lm), _mm256_and_si256(x1, lm));
  const __m256i hi = _mm256_packus_epi32(_mm256_srli_epi32(x0, 16), _mm256_srli_epi32(x1, 16));
  store32(lo_out, _mm256_permute4x64_epi64(lo, 0xD8), nt);
  return _mm256_permute4x64_epi64(hi, 0xD8);
}

// The low bytes of the 16 words a, then of the 16 words c (words already < 256 need no mask).
ENEC_AVX2 inline __m256i pack_words_avx2(__m256i a, __m256i c) {
  return _mm256_permute4x64_epi64(_mm256_packus_epi16(a, c), 0xD8);
}
// Store the 32 bytes v as Y[i .. i+16) (its low half) and Y[i+HB .. i+HB+16) (its high half).
ENEC_AVX2 inline void store_halves_avx2(uint8_t* Y, int64_t i, __m256i v) {
  _mm_storeu_si128((__m128i*)(Y + i), _mm256_castsi256_si128(v));
  _mm_storeu_si128((__m128i*)(Y + i + kBlock / 2), _mm256_extracti128_si256(v, 1));
}
ENEC_AVX2 inline __m256i load_halves_avx2(const uint8_t* Y, int64_t i) {
  return _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_loadu_si128((const __m128i*)(Y + i))),
                                 _mm_loadu_si128((const __m128i*)(Y + i + kBlock / 2)), 1);
}

// As encode_block_avx512 (FP16's raw field: see there).
template <int DT>
ENEC_AVX2 int64_t encode_block_avx2(const Ctx& p, int64_t t, uint8_t* oscr, Scratch& s) {
  constexpr bool F32 = DT == FP32, F16 = DT == FP16;
  constexpr int esh = F16 ? 10 : 7;
  const int b = p.b, n = p.n, m = p.m, h = n - m;
  uint8_t* Y = s.Y.p;
  uint8_t* raw = p.raw_out(t);
  uint8_t* rawb = F32 ? raw + 2 * kBlock : raw;
  const int64_t base = t * kBlock;
  const __m256i bv = _mm256_set1_epi8((char)b), nm = _mm256_set1_epi8((char)((1u << n) - 1));
  const __m256i ff = _mm256_set1_epi16(0xFF), seven = _mm256_set1_epi16(7);
  constexpr int64_t HB = kBlock / 2;
  for (int64_t i = 0; i < HB; i += 16) {
    const __m256i wa = load_hi16_avx2<F32>(p.words, base + i, raw + 2 * i, p.nt);
    const __m256i wc = load_hi16_avx2<F32>(p.words, base + i + HB, raw + 2 * (i + HB), p.nt);
    // raw byte = rotl16(w, 1) & 0xFF; pack(width 8) interleaves the two halves of the block
    const __m256i ra = _mm256_or_si256(_mm256_slli_epi16(wa, 1), _mm256_srli_epi16(wa, 15));
    if (F16) {
      const __m256i rc = _mm256_or_si256(_mm256_slli_epi16(wc, 1), _mm256_srli_epi16(wc, 15));
      store_halves_avx2(s.RZ.p, i, pack_words_avx2(_mm256_and_si256(ra, ff), _mm256_and_si256(rc, ff)));
      store_halves_avx2(s.R3.p, i, pack_words_avx2(_mm256_and_si256(_mm256_srli_epi16(wa, 7), seven),
                                                   _mm256_and_si256(_mm256_srli_epi16(wc, 7), seven)));
    } else {
      const __m256i rc = _mm256_or_si256(_mm256_slli_epi16(wc, 9), _mm256_slli_epi16(_mm256_srli_epi16(wc, 15), 8));
      store32(rawb + 2 * i, _mm256_or_si256(_mm256_and_si256(ra, ff), rc), p.nt);
    }
    const __m256i ea = _mm256_and_si256(_mm256_srli_epi16(wa, esh), ff), ec = _mm256_and_si256(_mm256_srli_epi16(wc, esh), ff);
    store_halves_avx2(Y, i, _mm256_and_si256(_mm256_sub_epi8(bv, pack_words_avx2(ea, ec)), nm));
  }
  if (F16) {
    pack_w_z_avx2<3>(s.R3.p, kBlock, s.RZ.p + kBlock);
    interleave_halves_avx2(s.RZ.p, kBlock * 11 / 16, raw, p.nt);
  }
  const __m256i himask = _mm256_set1_epi8((char)(0xFF & ~((1u << m) - 1)));
  const __m256i zero = _mm256_setzero_si256();
  int64_t f = 0;
  uint8_t* fl = p.flags_out(t);
  for (int64_t j = 0; j < kGroups; j += 32) {
    __m256i acc = _mm256_loadu_si256((const __m256i*)(Y + j));
#pragma GCC unroll 16
    for (int k = 1; k < kGroupLen; ++k) acc = _mm256_or_si256(acc, _mm256_loadu_si256((const __m256i*)(Y + k * kGroups + j)));
    const uint32_t mk = ~(uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(_mm256_and_si256(acc, himask), zero));
    std::memcpy(fl + j / 8, &mk, 4);
    f += _mm_popcnt_u32(mk);
  }
  pack_bytes_avx2(m, Y, kBlock, p.low_out(t), s.Z.p, p.nt);
  if (p.nt) _mm_sfence();
  if (h == 0 || f == 0) return 0;
  // outliers: row k of the groups, compacted by the flags, is slots [k*f, (k+1)*f). Eight
  // groups (one flag byte) at a time, all 16 rows under the same shuffle: the rows share the
  // flags, so one table lookup and one branch serve 16 stores. Each store writes 8 bytes of
  // which popcount are kept; the slack lands in the row's own later slots (overwritten next),
  // except near the row's end, where it would clobber the next row's start: those last flag
  // bytes go through a staging buffer.
  uint8_t* HI = s.HI.p;
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
  const int64_t slots = outlier_slots(f);
  std::memset(HI + kGroupLen * f, 0, slots - kGroupLen * f);
  pack_bytes_avx2(h, HI, slots, oscr, s.Z.p, false);
  return packed_bytes(slots, h);
}

template <int DT>
ENEC_AVX2 int decode_block_avx2(const Ctx& p, int64_t t, const uint8_t* blob, const uint8_t* outliers,
                                int64_t f, void* out, Scratch& s) {
  constexpr bool F32 = DT == FP32, F16 = DT == FP16;
  const int b = p.b, n = p.n, m = p.m, h = n - m;
  uint8_t* Y = s.Y.p;
  unpack_bytes_avx2(m, blob + p.low_off + t * packed_bytes(kBlock, m), kBlock, Y, s.Z.p);
  if (f && h) {
    const int64_t slots = outlier_slots(f);
    uint8_t* HI = s.HI.p;
    unpack_bytes_avx2(h, outliers, slots, HI, s.Z.p);
    uint8_t pad = 0;
    for (int64_t q = kGroupLen * f; q < slots; ++q) pad |= HI[q];
    if (pad) return 1;
    // every flagged group has a non-zero high part: OR its 16 slots (r, r+f, ..., r+15f)
    const __m256i zero = _mm256_setzero_si256();
    for (int64_t r = 0; r < f; r += 32) {
      __m256i acc = zero;
      for (int k = 0; k < kGroupLen; ++k)     // reads up to 31 bytes past slot 16f: HI has slack
        acc = _mm256_or_si256(acc, _mm256_loadu_si256((const __m256i*)(HI + k * f + r)));
      uint32_t zmask = (uint32_t)_mm256_movemask_epi8(_mm256_cmpeq_epi8(acc, zero));
      if (f - r < 32) zmask &= (1u << (f - r)) - 1;
      if (zmask) return 2;
    }
    const uint8_t* fl = blob + p.flags_off + t * (kBlock / 128);
    // (e << m) & sm: the high parts have n - m bits, so no bit crosses into the next byte's
    // kept bits; sm clears what a 64-bit shift carries into the low m bits of the next byte
    const uint64_t sm = 0x0101010101010101ull * (uint64_t)(0xFF & (0xFF << m));
    // one flag byte (8 groups) at a time for all 16 rows, as in the encoder; the 8-byte loads
    // may read past a row's end (into the next row or HI's slack): expand zeroes those lanes
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
  // x = (b - signext_n(y)) mod 256; word = rotr16((x << 8) | raw byte, 1)
  const __m256i bv = _mm256_set1_epi8((char)b), sb = _mm256_set1_epi8((char)(1u << (n - 1)));
  const __m256i ff = _mm256_set1_epi16(0xFF);
  const uint8_t* raw = blob + p.raw_off + t * raw_block_bytes(p.dt, kBlock);
  const uint8_t* rawb = F32 ? raw + 2 * kBlock : raw;
  constexpr int64_t HB = kBlock / 2;
  // FP16's raw field: as in decode_block_avx512
  constexpr int64_t H11 = kBlock * 11 / 16, SPLIT = H11 - HB;
  if (F16) unpack_w_z_avx2<3, true>(raw + 2 * (kBlock - H11), kBlock, s.R3.p);
  const __m256i f8 = _mm256_set1_epi8((char)0xF8);
  for (int64_t i = 0; i < HB; i += 16) {
    const __m256i y = load_halves_avx2(Y, i);
    __m256i x = _mm256_sub_epi8(bv, _mm256_sub_epi8(_mm256_xor_si256(y, sb), sb));
    __m256i va, vc;
    if (F16) {
      // high byte of the rotated word: x (mod 32) above the 3 top raw bits
      x = _mm256_or_si256(_mm256_and_si256(_mm256_slli_epi16(x, 3), f8), load_halves_avx2(s.R3.p, i));
      const __m256i xa = _mm256_cvtepu8_epi16(_mm256_castsi256_si128(x));
      const __m256i xc = _mm256_cvtepu8_epi16(_mm256_extracti128_si256(x, 1));
      va = _mm256_or_si256(_mm256_and_si256(_mm256_loadu_si256((const __m256i*)(raw + 2 * i)), ff),
                           _mm256_slli_epi16(xa, 8));
      const __m256i lc = i < SPLIT ? _mm256_and_si256(_mm256_loadu_si256((const __m256i*)(raw + 2 * (i + HB))), ff)
                                   : _mm256_srli_epi16(_mm256_loadu_si256((const __m256i*)(raw + 2 * (i - SPLIT))), 8);
      vc = _mm256_or_si256(lc, _mm256_slli_epi16(xc, 8));
    } else {
      const __m256i xa = _mm256_cvtepu8_epi16(_mm256_castsi256_si128(x));
      const __m256i xc = _mm256_cvtepu8_epi16(_mm256_extracti128_si256(x, 1));
      const __m256i r = _mm256_loadu_si256((const __m256i*)(rawb + 2 * i));
      va = _mm256_or_si256(_mm256_and_si256(r, ff), _mm256_slli_epi16(xa, 8));
      vc = _mm256_or_si256(_mm256_srli_epi16(r, 8), _mm256_slli_epi16(xc, 8));
    }
    const __m256i oa = _mm256_or_si256(_mm256_srli_epi16(va, 1), _mm256_slli_epi16(va, 15));
    const __m256i oc = _mm256_or_si256(_mm256_srli_epi16(vc, 1), _mm256_slli_epi16(vc, 15));
    if (!F32) {
      uint16_t* o = (uint16_t*)out;
      store32(o + i, oa, p.nt);
      store32(o + i + HB, oc, p.nt);
    } else {
      uint32_t* o = (uint32_t*)out;
      const __m256i lo_a = _mm256_loadu_si256((const __m256i*)(raw + 2 * i));
      const __m256i lo_c = _mm256_loadu_si256((const __m256i*)(raw + 2 * (i + HB)));
      const __m256i la = _mm256_unpacklo_epi16(lo_a, oa), ha = _mm256_unpackhi_epi16(lo_a, oa);
      const __m256i lc = _mm256_unpacklo_epi16(lo_c, oc), hc = _mm256_unpackhi_epi16(lo_c, oc);
      store32(o + i, _mm256_permute2x128_si256(la, ha, 0x20), p.nt);
      store32(o + i + 8, _mm256_permute2x128_si256(la, ha, 0x31), p.nt);
      store32(o + i + HB, _mm256_permute2x128_si256(lc, hc, 0x20), p.nt);
      store32(o + i + HB + 8, _mm256_permute2x128_si256(lc, hc, 0x31), p.nt);
    }
  }
  if (p.nt) _mm_sfence();
  return 0;
}

// Exponent histogram of a 15-value window [lo, lo+15) and one more value z, 32 elements at a
// time; other exponents are counted one by one. Each element becomes a 4-bit index (0 for z,
// 1 + x - lo inside the window, bit 7 set otherwise) and eight pshufb lookups turn it into
// nibble increments: plane p's bytes count index 2p in the low nibble and 2p + 1 in the high one
// (one lookup and one byte add per two bins, where compare-and-subtract costs two ops per bin).
// Nibbles hold 15, so every 15 vectors the planes are flushed into 64-bit sums. AVX2 has 16
// vector registers: each run of 15 vectors is swept twice, planes 0-3 while the indices are
// computed (and staged in L1), then planes 4-7 from the staged indices.
ENEC_AVX2 inline __m256i exponent_bytes_avx2(const void* words, int64_t i, int dt) {
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
ENEC_AVX2 inline void histogram_flush_avx2(const __m256i* acc, uint64_t (*sums)[4]) {
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

ENEC_AVX2 void histogram_avx2(const void* words, int64_t s, int64_t e, int dt, int lo, int z, int64_t* hist) {
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
      const __m256i x = exponent_bytes_avx2(words, i, dt);
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
    histogram_flush_avx2(acc, &sums[0]);
    for (int p = 0; p < P / 2; ++p) { acc[p] = zero; tab[p] = _mm256_load_si256((const __m256i*)lut[P / 2 + p]); }
    for (int64_t v = 0; v < nv; ++v) {
      const __m256i idx = _mm256_load_si256((const __m256i*)(staged + 32 * v));
#pragma GCC unroll 4
      for (int p = 0; p < P / 2; ++p) acc[p] = _mm256_add_epi8(acc[p], _mm256_shuffle_epi8(tab[p], idx));
    }
    histogram_flush_avx2(acc, &sums[P]);
  }
  // index 0 is z, index k >= 1 is lo + k - 1
  hist[z] += (int64_t)(sums[0][0] + sums[0][1] + sums[0][2] + sums[0][3]);
  for (int k = 1; k < 2 * P; ++k) hist[lo + k - 1] += (int64_t)(sums[k][0] + sums[k][1] + sums[k][2] + sums[k][3]);
  if (i < e) histogram_portable(words, i, e, dt, hist);
}
#pragma GCC diagnostic pop
#endif  // ENEC_X86

}  // namespace

extern "C" {

int enec_native_version() { return 2; }

// The kernels in use: 0 portable C++, 1 AVX2, 2 AVX-512.
int enec_simd_level() { return simd_level(); }

// The kernels the CPU has, whatever enec_set_simd says.
int enec_simd_detected() { return kDetected; }

// Cap the kernel level (for tests: every level writes the same bytes): 0 forces the portable
// code, 1 at most AVX2, 2 (or more) whatever the CPU supports.
void enec_set_simd(int max_level) { g_simd_cap.store(std::max(0, std::min(max_level, (int)kAVX512))); }

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
  parallel_for(chunks, nthreads, 1, true, [&](int64_t c, int ti) {
    const int64_t s = c * per, e = std::min(numel, s + per);
#if ENEC_X86
    if (level == kAVX512) { histogram_avx512(words, s, e, dt, lo, z, partial[ti].data()); return; }
    if (level == kAVX2) { histogram_avx2(words, s, e, dt, lo, z, partial[ti].data()); return; }
#endif
    histogram_portable(words, s, e, dt, partial[ti].data());
  });
  for (auto& p : partial)
    for (int64_t k = 0; k < bins; ++k) hist[k] += p[k];
  return 0;
}

// Parameter choice, the same search as python/enec/params.py (the spec; the tests compare the
// two on many histograms): for every pivot b the smallest lossless n, then the m minimising
// m + (n - m)(1 - p_m^16); ties go to the smaller n, then b, then m. The floating-point steps are
// the ones numpy does (exact integer sums, one division, four squarings), so the costs are equal.
void enec_choose_params(const int64_t* hist, int dt, int* out) {
  const int W = exp_bits(dt), size = 1 << W;
  int present = 0, first = -1;
  int64_t total_i = 0;
  for (int x = 0; x < size; ++x)
    if (hist[x]) { ++present; if (first < 0) first = x; total_i += hist[x]; }
  if (present == 0) { out[0] = 0; out[1] = 1; out[2] = 0; return; }
  if (present == 1) { out[0] = first; out[1] = 1; out[2] = 0; return; }
  const double total = (double)total_i;
  double best = 0;
  int bb = -1, bn = 0, bm = 0;
  // Circular prefix sums of the histogram: the mass of any run of exponents in O(1). For pivot b
  // the signed distance s = b - x (mod 2^W) of every exponent of a lossless n lies in
  // [-2^(n-1), 2^(n-1)), where the code is y = s mod 2^n: bit length k (1 <= k < n) for s in
  // [2^(k-1), 2^k), n for s < 0, 0 for s = 0. So n and the counts per code length are sums
  // over runs of s, the same exact integers as visiting every exponent.
  int64_t cum[2 * 256 + 1];
  cum[0] = 0;
  for (int i = 0; i < 2 * size; ++i) cum[i + 1] = cum[i] + hist[i & (size - 1)];
  int mode = 0;
  for (int x = 1; x < size; ++x) if (hist[x] > hist[mode]) mode = x;
  // the mass of the exponents x = b - s for s in [s_lo, s_hi] (mod 2^W)
  auto run_mass = [&](int b, int s_lo, int s_hi) -> int64_t {
    const int a = (b - s_hi) & (size - 1);
    return cum[a + (s_hi - s_lo + 1)] - cum[a];
  };
  // The pivot at the most common exponent first: its cost is near the optimum, so for every other
  // pivot the m loop stops early (cost >= m). The order does not change the answer: ties are
  // broken explicitly by (cost, n, b, m), the order in which params.py ranks them.
  for (int bi = 0; bi <= size; ++bi) {
    const int b = bi == 0 ? mode : bi - 1;
    if (bi > 0 && b == mode) continue;
    int n = 1;
    while (n < W && run_mass(b, -(1 << (n - 1)), (1 << (n - 1)) - 1) != total_i) ++n;
    int64_t by_len[17] = {};
    by_len[0] = hist[b];
    for (int k = 1; k < n; ++k) by_len[k] = run_mass(b, 1 << (k - 1), (1 << k) - 1);
    by_len[n] = run_mass(b, -(1 << (n - 1)), -1);
    int64_t below = 0;
    for (int m = 0; m <= n; ++m) {              // m > n costs infinity in the spec
      // cost >= m: once m exceeds the best cost, no larger m can win or tie
      if (bb >= 0 && (double)m > best) break;
      below += by_len[m];
      const double pr = (double)below / total;
      // p^16 by four squarings, exactly as params.py (pow() may differ in the last bit)
      const double p2 = pr * pr, p4 = p2 * p2, p8 = p4 * p4;
      // volatile: every product rounded on its own as in numpy, never fused into an FMA
      // (-ffp-contract=fast, the GCC default, would fuse with -march flags that have FMA)
      volatile double p16 = p8 * p8, spread = (double)(n - m) * (1.0 - p16);
      const double cost = (double)m + spread;
      if (bb < 0 || cost < best ||
          (cost == best && (n < bn || (n == bn && (b < bb || (b == bb && m < bm)))))) {
        best = cost; bb = b; bn = n; bm = m;
      }
    }
  }
  out[0] = bb; out[1] = bn; out[2] = bm;
}

// Histogram and parameter choice in one call (small tensors: one crossing of the ctypes border).
int enec_analyze(const void* words, int64_t numel, int dt, int64_t* hist, int* params, int nthreads) {
  const int rc = enec_histogram(words, numel, dt, hist, nthreads);
  if (rc) return rc;
  enec_choose_params(hist, dt, params);
  return 0;
}

// The outlier section's size enec_encode would write for these parameters, without writing
// anything: one read-only pass that ORs the codes of every group (codec "auto" compares the
// exact dense size with the sparse candidate's before encoding either). Returns the bytes, or
// -2 for invalid parameters.
int64_t enec_outlier_bytes(const void* words, int64_t numel, int dt, int b, int n, int m, int nthreads) {
  if (dt < 0 || dt > 2 || n < 1 || n > exp_bits(dt) || m < 0 || m > n || b < 0 || b >= (1 << exp_bits(dt)))
    return -2;
  Geometry g(numel);
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

// Encode into blob (sized to the format's maximum). Writes the raw, low, flag, index and outlier
// sections at the given offsets; returns the outlier section's size in bytes (>= 0) or a
// negative error code.
int64_t enec_encode(const void* words, int64_t numel, int dt, int b, int n, int m,
                    int64_t raw_off, int64_t low_off, int64_t flags_off, int64_t index_off,
                    int64_t out_off, uint8_t* blob, int nthreads) {
  if (dt < 0 || dt > 2 || n < 1 || n > exp_bits(dt) || m < 0 || m > n || b < 0 || b >= (1 << exp_bits(dt)))
    return -2;
  // non-temporal stores need 32-byte aligned destinations: native.py's own buffers are 64-byte
  // aligned; a caller's buffer (compress into `out`) may not be
  const bool stream = numel >= kStreamElems && ((uintptr_t)blob & 63) == 0;
  Ctx p{dt, b, n, m, stream, numel, raw_off, low_off, flags_off, index_off, out_off, words, blob};
  Geometry g(numel);
  if (g.blocks == 0) return 0;
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
        int64_t sz;
#if ENEC_X86
        if (level == kAVX512 && t < g.full)
          sz = dt == FP32 ? encode_block_avx512<FP32>(p, t, dst, s)
             : dt == BF16 ? encode_block_avx512<BF16>(p, t, dst, s) : encode_block_avx512<FP16>(p, t, dst, s);
        else if (level == kAVX2 && t < g.full)
          sz = dt == FP32 ? encode_block_avx2<FP32>(p, t, dst, s)
             : dt == BF16 ? encode_block_avx2<BF16>(p, t, dst, s) : encode_block_avx2<FP16>(p, t, dst, s);
        else
#endif
          sz = encode_block_portable(p, g, t, dst, s);
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
  return incl[nchunks - 1].load();
}

// Decode. Returns 0, or a negative code with a message in err.
// Decode blocks [t_begin, t_end) into out, which receives elements t_begin*N ... The whole
// outlier index is still checked against the flags (a cheap sequential pass).
int enec_decode(const uint8_t* blob, int64_t size, int dt, int64_t numel, int b, int n, int m,
                int64_t raw_off, int64_t low_off, int64_t flags_off, int64_t index_off, int64_t out_off,
                void* out, int nthreads, char* err, int errlen, int64_t t_begin, int64_t t_end) {
  if (dt < 0 || dt > 2 || n < 1 || n > exp_bits(dt) || m < 0 || m > n || b < 0 || b >= (1 << exp_bits(dt))) {
    std::snprintf(err, errlen, "invalid parameters b=%d n=%d m=%d", b, n, m);
    return -1;
  }
  Geometry g(numel);
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
    for (; q + 8 <= G / 8; q += 8) { uint64_t v; std::memcpy(&v, fl + q, 8); f += __builtin_popcountll(v); }
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
      rc = dt == FP32 ? decode_block_avx512<FP32>(p, t, blob, ol, fcount[t], o, s)
         : dt == BF16 ? decode_block_avx512<BF16>(p, t, blob, ol, fcount[t], o, s)
                      : decode_block_avx512<FP16>(p, t, blob, ol, fcount[t], o, s);
    else if (level == kAVX2 && t < g.full)
      rc = dt == FP32 ? decode_block_avx2<FP32>(p, t, blob, ol, fcount[t], o, s)
         : dt == BF16 ? decode_block_avx2<BF16>(p, t, blob, ol, fcount[t], o, s)
                      : decode_block_avx2<FP16>(p, t, blob, ol, fcount[t], o, s);
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
