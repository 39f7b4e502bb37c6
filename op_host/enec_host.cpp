// Host side of the enec NPU operators (see enec_host.h). Plain C++17, no CANN or torch headers.
#include "enec_host.h"
#include "../op_kernel/enec_search.h"

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <cstring>

namespace {

constexpr uint64_t kN = ENEC_BLOCK_ELEMS;
constexpr uint64_t kGroup = ENEC_GROUP_LEN;
constexpr uint64_t kHeaderFixed = ENEC_HEADER_FIXED_BYTES;

uint64_t RoundUp(uint64_t x, uint64_t k) { return (x + k - 1) / k * k; }

void Put(uint8_t* p, uint64_t v, int bytes)
{
    for (int i = 0; i < bytes; ++i) p[i] = static_cast<uint8_t>(v >> (8 * i));
}

uint64_t Get(const uint8_t* p, int bytes)
{
    uint64_t v = 0;
    for (int i = 0; i < bytes; ++i) v |= static_cast<uint64_t>(p[i]) << (8 * i);
    return v;
}

int Reject(char* err, uint32_t errLen, const char* fmt, ...)
{
    if (err && errLen > 0) {
        va_list ap;
        va_start(ap, fmt);
        std::vsnprintf(err, errLen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

unsigned long long Ull(uint64_t v) { return static_cast<unsigned long long>(v); }

}  // namespace

extern "C" {

void EnecFormatConstants(uint64_t* out)
{
    const uint64_t v[12] = {ENEC_FORMAT_VERSION, ENEC_CODEC_ENEC, ENEC_BLOCK_ELEMS, ENEC_GROUP_LEN, ENEC_LANE_ROUND,
                            ENEC_SECTION_ALIGN, ENEC_HEADER_FIXED_BYTES, ENEC_HEADER_MAX_BYTES, 8, 12, 40,
                            ENEC_HEADER_TOTAL_OFFSET};
    std::memcpy(out, v, sizeof v);
}

void EnecKernelStatusCodes(int32_t* out)
{
    const int32_t v[7] = {ENEC_STATUS_OK, ENEC_STATUS_NOT_ENEC, ENEC_STATUS_OTHER_PATH, ENEC_STATUS_MISMATCH,
                          ENEC_STATUS_CORRUPT_HEADER, ENEC_STATUS_CORRUPT_INDEX, ENEC_STATUS_SLOT_INTS};
    std::memcpy(out, v, sizeof v);
}

uint32_t EnecExpBits(uint32_t dtype) { return dtype == 0 || dtype == 2 ? 8 : dtype == 1 ? 5 : 0; }

uint32_t EnecHeaderBytes(uint32_t ndim) { return static_cast<uint32_t>(EnecHeaderBytesFor(ndim)); }

int EnecComputeTiling(uint32_t dtype, uint64_t numel, uint32_t ndim, uint32_t b, uint32_t n, uint32_t m,
                      uint32_t coreNum, EnecTilingData* out)
{
    const uint32_t w = EnecExpBits(dtype);
    if (w == 0 || n < 1 || n > w || m > n || b >= (1u << w) || coreNum == 0 || ndim > 32 || numel > ENEC_MAX_NUMEL) {
        return -1;
    }
    EnecTilingData t;
    std::memset(&t, 0, sizeof t);
    EnecLayout(t, dtype, numel, ndim, n, m);
    t.dtype = dtype;
    t.b = b;
    t.n = n;
    t.m = m;
    t.coreNum = coreNum;
    *out = t;
    return 0;
}

uint64_t EnecWorkspaceBytes(const EnecTilingData* t) { return (t->blocks ? t->blocks : 1) * t->wsSlotBytes; }

uint64_t EnecOutlierIndex(const int32_t* counts, uint64_t blocks, uint32_t n, uint32_t m, uint64_t* index)
{
    uint64_t pos = 0;
    for (uint64_t i = 0; i < blocks; ++i) {
        index[i] = pos;
        if (n > m) pos += 2 * RoundUp(static_cast<uint64_t>(counts[i]), 16) * (n - m);
    }
    return pos;
}

// The search of python/enec/params.py (the spec; the tests compare the two on many histograms),
// with the CPU's doubles: op_kernel/enec_search.h, the one definition, which the device's
// enec_params kernel runs with exact integer doubles. Used by the native CPU library (per tensor,
// so its speed matters for small tensors), the emulation and the NPU binding with a plan-less
// host path.
int EnecChooseParams(const int64_t* hist, uint32_t dtype, uint32_t* bOut, uint32_t* nOut, uint32_t* mOut)
{
    const uint32_t w = EnecExpBits(dtype);
    if (w == 0) return -1;
    int64_t cum[2 * 256 + 1];
    return EnecSearchParams<EnecHostDouble>(hist, w, cum, bOut, nOut, mOut);
}

uint64_t EnecPackHeader(const EnecTilingData* t, uint32_t ndim, const uint64_t* shape, uint64_t outlierBytes,
                        uint8_t* out)
{
    const uint32_t hb = EnecHeaderBytes(ndim);
    std::memset(out, 0, hb);
    const uint64_t total = t->outlierOffset + outlierBytes;
    uint64_t words[12];
    EnecHeaderWords(*t, ndim, total, words);      // the fixed part, shared with the enec_params kernel
    for (int i = 0; i < 12; ++i) Put(out + 8 * i, words[i], 8);
    for (uint32_t i = 0; i < ndim; ++i) Put(out + kHeaderFixed + 8 * i, shape[i], 8);
    return total;
}

int EnecParseHeader(const uint8_t* head, uint64_t headBytes, uint64_t blobBytes, uint32_t coreNum,
                    EnecTilingData* t, uint32_t* ndimOut, uint64_t* shape, uint32_t* checksumKind, uint64_t* checksum,
                    char* err, uint32_t errLen)
{
    // The same checks, in the same order, as python/enec/format.py: _parse.
    if (blobBytes < kHeaderFixed) {
        return Reject(err, errLen, "blob of %llu bytes is too short for an enec header (%llu bytes)", Ull(blobBytes),
                      Ull(kHeaderFixed));
    }
    const uint64_t avail = std::min<uint64_t>(headBytes, blobBytes);
    if (avail < std::min<uint64_t>(blobBytes, ENEC_HEADER_MAX_BYTES)) {
        return Reject(err, errLen, "caller passed %llu header bytes of a %llu-byte blob", Ull(headBytes),
                      Ull(blobBytes));
    }
    const uint8_t* h = head;
    if (std::memcmp(h, "ENEC", 4) != 0) return Reject(err, errLen, "not an enec blob (bad magic)");
    if (h[4] != 1) return Reject(err, errLen, "unsupported enec format version %u (this build reads 1)", h[4]);
    if (h[5] != 1) return Reject(err, errLen, "unknown codec id %u in enec blob", h[5]);
    const uint32_t dtype = h[6], ndim = h[7], b = h[8], n = h[9], m = h[10];
    const uint32_t w = EnecExpBits(dtype);
    if (w == 0) return Reject(err, errLen, "unknown dtype code %u in enec blob", dtype);
    if (h[13] || h[14] || h[15]) return Reject(err, errLen, "reserved header bytes are not zero");
    if (h[11] != kGroup || Get(h + 16, 4) != kN) {
        return Reject(err, errLen, "unsupported group length %u / block size %llu", h[11], Ull(Get(h + 16, 4)));
    }
    const uint32_t ck = h[12];
    const uint64_t ckValue = Get(h + 40, 8);
    if (ck > 1) return Reject(err, errLen, "unknown checksum kind %u", ck);
    if (ck == 0 && ckValue != 0) return Reject(err, errLen, "checksum value present without a checksum kind");
    if (ndim > 32) return Reject(err, errLen, "blob declares %u dimensions (max 32)", ndim);
    if (n < 1 || n > w || m > n || b >= (1u << w)) {
        return Reject(err, errLen, "invalid ENEC parameters b=%u n=%u m=%u (need 1 <= n <= %u, 0 <= m <= n, "
                      "0 <= b < %u)", b, n, m, w, 1u << w);
    }
    if (kHeaderFixed + 8ull * ndim > blobBytes) {
        return Reject(err, errLen, "blob of %llu bytes ends inside its header", Ull(blobBytes));
    }
    const uint64_t hb = EnecHeaderBytes(ndim);
    if (Get(h + 20, 4) != hb || blobBytes < hb) {
        return Reject(err, errLen, "header size %llu inconsistent with ndim %u or blob size %llu", Ull(Get(h + 20, 4)),
                      ndim, Ull(blobBytes));
    }
    const uint64_t numel = Get(h + 24, 8);
    // product of the dimensions without wrapping: a zero dimension makes it 0 whatever the others
    bool zero = false, wrapped = false;
    uint64_t prod = 1;
    for (uint32_t i = 0; i < ndim; ++i) {
        shape[i] = Get(h + kHeaderFixed + 8 * i, 8);
        if (shape[i] == 0) zero = true;
        else if (__builtin_mul_overflow(prod, shape[i], &prod)) wrapped = true;
        // torch sizes are int64
        if (shape[i] >> 63) return Reject(err, errLen, "dimension %u of size %llu is not a valid tensor size", i,
                                          Ull(shape[i]));
    }
    if (zero) prod = 0;
    if ((wrapped && !zero) || prod != numel) {
        return Reject(err, errLen, "shape's element count differs from the header's %llu elements", Ull(numel));
    }
    const uint64_t blocks = numel / kN + (numel % kN != 0);
    if (Get(h + 32, 8) != blocks) {
        return Reject(err, errLen, "header block count %llu does not match %llu elements", Ull(Get(h + 32, 8)),
                      Ull(numel));
    }
    for (uint64_t i = kHeaderFixed + 8ull * ndim; i < hb; ++i) {
        if (h[i]) return Reject(err, errLen, "header padding is not zero");
    }
    if (numel > ENEC_MAX_NUMEL) {
        return Reject(err, errLen, "header declares %llu elements (more than a blob of %llu bytes can hold)",
                      Ull(numel), Ull(blobBytes));
    }
    EnecTilingData tl;
    if (EnecComputeTiling(dtype, numel, ndim, b, n, m, coreNum, &tl) != 0) {
        return Reject(err, errLen, "no tiling for %llu elements on %u cores", Ull(numel), coreNum);
    }
    if (Get(h + 48, 8) != tl.rawOffset || Get(h + 56, 8) != tl.lowOffset || Get(h + 64, 8) != tl.flagsOffset ||
        Get(h + 72, 8) != tl.indexOffset || Get(h + 80, 8) != tl.outlierOffset) {
        return Reject(err, errLen, "section offsets in the header do not match the format's layout");
    }
    const uint64_t total = Get(h + 88, 8);
    if (total < tl.outlierOffset) return Reject(err, errLen, "header's total size ends before its outlier section");
    if (total != blobBytes) {
        return Reject(err, errLen, "blob is %llu bytes but its header says %llu (%s)", Ull(blobBytes), Ull(total),
                      blobBytes < total ? "truncated" : "trailing bytes");
    }
    if (n == m && total != tl.outlierOffset) return Reject(err, errLen, "outlier bytes present although n == m");
    tl.totalBytes = blobBytes;
    *t = tl;
    *ndimOut = ndim;
    *checksumKind = ck;
    *checksum = ckValue;
    return 0;
}

int EnecCheckOutlierIndex(const uint8_t* sect, uint64_t sectBytes, const EnecTilingData* t, char* err,
                          uint32_t errLen)
{
    const uint64_t flagBytes =
        t->fullBlocks * (kN / kGroup / 8) + (t->blocks > t->fullBlocks ? t->lastLanes / kGroup / 8 : 0);
    if (t->indexOffset < t->flagsOffset + flagBytes || t->outlierOffset < t->indexOffset + 8 * t->blocks ||
        sectBytes != t->outlierOffset - t->flagsOffset || t->totalBytes < t->outlierOffset) {
        return Reject(err, errLen, "inconsistent tiling for the outlier index check");
    }
    const uint8_t* index = sect + (t->indexOffset - t->flagsOffset);
    const uint64_t outlierBytes = t->totalBytes - t->outlierOffset;
    uint64_t pos = 0;
    for (uint64_t i = 0; i < t->blocks; ++i) {
        const uint64_t entry = Get(index + 8 * i, 8);
        if (entry != pos) {
            return Reject(err, errLen, "outlier index entry %llu is %llu but the flags of the blocks before it "
                          "give %llu", Ull(i), Ull(entry), Ull(pos));
        }
        const uint64_t lanes = i < t->fullBlocks ? kN : t->lastLanes;
        const uint8_t* flags = sect + i * (kN / kGroup / 8);
        uint64_t f = 0;
        for (uint64_t j = 0; j < lanes / kGroup / 8; ++j) f += static_cast<uint64_t>(__builtin_popcount(flags[j]));
        if (t->n > t->m) pos += 2 * RoundUp(f, 16) * (t->n - t->m);
        if (pos > outlierBytes) {
            return Reject(err, errLen, "the outliers of block %llu end at %llu, beyond the %llu-byte outlier "
                          "section", Ull(i), Ull(pos), Ull(outlierBytes));
        }
    }
    if (pos != outlierBytes) {
        return Reject(err, errLen, "the outlier section holds %llu bytes but the flags give %llu",
                      Ull(outlierBytes), Ull(pos));
    }
    return 0;
}

}  // extern "C"
