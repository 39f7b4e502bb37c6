// The timing model's constants: one set, used for every kernel the emulation runs (ours and the
// ENEC authors'), each with its public source or, where none exists, how it was fixed.
//
// Target: Ascend 910B2 (Atlas A2, dav-c220), 48 AI-vector (AIV) cores, HBM shared by all cores.
// scripts/npu_projection.py prints these values in its JSON ("model") and docs/NPU.md lists them.
#pragma once

#include <cstdio>
#include <string>

namespace emu {
namespace model {

struct Constants {
    // AI-core clock. ascendc-notes.md §8 ("AI-core clock ≈ 1.8 GHz"); Huawei's Atlas 800T A2 material
    // quotes 1.8 GHz for the 910B DaVinci cores.
    double clockGHz = 1.8;
    // Vector cores of a 910B2: CANN 8.1 platform_config/Ascend910B2.ini, vector_core_cnt = 48.
    int vectorCores = 48;
    // HBM bandwidth of one 910B chip, shared by all active cores: ≈ 1.6 TB/s (ascendc-notes.md §8;
    // Huawei Atlas 800T A2 datasheet: HBM2e, 1.6 TB/s per NPU).
    double hbmGBps = 1600.0;
    // Peak DMA rate of one core's MTE2/MTE3 when the HBM is not the limit. No public figure; the
    // AscendC performance guide says transfers reach the best bandwidth from 16 KiB up. It only
    // matters when few cores are active (a 48-core launch is HBM-bound per core: 33 GB/s).
    double coreDmaGBps = 100.0;
    // Fixed cost of one DataCopy (descriptor issue + first burst), seen in full when a barrier
    // waits for the copy. No public figure; the AscendC guide's advice to move >= 16 KiB per copy
    // says it is large next to a 512-byte burst. FITTED (calibration, docs/NPU.md): 200 cycles
    // (111 ns). That is below a cold HBM access, consistent with the authors' benchmark running
    // their kernel 4 times on the same input (the 910B's large L2 then serves most reads).
    double dmaLatencyCycles = 200.0;
    // Vector unit: one repeat = 256 bytes per cycle for elementwise ops (ascendc-notes.md §3.4,
    // "one vector repeat = 256 bytes per cycle"); conversions and comparisons likewise one repeat
    // per cycle of the wider operand.
    double vecCyclesPerRepeat = 1.0;
    // Gather (vgather): per-element addressing, reads scattered 2/4-byte words across UB banks.
    // No public cycle count (ascendc-notes.md §7). Taken as 32 cycles per 256-byte repeat (8
    // bytes per cycle: one 32-byte UB bank group access per element pair); the calibration then
    // needs no change to it (docs/NPU.md lists each constant's sensitivity).
    double gatherCyclesPerRepeat = 32.0;
    // Start-up of one vector instruction: decode, operand fetch, pipeline fill. "Dependent vector
    // instructions stall tens of cycles" (ascendc-notes.md §8); no exact public figure. FITTED
    // (calibration): 24 cycles, the same for every instruction class and kernel.
    double vecIssueCycles = 24.0;
    // Scalar unit: one instruction issued per cycle to a pipe's queue.
    double scalarIssueCycles = 1.0;
    // Scalar GetValue/SetValue on UB (a load/store of the scalar unit, a few cycles).
    double scalarUbCycles = 4.0;
    // Scalar GM access through the 32 KiB DCache: a miss costs a GM round trip.
    double scalarGmCycles = 600.0;
    // SetFlag -> WaitFlag hand-off between pipes.
    double flagCycles = 20.0;
    // PipeBarrier<PIPE_ALL>: every pipe drained, then the scalar unit resumes. FITTED: 10 cycles.
    double barrierAllCycles = 10.0;
    // One kernel launch on a stream as seen by the device (task dispatch to the AI cores, core
    // start, end-of-kernel notification). CANN/ACL launches measure ~5-10 µs end to end; taken 5 µs.
    double launchUs = 5.0;
    // A blocking device->host read (aclrtMemcpy D2H / tensor.cpu() / .item()): PCIe round trip plus
    // runtime synchronisation. torch_npu profiles show 20-50 µs for a small synchronous copy; 30 µs.
    // The stream is drained first: the wait for queued work is part of the cost (counted separately).
    double hostSyncUs = 30.0;
    // Host<->device copy rate for the bytes of such reads/writes (PCIe 4.0 x16, ~25 GB/s effective).
    double pcieGBps = 25.0;
    // An asynchronous host->device copy or small device op queued on the stream (no host wait).
    double asyncOpUs = 3.0;
};

inline Constants& Get()
{
    static Constants c;
    return c;
}

// Name -> field, for the JSON report and for sensitivity runs (scripts/npu_projection.py --set).
struct Field { const char* name; double Constants::*d; int Constants::*i; };
inline const Field* Fields(int& n)
{
    static const Field f[] = {
        {"clock_ghz", &Constants::clockGHz, nullptr}, {"vector_cores", nullptr, &Constants::vectorCores},
        {"hbm_gbps", &Constants::hbmGBps, nullptr}, {"core_dma_gbps", &Constants::coreDmaGBps, nullptr},
        {"dma_latency_cycles", &Constants::dmaLatencyCycles, nullptr},
        {"vec_cycles_per_repeat", &Constants::vecCyclesPerRepeat, nullptr},
        {"gather_cycles_per_repeat", &Constants::gatherCyclesPerRepeat, nullptr},
        {"vec_issue_cycles", &Constants::vecIssueCycles, nullptr},
        {"scalar_issue_cycles", &Constants::scalarIssueCycles, nullptr},
        {"scalar_ub_cycles", &Constants::scalarUbCycles, nullptr}, {"scalar_gm_cycles", &Constants::scalarGmCycles, nullptr},
        {"flag_cycles", &Constants::flagCycles, nullptr}, {"barrier_all_cycles", &Constants::barrierAllCycles, nullptr},
        {"launch_us", &Constants::launchUs, nullptr}, {"host_sync_us", &Constants::hostSyncUs, nullptr},
        {"pcie_gbps", &Constants::pcieGBps, nullptr}, {"async_op_us", &Constants::asyncOpUs, nullptr},
    };
    n = static_cast<int>(sizeof f / sizeof f[0]);
    return f;
}
inline bool SetByName(const std::string& name, double v)
{
    int n = 0;
    const Field* f = Fields(n);
    for (int i = 0; i < n; ++i)
        if (name == f[i].name) {
            if (f[i].d) Get().*(f[i].d) = v; else Get().*(f[i].i) = static_cast<int>(v);
            return true;
        }
    return false;
}
inline std::string ToJson()
{
    int n = 0;
    const Field* f = Fields(n);
    std::string s = "{";
    char b[96];
    for (int i = 0; i < n; ++i) {
        snprintf(b, sizeof b, "%s\"%s\": %.9g", i ? ", " : "", f[i].name, f[i].d ? Get().*(f[i].d) : Get().*(f[i].i));
        s += b;
    }
    return s + "}";
}

}  // namespace model
}  // namespace emu
