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
//   void Zero(Buf& b, uint64_t off, uint64_t bytes)          memset of a byte range, on the stream
//   Size SizeOnDevice(const Buf& blob)                       the blob's total size as a device value
//                                                            (a copy of the header field, no host read)
//   void LaunchCompress(const EnecTilingData&, const Buf& x, Buf& blob, Buf& counts, Buf& staging)
//   void LaunchFinish(const EnecTilingData&, Buf& staging, Buf& counts, Buf& blob)
//   void LaunchDecompress(const EnecTilingData&, const uint64_t* dims, const Buf& blob, Buf& y, Buf& status)
//                                                            (dims follow the tiling struct in its device copy)
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

// The bytes of a blob no kernel writes: the alignment gaps after the raw, low-bit, flag and index
// sections (docs/FORMAT.md: zero). Everything else is written by the header copy, enec_compress
// (sections and zero-padded outlier slots) or enec_finish, so only these few bytes are cleared,
// not the whole worst-case buffer (a memset of it would cost a quarter of the compress kernel).
template <class Dev>
void EnecZeroGaps(Dev& dev, typename Dev::Buf& blob, const EnecTilingData& t)
{
    const uint64_t rawBits = EnecRawBits(t.dtype);
    const uint64_t lanes = t.fullBlocks * ENEC_BLOCK_ELEMS + (t.blocks > t.fullBlocks ? t.lastLanes : 0);
    const uint64_t ends[4] = {t.rawOffset + lanes * rawBits / 8, t.lowOffset + lanes * t.m / 8,
                              t.flagsOffset + lanes / ENEC_GROUP_LEN / 8, t.indexOffset + 8 * t.blocks};
    const uint64_t next[4] = {t.lowOffset, t.flagsOffset, t.indexOffset, t.outlierOffset};
    for (int i = 0; i < 4; ++i)
        if (next[i] > ends[i]) dev.Zero(blob, ends[i], next[i] - ends[i]);
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
    // worst case: every group flagged (a block's outliers never exceed lanes * (n - m) bits, as
    // its group count is a multiple of 16), within format.max_compressed_bytes
    const uint64_t lanes = t.fullBlocks * ENEC_BLOCK_ELEMS + (t.blocks > t.fullBlocks ? t.lastLanes : 0);
    r.cap = t.outlierOffset + lanes * (n - m) / 8;
    r.blob = into && intoBytes >= r.cap ? *into : dev.Alloc(r.cap, false);
    EnecZeroGaps(dev, r.blob, t);
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

// decompress with the caller's shape and dtype: nothing is read back before the kernel. The
// kernel reads b, n, m from the blob's header on the device, validates the header against the
// expected dtype and shape and the format, and every block's outlier index entry against its
// flags and the blob's size; it never reads or writes outside the blob, y and status. Verdicts go
// to `status` (cores x ENEC_STATUS_SLOT_INTS int32, see enec_tiling.h).
template <class Dev>
void EnecDecompressChecked(Dev& dev, const typename Dev::Buf& blob, uint64_t size, uint32_t dtype, uint32_t ndim,
    const uint64_t* dims, uint32_t cores, typename Dev::Buf& y, typename Dev::Buf& status)
{
    uint64_t numel = 1;
    for (uint32_t i = 0; i < ndim; ++i) numel *= dims[i];
    EnecTilingData t;
    if (EnecComputeTiling(dtype, numel, ndim, 0, 1, 0, cores, &t) != 0) dev.Fail("enec: bad tiling arguments");
    t.checkHeader = 1;
    t.ndim = ndim;
    t.totalBytes = size;
    dev.LaunchDecompress(t, dims, blob, y, status);
}

// The kernel's verdict on the host: one blocking read. The first non-zero core status, or 0.
template <class Dev>
int32_t EnecStatusOnHost(Dev& dev, const typename Dev::Buf& status, uint32_t cores)
{
    std::vector<int32_t> s(static_cast<size_t>(cores) * ENEC_STATUS_SLOT_INTS, 0);
    dev.ToHost(s.data(), status, 0, 4 * s.size());
    for (uint32_t c = 0; c < cores; ++c)
        if (s[static_cast<size_t>(c) * ENEC_STATUS_SLOT_INTS] != 0) return s[static_cast<size_t>(c) * ENEC_STATUS_SLOT_INTS];
    return 0;
}

inline const char* EnecStatusMessage(int32_t code)
{
    switch (code) {
        case ENEC_STATUS_OK: return "ok";
        case ENEC_STATUS_NOT_ENEC: return "enec: corrupt blob: not an enec blob (bad magic or version, or too short)";
        case ENEC_STATUS_OTHER_PATH: return "enec: blob is decoded on the host (a codec other than ENEC or a checksum)";
        case ENEC_STATUS_MISMATCH: return "enec: blob's dtype or shape differs from the requested ones";
        case ENEC_STATUS_CORRUPT_HEADER: return "enec: corrupt blob: header inconsistent with the format or the blob's size";
        case ENEC_STATUS_CORRUPT_INDEX: return "enec: corrupt blob: outlier index disagrees with the flags or the blob's size";
        default: return "enec: corrupt blob: unknown kernel status";
    }
}

#endif
