// Host driver for running the enec kernels through the real CANN 8.1 AscendC headers with the
// shared CPU harness (../shared/tools/ascendc-harness). Not part of CI (it needs the CANN
// headers); driven by scripts/ascendc_harness_check.py.
//
//   harness_host compress DTYPE B N M CORES in.words out.blob SHAPE...
//   harness_host compress_auto DTYPE CORES in.words out.blob SHAPE...   (parameters chosen by the
//       device: enec_histogram + enec_params, then enec_compress + enec_finish on the tiling
//       enec_params wrote)
//   harness_host decompress CORES in.blob out.words
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "harness.h"
#include "../../../op_host/enec_host.h"

extern "C" void enec_compress(uint8_t* x, uint8_t* blob, uint8_t* counts, uint8_t* staging, uint8_t* workspace,
                              uint8_t* tiling);
extern "C" void enec_finish(uint8_t* staging, uint8_t* counts, uint8_t* blob, uint8_t* workspace, uint8_t* tiling);
extern "C" void enec_decompress(uint8_t* blob, uint8_t* y, uint8_t* status, uint8_t* workspace, uint8_t* tiling);
extern "C" void enec_histogram(uint8_t* x, uint8_t* partial, uint8_t* workspace, uint8_t* tiling);
extern "C" void enec_params(uint8_t* partial, uint8_t* tilingOut, uint8_t* blob, uint8_t* workspace, uint8_t* tiling);

static std::vector<uint8_t> ReadFile(const char* p)
{
    std::ifstream f(p, std::ios::binary);
    return std::vector<uint8_t>(std::istreambuf_iterator<char>(f), {});
}
static void WriteFile(const char* p, const uint8_t* d, size_t n)
{
    std::ofstream f(p, std::ios::binary);
    f.write(reinterpret_cast<const char*>(d), n);
}
static int Die(const std::string& e) { std::fprintf(stderr, "%s\n", e.c_str()); return 1; }

int main(int argc, char** argv)
{
    if (argc < 2) return Die("usage");
    std::string mode = argv[1];
    if (mode == "compress") {
        uint32_t dtype = std::atoi(argv[2]), b = std::atoi(argv[3]), n = std::atoi(argv[4]), m = std::atoi(argv[5]);
        uint32_t cores = std::atoi(argv[6]);
        std::vector<uint8_t> x = ReadFile(argv[7]);
        std::vector<uint64_t> shape;
        for (int i = 9; i < argc; ++i) shape.push_back(std::strtoull(argv[i], nullptr, 10));
        const uint64_t numel = x.size() / (dtype == 2 ? 4 : 2);
        EnecTilingData t;
        if (EnecComputeTiling(dtype, numel, shape.size(), b, n, m, cores, &t)) return Die("bad tiling");
        std::vector<uint8_t> ws(EnecWorkspaceBytes(&t) + 32), counts(t.blocks * 4 + 32);
        std::vector<uint8_t> blob(t.outlierOffset + (n > m ? t.blocks * t.wsSlotBytes : 0) + 32, 0);
        hz::ClearGm();
        hz::RegisterGm(x.data(), x.size(), "x");
        hz::RegisterGm(blob.data(), blob.size(), "blob");
        hz::RegisterGm(ws.data(), ws.size(), "ws");
        hz::RegisterGm(counts.data(), counts.size(), "counts");
        hz::RegisterGm(&t, sizeof t, "tiling");
        // the header as the binding writes it before the kernels: every field but the total size
        EnecPackHeader(&t, shape.size(), shape.data(), 0, blob.data());
        std::string e = HZ_RUN(enec_compress, (int)cores, x.data(), blob.data(), counts.data(), ws.data(), (uint8_t*)nullptr, (uint8_t*)&t);
        if (!e.empty()) return Die("enec_compress: " + e);
        e = HZ_RUN(enec_finish, (int)cores, ws.data(), counts.data(), blob.data(), (uint8_t*)nullptr, (uint8_t*)&t);
        if (!e.empty()) return Die("enec_finish: " + e);
        // the device-made index and total against the host definition (EnecOutlierIndex)
        std::vector<uint64_t> index(t.blocks + 1);
        const uint64_t outBytes = EnecOutlierIndex(reinterpret_cast<int32_t*>(counts.data()), t.blocks, n, m, index.data());
        uint64_t total = 0;
        std::memcpy(&total, blob.data() + ENEC_HEADER_TOTAL_OFFSET, 8);
        if (total != t.outlierOffset + outBytes) return Die("enec_finish: total size differs from the host's");
        if (t.blocks && std::memcmp(blob.data() + t.indexOffset, index.data(), 8 * t.blocks) != 0)
            return Die("enec_finish: outlier index differs from the host's");
        WriteFile(argv[8], blob.data(), total);
        return 0;
    }
    if (mode == "compress_auto") {
        uint32_t dtype = std::atoi(argv[2]), cores = std::atoi(argv[3]);
        std::vector<uint8_t> x = ReadFile(argv[4]);
        std::vector<uint64_t> shape;
        for (int i = 6; i < argc; ++i) shape.push_back(std::strtoull(argv[i], nullptr, 10));
        const uint64_t numel = x.size() / (dtype == 2 ? 4 : 2);
        const uint32_t w = EnecExpBits(dtype);
        EnecTilingData t;
        if (numel == 0 || EnecComputeTiling(dtype, numel, shape.size(), 0, w, 0, cores, &t)) return Die("bad tiling");
        t.ndim = shape.size();
        // the blob sized for the worst (n, m), as op_host/enec_orchestrate.h does (here also for
        // enec_finish's extent), the workspace for n = W, m = 0
        uint64_t cap = 0;
        for (uint32_t m = 0; m <= w; ++m) {
            EnecTilingData u;
            EnecComputeTiling(dtype, numel, shape.size(), 0, w, m, cores, &u);
            cap = std::max<uint64_t>(cap, u.outlierOffset + u.blocks * u.wsSlotBytes);
        }
        std::vector<uint8_t> ws(EnecWorkspaceBytes(&t) + 32), counts(t.blocks * 4 + 32);
        std::vector<uint8_t> blob(cap + 32, 0xA5), partial(cores * ENEC_HIST_SLOT_BYTES);
        std::vector<uint64_t> tdev(sizeof(EnecTilingData) / 8, 0);
        hz::ClearGm();
        hz::RegisterGm(x.data(), x.size(), "x");
        hz::RegisterGm(blob.data(), blob.size(), "blob");
        hz::RegisterGm(ws.data(), ws.size(), "ws");
        hz::RegisterGm(counts.data(), counts.size(), "counts");
        hz::RegisterGm(partial.data(), partial.size(), "partial");
        hz::RegisterGm(&t, sizeof t, "tiling");
        hz::RegisterGm(tdev.data(), 8 * tdev.size(), "tilingOut");
        // the host writes the header with the dims; enec_params rewrites its fixed 96 bytes
        EnecPackHeader(&t, shape.size(), shape.data(), 0, blob.data());
        std::string e = HZ_RUN(enec_histogram, (int)cores, x.data(), partial.data(), (uint8_t*)nullptr, (uint8_t*)&t);
        if (!e.empty()) return Die("enec_histogram: " + e);
        e = HZ_RUN(enec_params, 1, partial.data(), (uint8_t*)tdev.data(), blob.data(), (uint8_t*)nullptr, (uint8_t*)&t);
        if (!e.empty()) return Die("enec_params: " + e);
        EnecTilingData d;
        std::memcpy(&d, tdev.data(), sizeof d);
        e = HZ_RUN(enec_compress, (int)cores, x.data(), blob.data(), counts.data(), ws.data(), (uint8_t*)nullptr, (uint8_t*)tdev.data());
        if (!e.empty()) return Die("enec_compress: " + e);
        e = HZ_RUN(enec_finish, (int)cores, ws.data(), counts.data(), blob.data(), (uint8_t*)nullptr, (uint8_t*)tdev.data());
        if (!e.empty()) return Die("enec_finish: " + e);
        uint64_t total = 0;
        std::memcpy(&total, blob.data() + ENEC_HEADER_TOTAL_OFFSET, 8);
        if (total > blob.size()) return Die("enec_finish: total size beyond the blob");
        std::printf("%u %u %u\n", static_cast<unsigned>(d.b), static_cast<unsigned>(d.n), static_cast<unsigned>(d.m));
        WriteFile(argv[5], blob.data(), total);
        return 0;
    }
    if (mode == "decompress") {
        uint32_t cores = std::atoi(argv[2]);
        std::vector<uint8_t> blob = ReadFile(argv[3]);
        const uint8_t* h = blob.data();
        // as the binding does: the caller's dtype and shape (here taken from the header, as a caller
        // that knows them), b, n, m unknown to the host; the kernel validates the blob on the device
        uint32_t dtype = h[6], ndim = h[7];
        uint64_t numel;
        std::memcpy(&numel, h + 24, 8);
        std::vector<uint64_t> tiling(sizeof(EnecTilingData) / 8 + ndim + 1, 0);
        EnecTilingData t;
        if (EnecComputeTiling(dtype, numel, ndim, 0, 1, 0, cores, &t)) return Die("bad tiling");
        t.checkHeader = 1;
        t.ndim = ndim;
        t.totalBytes = blob.size();
        std::memcpy(tiling.data(), &t, sizeof t);
        std::memcpy(tiling.data() + sizeof(EnecTilingData) / 8, h + ENEC_HEADER_FIXED_BYTES, 8 * ndim);
        std::vector<uint8_t> y(numel * (dtype == 2 ? 4 : 2) + 32);
        std::vector<int32_t> status(cores * ENEC_STATUS_SLOT_INTS, -1);
        hz::ClearGm();
        hz::RegisterGm(blob.data(), blob.size(), "blob");
        hz::RegisterGm(y.data(), y.size() - 32, "y");
        hz::RegisterGm(status.data(), 4 * status.size(), "status");
        hz::RegisterGm(tiling.data(), 8 * tiling.size(), "tiling");
        std::string e = HZ_RUN(enec_decompress, (int)cores, blob.data(), y.data(), (uint8_t*)status.data(),
                               (uint8_t*)nullptr, (uint8_t*)tiling.data());
        if (!e.empty()) return Die("enec_decompress: " + e);
        for (uint32_t c = 0; c < cores; ++c)
            if (status[c * ENEC_STATUS_SLOT_INTS] != 0) return Die("enec_decompress: status " + std::to_string(status[c * ENEC_STATUS_SLOT_INTS]));
        WriteFile(argv[4], y.data(), y.size() - 32);
        return 0;
    }
    return Die("unknown mode");
}
#include "../../../op_host/enec_host.cpp"
