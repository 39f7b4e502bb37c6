// Population count that uses the POPCNT instruction when the CPU has it. The libraries are built
// without -m flags so they run on any x86-64 CPU, and without them __builtin_popcountll is a
// call into libgcc (~10x slower: it dominated the sparse scan); the instruction is chosen at run
// time instead, by inline assembly, which needs no target attribute on its callers.
#pragma once

#include <cstdint>

namespace enec_bits {

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__POPCNT__)
inline bool detect_popcnt() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("popcnt");
}
inline const bool kHasPopcnt = detect_popcnt();
inline int popcount64(uint64_t x) {
  if (__builtin_expect(kHasPopcnt, 1)) {
    uint64_t r;
    __asm__("popcntq %1, %0" : "=r"(r) : "rm"(x));
    return (int)r;
  }
  return __builtin_popcountll(x);
}
#else
inline int popcount64(uint64_t x) { return __builtin_popcountll(x); }
#endif

}  // namespace enec_bits
