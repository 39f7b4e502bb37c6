// Host driver for the hardware probes (op_kernel/enec_probe.cpp) through the REAL CANN 8.1
// AscendC headers with the shared CPU harness (../shared/tools/ascendc-harness). Not part of CI
// (it needs the CANN headers); driven by `scripts/npu_probe.py --harness`.
//
//   probe_host KERNEL BLOCKS in.bin out.bin args.bin     (out.bin: pre-filled, rewritten in place)
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "harness.h"

extern "C" {
void enec_probe_gathermask(uint8_t* in, uint8_t* out, uint8_t* args);
void enec_probe_gather(uint8_t* in, uint8_t* out, uint8_t* args);
void enec_probe_pad_load(uint8_t* in, uint8_t* out, uint8_t* args);
void enec_probe_strided_load(uint8_t* in, uint8_t* out, uint8_t* args);
void enec_probe_pad_store(uint8_t* in, uint8_t* out, uint8_t* args);
void enec_probe_adjacent_writes(uint8_t* in, uint8_t* out, uint8_t* args);
void enec_probe_shift(uint8_t* in, uint8_t* out, uint8_t* args);
void enec_probe_events(uint8_t* in, uint8_t* out, uint8_t* args);
}

namespace {
using ProbeFn = void (*)(uint8_t*, uint8_t*, uint8_t*);
struct Entry { const char* name; ProbeFn fn; };
const Entry kProbes[] = {
    {"gathermask", enec_probe_gathermask}, {"gather", enec_probe_gather}, {"pad_load", enec_probe_pad_load},
    {"strided_load", enec_probe_strided_load}, {"pad_store", enec_probe_pad_store},
    {"adjacent_writes", enec_probe_adjacent_writes}, {"shift", enec_probe_shift}, {"events", enec_probe_events},
};

std::vector<uint8_t> ReadFile(const char* p)
{
    std::ifstream f(p, std::ios::binary);
    return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), {});
}
int Die(const std::string& e) { std::fprintf(stderr, "%s\n", e.c_str()); return 1; }
}  // namespace

int main(int argc, char** argv)
{
    if (argc != 6) return Die("usage: probe_host KERNEL BLOCKS in.bin out.bin args.bin");
    ProbeFn fn = nullptr;
    for (const Entry& e : kProbes)
        if (std::strcmp(e.name, argv[1]) == 0) fn = e.fn;
    if (!fn) return Die(std::string("no probe kernel named ") + argv[1]);
    const int blocks = std::atoi(argv[2]);
    std::vector<uint8_t> in = ReadFile(argv[3]), out = ReadFile(argv[4]), args = ReadFile(argv[5]);
    hz::ClearGm();
    hz::RegisterGm(in.data(), in.size(), "in");
    hz::RegisterGm(out.data(), out.size(), "out");
    hz::RegisterGm(args.data(), args.size(), "args");
    const std::string e = HZ_RUN(fn, blocks, in.data(), out.data(), args.data());
    if (!e.empty()) return Die(std::string("enec_probe_") + argv[1] + ": " + e);
    std::ofstream f(argv[4], std::ios::binary);
    f.write(reinterpret_cast<const char*>(out.data()), static_cast<std::streamsize>(out.size()));
    return 0;
}
