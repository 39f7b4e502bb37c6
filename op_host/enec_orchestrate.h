// The sequence of device work and host reads behind torch.ops.enec.compress / compress_into /
// decompress on an NPU tensor, written once and run by two back ends:
//   * the torch_npu binding (op_host/enec_npu_binding.cpp): real device, ATen ops and the
//     AscendC kernels on the current stream;
//   * the emulation (tests/ascendc_emu/launcher.cpp, used by python/enec/emulated.py and
//     scripts/npu_projection.py): host memory, the same kernels under the AscendC emulation, and
//     every step priced by the timing model, so that what is counted (launches, copies, blocking
//     host reads) is what the NPU would do.
//
// `Dev` provides (Buf: a device buffer handle that can be narrowed by byte offsets):
//   Buf  Alloc(uint64_t bytes, bool zeroed)                 device memory (zeroed: a memset on the stream)
//   void ExponentHistogram(const Buf& x, uint32_t dtype, uint64_t numel, int64_t* hostHist)
//                                                            device histogram, copied to the host (blocking)
//   void ToHost(void* dst, const Buf& src, uint64_t off, uint64_t bytes)      blocking device->host read
//   void ToDevice(Buf& dst, uint64_t off, const void* src, uint64_t bytes)    host->device copy on the stream
//   void Copy(Buf& dst, uint64_t dstOff, const Buf& src, uint64_t srcOff, uint64_t bytes)   device copy
//   void Zero(Buf& b, uint64_t bytes)                        memset of the first bytes, on the stream
//   Size SizeOnDevice(const Buf& blob)                       the blob's total size as a device value
//                                                            (a copy of the header field, no host read)
//   void LaunchCompress(const EnecTilingData&, const Buf& x, Buf& blob, Buf& counts, Buf& staging)
//   void LaunchFinish(const EnecTilingData&, Buf& staging, Buf& counts, Buf& blob)
//   void LaunchDecompress(const EnecTilingData&, const Buf& blob, Buf& y)
//   [[noreturn]] void Fail(const char* message)              raise the caller's error (corrupt blob, ...)
// No step depends on torch or CANN headers: the data path is plain C++ over Dev.
#ifndef ENEC_ORCHESTRATE_H
#define ENEC_ORCHESTRATE_H

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "enec_host.h"

template <class Dev>
struct EnecCompressed {
    typename Dev::Buf blob;   // capacity `cap` bytes, the blob in its first `total` bytes
    uint64_t cap = 0;
    bool totalOnDevice = false;   // total is in the blob's header only (written by enec_finish)
    uint64_t total = 0;           // when !totalOnDevice
};

// The blob's total size on the host: one blocking read of the header field when the device wrote it.
template <class Dev>
uint64_t EnecTotalOnHost(Dev& dev, const EnecCompressed<Dev>& r)
{
    if (!r.totalOnDevice) return r.total;
    uint64_t total = 0;
    dev.ToHost(&total, r.blob, ENEC_HEADER_TOTAL_OFFSET, 8);
    return total;
}

// compress: histogram -> parameters (host) -> tiling -> header (every field but the total size,
// written from the host without waiting) -> enec_compress -> enec_finish (outlier index by a
// device scan, outliers moved, total size into the header). `params` (b, n, m) skips the
// histogram: then nothing is read back. `into` (at least `intoBytes`) receives the blob directly
// when it holds the worst case for the chosen parameters.
template <class Dev>
EnecCompressed<Dev> EnecCompressOnDevice(Dev& dev, const typename Dev::Buf& x, uint32_t dtype, uint64_t numel,
    uint32_t ndim, const uint64_t* dims, uint32_t cores, const uint32_t* params = nullptr,
    typename Dev::Buf* into = nullptr, uint64_t intoBytes = 0)
{
    uint32_t b = 0, n = 1, m = 0;
    if (params) {
        b = params[0]; n = params[1]; m = params[2];
    } else if (numel > 0) {
        std::vector<int64_t> hist(static_cast<size_t>(1) << EnecExpBits(dtype), 0);
        dev.ExponentHistogram(x, dtype, numel, hist.data());
        EnecChooseParams(hist.data(), dtype, &b, &n, &m);
    }
    EnecTilingData t;
    if (EnecComputeTiling(dtype, numel, ndim, b, n, m, cores, &t) != 0) dev.Fail("enec: bad tiling arguments");
    EnecCompressed<Dev> r;
    r.cap = t.outlierOffset + (n > m ? t.blocks * t.wsSlotBytes : 0);
    if (into && intoBytes >= r.cap) {
        r.blob = *into;
        dev.Zero(r.blob, r.cap);                  // gap bytes are zero (docs/FORMAT.md)
    } else {
        r.blob = dev.Alloc(r.cap, true);
    }
    std::vector<uint8_t> header(EnecHeaderBytes(ndim));
    r.total = EnecPackHeader(&t, ndim, dims, 0, header.data());     // total: final only without outliers
    dev.ToDevice(r.blob, 0, header.data(), header.size());
    if (numel > 0) {
        typename Dev::Buf counts = dev.Alloc(4 * t.blocks, false);
        typename Dev::Buf staging = dev.Alloc(std::max<uint64_t>(EnecWorkspaceBytes(&t), 32), false);
        dev.LaunchCompress(t, x, r.blob, counts, staging);
        dev.LaunchFinish(t, staging, counts, r.blob);
        r.totalOnDevice = true;
    }
    return r;
}

// compress_into: the blob lands in `out` directly when `out` holds the worst case for the chosen
// parameters (no copy, no host read); otherwise it is made aside, its size read back, and copied.
// Returns the size as the device value Dev::Size.
template <class Dev>
typename Dev::Size EnecCompressIntoOnDevice(Dev& dev, const typename Dev::Buf& x, uint32_t dtype, uint64_t numel,
    uint32_t ndim, const uint64_t* dims, uint32_t cores, typename Dev::Buf& out, uint64_t outBytes,
    const uint32_t* params = nullptr)
{
    EnecCompressed<Dev> r = EnecCompressOnDevice(dev, x, dtype, numel, ndim, dims, cores, params, &out, outBytes);
    if (outBytes >= r.cap) return dev.SizeOnDevice(out);
    const uint64_t total = EnecTotalOnHost(dev, r);
    if (total > outBytes) dev.Fail("enec: out is too small for the blob");
    dev.Copy(out, 0, r.blob, 0, total);
    return dev.SizeOnDevice(out);
}

struct EnecDecodePlan {
    EnecTilingData t;
    uint32_t ndim = 0;
    uint64_t dims[32] = {};
    uint32_t checksumKind = 0;
    bool otherCodec = false;     // codecs 2-4 or a checksum: not for the kernel (the caller's host path)
};

// decompress, host side: the header (and the flags + outlier index) are read back and checked
// before anything trusts them; corruption goes to dev.Fail.
template <class Dev>
EnecDecodePlan EnecPlanDecompress(Dev& dev, const typename Dev::Buf& blob, uint64_t size, uint32_t cores)
{
    EnecDecodePlan p;
    std::vector<uint8_t> head(std::min<uint64_t>(size, ENEC_HEADER_MAX_BYTES));
    if (!head.empty()) dev.ToHost(head.data(), blob, 0, head.size());
    if (head.size() >= 13 && std::memcmp(head.data(), "ENEC", 4) == 0 && (head[5] != 1 || head[12] != 0)) {
        p.otherCodec = true;
        return p;
    }
    char err[512] = {0};
    uint64_t ck = 0;
    if (EnecParseHeader(head.data(), head.size(), size, cores, &p.t, &p.ndim, p.dims, &p.checksumKind, &ck, err,
                        sizeof err) != 0)
        dev.Fail((std::string("enec: corrupt blob: ") + err).c_str());
    if (p.t.blocks) {
        // flags + index: one small device-to-host copy (136 bytes per 16384 elements)
        std::vector<uint8_t> sect(p.t.outlierOffset - p.t.flagsOffset);
        dev.ToHost(sect.data(), blob, p.t.flagsOffset, sect.size());
        if (EnecCheckOutlierIndex(sect.data(), sect.size(), &p.t, err, sizeof err) != 0)
            dev.Fail((std::string("enec: corrupt blob: ") + err).c_str());
    }
    return p;
}

template <class Dev>
void EnecDecompressOnDevice(Dev& dev, const EnecDecodePlan& p, const typename Dev::Buf& blob, typename Dev::Buf& y)
{
    if (p.t.numel > 0) dev.LaunchDecompress(p.t, blob, y);
}

#endif
