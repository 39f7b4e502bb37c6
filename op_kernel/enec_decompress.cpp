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
        pipe_.InitBuffer(biBuf_, 3 * GMAX * 4);                // base, increment, running row (int32)
        pipe_.InitBuffer(flgBuf_, GMAX / 8);
        pipe_.InitBuffer(tabBuf_, 2 * GMAX * 4);
        tab_.offT = tabBuf_.Get<uint32_t>();
        tab_.offE = tabBuf_.Get<uint32_t>()[GMAX];
        BuildScanTables(tab_);   // scalar writes: the compiler orders them before the vector reads
        if (t_.dtype == 2) {
            pipe_.InitBuffer(itabBuf_, 2 * CHUNK * 4);
            pipe_.InitBuffer(outQue_, 2, 2 * CHUNK * 2);
            LocalTensor<uint32_t> it = itabBuf_.Get<uint32_t>();
            for (uint32_t i = 0; i < CHUNK; ++i) {
                it.SetValue(2 * i, 2 * i);
                it.SetValue(2 * i + 1, 2 * N + 2 * i);
            }
        }
    }

    __aicore__ inline void Process()
    {
        for (uint64_t t = GetBlockIdx(); t < t_.blocks; t += t_.coreNum) {
            Block(t);
        }
    }

private:
    __aicore__ inline void Block(uint64_t t)
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

        Sync<HardEvent::MTE3_V>();                               // the previous block's store read yh
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
        const uint32_t f = IddScan(flg.ReinterpretCast<uint16_t>(), tab_, s, fg, pinc);

        // per-group byte offset of its k = 0 member, and the step per k (int32)
        LocalTensor<int32_t> base = biBuf_.Get<int32_t>();
        LocalTensor<int32_t> inc = base[GMAX];
        LocalTensor<int32_t> cur = base[2 * GMAX];
        const int32_t G = static_cast<int32_t>(GMAX);
        LocalTensor<int16_t> fgi = fg.ReinterpretCast<int16_t>();
        Adds(tmp, pinc.ReinterpretCast<int16_t>(), static_cast<int16_t>(ENEC_GROUP_LEN - 1), G);
        Mul(tmp, tmp, fgi, G);                                           // flag ? 16 + rank : 0
        Cast(fl, tmp, RoundMode::CAST_NONE, GMAX);
        Cast(base, fl, RoundMode::CAST_RINT, GMAX);
        ShiftLeft(base, base, static_cast<int32_t>(1), G);              // slots -> bytes
        Muls(tmp, fgi, static_cast<int16_t>(f), G);                     // flag ? F : 0
        Cast(fl, tmp, RoundMode::CAST_NONE, GMAX);
        Cast(inc, fl, RoundMode::CAST_RINT, GMAX);
        ShiftLeft(inc, inc, static_cast<int32_t>(1), G);

        // ---- 2./3. outliers and the branch-free gather of the high parts
        if (f > 0 && n > m) {
            const uint32_t slots = ENEC_GROUP_LEN * RoundUp(f, 16);
            const uint32_t hw = slots * (n - m) / 16;
            const uint64_t src = t_.outlierOffset + index_.GetValue(t);
            Sync<HardEvent::V_MTE2>();
            DataCopy(zb[2 * hw], blob_[src], 2 * hw);
            Sync<HardEvent::MTE2_V>();
            Duplicate(dall, static_cast<uint16_t>(0), 16);
            HalvingUnpack(z, n - m, slots, d);
            const int32_t g = static_cast<int32_t>(groups);
            LocalTensor<uint32_t> off = offBuf_.Get<uint32_t>();
            LocalTensor<int32_t> offi = off.ReinterpretCast<int32_t>();
            Adds(cur, base, static_cast<int32_t>(0), g);
            for (uint32_t k = 0; k < ENEC_GROUP_LEN; ++k) {
                const uint32_t r = k % OFF_ROWS;
                Adds(offi[r * groups], cur, static_cast<int32_t>(0), g);
                Add(cur, cur, inc, g);
                if (r == OFF_ROWS - 1) {
                    Gather(yh[(k + 1 - OFF_ROWS) * groups], dall, off, 0, OFF_ROWS * groups);
                }
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
        const uint64_t rawBlock = static_cast<uint64_t>(N) * (t_.dtype == 2 ? 24 : rawBits_) / 8;
        uint64_t rawPos = t_.rawOffset + t * rawBlock;
        const uint64_t loPos = rawPos;
        if (t_.dtype == 2) rawPos += static_cast<uint64_t>(lanes) * 2;
        const uint32_t hw = lanes * rawBits_ / 16;
        Sync<HardEvent::V_MTE2>();
        DataCopy(zb[2 * hw], blob_[rawPos], 2 * hw);
        Sync<HardEvent::MTE2_V>();
        HalvingUnpack(z, rawBits_, lanes, d);
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
    TBuf<TPosition::VECCALC> yhBuf_, dBuf_, zBuf_, offBuf_, biBuf_, flgBuf_, tabBuf_, itabBuf_;
    TQue<TPosition::VECOUT, 1> outQue_;
    GlobalTensor<uint8_t> blob_;
    GlobalTensor<uint64_t> index_;
    GlobalTensor<uint16_t> y_;
    ScanTables tab_;
    EnecTilingData t_;
    uint32_t wordBytes_ = 2, rawBits_ = 8, mantBits_ = 7, expBits_ = 8;
};

}  // namespace enec

extern "C" __global__ __aicore__ void enec_decompress(GM_ADDR blob, GM_ADDR y, GM_ADDR workspace, GM_ADDR tiling)
{
    KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_AIV_ONLY);
    enec::DecompressKernel k;
    k.Init(blob, y, tiling);
    k.Process();
}
