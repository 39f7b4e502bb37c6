// Host driver for the ENEC authors' BF16 kernels (github.com/hpdps-group/ENEC, BSD-3-Clause,
// variant ENEC-BF16-122-6-3-16) under this project's AscendC emulation, for the timing-model
// calibration (scripts/npu_projection.py --authors DIR).
//
// None of the authors' code is in this repository. scripts/npu_projection.py compiles this file
// together with their unchanged kernel sources (snec_compress.cpp, snec_merge.cpp,
// snec_decompress.cpp) from a checkout the user points at; only their host-side launch stubs, which
// use the bisheng-only `kernel<<<...>>>` syntax, are cut off at build time. Their headers
// (snec_utils.h: the Header struct and section offsets) are included from that checkout.
//
// The flow is the one of their compress.cpp / decompress.cpp: compBF16 on 48 cores, merge on 48
// cores, decompBF16 on 48 cores. The emulation runs with strictOverlap/strictMask off: their
// kernels rely on partially overlapping operands (Hillis-Steele scans written in place, widening
// in-place Cast), on the mask state left by earlier instructions and on integer adds over
// uninitialised UB lanes whose results they never read, and on a CreateVecIndex that writes past
// its 32-byte buffer into the next one (overwritten right after), which the AscendC docs do not
// allow or leave undefined; overlaps run with all reads before all writes (and are counted), integers wrap.
#include <cstring>
#include <string>
#include <vector>

#include "kernel_operator.h"
#include "snec_utils.h"

void compBF16(uint32_t datablockNum, uint32_t datablockSize, uint32_t elementNum, uint32_t tileLength,
              uint8_t* srcDevice, uint8_t* msGlobal, uint8_t* e0Global, uint8_t* mblGlobal, uint8_t* e1Global,
              uint8_t* histogramDevice, uint8_t* blockCompSize);
void merge(uint8_t* finalHeader, uint8_t* finalMs, uint8_t* finalMbl, uint8_t* finalCompPrefix, uint8_t* compedexp,
           uint8_t* finalExp, uint8_t* histogramDevice, uint8_t* blockCompSize, uint32_t dataBlockSize,
           uint32_t dataBlockNum, uint32_t threadBlockNum, uint32_t compLevel, uint32_t totalUncompressedBytes_Origin,
           uint32_t totalUncompressedBytes, uint32_t totalCompressedBytes, uint32_t tileLength, uint32_t dataType,
           uint32_t mblLength, uint32_t options, uint32_t bufferSize);
void decompBF16(uint32_t BUFFER_NUM, uint32_t elementNum, uint32_t tileLength, uint32_t tileNum,
                uint32_t threadblockNum, uint32_t datablockNum, uint32_t datablockSize, uint32_t totalCompressedBytes,
                uint8_t* msGlobal, uint8_t* eGlobal0, uint8_t* mblGlobal, uint8_t* compSizePrefix, uint8_t* eGlobal1,
                uint8_t* decompressedGlobal);

namespace {

// [us, coreCycles, busy S/V/MTE2/MTE3 (all cores), critical pipe, gmBytes]
void Report(double* out)
{
    const emu::LaunchReport& r = emu::LastReport();
    out[0] = r.us; out[1] = r.coreCycles;
    for (int p = 0; p < emu::NPIPE; ++p) out[2 + p] = r.busy[p];
    out[6] = r.critical; out[7] = r.gmBytes;
}

int Fail(const std::string& e, char* err, int len)
{
    emu::ClearGm();
    std::strncpy(err, e.c_str(), len - 1);
    err[len - 1] = 0;
    return 1;
}

struct Relaxed {      // their kernels' assumptions (see the top of the file)
    Relaxed() { emu::Cfg().strictOverlap = false; emu::Cfg().strictMask = false; emu::Cfg().strictOverflow = false;
                emu::Cfg().strictExtent = false; }
    ~Relaxed() { emu::Cfg() = emu::Config(); }
};

}  // namespace

extern "C" {

uint64_t authors_final_buffer_bytes(uint64_t inputBytes)
{
    const uint64_t rounded = (inputBytes + 32767) / 32768 * 32768;
    const uint32_t blockBytes = DATA_BLOCK_ELEMENT_NUM_C * sizeof(uint16_t);
    return getFinalbufferSize(static_cast<uint32_t>(rounded), DATA_BLOCK_ELEMENT_NUM_C / 16, blockBytes);
}

// Compress `inputBytes` of BF16 words (x must hold the size rounded up to 32 KiB, zero padded).
// out: authors_final_buffer_bytes(inputBytes) bytes. reports: 2 x 8 doubles (compress, merge).
int authors_compress(uint8_t* x, uint64_t inputBytes, uint8_t* out, uint64_t* outBytes, double* reports, char* err,
                     int errLen)
{
    Relaxed relaxed;
    const uint32_t rounded = static_cast<uint32_t>((inputBytes + 32767) / 32768 * 32768);
    const uint32_t blockBytes = DATA_BLOCK_ELEMENT_NUM_C * sizeof(uint16_t);
    const uint32_t tileLength = 16, tileNum = DATA_BLOCK_ELEMENT_NUM_C / tileLength;
    const uint64_t cap = getFinalbufferSize(rounded, tileNum, blockBytes);
    std::vector<uint8_t> staging(cap, 0), histogram(BLOCK_NUM * HISTOGRAM_BINS * 4, 0), sizes(BLOCK_NUM * 32, 0);
    std::memset(out, 0, cap);
    Header hd{};
    hd.dataBlockSize = blockBytes;
    hd.dataBlockNum = (rounded + blockBytes - 1) / blockBytes;
    hd.threadBlockNum = BLOCK_NUM;
    hd.compLevel = 0;
    hd.totalUncompressedBytes_Origin = static_cast<uint32_t>(inputBytes);
    hd.totalUncompressedBytes = rounded;
    hd.totalCompressedBytes = 0;
    hd.tileLength = tileLength;
    hd.dataType = 0;
    hd.mblLength = 4;
    hd.options = 3;
    emu::ClearGm();
    emu::RegisterGm(x, rounded, "x");
    emu::RegisterGm(out, cap, "compressedFinal");
    emu::RegisterGm(staging.data(), cap, "compressedDevice");
    emu::RegisterGm(histogram.data(), histogram.size(), "histogram");
    emu::RegisterGm(sizes.data(), sizes.size(), "blockCompSize");
    const int active = static_cast<int>(std::min<uint32_t>(hd.dataBlockNum, BLOCK_NUM));
    std::string e = emu::Launch(BLOCK_NUM, [&]() {
        compBF16(hd.dataBlockNum, hd.dataBlockSize, blockBytes / 2, tileLength, x, getMsdata(&hd, out), getEdata(&hd, out),
                 getMbl(&hd, out), getCompressed_exp(&hd, staging.data()), histogram.data(), sizes.data());
    }, active);
    if (!e.empty()) return Fail("compBF16: " + e, err, errLen);
    Report(reports);
    const int perCore = (hd.dataBlockNum + BLOCK_NUM - 1) / BLOCK_NUM;
    const uint32_t bufferSize = blockBytes * perCore;
    e = emu::Launch(BLOCK_NUM, [&]() {
        merge(out, getMsdata(&hd, out), getMbl(&hd, out), getCompSizePrefix(&hd, out), getCompressed_exp(&hd, staging.data()),
              getCompressed_exp(&hd, out), histogram.data(), sizes.data(), hd.dataBlockSize, hd.dataBlockNum,
              hd.threadBlockNum, hd.compLevel, hd.totalUncompressedBytes_Origin, hd.totalUncompressedBytes,
              hd.totalCompressedBytes, hd.tileLength, hd.dataType, hd.mblLength, hd.options, bufferSize);
    }, active);
    if (!e.empty()) return Fail("merge: " + e, err, errLen);
    Report(reports + 8);
    emu::ClearGm();
    *outBytes = reinterpret_cast<Header*>(out)->totalCompressedBytes;
    return 0;
}

// Decompress a blob made by authors_compress into y (totalUncompressedBytes, rounded size).
int authors_decompress(uint8_t* blob, uint64_t blobBytes, uint8_t* y, uint64_t yBytes, double* report, char* err,
                       int errLen)
{
    Relaxed relaxed;
    Header hd;
    std::memcpy(&hd, blob, sizeof hd);
    // their merge kernel packs threadBlockNum | compLevel << 16 and tileLength | dataType << 16
    const uint32_t threadBlockNum = hd.threadBlockNum, tileLength = hd.tileLength;
    if (hd.totalUncompressedBytes > yBytes || threadBlockNum == 0 || tileLength == 0)
        return Fail("authors_decompress: header does not fit the output", err, errLen);
    const uint32_t elementNum = hd.dataBlockSize / sizeof(uint16_t), tileNum = elementNum / tileLength;
    emu::ClearGm();
    emu::RegisterGm(blob, blobBytes, "compressed");
    emu::RegisterGm(y, yBytes, "decompressed");
    const int active = static_cast<int>(std::min<uint32_t>(hd.dataBlockNum, threadBlockNum));
    std::string e = emu::Launch(static_cast<int>(threadBlockNum), [&]() {
        decompBF16(1, elementNum, tileLength, tileNum, threadBlockNum, hd.dataBlockNum, hd.dataBlockSize,
                   hd.totalCompressedBytes, getMsdata(&hd, blob), getEdata(&hd, blob), getMbl(&hd, blob),
                   getCompSizePrefix(&hd, blob), getCompressed_exp(&hd, blob), y);
    }, active);
    if (!e.empty()) return Fail("decompBF16: " + e, err, errLen);
    Report(report);
    emu::ClearGm();
    return 0;
}

uint64_t authors_overlap_tolerated() { return emu::GetStats().overlapTolerated; }

}  // extern "C"

extern "C" {
int authors_model_set(const char* name, double v) { return emu::model::SetByName(name, v) ? 0 : 1; }
}
