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
    __aicore__ inline void Init(GM_ADDR blob, GM_ADDR y, GM_ADDR status, GM_ADDR tiling)
    {
        LoadTiling(tiling, t_);
        const uint64_t totalBytes = t_.totalBytes;
        wordBytes_ = t_.dtype == 2 ? 4 : 2;
        rawBits_ = t_.dtype == 1 ? 11 : 8;
        mantBits_ = t_.dtype == 1 ? 10 : 7;
        expBits_ = t_.dtype == 1 ? 5 : 8;
        blob_.SetGlobalBuffer(reinterpret_cast<__gm__ uint8_t*>(blob), totalBytes);
        status_.SetGlobalBuffer(reinterpret_cast<__gm__ int32_t*>(status), t_.coreNum * ENEC_STATUS_SLOT_INTS);
        pipe_.InitBuffer(stBuf_, ENEC_STATUS_SLOT_INTS * 4);
        if (t_.checkHeader) {
            dims_.SetGlobalBuffer(reinterpret_cast<__gm__ uint64_t*>(tiling + sizeof(EnecTilingData)), t_.ndim);
            pipe_.InitBuffer(hdrBuf_, ENEC_HEADER_MAX_BYTES);
            code_ = CheckHeader();
            if (code_ != ENEC_STATUS_OK) return;
        }
        index_.SetGlobalBuffer(reinterpret_cast<__gm__ uint64_t*>(blob + t_.indexOffset), t_.blocks);
        y_.SetGlobalBuffer(reinterpret_cast<__gm__ uint16_t*>(y), t_.numel * (wordBytes_ / 2));
        const uint32_t zw = rawBits_;                          // m <= n <= 8 <= rawBits (FP16: n <= 5)
        pipe_.InitBuffer(yhBuf_, N * wordBytes_);              // FP32: [low halves | codes/high halves]
        pipe_.InitBuffer(dBuf_, (N + 16) * 2);                 // 16 zero slots + unpacked lanes
        pipe_.InitBuffer(patBuf_, 8 * 32);                     // GatherMask patterns: lanes [delta, delta + 112), delta even
        pipe_.InitBuffer(zBuf_, N * zw / 8 * 2);               // packed bytes; scan scratch
        pipe_.InitBuffer(offBuf_, OFF_ROWS * GMAX * 4);        // gather byte offsets, 4 rows at a time
        pipe_.InitBuffer(biBuf_, 2 * GMAX * 4);                // base, increment (int32); launch-time scratch
        pipe_.InitBuffer(flgBuf_, GMAX / 8);
        pipe_.InitBuffer(tabBuf_, 3 * GMAX * 4);
        pipe_.InitBuffer(metaBuf_, 2 * META * 32);             // outlier index entries t and t + 1 of own blocks
        // 16-bit dtypes: the raw section and the low bits get their own buffers and are loaded
        // while the flags are scanned (FP32 has no UB left for them)
        prefetchRaw_ = wordBytes_ == 2;
        if (prefetchRaw_) {
            pipe_.InitBuffer(rawBuf_, N * rawBits_ / 8);
            if (t_.m > 0) pipe_.InitBuffer(lowBuf_, N * static_cast<uint32_t>(t_.m) / 8);
        }
        tab_.offT = tabBuf_.Get<uint32_t>();
        tab_.offE = tabBuf_.Get<uint32_t>()[GMAX];
        tab_.offI = tabBuf_.Get<uint32_t>()[2 * GMAX];
        BuildScanTables(tab_, biBuf_.Get<int32_t>());
        LocalTensor<uint16_t> pat = patBuf_.Get<uint16_t>();
        for (uint32_t delta = 0; delta < 16; delta += 2) {
            for (uint32_t q = 0; q < 16; ++q) {
                uint32_t bits = 0;
                for (uint32_t b = 0; b < 16; ++b) {
                    const uint32_t i = 16 * q + b;
                    if (q < 8 && i >= delta && i < delta + SPAN_STEP) bits |= 1u << b;
                }
                pat.SetValue(8 * delta + q, static_cast<uint16_t>(bits));
            }
        }
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
        if (code_ == ENEC_STATUS_OK) {
            LocalTensor<uint64_t> idx = metaBuf_.Get<uint64_t>();
            LocalTensor<uint64_t> nxt = idx[META * 4];
            const uint64_t outlierBytes = t_.totalBytes - t_.outlierOffset;
            for (uint64_t t0 = GetBlockIdx(); t0 < t_.blocks; t0 += META * cn) {
                const uint64_t left = (t_.blocks - t0 + cn - 1) / cn;
                const uint32_t items = static_cast<uint32_t>(left < META ? left : META);
                // entry t + 1 ends block t's outliers; the last block's end is the section's size
                const uint32_t nextItems = t0 + (items - 1) * cn + 1 < t_.blocks ? items : items - 1;
                LoadStrided(idx, index_, t0, items, cn);
                if (nextItems > 0) LoadStrided(nxt, index_, t0 + 1, nextItems, cn);
                for (uint32_t k = 0; k < items; ++k) {
                    Block(t0 + k * cn, idx.GetValue(4 * k), k < nextItems ? nxt.GetValue(4 * k) : outlierBytes);
                }
            }
        }
        // one status word per core (0 = every block it decoded was consistent)
        LocalTensor<int32_t> st = stBuf_.Get<int32_t>();
        Duplicate(st, static_cast<int32_t>(0), static_cast<int32_t>(ENEC_STATUS_SLOT_INTS));
        st.SetValue(0, static_cast<int32_t>(code_));
        DataCopy(status_[GetBlockIdx() * ENEC_STATUS_SLOT_INTS], st, ENEC_STATUS_SLOT_INTS);
    }

private:
    // The blob's header against the expected dtype and shape and against the format (the device
    // twin of op_host EnecParseHeader): b, n, m come from it, every offset is recomputed with
    // EnecLayout and must match, and the total size must be the blob's size. Returns a status code.
    __aicore__ inline int32_t CheckHeader()
    {
        const uint64_t size = t_.totalBytes;
        if (size < ENEC_HEADER_FIXED_BYTES) return ENEC_STATUS_NOT_ENEC;
        const uint32_t len = static_cast<uint32_t>(size < ENEC_HEADER_MAX_BYTES ? size : ENEC_HEADER_MAX_BYTES);
        LocalTensor<uint8_t> h = hdrBuf_.Get<uint8_t>();
        DataCopyPad(h, blob_, DataCopyExtParams(1, len, 0, 0, 0), DataCopyPadExtParams<uint8_t>(false, 0, 0, 0));
        if (h.GetValue(0) != 'E' || h.GetValue(1) != 'N' || h.GetValue(2) != 'E' || h.GetValue(3) != 'C' ||
            h.GetValue(4) != ENEC_FORMAT_VERSION) {
            return ENEC_STATUS_NOT_ENEC;
        }
        if (h.GetValue(5) != ENEC_CODEC_ENEC) return ENEC_STATUS_OTHER_PATH;      // codecs 2-4: the host
        const uint32_t ck = h.GetValue(12);
        if (ck == 1) return ENEC_STATUS_OTHER_PATH;                              // XXH64: verified on the host
        if (h.GetValue(6) != t_.dtype || h.GetValue(7) != t_.ndim) return ENEC_STATUS_MISMATCH;
        const uint64_t ndim = t_.ndim;
        const uint64_t hb = EnecHeaderBytesFor(ndim);
        if (hb > size) return ENEC_STATUS_CORRUPT_HEADER;
        for (uint64_t i = 0; i < ndim; ++i) {
            if (Field(h, ENEC_HEADER_FIXED_BYTES + 8 * i, 8) != dims_.GetValue(i)) return ENEC_STATUS_MISMATCH;
        }
        const uint32_t b = h.GetValue(8), n = h.GetValue(9), m = h.GetValue(10);
        const uint32_t w = expBits_;
        if (h.GetValue(13) || h.GetValue(14) || h.GetValue(15) || h.GetValue(11) != ENEC_GROUP_LEN ||
            Field(h, 16, 4) != ENEC_BLOCK_ELEMS || ck > 1 || (ck == 0 && Field(h, 40, 8) != 0) || n < 1 || n > w ||
            m > n || b >= (1u << w) || Field(h, 20, 4) != hb || Field(h, 24, 8) != t_.numel ||
            Field(h, 32, 8) != t_.blocks) {
            return ENEC_STATUS_CORRUPT_HEADER;
        }
        for (uint64_t i = ENEC_HEADER_FIXED_BYTES + 8 * ndim; i < hb; ++i) {
            if (h.GetValue(static_cast<uint32_t>(i))) return ENEC_STATUS_CORRUPT_HEADER;
        }
        EnecLayout(t_, t_.dtype, t_.numel, ndim, n, m);
        const uint64_t total = Field(h, 88, 8);
        if (Field(h, 48, 8) != t_.rawOffset || Field(h, 56, 8) != t_.lowOffset || Field(h, 64, 8) != t_.flagsOffset ||
            Field(h, 72, 8) != t_.indexOffset || Field(h, 80, 8) != t_.outlierOffset || total != size ||
            total < t_.outlierOffset || (n == m && total != t_.outlierOffset)) {
            return ENEC_STATUS_CORRUPT_HEADER;
        }
        t_.b = b;
        t_.n = n;
        t_.m = m;
        return ENEC_STATUS_OK;
    }

    __aicore__ inline uint64_t Field(const LocalTensor<uint8_t>& h, uint64_t off, uint32_t bytes)
    {
        uint64_t v = 0;
        for (uint32_t i = 0; i < bytes; ++i) {
            v |= static_cast<uint64_t>(h.GetValue(static_cast<uint32_t>(off + i))) << (8 * i);
        }
        return v;
    }

    __aicore__ inline void Block(uint64_t t, uint64_t outlierIndex, uint64_t nextIndex)
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
        Sync<HardEvent::MTE2_V>();
        const uint64_t lowPos = t_.lowOffset + t * (static_cast<uint64_t>(N) * m / 8);
        const uint32_t lhw = lanes * m / 16;
        if (prefetchRaw_) {                                   // both overlap the scan below
            DataCopy(rawBuf_.Get<uint8_t>(), blob_[rawPos], 2 * rhw);
            if (m > 0) DataCopy(lowBuf_.Get<uint8_t>(), blob_[lowPos], 2 * lhw);
        }
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
        // the block's outliers are [index[t], index[t + 1]): their size must be what the flags say,
        // and they must lie inside the blob; otherwise nothing is read and the core reports it
        const uint64_t outBytes = n > m ? 2ull * RoundUp(f, 16) * (n - m) : 0;
        const bool indexOk = (t != 0 || outlierIndex == 0) && nextIndex >= outlierIndex &&
                             nextIndex - outlierIndex == outBytes && nextIndex <= t_.totalBytes - t_.outlierOffset;
        if (!indexOk) code_ = ENEC_STATUS_CORRUPT_INDEX;

        // ---- 2./3. outliers and the branch-free gather of the high parts (the first write of yh:
        //      the previous block's store must have read it)
        if (f > 0 && n > m && indexOk) {
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
            // P rows' high parts share one gathered lane: rows k' + s R (s < P, R = 16 / P) of a
            // group go to bits [s B, s B + B) of lane k' G + j (B = 16 / P >= n - m), so the Gather
            // writes R G lanes instead of 16 G. The packed source S[x] = OR_s d[s R F + x] << s B
            // (x < R F) is built in place over d[0, RF): span s is first copied to an aligned
            // buffer by a GatherMask that drops its misaligned head (z is free scratch now)
            // (R >= 2 keeps every span start even: 8 patterns. A block with more than 1016 flagged
            // groups gathers all 16 rows: its last span's GatherMask would read past d)
            const uint32_t hb = n - m;
            const uint32_t P = f > (N - 128) / ENEC_GROUP_LEN ? 1 : hb <= 2 ? 8 : hb <= 4 ? 4 : 2;
            const uint32_t B = 16 / P, R = 16 / P;
            const uint32_t rf = R * f;
            LocalTensor<uint16_t> span = z;
            const uint16_t reps = static_cast<uint16_t>((rf + SPAN_STEP - 1) / SPAN_STEP);
            LocalTensor<uint16_t> pat = patBuf_.Get<uint16_t>();
            for (uint32_t sp = 1; sp < P; ++sp) {
                const uint32_t start = sp * rf;
                const uint32_t delta = start % 16;
                uint64_t cnt = 0;
                // repeat r reads the 128 lanes from start - delta + 112 r and keeps [delta, delta + 112)
                GatherMask(span, d[start - delta], pat[8 * delta], false, 0,
                    GatherMaskParams(1, reps, SPAN_STEP / 16, 0), cnt);
                ShiftLeft(span, span, static_cast<uint16_t>(sp * B), static_cast<int32_t>(rf));
                Or(d, d, span, static_cast<int32_t>(rf));
            }
            // byte offsets of lanes k'*G + j (k' < R), four rows of G at a time: row k' = base +
            // k' * inc, built by doubling (z is free scratch again)
            const int32_t g = static_cast<int32_t>(groups);
            LocalTensor<uint32_t> off = offBuf_.Get<uint32_t>();
            LocalTensor<int32_t> offi = off.ReinterpretCast<int32_t>();
            LocalTensor<int32_t> inc2 = z.ReinterpretCast<int32_t>();       // [2 inc, 2 inc]
            LocalTensor<int32_t> inc4 = inc2[2 * groups];                    // [4 inc] x 4
            const uint32_t rows = R < OFF_ROWS ? R : OFF_ROWS;
            Adds(offi, base, static_cast<int32_t>(0), g);
            if (rows > 1) Add(offi[groups], base, inc, g);
            if (rows > 2) {
                ShiftLeft(inc2, inc, static_cast<int32_t>(1), g);
                Adds(inc2[groups], inc2, static_cast<int32_t>(0), g);
                Add(offi[2 * groups], offi, inc2, 2 * g);
            }
            Sync<HardEvent::MTE3_V>();
            Gather(yh, dall, off, 0, rows * groups);
            if (R > OFF_ROWS) {
                ShiftLeft(inc4, inc2, static_cast<int32_t>(1), 2 * g);
                Adds(inc4[2 * groups], inc4, static_cast<int32_t>(0), 2 * g);
                for (uint32_t k = OFF_ROWS; k < R; k += OFF_ROWS) {
                    Add(offi, offi, inc4, OFF_ROWS * g);
                    Gather(yh[k * groups], dall, off, 0, OFF_ROWS * groups);
                }
            }
            // unpack the fields: rows s R .. s R + R - 1 are field s of the R G gathered lanes
            const uint32_t rg = R * groups;
            for (uint32_t sp = P - 1; sp > 0; --sp) {
                if (sp == P - 1) {
                    ShiftRight(yh[sp * rg], yh, static_cast<uint16_t>(sp * B), static_cast<int32_t>(rg));
                } else {
                    ShiftLeft(yh[sp * rg], yh, static_cast<uint16_t>(16 - (sp + 1) * B), static_cast<int32_t>(rg));
                    ShiftRight(yh[sp * rg], yh[sp * rg], static_cast<uint16_t>(16 - B), static_cast<int32_t>(rg));
                }
            }
            if (B < 16) KeepLowBits(yh, yh, B, rg);
        } else {
            Sync<HardEvent::MTE3_V>();
            Duplicate(yh, static_cast<uint16_t>(0), static_cast<int32_t>(lanes));
        }

        // ---- 4. low bits, codes, inverse transform (16-bit dtypes: the raw section and the low
        //      bits were loaded during the scan)
        Sync<HardEvent::MTE2_V>();
        if (m > 0) {
            if (prefetchRaw_) {
                HalvingUnpack(lowBuf_.Get<uint16_t>(), z, m, lanes, d);
            } else {
                Sync<HardEvent::V_MTE2>();
                DataCopy(zb[2 * lhw], blob_[lowPos], 2 * lhw);
                Sync<HardEvent::MTE2_V>();
                HalvingUnpack(z, m, lanes, d);
            }
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
    static constexpr uint32_t SPAN_STEP = 112;                 // lanes kept per GatherMask repeat (7 blocks)
    static constexpr uint32_t META = 48;                       // index entries per strided load
    static constexpr uint32_t CHUNK = 1024;
    TPipe pipe_;
    TBuf<TPosition::VECCALC> yhBuf_, dBuf_, patBuf_, lowBuf_, zBuf_, offBuf_, biBuf_, flgBuf_, tabBuf_, itabBuf_, metaBuf_, rawBuf_, stBuf_,
        hdrBuf_;
    TQue<TPosition::VECOUT, 1> outQue_;
    GlobalTensor<uint8_t> blob_;
    GlobalTensor<uint64_t> index_;
    GlobalTensor<uint16_t> y_;
    GlobalTensor<int32_t> status_;
    GlobalTensor<uint64_t> dims_;
    ScanTables tab_;
    EnecTilingData t_;
    uint32_t wordBytes_ = 2, rawBits_ = 8, mantBits_ = 7, expBits_ = 8;
    bool prefetchRaw_ = false;
    int32_t code_ = ENEC_STATUS_OK;
};

}  // namespace enec

// status: coreNum slots of ENEC_STATUS_SLOT_INTS int32 (enec_tiling.h); slot c, word 0 = core c's
// verdict. The kernel never reads or writes outside the blob, y, status and tiling, whatever the
// blob's bytes (with tiling.checkHeader; without it the host validated the blob first).
extern "C" __global__ __aicore__ void enec_decompress(GM_ADDR blob, GM_ADDR y, GM_ADDR status, GM_ADDR workspace,
    GM_ADDR tiling)
{
    KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_AIV_ONLY);
    enec::DecompressKernel k;
    k.Init(blob, y, status, tiling);
    k.Process();
}
