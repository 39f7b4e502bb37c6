// enec decompress kernel (AscendC, vector cores only).
//
// Every core decodes blocks core, core + coreNum, ... of a blob (docs/FORMAT.md) independently:
// the per-block outlier index gives the start of each block's outliers, so no core waits for
// another. Per block:
//   1. flag bits -> IDD-Scan -> per-group flag and inclusive prefix count (F = flagged groups)
//   2. unpack the block's 16 * roundup16(F) outlier high parts behind 16 zero slots
//   3. per lane i = k*G + j a byte offset (flag_j ? 2 * (16 + k*F + rank_j) : 0) and one Gather:
//      lanes of unflagged groups read a zero slot, so no branch is needed
//   4. unpack the low bits, OR in the high parts, inverse transform
//   5. unpack the raw fields and reassemble the words (FP32: interleave the low halves by Gather)
#include "enec_common.h"

using namespace AscendC;

namespace enec {

class DecompressKernel {
public:
    __aicore__ inline void Init(GM_ADDR blob, GM_ADDR y, GM_ADDR tiling)
    {
        LoadTiling(tiling, t_);
        const uint64_t totalBytes = t_.totalBytes;
        wordBytes_ = t_.dtype == 2 ? 4 : 2;
        rawBits_ = t_.dtype == 1 ? 11 : 8;
        mantBits_ = t_.dtype == 1 ? 10 : 7;
        expBits_ = t_.dtype == 1 ? 5 : 8;
        blob_.SetGlobalBuffer(reinterpret_cast<__gm__ uint8_t*>(blob), totalBytes);
        index_.SetGlobalBuffer(reinterpret_cast<__gm__ uint64_t*>(blob + t_.indexOffset), t_.blocks);
        y_.SetGlobalBuffer(reinterpret_cast<__gm__ uint16_t*>(y), t_.numel * (wordBytes_ / 2));
        uint32_t zw = rawBits_;
        if (t_.m > zw) zw = static_cast<uint32_t>(t_.m);
        if (t_.n - t_.m > zw) zw = static_cast<uint32_t>(t_.n - t_.m);
        pipe_.InitBuffer(yhBuf_, N * wordBytes_);              // FP32: [low halves | codes/high halves]
        pipe_.InitBuffer(dBuf_, (N + 16) * 2);                 // 16 zero slots + unpacked lanes
        pipe_.InitBuffer(zBuf_, N * zw / 8 * 2);               // packed bytes; scan scratch
        pipe_.InitBuffer(offBuf_, OFF_ROWS * GMAX * 4);        // gather byte offsets, 4 rows at a time
        pipe_.InitBuffer(biBuf_, 2 * GMAX * 4);                // base, increment (int32); launch-time scratch
        pipe_.InitBuffer(flgBuf_, GMAX / 8);
        pipe_.InitBuffer(tabBuf_, 3 * GMAX * 4);
        pipe_.InitBuffer(metaBuf_, META_ITEMS * 32);           // outlier index of this core's blocks
        // 16-bit dtypes: the raw section gets its own buffer and is loaded while the flags are
        // scanned (FP32 has no UB left for it)
        prefetchRaw_ = wordBytes_ == 2;
        if (prefetchRaw_) pipe_.InitBuffer(rawBuf_, N * rawBits_ / 8);
        tab_.offT = tabBuf_.Get<uint32_t>();
        tab_.offE = tabBuf_.Get<uint32_t>()[GMAX];
        tab_.offI = tabBuf_.Get<uint32_t>()[2 * GMAX];
        BuildScanTables(tab_, biBuf_.Get<int32_t>());
        if (t_.dtype == 2) {
            pipe_.InitBuffer(itabBuf_, 2 * CHUNK * 4);
            pipe_.InitBuffer(outQue_, 2, 2 * CHUNK * 2);
            // interleave table, byte offsets into [lo | hi]: lane 2i reads lo[i] (byte 2i), lane
            // 2i + 1 reads hi[i] (byte 2N + 2i): it[j] = j + (j & 1) (2N - 1)
            LocalTensor<int32_t> it = itabBuf_.Get<int32_t>();
            LocalTensor<int32_t> par = biBuf_.Get<int32_t>();
            LocalTensor<int32_t> one = offBuf_.Get<int32_t>();
            const int32_t n2 = static_cast<int32_t>(2 * CHUNK);
            CreateVecIndex(it, static_cast<int32_t>(0), 2 * CHUNK);                 // j
            Duplicate(one, static_cast<int32_t>(1), n2);
            And(par.ReinterpretCast<uint16_t>(), it.ReinterpretCast<uint16_t>(), one.ReinterpretCast<uint16_t>(), 2 * n2);
            Muls(par, par, static_cast<int32_t>(2 * N - 1), n2);                    // (j & 1) (2N - 1)
            Add(it, it, par, n2);
        }
    }

    __aicore__ inline void Process()
    {
        const uint64_t cn = t_.coreNum;
        LocalTensor<uint64_t> idx = metaBuf_.Get<uint64_t>();
        for (uint64_t t0 = GetBlockIdx(); t0 < t_.blocks; t0 += META_ITEMS * cn) {
            const uint64_t left = (t_.blocks - t0 + cn - 1) / cn;
            const uint32_t items = static_cast<uint32_t>(left < META_ITEMS ? left : META_ITEMS);
            LoadStrided(idx, index_, t0, items, cn);
            for (uint32_t k = 0; k < items; ++k) {
                Block(t0 + k * cn, idx.GetValue(4 * k));
            }
        }
    }

private:
    __aicore__ inline void Block(uint64_t t, uint64_t outlierIndex)
    {
        const bool full = t < t_.fullBlocks;
        const uint32_t lanes = full ? N : static_cast<uint32_t>(t_.lastLanes);
        const uint32_t real = full ? N : static_cast<uint32_t>(t_.lastReal);
        const uint32_t groups = lanes / ENEC_GROUP_LEN;
        const uint32_t b = static_cast<uint32_t>(t_.b), n = static_cast<uint32_t>(t_.n), m = static_cast<uint32_t>(t_.m);
        LocalTensor<uint16_t> pair = yhBuf_.Get<uint16_t>();
        LocalTensor<uint16_t> yh = t_.dtype == 2 ? pair[N] : pair;
        LocalTensor<uint16_t> dall = dBuf_.Get<uint16_t>();
        LocalTensor<uint16_t> d = dall[16];
        LocalTensor<uint16_t> z = zBuf_.Get<uint16_t>();
        LocalTensor<uint8_t> zb = zBuf_.Get<uint8_t>();

        // ---- 1. flags -> IDD-Scan (scratch lives in z until the outliers are loaded)
        LocalTensor<uint8_t> flg = flgBuf_.Get<uint8_t>();
        Duplicate(flg.ReinterpretCast<uint16_t>(), static_cast<uint16_t>(0), static_cast<int32_t>(GMAX / 16));
        Sync<HardEvent::V_MTE2>();
        const uint64_t flagPos = t_.flagsOffset + t * (GMAX / 8);
        const uint32_t fbytes = groups / 8;
        if (fbytes % 32 == 0) {
            DataCopy(flg, blob_[flagPos], fbytes);
        } else {
            DataCopyPad(flg, blob_[flagPos], DataCopyExtParams(1, fbytes, 0, 0, 0),
                DataCopyPadExtParams<uint8_t>(true, 0, static_cast<uint8_t>(RoundUp(fbytes, 32) - fbytes), 0));
        }
        const uint64_t rawBlock = static_cast<uint64_t>(N) * (t_.dtype == 2 ? 24 : rawBits_) / 8;
        const uint64_t loPos = t_.rawOffset + t * rawBlock;
        const uint64_t rawPos = loPos + (t_.dtype == 2 ? static_cast<uint64_t>(lanes) * 2 : 0);
        const uint32_t rhw = lanes * rawBits_ / 16;
        if (prefetchRaw_) {
            DataCopy(rawBuf_.Get<uint8_t>(), blob_[rawPos], 2 * rhw);      // overlaps the scan below
        }
        Sync<HardEvent::MTE2_V>();
        ScanScratch s;
        s.bits = z;
        s.pre = z[GMAX];
        s.rows = z[2 * GMAX];
        s.c0 = z[3 * GMAX];
        s.c1 = z[4 * GMAX + 16];
        s.bcast = z[5 * GMAX + 32];
        LocalTensor<uint16_t> fg = z[6 * GMAX + 32];
        LocalTensor<uint16_t> pinc = z[7 * GMAX + 32];
        LocalTensor<int16_t> tmp = z[8 * GMAX + 32].ReinterpretCast<int16_t>();
        LocalTensor<float> fl = z[9 * GMAX + 32].ReinterpretCast<float>();          // 1024 floats
        const uint32_t f = IddScan(flg, tab_, s, fg, pinc);

        // ---- 2./3. outliers and the branch-free gather of the high parts (the first write of yh:
        //      the previous block's store must have read it)
        Sync<HardEvent::MTE3_V>();
        if (f > 0 && n > m) {
            const uint32_t slots = ENEC_GROUP_LEN * RoundUp(f, 16);
            const uint32_t hw = slots * (n - m) / 16;
            const uint64_t src = t_.outlierOffset + outlierIndex;
            // per-group byte offset of its k = 0 member, and the step per k (int32); the scan
            // results live in z, which the outliers overwrite next
            LocalTensor<int32_t> base = biBuf_.Get<int32_t>();
            LocalTensor<int32_t> inc = base[GMAX];
            const int32_t G = static_cast<int32_t>(GMAX);
            LocalTensor<int16_t> fgi = fg.ReinterpretCast<int16_t>();
            Adds(tmp, pinc.ReinterpretCast<int16_t>(), static_cast<int16_t>(ENEC_GROUP_LEN - 1), G);
            Mul(tmp, tmp, fgi, G);                                       // flag ? 16 + rank : 0
            Cast(fl, tmp, RoundMode::CAST_NONE, GMAX);
            Cast(base, fl, RoundMode::CAST_RINT, GMAX);
            ShiftLeft(base, base, static_cast<int32_t>(1), G);          // slots -> bytes
            Muls(tmp, fgi, static_cast<int16_t>(f), G);                 // flag ? F : 0
            Cast(fl, tmp, RoundMode::CAST_NONE, GMAX);
            Cast(inc, fl, RoundMode::CAST_RINT, GMAX);
            ShiftLeft(inc, inc, static_cast<int32_t>(1), G);
            Sync<HardEvent::V_MTE2>();
            DataCopy(zb[2 * hw], blob_[src], 2 * hw);
            Sync<HardEvent::MTE2_V>();
            Duplicate(dall, static_cast<uint16_t>(0), 16);
            HalvingUnpack(z, n - m, slots, d);
            // byte offsets of lanes k*G + j, four rows of G at a time: row k = base + k * inc,
            // built by doubling (z is free scratch once the outliers are unpacked)
            const int32_t g = static_cast<int32_t>(groups);
            LocalTensor<uint32_t> off = offBuf_.Get<uint32_t>();
            LocalTensor<int32_t> offi = off.ReinterpretCast<int32_t>();
            LocalTensor<int32_t> inc2 = z.ReinterpretCast<int32_t>();       // [2 inc, 2 inc]
            LocalTensor<int32_t> inc4 = inc2[2 * groups];                    // [4 inc] x 4
            Adds(offi, base, static_cast<int32_t>(0), g);
            Add(offi[groups], base, inc, g);
            ShiftLeft(inc2, inc, static_cast<int32_t>(1), g);
            Adds(inc2[groups], inc2, static_cast<int32_t>(0), g);
            Add(offi[2 * groups], offi, inc2, 2 * g);
            Gather(yh, dall, off, 0, OFF_ROWS * groups);
            ShiftLeft(inc4, inc2, static_cast<int32_t>(1), 2 * g);
            Adds(inc4[2 * groups], inc4, static_cast<int32_t>(0), 2 * g);
            for (uint32_t k = OFF_ROWS; k < ENEC_GROUP_LEN; k += OFF_ROWS) {
                Add(offi, offi, inc4, OFF_ROWS * g);
                Gather(yh[k * groups], dall, off, 0, OFF_ROWS * groups);
            }
        } else {
            Duplicate(yh, static_cast<uint16_t>(0), static_cast<int32_t>(lanes));
        }

        // ---- 4. low bits, codes, inverse transform
        if (m > 0) {
            const uint32_t hw = lanes * m / 16;
            Sync<HardEvent::V_MTE2>();
            DataCopy(zb[2 * hw], blob_[t_.lowOffset + t * (static_cast<uint64_t>(N) * m / 8)], 2 * hw);
            Sync<HardEvent::MTE2_V>();
            HalvingUnpack(z, m, lanes, d);
            ShiftLeft(yh, yh, static_cast<uint16_t>(m), static_cast<int32_t>(lanes));
            Or(yh, yh, d, static_cast<int32_t>(lanes));
        }
        DecodeTransform(yh, b, n, expBits_, lanes);

        // ---- 5. raw fields, reassembly, store
        if (prefetchRaw_) {
            HalvingUnpack(rawBuf_.Get<uint16_t>(), z, rawBits_, lanes, d);
        } else {
            Sync<HardEvent::V_MTE2>();
            DataCopy(zb[2 * rhw], blob_[rawPos], 2 * rhw);
            Sync<HardEvent::MTE2_V>();
            HalvingUnpack(z, rawBits_, lanes, d);
        }
        JoinFields(yh, d, z, mantBits_, lanes);
        if (t_.dtype != 2) {
            Sync<HardEvent::V_MTE3>();
            if (real == lanes) {
                DataCopy(y_[t * N], yh, lanes);
            } else {
                DataCopyPad(y_[t * N], yh, DataCopyExtParams(1, real * 2, 0, 0, 0));
            }
            return;
        }
        // FP32: low halves are stored as they are (pack(r_lo, 16) is the identity); interleave
        // word i = lo[i] | hi[i] << 16 with a Gather over [lo | hi], CHUNK words at a time (the
        // low-half lanes were last read by the previous block's Gather, ordered by the syncs since)
        DataCopy(pair.ReinterpretCast<uint8_t>(), blob_[loPos], lanes * 2);
        Sync<HardEvent::MTE2_V>();
        LocalTensor<uint32_t> itab = itabBuf_.Get<uint32_t>();
        for (uint32_t c0 = 0; c0 < lanes; c0 += CHUNK) {
            const uint32_t ce = lanes - c0 < CHUNK ? lanes - c0 : CHUNK;
            LocalTensor<uint16_t> out = outQue_.AllocTensor<uint16_t>();
            Gather(out, pair, itab, 2 * c0, 2 * ce);
            outQue_.EnQue(out);
            LocalTensor<uint16_t> o = outQue_.DeQue<uint16_t>();
            if (c0 < real) {
                const uint32_t rc = real - c0 < ce ? real - c0 : ce;
                const uint64_t dst = (t * N + c0) * 2;
                if (rc == ce) {
                    DataCopy(y_[dst], o, 2 * ce);
                } else {
                    DataCopyPad(y_[dst], o, DataCopyExtParams(1, rc * 4, 0, 0, 0));
                }
            }
            outQue_.FreeTensor(o);
        }
    }

    static constexpr uint32_t OFF_ROWS = 4;
    static constexpr uint32_t CHUNK = 1024;
    TPipe pipe_;
    TBuf<TPosition::VECCALC> yhBuf_, dBuf_, zBuf_, offBuf_, biBuf_, flgBuf_, tabBuf_, itabBuf_, metaBuf_, rawBuf_;
    TQue<TPosition::VECOUT, 1> outQue_;
    GlobalTensor<uint8_t> blob_;
    GlobalTensor<uint64_t> index_;
    GlobalTensor<uint16_t> y_;
    ScanTables tab_;
    EnecTilingData t_;
    uint32_t wordBytes_ = 2, rawBits_ = 8, mantBits_ = 7, expBits_ = 8;
    bool prefetchRaw_ = false;
};

}  // namespace enec

extern "C" __global__ __aicore__ void enec_decompress(GM_ADDR blob, GM_ADDR y, GM_ADDR workspace, GM_ADDR tiling)
{
    KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_AIV_ONLY);
    enec::DecompressKernel k;
    k.Init(blob, y, tiling);
    k.Process();
}
