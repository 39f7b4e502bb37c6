// Tiling data shared by the enec AscendC kernels (device) and the host code that fills it
// (op_host/enec_host.cpp, the torch_npu binding, the emulation tests, the native CPU library). A plain struct: the host
// copies it to device memory and passes its address as the kernels' last argument.
// Every field is 64-bit so the layout is identical on every compiler (no padding).
#ifndef ENEC_TILING_H
#define ENEC_TILING_H
#include <cstdint>

#define ENEC_BLOCK_ELEMS 16384u   // N: elements per block
#define ENEC_GROUP_LEN 16u        // L: codes per group
#define ENEC_MAX_GROUPS 1024u     // N / L
#define ENEC_LANE_ROUND 256u      // a short last block's lanes: its real elements rounded up to this
#define ENEC_HEADER_TOTAL_OFFSET 88u   // header byte offset of the blob's total size (u64, docs/FORMAT.md §2)

struct EnecTilingData {
    uint64_t numel;          // elements of the tensor
    uint64_t blocks;         // ceil(numel / N)
    uint64_t fullBlocks;     // blocks holding N real elements
    uint64_t lastReal;       // real elements of the last block
    uint64_t lastLanes;      // lanes of the last block (real count rounded up to 256)
    uint64_t rawOffset;      // byte offsets of the sections inside the blob (docs/FORMAT.md §3)
    uint64_t lowOffset;
    uint64_t flagsOffset;
    uint64_t indexOffset;
    uint64_t outlierOffset;
    uint64_t wsSlotBytes;    // compress: bytes per block slot in the outlier workspace
    uint64_t dtype;          // 0 bfloat16, 1 float16, 2 float32
    uint64_t b;              // transform pivot
    uint64_t n;              // code width
    uint64_t m;              // low-bit width
    uint64_t coreNum;        // vector cores the kernels run on (block b goes to core b % coreNum)
    uint64_t totalBytes;     // size of the whole blob (decompress: the blob tensor's size)
    uint64_t checkHeader;    // decompress: 1 = read b, n, m from the blob's header and validate it on the
                             // device against the expected dtype, numel and shape (no host read first)
    uint64_t ndim;           // decompress with checkHeader: expected dimensions, whose sizes follow the
                             // struct in the tiling buffer (ndim x u64)
};

// Header layout (docs/FORMAT.md §2) as the device reads it.
#define ENEC_HEADER_FIXED_BYTES 96u
#define ENEC_HEADER_MAX_BYTES 352u    // header of a 32-dim blob: the most a decoder reads first
#define ENEC_SECTION_ALIGN 32u
#define ENEC_FORMAT_VERSION 1u
#define ENEC_CODEC_ENEC 1u

#if defined(__CCE_AICORE__) || defined(__DAV_C220_VEC__)
#include "kernel_operator.h"      // device builds: __aicore__
#define ENEC_LAYOUT_FN __aicore__ inline
#else
#define ENEC_LAYOUT_FN inline
#endif

// Block geometry and section offsets of a blob (docs/FORMAT.md §3): the one C++ definition, used
// by the host tiling (op_host EnecComputeTiling, which the native CPU library calls too) and by the
// decompress kernel when it validates a header on the device.
ENEC_LAYOUT_FN uint64_t EnecRoundUp(uint64_t x, uint64_t k) { return (x + k - 1) / k * k; }
ENEC_LAYOUT_FN uint64_t EnecRawBits(uint64_t dtype) { return dtype == 0 ? 8 : dtype == 1 ? 11 : 24; }
ENEC_LAYOUT_FN uint64_t EnecHeaderBytesFor(uint64_t ndim)
{
    return EnecRoundUp(ENEC_HEADER_FIXED_BYTES + 8 * ndim, ENEC_SECTION_ALIGN);
}
ENEC_LAYOUT_FN void EnecLayout(EnecTilingData& t, uint64_t dtype, uint64_t numel, uint64_t ndim, uint64_t n, uint64_t m)
{
    const uint64_t N = ENEC_BLOCK_ELEMS, L = ENEC_GROUP_LEN, A = ENEC_SECTION_ALIGN;
    t.numel = numel;
    t.blocks = (numel + N - 1) / N;
    t.fullBlocks = numel / N;
    t.lastReal = t.blocks ? numel - (t.blocks - 1) * N : 0;
    t.lastLanes = t.blocks ? EnecRoundUp(t.lastReal, ENEC_LANE_ROUND) : 0;
    uint64_t raw = t.fullBlocks * N * EnecRawBits(dtype) / 8;
    uint64_t low = t.fullBlocks * N * m / 8;
    uint64_t flags = t.fullBlocks * (N / L / 8);
    if (t.blocks > t.fullBlocks) {
        raw += t.lastLanes * EnecRawBits(dtype) / 8;
        low += t.lastLanes * m / 8;
        flags += t.lastLanes / L / 8;
    }
    t.rawOffset = EnecHeaderBytesFor(ndim);
    t.lowOffset = EnecRoundUp(t.rawOffset + raw, A);
    t.flagsOffset = EnecRoundUp(t.lowOffset + low, A);
    t.indexOffset = EnecRoundUp(t.flagsOffset + flags, A);
    t.outlierOffset = EnecRoundUp(t.indexOffset + 8 * t.blocks, A);
    t.wsSlotBytes = n > m ? N * (n - m) / 8 : A;
}

// The fixed header (docs/FORMAT.md §2, bytes 0..95, checksum kind 0) as 12 little-endian u64 words:
// the one definition, used by the host (op_host EnecPackHeader) and by the enec_params kernel,
// which writes the header of a blob whose parameters it chose.
ENEC_LAYOUT_FN void EnecHeaderWords(const EnecTilingData& t, uint64_t ndim, uint64_t total, uint64_t* w)
{
    w[0] = 0x43454E45ull | (static_cast<uint64_t>(ENEC_FORMAT_VERSION) << 32) |
           (static_cast<uint64_t>(ENEC_CODEC_ENEC) << 40) | ((t.dtype & 0xFF) << 48) | ((ndim & 0xFF) << 56);
    w[1] = (t.b & 0xFF) | ((t.n & 0xFF) << 8) | ((t.m & 0xFF) << 16) | (static_cast<uint64_t>(ENEC_GROUP_LEN) << 24);
    w[2] = static_cast<uint64_t>(ENEC_BLOCK_ELEMS) | (EnecHeaderBytesFor(ndim) << 32);
    w[3] = t.numel;
    w[4] = t.blocks;
    w[5] = 0;                                     // checksum
    w[6] = t.rawOffset;
    w[7] = t.lowOffset;
    w[8] = t.flagsOffset;
    w[9] = t.indexOffset;
    w[10] = t.outlierOffset;
    w[11] = total;
}

// The alignment gaps of a blob (after the raw, low-bit, flag and index sections; docs/FORMAT.md:
// zero), the only bytes no kernel and no header copy writes: up to 4 (start, length) pairs, returns
// how many. Cleared by the host (EnecZeroGaps) or, when the device chose the parameters, by enec_params.
ENEC_LAYOUT_FN uint32_t EnecGaps(const EnecTilingData& t, uint64_t* start, uint64_t* len)
{
    const uint64_t rawBits = EnecRawBits(t.dtype);
    const uint64_t lanes = t.fullBlocks * ENEC_BLOCK_ELEMS + (t.blocks > t.fullBlocks ? t.lastLanes : 0);
    const uint64_t ends[4] = {t.rawOffset + lanes * rawBits / 8, t.lowOffset + lanes * t.m / 8,
                              t.flagsOffset + lanes / ENEC_GROUP_LEN / 8, t.indexOffset + 8 * t.blocks};
    const uint64_t next[4] = {t.lowOffset, t.flagsOffset, t.indexOffset, t.outlierOffset};
    uint32_t k = 0;
    for (uint32_t i = 0; i < 4; ++i) {
        if (next[i] > ends[i]) { start[k] = ends[i]; len[k] = next[i] - ends[i]; ++k; }
    }
    return k;
}

// Bytes of every partial histogram the enec_histogram kernel writes per core: 256 bins, each count
// as four 16-bit digits in int32 planes (plane k, bin v at int32 k * 256 + v), so that enec_params
// sums the cores' planes with int32 vector adds and no count of any size overflows.
#define ENEC_HIST_BINS 256u
#define ENEC_HIST_PLANES 4u
#define ENEC_HIST_SLOT_BYTES (ENEC_HIST_BINS * ENEC_HIST_PLANES * 4u)

// Status codes of the decompress kernel (one int32 per core, 32 bytes apart; 0 = fine).
#define ENEC_STATUS_OK 0
#define ENEC_STATUS_NOT_ENEC 1        // not an ENEC codec-1 blob (bad magic, version or codec)
#define ENEC_STATUS_OTHER_PATH 2      // a checksummed blob: decoded on the host
#define ENEC_STATUS_MISMATCH 3        // dtype or shape differs from the expected ones
#define ENEC_STATUS_CORRUPT_HEADER 4  // parameters, offsets or sizes inconsistent
#define ENEC_STATUS_CORRUPT_INDEX 5   // an outlier index entry disagrees with the flags or the size
#define ENEC_STATUS_SLOT_INTS 8u

#endif
