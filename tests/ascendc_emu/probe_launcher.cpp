// C entry point that runs one hardware probe (op_kernel/enec_probe.cpp, compiled against the
// emulation header in tests/ascendc_emu/include) on `blocks` emulated cores, for
// tests/ascendc_emu/probe_emu.py (ctypes). in, out and args are registered as GM, so any access
// outside them fails like every other emulation rule.
#include <cstring>
#include <string>

#include "kernel_operator.h"

extern "C" {
void enec_probe_gathermask(GM_ADDR in, GM_ADDR out, GM_ADDR args);
void enec_probe_gather(GM_ADDR in, GM_ADDR out, GM_ADDR args);
void enec_probe_pad_load(GM_ADDR in, GM_ADDR out, GM_ADDR args);
void enec_probe_strided_load(GM_ADDR in, GM_ADDR out, GM_ADDR args);
void enec_probe_pad_store(GM_ADDR in, GM_ADDR out, GM_ADDR args);
void enec_probe_adjacent_writes(GM_ADDR in, GM_ADDR out, GM_ADDR args);
void enec_probe_shift(GM_ADDR in, GM_ADDR out, GM_ADDR args);
void enec_probe_events(GM_ADDR in, GM_ADDR out, GM_ADDR args);
}

namespace {
using ProbeFn = void (*)(GM_ADDR, GM_ADDR, GM_ADDR);
struct Entry { const char* name; ProbeFn fn; };
const Entry kProbes[] = {
    {"gathermask", enec_probe_gathermask}, {"gather", enec_probe_gather}, {"pad_load", enec_probe_pad_load},
    {"strided_load", enec_probe_strided_load}, {"pad_store", enec_probe_pad_store},
    {"adjacent_writes", enec_probe_adjacent_writes}, {"shift", enec_probe_shift}, {"events", enec_probe_events},
};

int Fail(const std::string& e, char* err, int errLen)
{
    emu::ClearGm();
    if (err && errLen > 0) {
        std::strncpy(err, e.c_str(), errLen - 1);
        err[errLen - 1] = 0;
    }
    return 1;
}
}  // namespace

extern "C" int enec_emu_probe(const char* name, int blocks, uint8_t* in, uint64_t inBytes, uint8_t* out,
                              uint64_t outBytes, uint8_t* args, uint64_t argBytes, char* err, int errLen)
{
    ProbeFn fn = nullptr;
    for (const Entry& e : kProbes)
        if (std::strcmp(e.name, name) == 0) fn = e.fn;
    if (!fn) return Fail(std::string("no probe kernel named ") + name, err, errLen);
    emu::ClearGm();
    emu::RegisterGm(in, inBytes, "in");
    emu::RegisterGm(out, outBytes, "out");
    emu::RegisterGm(args, argBytes, "args");
    const std::string e = emu::Launch(blocks, [&]() { fn(in, out, args); });
    emu::ClearGm();
    return e.empty() ? 0 : Fail(e, err, errLen);
}
