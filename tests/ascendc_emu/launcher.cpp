// C entry points that run the enec kernels (op_kernel/*.cpp, compiled against the emulation
// header in tests/ascendc_emu/include) on all cores, for python/enec/emulated.py (ctypes).
// Every buffer handed to a kernel is registered as GM, so any access outside them fails.
#include <algorithm>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernel_operator.h"
#include "../../op_host/enec_host.h"
#include "../../op_host/enec_orchestrate.h"

extern "C" void enec_compress(GM_ADDR x, GM_ADDR blob, GM_ADDR counts, GM_ADDR staging, GM_ADDR workspace,
                              GM_ADDR tiling);
extern "C" void enec_finish(GM_ADDR staging, GM_ADDR counts, GM_ADDR blob, GM_ADDR workspace, GM_ADDR tiling);
extern "C" void enec_decompress(GM_ADDR blob, GM_ADDR y, GM_ADDR status, GM_ADDR workspace, GM_ADDR tiling);

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

namespace {

// ------------------------------------------------------------------------------------------------
// The emulated device for op_host/enec_orchestrate.h: host memory, the kernels under the emulation,
// and every step priced on two clocks (microseconds): the host thread and the device stream.
// A device op starts when both the stream and the host have reached it; the host pays the
// enqueue cost. A blocking read drains the stream, then pays the round trip and the transfer.
struct EmuError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct EmuDev {
    struct Buf {
        std::shared_ptr<std::vector<uint8_t>> own;
        uint8_t* p = nullptr;
        uint64_t bytes = 0;
    };
    struct Step { std::string what; double us; int syncs; };

    double tHost = 0, tDev = 0;
    int syncs = 0;
    std::vector<Step> steps;
    uint32_t cores = 48;

    const emu::model::Constants& M() const { return emu::model::Get(); }
    double HbmUs(double bytes) const { return bytes / (M().hbmGBps * 1e3); }
    void DeviceOp(const std::string& what, double us)
    {
        const double start = std::max(tDev, tHost);
        tDev = start + us;
        tHost += M().asyncOpUs;
        steps.push_back({what, us, 0});
    }
    void BlockingRead(const std::string& what, double bytes)
    {
        const double us = M().hostSyncUs + bytes / (M().pcieGBps * 1e3);
        tHost = std::max(tHost, tDev) + us;
        tDev = tHost;
        ++syncs;
        steps.push_back({what, us, 1});
    }
    double EndUs() const { return std::max(tHost, tDev); }

    static Buf Wrap(uint8_t* p, uint64_t bytes) { Buf b; b.p = p; b.bytes = bytes; return b; }
    Buf Alloc(uint64_t bytes, bool zeroed)
    {
        Buf b;
        b.own = std::make_shared<std::vector<uint8_t>>(bytes + 64, 0xA5);
        b.p = b.own->data() + (64 - reinterpret_cast<uintptr_t>(b.own->data()) % 64) % 64;
        b.bytes = bytes;
        if (zeroed) {
            std::memset(b.p, 0, bytes);
            DeviceOp("memset " + std::to_string(bytes) + " B", HbmUs(static_cast<double>(bytes)) + 1.0);
        }
        return b;
    }
    // The binding's ATen histogram (no host read inside): shift and mask of the exponent field, a
    // cast to int64 indices, scatter_add of ones into 2^W bins; then the counts go to the host
    // (the one blocking read of a compress that chooses its parameters).
    void ExponentHistogram(const Buf& x, uint32_t dtype, uint64_t numel, int64_t* hist)
    {
        const double n = static_cast<double>(numel), wb = dtype == 2 ? 4.0 : 2.0;
        const uint32_t bins = 1u << EnecExpBits(dtype);
        for (uint64_t i = 0; i < numel; ++i) {
            uint32_t e;
            if (dtype == 2) { uint32_t w; std::memcpy(&w, x.p + 4 * i, 4); e = (w >> 23) & 0xFF; }
            else { uint16_t w; std::memcpy(&w, x.p + 2 * i, 2); e = dtype == 0 ? (w >> 7) & 0xFF : (w >> 10) & 0x1F; }
            hist[e]++;
        }
        DeviceOp("aten bitwise_right_shift", HbmUs(2 * wb * n));
        DeviceOp("aten bitwise_and", HbmUs(2 * wb * n));
        DeviceOp("aten to(int64)", HbmUs((wb + 8) * n));
        DeviceOp("aten zeros(bins)", 1.0);
        DeviceOp("aten scatter_add_", HbmUs(8 * n));
        BlockingRead("histogram to host", 8.0 * bins);
    }
    void ToHost(void* dst, const Buf& src, uint64_t off, uint64_t bytes)
    {
        std::memcpy(dst, src.p + off, bytes);
        BlockingRead("read " + std::to_string(bytes) + " B to host", static_cast<double>(bytes));
    }
    void ToDevice(Buf& dst, uint64_t off, const void* src, uint64_t bytes)
    {
        std::memcpy(dst.p + off, src, bytes);
        DeviceOp("copy " + std::to_string(bytes) + " B to device", static_cast<double>(bytes) / (M().pcieGBps * 1e3) + 1.0);
    }
    void Zero(Buf& b, uint64_t off, uint64_t bytes)
    {
        std::memset(b.p + off, 0, bytes);
        DeviceOp("memset " + std::to_string(bytes) + " B", HbmUs(static_cast<double>(bytes)) + 1.0);
    }
    using Size = uint64_t;
    Size SizeOnDevice(const Buf& blob)
    {
        uint64_t v;
        std::memcpy(&v, blob.p + ENEC_HEADER_TOTAL_OFFSET, 8);
        DeviceOp("size to a device scalar", 1.0);
        return v;
    }
    void Copy(Buf& dst, uint64_t dstOff, const Buf& src, uint64_t srcOff, uint64_t bytes)
    {
        std::memmove(dst.p + dstOff, src.p + srcOff, bytes);
        DeviceOp("device copy " + std::to_string(bytes) + " B", HbmUs(2.0 * static_cast<double>(bytes)) + 1.0);
    }
    void Kernel(const char* name, const EnecTilingData& t, const std::function<void()>& body)
    {
        std::string e = emu::Launch(static_cast<int>(t.coreNum), body, Active(t));
        emu::ClearGm();
        if (!e.empty()) throw EmuError(std::string(name) + ": " + e);
        DeviceOp(name, emu::LastReport().us);
        reports.push_back(emu::LastReport());
        reportNames.push_back(name);
    }
    void LaunchCompress(const EnecTilingData& t, const Buf& x, Buf& blob, Buf& counts, Buf& staging)
    {
        emu::ClearGm();
        emu::RegisterGm(x.p, x.bytes, "x");
        emu::RegisterGm(blob.p, blob.bytes, "blob");
        emu::RegisterGm(staging.p, staging.bytes, "workspace");
        emu::RegisterGm(counts.p, t.blocks * 4, "counts");
        EnecTilingData tt = t;
        Kernel("enec_compress", t, [&]() { enec_compress(x.p, blob.p, counts.p, staging.p, nullptr, (GM_ADDR)&tt); });
    }
    void LaunchFinish(const EnecTilingData& t, Buf& staging, Buf& counts, Buf& blob)
    {
        emu::ClearGm();
        emu::RegisterGm(blob.p, t.outlierOffset + (t.n > t.m ? t.blocks * t.wsSlotBytes : 0), "blob");
        emu::RegisterGm(staging.p, staging.bytes, "workspace");
        emu::RegisterGm(counts.p, t.blocks * 4, "counts");
        EnecTilingData tt = t;
        Kernel("enec_finish", t, [&]() { enec_finish(staging.p, counts.p, blob.p, nullptr, (GM_ADDR)&tt); });
    }
    void LaunchDecompress(const EnecTilingData& t, const uint64_t* dims, const Buf& blob, Buf& y, Buf& status)
    {
        // the device copy of the tiling: the struct, then the expected dimensions
        std::vector<uint64_t> tiling(sizeof(EnecTilingData) / 8 + t.ndim + 1, 0);
        std::memcpy(tiling.data(), &t, sizeof t);
        if (t.ndim) std::memcpy(tiling.data() + sizeof(EnecTilingData) / 8, dims, 8 * t.ndim);
        DeviceOp("tiling to device", 1.0);
        emu::ClearGm();
        emu::RegisterGm(blob.p, blob.bytes, "blob");
        emu::RegisterGm(y.p, y.bytes, "y");
        emu::RegisterGm(status.p, status.bytes, "status");
        emu::RegisterGm(tiling.data(), 8 * tiling.size(), "tiling");
        Kernel("enec_decompress", t, [&]() { enec_decompress(blob.p, y.p, status.p, nullptr, (GM_ADDR)tiling.data()); });
    }
    [[noreturn]] void Fail(const char* msg) { throw EmuError(msg); }

    std::vector<emu::LaunchReport> reports;
    std::vector<std::string> reportNames;

    // {"op_us": .., "device_us": .., "host_us": .., "host_syncs": .., "steps": [...], "kernels": [...]}
    std::string Json() const
    {
        std::string s = "{\"op_us\": " + std::to_string(EndUs()) + ", \"device_us\": " + std::to_string(tDev) +
                        ", \"host_us\": " + std::to_string(tHost) + ", \"host_syncs\": " + std::to_string(syncs) +
                        ", \"steps\": [";
        for (size_t i = 0; i < steps.size(); ++i)
            s += (i ? ", " : "") + std::string("{\"what\": \"") + steps[i].what + "\", \"us\": " +
                 std::to_string(steps[i].us) + ", \"host_sync\": " + std::to_string(steps[i].syncs) + "}";
        s += "], \"kernels\": [";
        for (size_t i = 0; i < reports.size(); ++i) {
            const auto& r = reports[i];
            s += (i ? ", " : "") + std::string("{\"kernel\": \"") + reportNames[i] + "\", \"us\": " + std::to_string(r.us) +
                 ", \"core_cycles\": " + std::to_string(r.coreCycles) + ", \"critical_pipe\": \"" +
                 emu::PipeName(r.critical) + "\", \"busy_cycles\": {";
            for (int p = 0; p < emu::NPIPE; ++p)
                s += (p ? ", " : "") + std::string("\"") + emu::PipeName(p) + "\": " + std::to_string(r.busy[p]);
            s += "}, \"gm_bytes\": " + std::to_string(r.gmBytes) + ", \"active_cores\": " + std::to_string(r.activeCores) + "}";
        }
        return s + "]}";
    }
};

int Report(const EmuDev& dev, char* report, int reportLen)
{
    if (report && reportLen > 0) {
        const std::string j = dev.Json();
        std::strncpy(report, j.c_str(), reportLen - 1);
        report[reportLen - 1] = 0;
        if (static_cast<int>(j.size()) >= reportLen) return 3;   // report truncated
    }
    return 0;
}

}  // namespace

extern "C" {

// torch.ops.enec.compress (mode 0) / compress_into (mode 1) on an NPU tensor, as the binding runs
// it (op_host/enec_orchestrate.h), on the emulated device. params: (b, n, m) or null (histogram).
// The blob (total bytes) is copied to `out` (outCap bytes). Returns 0, 1 with `err`, 3 if the
// report did not fit.
int enec_emu_compress_op(int mode, const void* x, uint64_t xBytes, uint32_t dtype, uint64_t numel, uint32_t ndim,
                         const uint64_t* dims, uint32_t cores, const uint32_t* params, uint8_t* out, uint64_t outCap,
                         uint64_t* total, char* report, int reportLen, char* err, int errLen)
{
    EmuDev dev;
    try {
        EmuDev::Buf xb = dev.Alloc(std::max<uint64_t>(xBytes, 16), false);
        std::memcpy(xb.p, x, xBytes);
        xb.bytes = xBytes;
        if (mode == 1) {
            EmuDev::Buf o = dev.Alloc(outCap, false);
            *total = EnecCompressIntoOnDevice(dev, xb, dtype, numel, ndim, dims, cores, o, outCap, params);
            std::memcpy(out, o.p, *total);
        } else {
            EnecCompressed<EmuDev> r = EnecCompressOnDevice(dev, xb, dtype, numel, ndim, dims, cores, params);
            // the binding reads the size once and trims the worst-case buffer with one device copy
            const uint64_t n = EnecTotalOnHost(dev, r);
            if (n > outCap) throw EmuError("output buffer too small");
            if (n != r.cap) dev.Copy(r.blob, 0, r.blob, 0, n);
            std::memcpy(out, r.blob.p, n);
            *total = n;
        }
    } catch (const std::exception& e) {
        return Finish(e.what(), err, errLen);
    }
    emu::ClearGm();
    return Report(dev, report, reportLen);
}

// torch.ops.enec.decompress(blob, shape, dtype) on an NPU tensor (op_host/enec_orchestrate.h) on the
// emulated device: nothing read before the kernel, which validates the blob itself; `check` = 1 reads
// its status back (one blocking read, what the op does), 0 leaves it to the caller (pipelines).
// Returns 0 and the kernel status in *status (0 fine, see enec_tiling.h), or 1 with `err`.
int enec_emu_decompress_op(const uint8_t* blob, uint64_t size, uint32_t dtype, uint32_t ndim, const uint64_t* dims,
                           void* y, uint64_t yBytes, uint32_t cores, int check, int32_t* status, char* report,
                           int reportLen, char* err, int errLen)
{
    EmuDev dev;
    try {
        EmuDev::Buf b = dev.Alloc(std::max<uint64_t>(size, 1), false);
        std::memcpy(b.p, blob, size);
        b.bytes = size;
        EmuDev::Buf yb = dev.Alloc(std::max<uint64_t>(yBytes, 1), false);
        yb.bytes = yBytes;
        EmuDev::Buf st = dev.Alloc(4ull * cores * ENEC_STATUS_SLOT_INTS, false);
        EnecDecompressChecked(dev, b, size, dtype, ndim, dims, cores, yb, st);
        if (check) {
            *status = EnecStatusOnHost(dev, st, cores);
        } else {
            *status = 0;
            for (uint32_t c = 0; c < cores && !*status; ++c)
                std::memcpy(status, st.p + 4ull * c * ENEC_STATUS_SLOT_INTS, 4);
        }
        std::memcpy(y, yb.p, yBytes);
    } catch (const std::exception& e) {
        return Finish(e.what(), err, errLen);
    }
    emu::ClearGm();
    return Report(dev, report, reportLen);
}

// The decompress kernel on a blob the host validated (EnecParseHeader + EnecCheckOutlierIndex):
// b, n, m and the offsets come from the tiling (checkHeader 0). Used for checksummed blobs, which
// the NPU binding decodes on the host, so that the kernel is still exercised on them here.
int enec_emu_decompress(const uint8_t* blob, uint64_t totalBytes, void* y, uint64_t yBytes,
                        const EnecTilingData* tiling, char* err, int errLen)
{
    emu::ClearGm();
    std::vector<int32_t> status(static_cast<size_t>(tiling->coreNum) * ENEC_STATUS_SLOT_INTS, -1);
    emu::RegisterGm(blob, totalBytes, "blob");
    emu::RegisterGm(y, yBytes, "y");
    emu::RegisterGm(status.data(), 4 * status.size(), "status");
    EnecTilingData t = *tiling;
    t.totalBytes = totalBytes;
    t.checkHeader = 0;
    std::string e = emu::Launch(static_cast<int>(t.coreNum), [&]() {
        enec_decompress((GM_ADDR)blob, (GM_ADDR)y, (GM_ADDR)status.data(), nullptr, (GM_ADDR)&t);
    }, Active(t));
    for (size_t c = 0; e.empty() && c < tiling->coreNum; ++c)
        if (status[c * ENEC_STATUS_SLOT_INTS] != 0) e = EnecStatusMessage(status[c * ENEC_STATUS_SLOT_INTS]);
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

uint64_t enec_emu_tiling_bytes() { return sizeof(EnecTilingData); }

// Profile of busy cycles per (pipe, instruction, call site): on = 1 clears and starts, 0 stops.
void enec_emu_profile(int on)
{
    emu::Profiling() = on != 0;
    if (on) emu::Profile().clear();
}

// "cycles\tcount\tsite" lines, most cycles first; returns the length needed.
int enec_emu_profile_dump(char* out, int len)
{
    std::vector<std::pair<std::string, emu::ProfileEntry>> v(emu::Profile().begin(), emu::Profile().end());
    std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.second.cycles > b.second.cycles; });
    std::string s;
    for (auto& kv : v) s += std::to_string(static_cast<long long>(kv.second.cycles)) + "\t" + std::to_string(kv.second.count) + "\t" + kv.first + "\n";
    if (out && len > 0) {
        std::strncpy(out, s.c_str(), len - 1);
        out[len - 1] = 0;
    }
    return static_cast<int>(s.size());
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
