// The timing model's constants: one set, used for every kernel the emulation runs (ours and the
// ENEC authors'), each with its public source or, where none exists, how it was fixed.
//
// Target: Ascend 910B2 (Atlas A2, dav-c220), 48 AI-vector (AIV) cores, HBM shared by all cores.
// scripts/npu_projection.py prints these values in its JSON ("model") and docs/NPU.md lists them.
#pragma once

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
    // Fixed cost of one DataCopy (descriptor issue + first bytes from HBM). HBM load-to-use latency
    // of accelerators is 0.5-1 µs; AscendC docs advise >= 16 KiB per copy because of it.
    double dmaLatencyCycles = 900.0;
    // Vector unit: one repeat = 256 bytes per cycle for elementwise ops (ascendc-notes.md §3.4,
    // "one vector repeat = 256 bytes per cycle"); conversions and comparisons likewise one repeat
    // per cycle of the wider operand.
    double vecCyclesPerRepeat = 1.0;
    // Gather (vgather): per-element addressing, reads scattered 2/4-byte words across UB banks.
    // No public cycle count (ascendc-notes.md §7). Fixed by calibration on the authors' decompress
    // kernel (their one full-block Gather dominates it); the same value prices ours.
    double gatherCyclesPerRepeat = 32.0;
    // Start-up of one vector instruction: decode, operand fetch, pipeline fill. "Dependent vector
    // instructions stall tens of cycles" (ascendc-notes.md §8); no exact public figure: fixed by
    // calibration (compress kernel of the authors), same value for all kernels.
    double vecIssueCycles = 40.0;
    // Scalar unit: one instruction issued per cycle to a pipe's queue.
    double scalarIssueCycles = 1.0;
    // Scalar GetValue/SetValue on UB (a load/store of the scalar unit, a few cycles).
    double scalarUbCycles = 4.0;
    // Scalar GM access through the 32 KiB DCache: a miss costs a GM round trip.
    double scalarGmCycles = 600.0;
    // SetFlag -> WaitFlag hand-off between pipes.
    double flagCycles = 20.0;
    // PipeBarrier<PIPE_ALL>: every pipe drained, then the scalar unit resumes.
    double barrierAllCycles = 30.0;
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

}  // namespace model
}  // namespace emu
