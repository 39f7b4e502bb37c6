// enec compress kernels (AscendC, vector cores only).
//
// enec_compress: every core takes blocks core, core + coreNum, ... (16,384 elements each) and
//   writes, at fixed places of the blob (docs/FORMAT.md), the block's raw section, low-bits
//   section and flag bits; its packed outliers go to slot t of a workspace, and its flagged-group
//   count F_t to counts[t].
// enec_finish then turns the counts into the per-block outlier index (an exclusive scan of
// 2 * roundup16(F_t) * (n - m) bytes, the device twin of op_host EnecOutlierIndex), writes it,
// moves each block's outliers from its workspace slot to outlier_offset + index[t], and writes
// the blob's total size into the header the host wrote (every other header field is known before
// the kernels run).
#include "enec_common.h"

using namespace AscendC;

namespace enec {

class CompressKernel {
public:
    __aicore__ inline void Init(GM_ADDR x, GM_ADDR blob, GM_ADDR counts, GM_ADDR ws, GM_ADDR tiling)
    {
        LoadTiling(tiling, t_);
        wordBytes_ = t_.dtype == 2 ? 4 : 2;
        rawBits_ = t_.dtype == 1 ? 11 : 8;            // FP32: the high half is split like BF16
        mantBits_ = t_.dtype == 1 ? 10 : 7;
        const uint64_t words = t_.numel * (wordBytes_ / 2);
        x_.SetGlobalBuffer(reinterpret_cast<__gm__ uint16_t*>(x), words);
        if (t_.dtype == 2) x32_.SetGlobalBuffer(reinterpret_cast<__gm__ uint32_t*>(x), t_.numel);
        blob_.SetGlobalBuffer(reinterpret_cast<__gm__ uint8_t*>(blob), t_.outlierOffset);
        ws_.SetGlobalBuffer(reinterpret_cast<__gm__ uint8_t*>(ws), t_.blocks * t_.wsSlotBytes);
        counts_.SetGlobalBuffer(reinterpret_cast<__gm__ int32_t*>(counts), t_.blocks);
        uint32_t zw = rawBits_;
        if (t_.m > zw) zw = static_cast<uint32_t>(t_.m);
        if (t_.n - t_.m > zw) zw = static_cast<uint32_t>(t_.n - t_.m);
        // input words (later raw/outlier lanes); 16-bit dtypes get a second buffer so the next
        // block's load overlaps this block's vector work (FP32 blocks do not fit twice in UB)
        prefetch_ = wordBytes_ == 2;
        pipe_.InitBuffer(inBuf_, N * wordBytes_ * (prefetch_ ? 2 : 1));
        pipe_.InitBuffer(yBuf_, N * 2);                // exponents -> codes
        pipe_.InitBuffer(dBuf_, N * 2);                // packing lanes
        pipe_.InitBuffer(zBuf_, N * zw / 8 * 2);       // emitted bytes (one per uint16 lane)
        pipe_.InitBuffer(hfBuf_, GMAX * 2);            // group ORs as half
        pipe_.InitBuffer(maskBuf_, GMAX / 8);          // flag bits
        pipe_.InitBuffer(cntBuf_, 32);                 // F_t staging
        if constexpr (!GATHERMASK_WIDE) {              // the narrow outlier compaction's Gather offsets
            pipe_.InitBuffer(offsBuf_, PATTERN_HALVES * 4);
            OutlierPatternOffsets(offsBuf_.Get<uint32_t>(), GMAX);
        }
    }

    __aicore__ inline void Process()
    {
        const uint64_t core = GetBlockIdx();
        uint32_t k = 0;
        for (uint64_t t = core; t < t_.blocks; t += t_.coreNum, ++k) {
            Block(t, k);
        }
    }

private:
    __aicore__ inline LocalTensor<uint16_t> InBuf(uint32_t k)
    {
        return inBuf_.Get<uint16_t>()[prefetch_ && (k & 1) ? N : 0];
    }

    __aicore__ inline void Load(uint64_t t, const LocalTensor<uint16_t>& in)
    {
        const bool full = t < t_.fullBlocks;
        LoadWords(t, full ? N : static_cast<uint32_t>(t_.lastLanes), full ? N : static_cast<uint32_t>(t_.lastReal), in);
    }

    __aicore__ inline void Block(uint64_t t, uint32_t k)
    {
        const bool full = t < t_.fullBlocks;
        const uint32_t lanes = full ? N : static_cast<uint32_t>(t_.lastLanes);
        const uint32_t real = full ? N : static_cast<uint32_t>(t_.lastReal);
        const uint32_t groups = lanes / ENEC_GROUP_LEN;
        const uint32_t b = static_cast<uint32_t>(t_.b), n = static_cast<uint32_t>(t_.n), m = static_cast<uint32_t>(t_.m);
        LocalTensor<uint16_t> in = InBuf(k);
        LocalTensor<uint16_t> y = yBuf_.Get<uint16_t>();
        LocalTensor<uint16_t> d = dBuf_.Get<uint16_t>();
        LocalTensor<uint16_t> z = zBuf_.Get<uint16_t>();
        LocalTensor<uint8_t> zb = zBuf_.Get<uint8_t>();

        // ---- load the block's words; a short block's padding lanes get the pivot word, whose
        //      code is 0 and raw fields are 0 (docs/FORMAT.md §3)
        // (MTE3 -> MTE2: the raw section and the outliers are stored from `in`, so a load into
        //  `in` waits for those stores). With prefetch, block t was loaded during the previous
        //  block, and block t + coreNum is loaded now, while this block computes.
        if (!prefetch_ || k == 0) {
            // FP32: the previous block's stores from `in` (its vector work on `in` came before them)
            Sync<HardEvent::MTE3_MTE2>();
            LoadWords(t, lanes, real, in);
        }
        Sync<HardEvent::MTE2_V>();
        if (prefetch_ && t + t_.coreNum < t_.blocks) {
            // block t - coreNum is done with the other buffer: its stores from it came after its
            // vector work on it
            Sync<HardEvent::MTE3_MTE2>();
            Load(t + t_.coreNum, InBuf(k + 1));
        }
        // ---- FP32: split into low halves (raw, stored as they are: pack(r_lo, 16) is the
        //      identity) and high halves, which follow the BF16 path
        LocalTensor<uint16_t> words = in;
        const uint64_t rawBlock = static_cast<uint64_t>(N) * (t_.dtype == 2 ? 24 : rawBits_) / 8;
        uint64_t rawPos = t_.rawOffset + t * rawBlock;
        if (t_.dtype == 2) {
            // (the previous block's low store has read z: the load above waited for it)
            // normal mode, 128 halves per repeat; at most 128 repeats per instruction
            for (uint32_t c0 = 0; c0 < 2 * lanes; c0 += 128 * 128) {
                const uint32_t len = 2 * lanes - c0 < 128 * 128 ? 2 * lanes - c0 : 128 * 128;
                uint64_t cnt = 0;
                GatherMaskParams p(1, static_cast<uint16_t>(len / 128), 8, 0);
                GatherMask(d[c0 / 2], in[c0], static_cast<uint8_t>(2), false, 0, p, cnt);   // odd: high
                GatherMask(z[c0 / 2], in[c0], static_cast<uint8_t>(1), false, 0, p, cnt);   // even: low
            }
            Sync<HardEvent::V_MTE3>();
            DataCopy(blob_[rawPos], zb, lanes * 2);
            rawPos += static_cast<uint64_t>(lanes) * 2;
            words = d;
        }
        LocalTensor<uint16_t> raw = t_.dtype == 2 ? in : d;

        // ---- field split, then the branch-free transform
        SplitFields(words, y, raw, mantBits_, lanes);
        EncodeTransform(y, b, n, lanes);

        // ---- raw section, packed (scratch z) into the input buffer, which is free now. Every
        //      store of the previous block has read its buffer (z, the mask, the outliers) by now
        //      (FP32: also this block's low halves, from z).
        Sync<HardEvent::MTE3_V>();
        LocalTensor<uint16_t> rawOut = t_.dtype == 2 ? in[N] : in;
        uint32_t h = HalvingPack(raw, rawBits_, lanes, z, rawOut);
        Sync<HardEvent::V_MTE3>();
        DataCopy(blob_[rawPos], rawOut.ReinterpretCast<uint8_t>(), h * 2);

        // ---- low bits of every code (packed in z), group flags (OR-fold, compare, LSB-first);
        //      both stored after the raw store has read `in`, where the outliers go next
        uint32_t hl = 0;
        if (m > 0) {
            KeepLowBits(d, y, m, lanes);
            hl = HalvingPack(d, m, lanes, z, z);
        }
        LocalTensor<uint8_t> mask = maskBuf_.Get<uint8_t>();
        GroupOrFold(y, d, lanes);
        FlagBits(d, hfBuf_.Get<half>(), mask, m, groups);
        Sync<HardEvent::MTE3_V>();
        Sync<HardEvent::V_MTE3>();
        if (m > 0) DataCopy(blob_[t_.lowOffset + t * (static_cast<uint64_t>(N) * m / 8)], zb, hl * 2);
        const uint64_t flagPos = t_.flagsOffset + t * (GMAX / 8);
        if ((groups / 8) % 32 == 0) {
            DataCopy(blob_[flagPos], mask, groups / 8);
        } else {
            DataCopyPad(blob_[flagPos], mask, DataCopyExtParams(1, groups / 8, 0, 0, 0));
        }

        // ---- outliers: high parts of the lanes of flagged groups, compacted in lane order into
        //      `in`, packed with the codes' buffer as scratch (z and the mask are being stored)
        uint32_t f = 0;
        if (n > m) {
            LocalTensor<uint16_t> q = t_.dtype == 2 ? in[N] : in;
            ShiftRight(y, y, static_cast<uint16_t>(m), static_cast<int32_t>(lanes));
            LocalTensor<uint16_t> pat;
            LocalTensor<uint32_t> offs;
            if constexpr (!GATHERMASK_WIDE) {
                pat = d;                                       // free once FlagBits has read it
                offs = offsBuf_.Get<uint32_t>();
                if (groups != GMAX) OutlierPatternOffsets(offs, groups);   // a short last block
            }
            f = CompactFlaggedLanes(q, y, mask, groups, pat, offs) / ENEC_GROUP_LEN;
            if (f > 0) {
                const uint32_t slots = ENEC_GROUP_LEN * RoundUp(f, 16);
                if (slots > ENEC_GROUP_LEN * f) {
                    Duplicate(q[ENEC_GROUP_LEN * f], static_cast<uint16_t>(0),
                        static_cast<int32_t>(slots - ENEC_GROUP_LEN * f));
                }
                // n - m <= 8: the upper half of q is dead once the first fold has read it
                LocalTensor<uint16_t> packed = q[slots / 2];
                h = HalvingPack(q, n - m, slots, y, packed);
                Sync<HardEvent::V_MTE3>();
                DataCopy(ws_[t * t_.wsSlotBytes], packed.ReinterpretCast<uint8_t>(), h * 2);
            }
        }
        // ---- F_t
        LocalTensor<int32_t> c = cntBuf_.Get<int32_t>();
        c.SetValue(0, static_cast<int32_t>(f));
        DataCopyPad(counts_[t], c, DataCopyExtParams(1, 4, 0, 0, 0));
    }

    __aicore__ inline void LoadWords(uint64_t t, uint32_t lanes, uint32_t real, const LocalTensor<uint16_t>& in)
    {
        const uint64_t start = t * N * (wordBytes_ / 2);
        if (real == lanes) {
            DataCopy(in, x_[start], lanes * (wordBytes_ / 2));
            return;
        }
        const uint32_t perBlk = 32 / wordBytes_;                       // elements per 32 bytes
        const uint32_t aligned = RoundUp(real, perBlk);
        if (wordBytes_ == 2) {
            const uint16_t pivot = static_cast<uint16_t>(t_.b << mantBits_);
            if (lanes > aligned) Duplicate(in[aligned], pivot, static_cast<int32_t>(lanes - aligned));
            DataCopyPad(in, x_[start], DataCopyExtParams(1, real * 2, 0, 0, 0),
                DataCopyPadExtParams<uint16_t>(true, 0, static_cast<uint8_t>(aligned - real), pivot));
        } else {
            const uint32_t pivot = static_cast<uint32_t>(t_.b) << 23;
            LocalTensor<uint32_t> in32 = in.ReinterpretCast<uint32_t>();
            if (lanes > aligned) Duplicate(in32[aligned], pivot, static_cast<int32_t>(lanes - aligned));
            DataCopyPad(in32, x32_[t * N], DataCopyExtParams(1, real * 4, 0, 0, 0),
                DataCopyPadExtParams<uint32_t>(true, 0, static_cast<uint8_t>(aligned - real), pivot));
        }
    }

    TPipe pipe_;
    TBuf<TPosition::VECCALC> inBuf_, yBuf_, dBuf_, zBuf_, hfBuf_, maskBuf_, cntBuf_, offsBuf_;
    GlobalTensor<uint16_t> x_;
    GlobalTensor<uint32_t> x32_;
    GlobalTensor<uint8_t> blob_, ws_;
    GlobalTensor<int32_t> counts_;
    EnecTilingData t_;
    uint32_t wordBytes_ = 2, rawBits_ = 8, mantBits_ = 7;
    bool prefetch_ = false;
};

// After enec_compress, on every core: a running sum over the flagged-group counts of all blocks
// (scalar, read in chunks of COUNTS by DMA) gives each block's outlier offset; the core writes the
// index entries of its own blocks (one strided DMA per META_ITEMS blocks), moves their outliers
// from the workspace to the outlier section, and the core of the last block writes the blob's
// total size into the header. No host round trip between the two kernels.
class FinishKernel {
public:
    __aicore__ inline void Init(GM_ADDR ws, GM_ADDR counts, GM_ADDR blob, GM_ADDR tiling)
    {
        LoadTiling(tiling, t_);
        const uint64_t cap = t_.outlierOffset + (t_.n > t_.m ? t_.blocks * t_.wsSlotBytes : 0);
        blob_.SetGlobalBuffer(reinterpret_cast<__gm__ uint8_t*>(blob), cap);
        index_.SetGlobalBuffer(reinterpret_cast<__gm__ uint64_t*>(blob + t_.indexOffset), t_.blocks);
        total_.SetGlobalBuffer(reinterpret_cast<__gm__ uint64_t*>(blob + ENEC_HEADER_TOTAL_OFFSET), 1);
        ws_.SetGlobalBuffer(reinterpret_cast<__gm__ uint8_t*>(ws), t_.blocks * t_.wsSlotBytes);
        counts_.SetGlobalBuffer(reinterpret_cast<__gm__ int32_t*>(counts), t_.blocks);
        pipe_.InitBuffer(buf_, 2 * CHUNK);
        pipe_.InitBuffer(cntBuf_, COUNTS * 4);
        pipe_.InitBuffer(idxBuf_, META_ITEMS * 32);
        pipe_.InitBuffer(totBuf_, 32);
    }

    __aicore__ inline void Process()
    {
        const uint64_t cn = t_.coreNum, core = GetBlockIdx();
        const uint64_t slotBytes = 32ull * (t_.n > t_.m ? t_.n - t_.m : 0);   // per 16 flagged groups
        LocalTensor<int32_t> cnt = cntBuf_.Get<int32_t>();
        LocalTensor<uint64_t> idx = idxBuf_.Get<uint64_t>();
        uint64_t run = 0;          // outlier bytes of the blocks before t
        uint32_t mine = 0;         // own blocks collected for the next flush
        uint64_t firstMine = core;
        uint32_t fs[META_ITEMS];
        for (uint64_t t0 = 0; t0 < t_.blocks; t0 += COUNTS) {
            const uint32_t len = static_cast<uint32_t>(t_.blocks - t0 < COUNTS ? t_.blocks - t0 : COUNTS);
            DataCopyPad(cnt, counts_[t0], DataCopyExtParams(1, len * 4, 0, 0, 0), DataCopyPadExtParams<int32_t>(false, 0, 0, 0));
            for (uint32_t i = 0; i < len; ++i) {
                const uint32_t f = static_cast<uint32_t>(cnt.GetValue(i));
                if ((t0 + i) % cn == core) {
                    idx.SetValue(4 * mine, run);
                    fs[mine++] = f;
                    if (mine == META_ITEMS) {
                        Flush(firstMine, mine, fs);
                        firstMine += META_ITEMS * cn;
                        mine = 0;
                    }
                }
                run += (f + 15) / 16 * slotBytes;
            }
        }
        if (mine > 0) Flush(firstMine, mine, fs);
        Drain();
        if (t_.blocks > 0 && (t_.blocks - 1) % cn == core) {
            LocalTensor<uint64_t> tot = totBuf_.Get<uint64_t>();
            tot.SetValue(0, t_.outlierOffset + run);
            DataCopyPad(total_, tot, DataCopyExtParams(1, 8, 0, 0, 0));
        }
    }

private:
    // Index entries of `items` own blocks (first, first + coreNum, ...), then their outliers.
    __aicore__ inline void Flush(uint64_t first, uint32_t items, const uint32_t* fs)
    {
        const uint64_t cn = t_.coreNum;
        LocalTensor<uint64_t> idx = idxBuf_.Get<uint64_t>();
        DataCopyPad(index_[first], idx, DataCopyExtParams(static_cast<uint16_t>(items), 8, 0,
            static_cast<uint32_t>((cn - 1) * 8), 0));
        if (t_.n <= t_.m) return;
        for (uint32_t k = 0; k < items; ++k) {
            Place(first + k * cn, fs[k], idx.GetValue(4 * k));
        }
    }

    // Block t's outliers, workspace -> UB -> blob, in chunks. Copies go through two buffers in
    // turn: copy c's load is issued together with copy c - 1's store (the store of copy c is
    // issued with the next load, or by Drain), so the two DMA pipes overlap.
    __aicore__ inline void Place(uint64_t t, uint32_t f, uint64_t index)
    {
        const uint64_t bytes = 2ull * RoundUp(f, 16) * (t_.n - t_.m);
        const uint64_t dst = t_.outlierOffset + index;
        for (uint64_t done = 0; done < bytes; done += CHUNK) {
            const uint32_t len = static_cast<uint32_t>(bytes - done < CHUNK ? bytes - done : CHUNK);
            LocalTensor<uint8_t> buf = buf_.Get<uint8_t>()[(copies_ & 1) * CHUNK];
            if (copies_ > 0) {
                Sync<HardEvent::MTE2_MTE3>();                    // copy c - 1 is loaded
                Sync<HardEvent::MTE3_MTE2>();                    // copy c - 2's store has read this buffer
            }
            DataCopy(buf, ws_[t * t_.wsSlotBytes + done], len);
            if (copies_ > 0) Store();
            pendDst_ = dst + done;
            pendLen_ = len;
            ++copies_;
        }
    }

    __aicore__ inline void Store()
    {
        DataCopy(blob_[pendDst_], buf_.Get<uint8_t>()[((copies_ - 1) & 1) * CHUNK], pendLen_);
    }

    // The last copy's store.
    __aicore__ inline void Drain()
    {
        if (copies_ == 0) return;
        Sync<HardEvent::MTE2_MTE3>();
        Store();
    }

    static constexpr uint32_t CHUNK = 16384;
    static constexpr uint32_t COUNTS = 4096;
    TPipe pipe_;
    TBuf<TPosition::VECCALC> buf_, cntBuf_, idxBuf_, totBuf_;
    uint64_t pendDst_ = 0;         // the loaded copy whose store is not issued yet
    uint32_t pendLen_ = 0;
    uint32_t copies_ = 0;          // copies loaded so far on this core
    GlobalTensor<uint8_t> blob_, ws_;
    GlobalTensor<uint64_t> index_, total_;
    GlobalTensor<int32_t> counts_;
    EnecTilingData t_;
};

}  // namespace enec

// Argument order follows the CANN op convention (inputs, outputs, workspace, tiling).
// `workspace` is the framework's system workspace (unused).
extern "C" __global__ __aicore__ void enec_compress(GM_ADDR x, GM_ADDR blob, GM_ADDR counts, GM_ADDR staging,
    GM_ADDR workspace, GM_ADDR tiling)
{
    KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_AIV_ONLY);
    enec::CompressKernel k;
    k.Init(x, blob, counts, staging, tiling);
    k.Process();
}

// In place on `blob` (header written except its total size, fixed sections written).
extern "C" __global__ __aicore__ void enec_finish(GM_ADDR staging, GM_ADDR counts, GM_ADDR blob, GM_ADDR workspace,
    GM_ADDR tiling)
{
    KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_AIV_ONLY);
    enec::FinishKernel k;
    k.Init(staging, counts, blob, tiling);
    k.Process();
}
