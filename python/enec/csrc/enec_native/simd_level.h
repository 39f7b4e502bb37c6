// Which kernel set runs: detected once from the CPU, capped by enec_set_simd (tests run every level).
#pragma once

#include <algorithm>
#include <atomic>

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

}  // namespace
