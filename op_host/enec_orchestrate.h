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
//   void ToHost(void* dst, const Buf& src, uint64_t off, uint64_t bytes)      blocking device->host read
//   void ToDevice(Buf& dst, uint64_t off, const void* src, uint64_t bytes)    host->device copy on the stream
//   void Copy(Buf& dst, uint64_t dstOff, const Buf& src, uint64_t srcOff, uint64_t bytes)   device copy
//   void Zero(Buf& b, uint64_t off, uint64_t bytes)          memset of a byte range, on the stream
//   Size SizeOnDevice(const Buf& blob)                       the blob's total size as a device value
//                                                            (a copy of the header field, no host read)
//   Buf  Tiling(const EnecTilingData&)                     the tiling struct copied to the device (on the stream)
//   void LaunchHistogram(const EnecTilingData&, const Buf& tiling, const Buf& x, Buf& partial)
//   void LaunchParams(const EnecTilingData&, const Buf& tiling, const Buf& partial, Buf& tilingOut, Buf& blob)
//   void LaunchCompress(const EnecTilingData&, const Buf& tiling, const Buf& x, Buf& blob, Buf& counts, Buf& staging)
//   void LaunchFinish(const EnecTilingData&, const Buf& tiling, Buf& staging, Buf& counts, Buf& blob)
//                                                            (the host struct gives the launch geometry; the
//                                                            kernels read the device tiling, which enec_params
//                                                            may have written)
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
// sections (docs/FORMAT.md: zero; EnecGaps). Everything else is written by the header copy,
// enec_compress (sections and zero-padded outlier slots) or enec_finish, so only these few bytes
// are cleared, not the whole worst-case buffer (a memset of it would cost a quarter of the compress
// kernel). When the device chooses the parameters, enec_params clears them.
template <class Dev>
void EnecZeroGaps(Dev& dev, typename Dev::Buf& blob, const EnecTilingData& t)
{
    uint64_t start[4], len[4];
    const uint32_t gaps = EnecGaps(t, start, len);
    for (uint32_t i = 0; i < gaps; ++i) dev.Zero(blob, start[i], len[i]);
}

// compress: the parameters (b, n, m), then tiling -> header (written from the host without
// waiting) -> enec_compress -> enec_finish (outlier index by a device scan, outliers moved, total
// size into the header). Nothing is read back:
//   * `params` given (a plan): the host fills the tiling and the whole header;
//   * otherwise, on the device: enec_histogram (exact per-core exponent counts) and enec_params
//     (one core: the counts summed, the search of EnecChooseParams with exact integer doubles, the
//     compress kernels' tiling, the header's fixed 96 bytes and the gaps). The host only knows the
//     geometry, so the blob and the outlier workspace are sized for the worst (n, m) of the dtype.
// `into` (at least `intoBytes`) receives the blob directly when it holds the worst case.
template <class Dev>
EnecCompressed<Dev> EnecCompressOnDevice(Dev& dev, const typename Dev::Buf& x, uint32_t dtype, uint64_t numel,
    uint32_t ndim, const uint64_t* dims, uint32_t cores, const uint32_t* params = nullptr,
    typename Dev::Buf* into = nullptr, uint64_t intoBytes = 0)
{
    const bool onDevice = !params && numel > 0;
    const uint32_t w = EnecExpBits(dtype);
    uint32_t b = 0, n = onDevice ? w : 1, m = 0;
    if (params) {
        b = params[0]; n = params[1]; m = params[2];
    }
    EnecTilingData t;
    if (w == 0 || EnecComputeTiling(dtype, numel, ndim, b, n, m, cores, &t) != 0) dev.Fail("enec: bad tiling arguments");
    EnecCompressed<Dev> r;
    // worst case: every group flagged (a block's outliers never exceed lanes * (n - m) bits, as
    // its group count is a multiple of 16), within format.max_compressed_bytes; with the parameters
    // still unknown, the largest over n = W and every m
    const uint64_t lanes = t.fullBlocks * ENEC_BLOCK_ELEMS + (t.blocks > t.fullBlocks ? t.lastLanes : 0);
    r.cap = t.outlierOffset + lanes * (n - m) / 8;
    for (uint32_t mm = 0; onDevice && mm <= w; ++mm) {
        EnecTilingData u;
        EnecComputeTiling(dtype, numel, ndim, 0, w, mm, cores, &u);
        r.cap = std::max<uint64_t>(r.cap, u.outlierOffset + lanes * (w - mm) / 8);
    }
    r.blob = into && intoBytes >= r.cap ? *into : dev.Alloc(r.cap, false);
    std::vector<uint8_t> header(EnecHeaderBytes(ndim));
    // total: final only without outliers; with the parameters on the device, only the dims count
    r.total = EnecPackHeader(&t, ndim, dims, 0, header.data());
    typename Dev::Buf tiling;
    if (onDevice) {
        t.ndim = ndim;                    // for the header enec_params writes
        typename Dev::Buf tilingIn = dev.Tiling(t);
        typename Dev::Buf partial = dev.Alloc(static_cast<uint64_t>(cores) * ENEC_HIST_SLOT_BYTES, false);
        tiling = dev.Alloc(sizeof(EnecTilingData), false);
        dev.ToDevice(r.blob, 0, header.data(), header.size());
        dev.LaunchHistogram(t, tilingIn, x, partial);
        dev.LaunchParams(t, tilingIn, partial, tiling, r.blob);
    } else {
        EnecZeroGaps(dev, r.blob, t);
        dev.ToDevice(r.blob, 0, header.data(), header.size());
        if (numel > 0) tiling = dev.Tiling(t);
    }
    if (numel > 0) {
        typename Dev::Buf counts = dev.Alloc(4 * t.blocks, false);
        typename Dev::Buf staging = dev.Alloc(std::max<uint64_t>(EnecWorkspaceBytes(&t), 32), false);
        dev.LaunchCompress(t, tiling, x, r.blob, counts, staging);
        dev.LaunchFinish(t, tiling, staging, counts, r.blob);
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
