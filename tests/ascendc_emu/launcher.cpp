// C entry points that run the enec kernels (op_kernel/*.cpp, compiled against the emulation
// header in tests/ascendc_emu/include) on all cores, for python/enec/emulated.py (ctypes).
// Every buffer handed to a kernel is registered as GM, so any access outside them fails.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#define ENEC_HOST_DOUBLE 1     // enec_search.h: the CPU double ops too, for the soft-double checks
#include "kernel_operator.h"
#include "../../op_kernel/enec_search.h"
#include "../../op_host/enec_host.h"
#include "../../op_host/enec_orchestrate.h"

extern "C" void enec_compress(GM_ADDR x, GM_ADDR blob, GM_ADDR counts, GM_ADDR staging, GM_ADDR workspace,
                              GM_ADDR tiling);
extern "C" void enec_finish(GM_ADDR staging, GM_ADDR counts, GM_ADDR blob, GM_ADDR workspace, GM_ADDR tiling);
extern "C" void enec_decompress(GM_ADDR blob, GM_ADDR y, GM_ADDR status, GM_ADDR workspace, GM_ADDR tiling);
extern "C" void enec_histogram(GM_ADDR x, GM_ADDR partial, GM_ADDR workspace, GM_ADDR tiling);
extern "C" void enec_params(GM_ADDR partial, GM_ADDR tilingOut, GM_ADDR blob, GM_ADDR workspace, GM_ADDR tiling);

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
    void Kernel(const char* name, const EnecTilingData& t, const std::function<void()>& body, int cores = 0)
    {
        std::string e = cores ? emu::Launch(cores, body, cores) : emu::Launch(static_cast<int>(t.coreNum), body, Active(t));
        emu::ClearGm();
        if (!e.empty()) throw EmuError(std::string(name) + ": " + e);
        DeviceOp(name, emu::LastReport().us);
        reports.push_back(emu::LastReport());
        reportNames.push_back(name);
    }
    Buf Tiling(const EnecTilingData& t)
    {
        Buf b = Alloc(sizeof t, false);
        std::memcpy(b.p, &t, sizeof t);
        DeviceOp("tiling to device", 1.0);
        return b;
    }
    // the kernels' tiling as the device holds it (enec_params may have written it): only for the
    // GM extents registered here, no host read in the model
    static EnecTilingData DeviceTiling(const Buf& tiling)
    {
        EnecTilingData t;
        std::memcpy(&t, tiling.p, sizeof t);
        return t;
    }
    void LaunchHistogram(const EnecTilingData& t, const Buf& tiling, const Buf& x, Buf& partial)
    {
        emu::ClearGm();
        emu::RegisterGm(x.p, x.bytes, "x");
        emu::RegisterGm(partial.p, partial.bytes, "partial");
        emu::RegisterGm(tiling.p, tiling.bytes, "tiling");
        Kernel("enec_histogram", t, [&]() { enec_histogram(x.p, partial.p, nullptr, tiling.p); });
    }
    void LaunchParams(const EnecTilingData& t, const Buf& tiling, const Buf& partial, Buf& tilingOut, Buf& blob)
    {
        emu::ClearGm();
        emu::RegisterGm(partial.p, partial.bytes, "partial");
        emu::RegisterGm(tiling.p, tiling.bytes, "tiling");
        emu::RegisterGm(tilingOut.p, tilingOut.bytes, "tilingOut");
        emu::RegisterGm(blob.p, blob.bytes, "blob");
        Kernel("enec_params", t, [&]() { enec_params(partial.p, tilingOut.p, blob.p, nullptr, tiling.p); }, 1);
    }
    void LaunchCompress(const EnecTilingData& th, const Buf& tiling, const Buf& x, Buf& blob, Buf& counts, Buf& staging)
    {
        const EnecTilingData t = DeviceTiling(tiling);
        emu::ClearGm();
        emu::RegisterGm(x.p, x.bytes, "x");
        emu::RegisterGm(blob.p, blob.bytes, "blob");
        emu::RegisterGm(staging.p, staging.bytes, "workspace");
        emu::RegisterGm(counts.p, t.blocks * 4, "counts");
        emu::RegisterGm(tiling.p, tiling.bytes, "tiling");
        Kernel("enec_compress", th, [&]() { enec_compress(x.p, blob.p, counts.p, staging.p, nullptr, tiling.p); });
    }
    void LaunchFinish(const EnecTilingData& th, const Buf& tiling, Buf& staging, Buf& counts, Buf& blob)
    {
        const EnecTilingData t = DeviceTiling(tiling);
        emu::ClearGm();
        emu::RegisterGm(blob.p, t.outlierOffset + (t.n > t.m ? t.blocks * t.wsSlotBytes : 0), "blob");
        emu::RegisterGm(staging.p, staging.bytes, "workspace");
        emu::RegisterGm(counts.p, t.blocks * 4, "counts");
        emu::RegisterGm(tiling.p, tiling.bytes, "tiling");
        Kernel("enec_finish", th, [&]() { enec_finish(staging.p, counts.p, blob.p, nullptr, tiling.p); });
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

// The enec_params kernel alone (one core) on a given histogram, as `cores` per-core partial
// histograms (the counts split over the cores' slots in their 16-bit digit planes, as
// enec_histogram writes them), for a 1-element tensor (the search reads only the counts).
// out = (b, n, m) from the tiling it writes. Returns 0, or 1 with `err`.
int enec_emu_device_params(const int64_t* hist, uint32_t dtype, uint32_t cores, uint32_t* out, char* err, int errLen)
{
    try {
        const uint32_t bins = 1u << EnecExpBits(dtype);
        std::vector<int32_t> part(static_cast<size_t>(cores) * ENEC_HIST_SLOT_BYTES / 4, 0);
        for (uint32_t v = 0; v < bins; ++v) {
            const uint64_t h = static_cast<uint64_t>(hist[v]);
            for (uint32_t c = 0; c < cores; ++c) {
                const uint64_t share = h / cores + (c < h % cores ? 1 : 0);
                for (uint32_t p = 0; p < ENEC_HIST_PLANES; ++p)
                    part[static_cast<size_t>(c) * ENEC_HIST_SLOT_BYTES / 4 + p * ENEC_HIST_BINS + v] =
                        static_cast<int32_t>((share >> (16 * p)) & 0xFFFF);
            }
        }
        EnecTilingData t;
        const uint64_t dims[1] = {1};
        if (EnecComputeTiling(dtype, 1, 1, 0, EnecExpBits(dtype), 0, cores, &t) != 0) throw EmuError("bad dtype");
        t.ndim = 1;
        EmuDev dev;
        EmuDev::Buf partial = EmuDev::Wrap(reinterpret_cast<uint8_t*>(part.data()), 4 * part.size());
        EmuDev::Buf tilingIn = dev.Tiling(t);
        EmuDev::Buf tilingOut = dev.Alloc(sizeof(EnecTilingData), false);
        EmuDev::Buf blob = dev.Alloc(4096, false);
        (void)dims;
        dev.LaunchParams(t, tilingIn, partial, tilingOut, blob);
        const EnecTilingData r = EmuDev::DeviceTiling(tilingOut);
        out[0] = static_cast<uint32_t>(r.b); out[1] = static_cast<uint32_t>(r.n); out[2] = static_cast<uint32_t>(r.m);
    } catch (const std::exception& e) {
        return Finish(e.what(), err, errLen);
    }
    emu::ClearGm();
    return 0;
}

// The enec_histogram kernel alone on `cores` cores: hist[c * 256 + v] = core c's count of exponent v,
// read from its digit planes. Returns 0, or 1 with `err`.
int enec_emu_histogram(const void* x, uint64_t xBytes, uint32_t dtype, uint64_t numel, uint32_t cores, int64_t* hist,
                       char* err, int errLen)
{
    try {
        EnecTilingData t;
        if (EnecComputeTiling(dtype, numel, 1, 0, EnecExpBits(dtype), 0, cores, &t) != 0) throw EmuError("bad tiling");
        t.ndim = 1;
        EmuDev dev;
        EmuDev::Buf xb = dev.Alloc(std::max<uint64_t>(xBytes, 16), false);
        std::memcpy(xb.p, x, xBytes);
        xb.bytes = xBytes;
        EmuDev::Buf tilingIn = dev.Tiling(t);
        EmuDev::Buf partial = dev.Alloc(static_cast<uint64_t>(cores) * ENEC_HIST_SLOT_BYTES, false);
        dev.LaunchHistogram(t, tilingIn, xb, partial);
        const int32_t* pl = reinterpret_cast<const int32_t*>(partial.p);
        for (uint32_t c = 0; c < cores; ++c)
            for (uint32_t v = 0; v < ENEC_HIST_BINS; ++v) {
                uint64_t s = 0;
                for (uint32_t q = 0; q < ENEC_HIST_PLANES; ++q)
                    s += static_cast<uint64_t>(static_cast<uint32_t>(pl[static_cast<size_t>(c) * ENEC_HIST_SLOT_BYTES / 4 +
                                                                        q * ENEC_HIST_BINS + v])) << (16 * q);
                hist[static_cast<size_t>(c) * ENEC_HIST_BINS + v] = static_cast<int64_t>(s);
            }
    } catch (const std::exception& e) {
        return Finish(e.what(), err, errLen);
    }
    emu::ClearGm();
    return 0;
}

// The search of op_kernel/enec_search.h with the device's exact integer doubles (EnecSoftOps), run
// directly (no kernel), for many histograms quickly. Returns 0 or -1.
int enec_emu_soft_search(const int64_t* hist, uint32_t dtype, uint32_t* out)
{
    int64_t cum[2 * 256 + 1];
    return EnecSearchParams<EnecSoftOps>(hist, EnecExpBits(dtype), cum, out, out + 1, out + 2);
}

// Each operation of EnecSoftOps against the CPU's IEEE doubles on `iters` random operand sets per
// kind (int64 -> double, a / b of integers, a * b, 1 - a, a - b, a + b, <, ==), from seed. Returns the
// number of mismatches; the first one's description goes to `err`.
uint64_t enec_emu_softdouble_check(uint64_t seed, uint64_t iters, char* err, int errLen)
{
    using S = EnecSoftOps;
    using H = EnecHostDouble;
    uint64_t st = seed * 0x9E3779B97F4A7C15ull + 1, bad = 0;
    auto rnd = [&]() { st ^= st << 13; st ^= st >> 7; st ^= st << 17; return st; };
    auto toD = [](EnecSoftDouble v) { return v.mant == 0 ? 0.0 : std::ldexp(static_cast<double>(v.mant), v.exp); };
    auto toS = [](double d) {
        EnecSoftDouble v;
        if (d == 0) { v.mant = 0; v.exp = 0; return v; }
        int e = 0;
        const double f = std::frexp(d, &e);                 // d = f * 2^e, f in [0.5, 1)
        v.mant = static_cast<uint64_t>(std::ldexp(f, 53));
        v.exp = e - 53;
        return v;
    };
    // an integer of a random bit length (1..63), sometimes near powers of two and ties
    auto rint = [&]() -> uint64_t {
        const int len = 1 + static_cast<int>(rnd() % 63);
        uint64_t v = (rnd() >> (64 - len)) | (1ull << (len - 1));
        switch (rnd() % 4) {
            case 0: v |= (1ull << (len - 1)) - 1; break;                    // all ones
            case 1: if (len > 54) v = (v >> (len - 54) << (len - 54)) | (1ull << (len - 55)); break;   // a tie
            default: break;
        }
        return v;
    };
    // a double in [2^-e, 1], e up to 70 (as p, p^k and 1 - p16 are)
    auto rfrac = [&]() -> double {
        if (rnd() % 16 == 0) return 1.0;
        return H::Div(static_cast<double>(rint() >> 1), static_cast<double>((rint() >> 1) | (1ull << 62)));
    };
    auto report = [&](const char* what, double a, double b, double want, EnecSoftDouble got) {
        if (++bad == 1 && err && errLen > 0)
            std::snprintf(err, errLen, "%s(%a, %a): double %a, soft %a", what, a, b, want, toD(got));
    };
    for (uint64_t i = 0; i < iters; ++i) {
        const uint64_t x = rint(), y = rint();
        const double dx = H::FromU64(x), dy = H::FromU64(y);
        EnecSoftDouble s = S::FromU64(x);
        if (toD(s) != dx) report("FromU64", static_cast<double>(x), 0, dx, s);
        const uint64_t lo = std::min(x, y), hi = std::max(x, y);
        s = S::Div(S::FromU64(lo), S::FromU64(hi));
        double want = H::Div(H::FromU64(lo), H::FromU64(hi));
        if (toD(s) != want) report("Div", H::FromU64(lo), H::FromU64(hi), want, s);
        double a = rfrac(), b = rfrac();
        for (int k = 0; k < 4; ++k) {                        // p^2 .. p^16 and products of two
            s = S::Mul(toS(a), toS(b));
            want = H::Mul(a, b);
            if (toD(s) != want) report("Mul", a, b, want, s);
            a = want;
        }
        const double p = rfrac(), q = rfrac();
        s = S::Sub(S::FromU64(1), toS(p));
        want = H::Sub(1.0, p);
        if (toD(s) != want) report("Sub1", 1.0, p, want, s);
        const double big = std::max(p, q) * static_cast<double>(1 + rnd() % 16), small = std::min(p, q);
        s = S::Sub(toS(big), toS(small));
        want = H::Sub(big, small);
        if (toD(s) != want) report("Sub", big, small, want, s);
        const double m = static_cast<double>(rnd() % 17), sp = H::Mul(static_cast<double>(rnd() % 9), p);
        s = S::Add(toS(m), toS(sp));
        want = H::Add(m, sp);
        if (toD(s) != want) report("Add", m, sp, want, s);
        s = S::Add(toS(p), toS(q));
        want = H::Add(p, q);
        if (toD(s) != want) report("Add", p, q, want, s);
        if (S::Less(toS(p), toS(q)) != H::Less(p, q) || S::Equal(toS(p), toS(p)) != true ||
            S::Equal(toS(p), toS(q)) != H::Equal(p, q))
            report("Less/Equal", p, q, 0, toS(0));
    }
    return bad;
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
