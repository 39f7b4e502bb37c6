// The C++ definition of the enec stream layout, header and parameter search: plain C++ (no CANN,
// no torch), shared by the torch_npu binding (op_host/enec_npu_binding.cpp, through
// enec_orchestrate.h), the emulation tests (tests/ascendc_emu, tests/support/emulated.py) and the
// native CPU library (python/enec/csrc/enec_native.cpp, built with this file by setup.py).
//
// The byte layout follows docs/FORMAT.md and python/enec/format.py exactly; the parameter search
// follows python/enec/params.py. Tests compare both against the Python definitions.
#ifndef ENEC_HOST_H
#define ENEC_HOST_H

#include <cstdint>

#include "../op_kernel/enec_tiling.h"

#ifdef __cplusplus
extern "C" {
#endif

// Largest element count the tiling accepts. Keeps every section offset far from 2^64 (a forged
// header cannot wrap an offset around to match a small blob); a real blob of this many elements
// would be at least 2^58 bytes.
#define ENEC_MAX_NUMEL (1ull << 58)

// The format constants this C++ code was written for, for a test against python/enec/format.py:
// out[0..11] = version, ENEC codec id, block elements, group length, short-block lane rounding,
// section alignment, fixed header bytes, max header bytes (32 dims), index entry bytes, byte offset
// of the checksum kind, of the checksum, of the total size.
void EnecFormatConstants(uint64_t* out);
// The decompress kernel's status codes (ENEC_STATUS_*): OK, NOT_ENEC, OTHER_PATH, MISMATCH,
// CORRUPT_HEADER, CORRUPT_INDEX, then SLOT_INTS (python/enec/kernel_status.py holds the same).
void EnecKernelStatusCodes(int32_t* out);

// dtype codes of the format: 0 bfloat16, 1 float16, 2 float32.
// Exponent width W of a dtype (8, 5, 8), or 0 for an unknown code.
uint32_t EnecExpBits(uint32_t dtype);

// Fill the tiling (block geometry and section offsets) for a tensor of `numel` elements with
// `ndim` dimensions, compressed with parameters (b, n, m), run on `coreNum` vector cores.
// Returns 0, or -1 for invalid arguments (unknown dtype, parameters out of range, coreNum 0,
// numel above ENEC_MAX_NUMEL).
int EnecComputeTiling(uint32_t dtype, uint64_t numel, uint32_t ndim, uint32_t b, uint32_t n, uint32_t m,
                      uint32_t coreNum, EnecTilingData* out);

// Bytes of the compress kernel's outlier workspace (blocks * wsSlotBytes).
uint64_t EnecWorkspaceBytes(const EnecTilingData* t);

// Exclusive scan of the per-block outlier sizes 2 * roundup16(F_t) * (n - m): writes index[t]
// (u64, relative to outlier_offset) and returns the outlier section size.
uint64_t EnecOutlierIndex(const int32_t* counts, uint64_t blocks, uint32_t n, uint32_t m, uint64_t* index);

// Per-tensor parameter choice from the exponent histogram (2^W counts), identical to
// python/enec/params.py: choose_params. Returns 0 or -1 (unknown dtype).
int EnecChooseParams(const int64_t* hist, uint32_t dtype, uint32_t* b, uint32_t* n, uint32_t* m);

// Header bytes for `ndim` dimensions: roundup32(96 + 8 * ndim).
uint32_t EnecHeaderBytes(uint32_t ndim);

// Write the header (EnecHeaderBytes(ndim) bytes, checksum kind 0) of a blob whose outlier
// section holds `outlierBytes` bytes. Returns the blob's total size.
uint64_t EnecPackHeader(const EnecTilingData* t, uint32_t ndim, const uint64_t* shape, uint64_t outlierBytes,
                        uint8_t* out);

// ---- decode side: validation before anything is allocated or launched. The decompress kernel
// trusts its tiling and the blob's outlier index, so the torch_npu binding and the emulation
// driver (python/enec/emulated.py) both run these two checks first.

// Validate a blob's header against docs/FORMAT.md §2 and the blob's size `blobBytes`.
// `head`: the blob's first min(blobBytes, ENEC_HEADER_MAX_BYTES) bytes (`headBytes` of them).
// On success fills the tiling for `coreNum` cores with totalBytes = blobBytes, *ndim, shape[0..ndim)
// (room for 32 entries), *checksumKind and *checksum, and returns 0. Otherwise returns -1 and
// writes a message naming the problem to err (errLen bytes, NUL-terminated).
int EnecParseHeader(const uint8_t* head, uint64_t headBytes, uint64_t blobBytes, uint32_t coreNum,
                    EnecTilingData* t, uint32_t* ndim, uint64_t* shape, uint32_t* checksumKind, uint64_t* checksum,
                    char* err, uint32_t errLen);

// Check the outlier index against the flag bits (§4.4): entry t must be the sum of the outlier
// sizes of blocks 0..t-1 recomputed from their flag counts, and the last block's outliers must
// end at totalBytes. This bounds every outlier read of the decompress kernel inside the blob.
// `sect`: the blob's bytes [flagsOffset, outlierOffset) (flags, gap, index), `sectBytes` of them.
// Returns 0, or -1 with a message in err.
int EnecCheckOutlierIndex(const uint8_t* sect, uint64_t sectBytes, const EnecTilingData* t, char* err,
                          uint32_t errLen);

#ifdef __cplusplus
}
#endif

#endif
