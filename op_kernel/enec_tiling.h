// Tiling data shared by the enec AscendC kernels (device) and the host code that fills it
// (op_host/enec_host.cpp, the torch_npu binding, the emulation tests). A plain struct: the host
// copies it to device memory and passes its address as the kernels' last argument.
// Every field is 64-bit so the layout is identical on every compiler (no padding).
#ifndef ENEC_TILING_H
#define ENEC_TILING_H
#include <cstdint>

#define ENEC_BLOCK_ELEMS 16384u   // N: elements per block
#define ENEC_GROUP_LEN 16u        // L: codes per group
#define ENEC_MAX_GROUPS 1024u     // N / L
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
    uint64_t totalBytes;     // size of the whole blob (place/decompress; set once it is known)
};

#endif
