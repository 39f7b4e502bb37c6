// C entry points that run the enec kernels (op_kernel/*.cpp, compiled against the emulation
// header in tests/ascendc_emu/include) on all cores, for python/enec/emulated.py (ctypes).
// Every buffer handed to a kernel is registered as GM, so any access outside them fails.
#include <cstring>
#include <string>

#include "kernel_operator.h"
#include "../../op_host/enec_host.h"

extern "C" void enec_compress(GM_ADDR x, GM_ADDR blob, GM_ADDR counts, GM_ADDR staging, GM_ADDR workspace,
                              GM_ADDR tiling);
extern "C" void enec_place_outliers(GM_ADDR staging, GM_ADDR counts, GM_ADDR blob, GM_ADDR workspace, GM_ADDR tiling);
extern "C" void enec_decompress(GM_ADDR blob, GM_ADDR y, GM_ADDR workspace, GM_ADDR tiling);

namespace {
// cores that get blocks (block t runs on core t mod coreNum): they share the HBM bandwidth
int Active(const EnecTilingData& t)
{
    return static_cast<int>(t.blocks < t.coreNum ? (t.blocks ? t.blocks : 1) : t.coreNum);
}

int Finish(const std::string& e, char* err, int errLen)
{
    emu::ClearGm();
    if (e.empty()) return 0;
    if (err && errLen > 0) {
        std::strncpy(err, e.c_str(), errLen - 1);
        err[errLen - 1] = 0;
    }
    return 1;
}
}  // namespace

extern "C" {

int enec_emu_compress(const void* x, uint64_t xBytes, uint8_t* blob, uint64_t blobBytes, uint8_t* ws, uint64_t wsBytes,
                      int32_t* counts, const EnecTilingData* tiling, char* err, int errLen)
{
    emu::ClearGm();
    emu::RegisterGm(x, xBytes, "x");
    emu::RegisterGm(blob, blobBytes, "blob");
    emu::RegisterGm(ws, wsBytes, "workspace");
    emu::RegisterGm(counts, tiling->blocks * 4, "counts");
    EnecTilingData t = *tiling;
    std::string e = emu::Launch(static_cast<int>(t.coreNum), [&]() {
        enec_compress((GM_ADDR)x, blob, (GM_ADDR)counts, ws, nullptr, (GM_ADDR)&t);
    }, Active(t));
    return Finish(e, err, errLen);
}

int enec_emu_place(uint8_t* blob, uint64_t totalBytes, uint8_t* ws, uint64_t wsBytes, int32_t* counts,
                   const EnecTilingData* tiling, char* err, int errLen)
{
    emu::ClearGm();
    emu::RegisterGm(blob, totalBytes, "blob");
    emu::RegisterGm(ws, wsBytes, "workspace");
    emu::RegisterGm(counts, tiling->blocks * 4, "counts");
    EnecTilingData t = *tiling;
    t.totalBytes = totalBytes;
    std::string e = emu::Launch(static_cast<int>(t.coreNum), [&]() {
        enec_place_outliers(ws, (GM_ADDR)counts, blob, nullptr, (GM_ADDR)&t);
    }, Active(t));
    return Finish(e, err, errLen);
}

int enec_emu_decompress(const uint8_t* blob, uint64_t totalBytes, void* y, uint64_t yBytes,
                        const EnecTilingData* tiling, char* err, int errLen)
{
    emu::ClearGm();
    emu::RegisterGm(blob, totalBytes, "blob");
    emu::RegisterGm(y, yBytes, "y");
    EnecTilingData t = *tiling;
    t.totalBytes = totalBytes;
    std::string e = emu::Launch(static_cast<int>(t.coreNum), [&]() {
        enec_decompress((GM_ADDR)blob, (GM_ADDR)y, nullptr, (GM_ADDR)&t);
    }, Active(t));
    return Finish(e, err, errLen);
}

// [ubHighWater, ubAbove184, vecInstr, dmaInstr, scalarAccess, blocksRun]
void enec_emu_stats(uint64_t* out)
{
    const emu::Stats& s = emu::GetStats();
    out[0] = s.ubHighWater; out[1] = s.ubAbove184; out[2] = s.vecInstr;
    out[3] = s.dmaInstr; out[4] = s.scalarAccess; out[5] = s.blocksRun;
}

void enec_emu_reset_stats() { emu::GetStats() = emu::Stats(); }

// Timing of the last launch: [us, coreCycles, busy S, V, MTE2, MTE3 (cycles, all cores), critical
// pipe (0 S, 1 V, 2 MTE2, 3 MTE3), GM bytes moved, cores, active cores]
void enec_emu_last_report(double* out)
{
    const emu::LaunchReport& r = emu::LastReport();
    out[0] = r.us; out[1] = r.coreCycles;
    for (int p = 0; p < emu::NPIPE; ++p) out[2 + p] = r.busy[p];
    out[6] = r.critical; out[7] = r.gmBytes; out[8] = r.cores; out[9] = r.activeCores;
}

int enec_emu_model_set(const char* name, double v) { return emu::model::SetByName(name, v) ? 0 : 1; }

int enec_emu_model_json(char* out, int len)
{
    const std::string s = emu::model::ToJson();
    std::strncpy(out, s.c_str(), len - 1);
    out[len - 1] = 0;
    return static_cast<int>(s.size());
}

}  // extern "C"
