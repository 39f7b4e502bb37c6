// Host side of the enec NPU operators: plain C++ (no CANN, no torch), shared by the torch_npu
// binding (op_host/enec_npu_binding.cpp), the CANN tiling function (op_host/enec_op.cpp) and the
// emulation tests (tests/ascendc_emu, python/enec/emulated.py).
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

// dtype codes of the format: 0 bfloat16, 1 float16, 2 float32.
// Exponent width W of a dtype (8, 5, 8), or 0 for an unknown code.
uint32_t EnecExpBits(uint32_t dtype);

// Fill the tiling (block geometry and section offsets) for a tensor of `numel` elements with
// `ndim` dimensions, compressed with parameters (b, n, m), run on `coreNum` vector cores.
// Returns 0, or -1 for invalid arguments (unknown dtype, parameters out of range, coreNum 0).
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

#ifdef __cplusplus
}
#endif

#endif
