// enec parameter kernels (AscendC, vector cores only): compression with no host read.
//
// enec_histogram: every core takes units core, core + coreNum, ... (32 KiB of input each: 16,384
//   elements, 8,192 for FP32) and counts the exponents of their elements exactly; its histogram
//   goes to its slot of a GM workspace (ENEC_HIST_SLOT_BYTES, every count as four 16-bit digits in
//   int32 planes).
// enec_params (one core): sums the cores' planes (int32 vector adds, no overflow for any count),
//   runs the parameter search of python/enec/params.py on the scalar unit with exact integer
//   doubles (enec_search.h, the same code as the host's EnecChooseParams), and writes what the
//   host used to write after reading the histogram back: the tiling of enec_compress/enec_finish
//   (b, n, m and the layout that follows from them, EnecLayout), the header's fixed 96 bytes
//   (EnecHeaderWords) and the zero alignment gaps (EnecGaps).
//
// A2 vector cores have no histogram or scatter-add instruction and compare half/float only, so a
// unit is counted by thresholds over its exponents e (0..255, exact in half), from the largest (hi,
// int16 Max folds) down: above t0 (the previous unit's most frequent exponent) C(t) = #{e >= t} over
// the whole unit by one CompareScalar and one counter-mode GatherMask whose returned count is the
// mask's set bits (Compact with CMPMODE::GE, its few kept lanes scratch);
// from t0 down, each threshold t compacts the remainder's elements below t into the other of two
// remainder buffers (CompareScalar(e < t) + GatherMask with that mask; the buffer is filled with
// 1024.0 first, which no threshold keeps, so the lanes after the kept ones are padding) and
// count(t) = |remainder| - |kept|, until nothing is left. A remainder of at most TAIL_IN elements
// goes to a tail buffer instead, which gathers those of several units and is counted by the same
// walk when full and at the end (its fixed per-threshold costs shared). N(0, 0.02^2) BF16: about
// 2 counting thresholds over the unit and compaction passes over about 3 units' worth of lanes,
// instead of 2 passes over the unit for each of its ~17 exponent values. Relies on GatherMask
// writing only the lanes it keeps (as enec_compress does; the gathermask.* probes report it).
// The input must still be read once: under the timing model the loads alone take 101 us for 64 Mi
// BF16/FP16 elements and 196 us for FP32 (this kernel: 139 / 137 / 208 us; docs/NPU.md).
#include "enec_common.h"
#include "enec_search.h"

using namespace AscendC;

namespace enec {

// GatherMask counter mode with 256 elements per repeat reads the mask's 32-byte blocks in order;
// with ENEC_GATHERMASK_COUNTER_MAX below 256 (see enec_common.h) normal mode is used instead, which
// reads only the first 16 bytes of each 32-byte pattern block, so a second compare shifted by 128
// lanes puts the other halves there and a second GatherMask compacts them.
constexpr bool HIST_WIDE = ENEC_GATHERMASK_COUNTER_MAX >= 256;

class HistogramKernel {
public:
    __aicore__ inline void Init(GM_ADDR x, GM_ADDR partial, GM_ADDR tiling)
    {
        LoadTiling(tiling, t_);
        wordBytes_ = t_.dtype == 2 ? 4 : 2;
        shift_ = t_.dtype == 1 ? 11 : 8;                      // e = (high half << 1) >> shift
        x_.SetGlobalBuffer(reinterpret_cast<__gm__ uint16_t*>(x), t_.numel * (wordBytes_ / 2));
        if (t_.dtype == 2) x32_.SetGlobalBuffer(reinterpret_cast<__gm__ uint32_t*>(x), t_.numel);
        part_.SetGlobalBuffer(reinterpret_cast<__gm__ int32_t*>(partial), t_.coreNum * ENEC_HIST_SLOT_BYTES / 4);
        // units of U elements (32 KiB of input: 16,384 for 16-bit dtypes, 8,192 for FP32), unit u on
        // core u mod coreNum: any split counts every element once; two input buffers, so the next
        // unit's load overlaps this one's vector work
        U_ = N * 2 / wordBytes_;
        units_ = (t_.numel + U_ - 1) / U_;
        fullUnits_ = t_.numel / U_;
        lastReal_ = static_cast<uint32_t>(units_ ? t_.numel - (units_ - 1) * U_ : 0);
        lastLanes_ = RoundUp(lastReal_, ENEC_LANE_ROUND);
        pipe_.InitBuffer(inBuf_, 2 * N * 2);
        pipe_.InitBuffer(xBuf_, N * 2);                        // exponents (int16, Max fold), then remainders
        pipe_.InitBuffer(hBuf_, N * 2);                        // exponents (half), then remainders
        pipe_.InitBuffer(tailBuf_, TAIL * 2);                  // small remainders of several units
        pipe_.InitBuffer(maskBuf_, N / 8 * (HIST_WIDE ? 1 : 2));
        pipe_.InitBuffer(outBuf_, ENEC_HIST_SLOT_BYTES);
    }

    __aicore__ inline void Process()
    {
        const uint64_t core = GetBlockIdx();
        for (uint32_t v = 0; v < ENEC_HIST_BINS; ++v) hist_[v] = 0;
        Duplicate(tailBuf_.Get<half>(), Pad(), static_cast<int32_t>(TAIL));
        uint32_t k = 0;
        for (uint64_t t = core; t < units_; t += t_.coreNum, ++k) {
            Unit(t, k);
        }
        if (tailReal_ > 0) Flush();
        // a short last unit's padding lanes (word 0) were counted as exponent 0
        if (units_ > 0 && (units_ - 1) % t_.coreNum == core) hist_[0] -= lastLanes_ - lastReal_;
        LocalTensor<int32_t> out = outBuf_.Get<int32_t>();
        for (uint32_t p = 0; p < ENEC_HIST_PLANES; ++p) {
            for (uint32_t v = 0; v < ENEC_HIST_BINS; ++v) {
                out.SetValue(p * ENEC_HIST_BINS + v, static_cast<int32_t>((hist_[v] >> (16 * p)) & 0xFFFF));
            }
        }
        DataCopy(part_[core * (ENEC_HIST_SLOT_BYTES / 4)], out, ENEC_HIST_SLOT_BYTES / 4);
    }

private:
    // A remainder is kept in a buffer of 256-lane chunks; the lanes after its elements hold Pad(),
    // which no threshold (<= 256) keeps.
    static constexpr uint32_t TAIL = N;                       // lanes of the tail buffer
    static constexpr uint32_t TAIL_IN = 2048;                 // a remainder this small goes to the tail
    __aicore__ static inline half Pad() { return static_cast<half>(1024.0f); }

    __aicore__ inline LocalTensor<uint16_t> InBuf(uint32_t k)
    {
        return inBuf_.Get<uint16_t>()[(k & 1) ? N : 0];
    }

    // Unit t's words; a short unit's padding lanes get the word 0 (exponent 0: counted in bin 0 and
    // taken off at the end).
    __aicore__ inline void Load(uint64_t t, const LocalTensor<uint16_t>& in)
    {
        const bool full = t < fullUnits_;
        const uint32_t lanes = full ? U_ : lastLanes_;
        const uint32_t real = full ? U_ : lastReal_;
        const uint64_t start = t * U_ * (wordBytes_ / 2);
        if (real == lanes) {
            DataCopy(in, x_[start], lanes * (wordBytes_ / 2));
            return;
        }
        const uint32_t perBlk = 32 / wordBytes_;
        const uint32_t aligned = RoundUp(real, perBlk);
        if (wordBytes_ == 2) {
            if (lanes > aligned) Duplicate(in[aligned], static_cast<uint16_t>(0), static_cast<int32_t>(lanes - aligned));
            DataCopyPad(in, x_[start], DataCopyExtParams(1, real * 2, 0, 0, 0),
                DataCopyPadExtParams<uint16_t>(true, 0, static_cast<uint8_t>(aligned - real), 0));
        } else {
            LocalTensor<uint32_t> in32 = in.ReinterpretCast<uint32_t>();
            if (lanes > aligned) Duplicate(in32[aligned], 0u, static_cast<int32_t>(lanes - aligned));
            DataCopyPad(in32, x32_[t * U_], DataCopyExtParams(1, real * 4, 0, 0, 0),
                DataCopyPadExtParams<uint32_t>(true, 0, static_cast<uint8_t>(aligned - real), 0u));
        }
    }

    __aicore__ inline void Unit(uint64_t t, uint32_t k)
    {
        const bool full = t < fullUnits_;
        const uint32_t lanes = full ? U_ : lastLanes_;
        LocalTensor<uint16_t> in = InBuf(k);
        LocalTensor<uint16_t> e = xBuf_.Get<uint16_t>();
        LocalTensor<int16_t> ei = xBuf_.Get<int16_t>();
        LocalTensor<half> h = hBuf_.Get<half>();

        // ---- load (this unit was loaded during the previous one, and the next unit of this core
        //      loads now, into the other buffer)
        if (k == 0) Load(t, in);
        Sync<HardEvent::MTE2_V>();
        if (t + t_.coreNum < units_) {
            if (k > 0) {
                Sync<HardEvent::V_MTE2>();                     // unit t - coreNum's reads of that buffer
            }
            Load(t + t_.coreNum, InBuf(k + 1));
        }
        // room in the tail for this unit's remainder (the flush uses both remainder buffers)
        if (tailLen_ + TAIL_IN + 16 > TAIL) Flush();

        // ---- exponents: FP32 takes its high halves (odd), which split like BF16
        LocalTensor<uint16_t> hi16 = in;
        if (t_.dtype == 2) {
            for (uint32_t c0 = 0; c0 < 2 * lanes; c0 += 128 * 128) {
                const uint32_t len = 2 * lanes - c0 < 128 * 128 ? 2 * lanes - c0 : 128 * 128;
                uint64_t cnt = 0;
                GatherMaskParams p(1, static_cast<uint16_t>(len / 128), 8, 0);
                GatherMask(e[c0 / 2], in[c0], static_cast<uint8_t>(2), false, 0, p, cnt);
            }
            hi16 = e;
        }
        ShiftLeft(e, hi16, static_cast<uint16_t>(1), static_cast<int32_t>(lanes));
        ShiftRight(e, e, static_cast<uint16_t>(shift_), static_cast<int32_t>(lanes));
        Cast(h, ei, RoundMode::CAST_NONE, lanes);

        // ---- the largest exponent by halving int16 Max folds over a power-of-two span (lanes
        //      beyond the unit: 0)
        uint32_t span = 256;
        while (span < lanes) span *= 2;
        if (span > lanes) Duplicate(ei[lanes], static_cast<int16_t>(0), static_cast<int32_t>(span - lanes));
        for (uint32_t len = span / 2; len >= 16; len /= 2) Max(ei, ei, ei[len], static_cast<int32_t>(len));
        int32_t hi = ei.GetValue(0);
        for (uint32_t i = 1; i < 16; ++i) {
            const int32_t b = ei.GetValue(i);
            if (b > hi) hi = b;
        }

        // ---- above t0 (the previous unit's most frequent exponent) the counts C(t) = #{e >= t}
        //      over the whole unit (nearly all of it stays: compacting would cost a pass more);
        //      from t0 down, descending thresholds over the shrinking remainder
        const uint32_t top = static_cast<uint32_t>(hi);
        const uint32_t t0 = mode_ > 0 && mode_ < top ? mode_ : top;
        best_ = 0;
        uint64_t above = 0;                                    // C(t + 1)
        for (uint32_t th = top; th > t0; --th) {
            uint32_t ext = 0;                                  // (what it keeps is scratch: few lanes)
            const uint64_t c = Compact(xBuf_.Get<half>(), h, th, lanes, ext, false, CMPMODE::GE);
            Tally(th, c - above);
            above = c;
        }
        Walk(h, lanes - static_cast<uint32_t>(above), lanes, t0, true);
    }

    __aicore__ inline void Tally(uint32_t t, uint64_t n)
    {
        hist_[t] += n;
        if (n > best_) {
            best_ = n;
            mode_ = t;
        }
    }

    // Counts the `real` elements of `src` (its first `extent` lanes, Pad() in the lanes after them
    // and up to the next 256), all below top + 1: for t = top, top - 1, ... the elements below t are
    // compacted into the other remainder buffer, and count(t) = |remainder| - |elements below t|,
    // until none is left. With toTail, a remainder of at most TAIL_IN elements is compacted into the
    // tail buffer instead and counted later (Flush).
    __aicore__ inline void Walk(const LocalTensor<half>& src0, uint32_t real, uint32_t extent, uint32_t top, bool toTail)
    {
        LocalTensor<half> bufs[2] = {xBuf_.Get<half>(), hBuf_.Get<half>()};
        LocalTensor<half> src = src0;
        uint32_t next = 0;
        for (uint32_t t = top; real > 0; --t) {
            if (t == 0) {                                     // what is left is exponent 0
                hist_[0] += real;
                return;
            }
            if (toTail && real <= TAIL_IN) {
                uint32_t ext = 0;
                const uint32_t c = Compact(tailBuf_.Get<half>()[tailLen_], src, t, RoundUp(extent, 256), ext, false);
                Tally(t, real - c);
                tailLen_ += RoundUp(ext, 16);
                tailReal_ += c;
                if (t > tailTop_) tailTop_ = t;
                return;
            }
            LocalTensor<half> dst = bufs[next];
            if (dst.GetPhyAddr() == src.GetPhyAddr()) {
                next ^= 1;
                dst = bufs[next];
            }
            uint32_t ext = 0;
            const uint32_t c = Compact(dst, src, t, RoundUp(extent, 256), ext, true);
            Tally(t, real - c);
            real = c;
            extent = ext;
            src = dst;
            next ^= 1;
        }
    }

    // The tail's elements, all below tailTop_, counted by a walk; the tail refilled with Pad().
    __aicore__ inline void Flush()
    {
        LocalTensor<half> tail = tailBuf_.Get<half>();
        const uint32_t used = RoundUp(tailLen_, 256);
        const uint32_t real = tailReal_;
        const uint32_t top = tailTop_ - 1;
        tailLen_ = 0;
        tailReal_ = 0;
        tailTop_ = 0;
        // the walk's first step reads the whole tail before the refill (both on the vector pipe)
        WalkThenRefill(tail, real, used, top);
    }

    __aicore__ inline void WalkThenRefill(const LocalTensor<half>& tail, uint32_t real, uint32_t used, uint32_t top)
    {
        LocalTensor<half> x = xBuf_.Get<half>();
        uint32_t t = top;
        if (t == 0) {
            hist_[0] += real;
            Duplicate(tail, Pad(), static_cast<int32_t>(used));
            return;
        }
        uint32_t ext = 0;
        const uint32_t c = Compact(x, tail, t, used, ext, true);
        Duplicate(tail, Pad(), static_cast<int32_t>(used));
        hist_[t] += real - c;
        if (c > 0) Walk(x, c, ext, t - 1, false);
    }

    // The elements of src's first `lanes` lanes (a multiple of 256) below t (with cmp = GE: at least
    // t), compacted into dst; returns their number, `ext` = the lanes they take in dst (the narrow form leaves up to 15 lanes
    // between its two halves). With `pad`, dst's first `lanes` lanes are set to Pad() first, so that
    // the lanes after the kept ones hold Pad() (GatherMask writes only the lanes it keeps); the tail
    // buffer holds Pad() already.
    __aicore__ inline uint32_t Compact(const LocalTensor<half>& dst, const LocalTensor<half>& src, uint32_t t,
        uint32_t lanes, uint32_t& ext, bool pad, CMPMODE cmp = CMPMODE::LT)
    {
        LocalTensor<uint8_t> mask = maskBuf_.Get<uint8_t>();
        const half thr = static_cast<half>(static_cast<float>(t));
        if (pad) Duplicate(dst, Pad(), static_cast<int32_t>(lanes));
        // level-2 CompareScalar runs with the current mask (GatherMask leaves its own): full here
        SetMaskNorm();
        ResetMask();
        CompareScalar(mask, src, thr, cmp, lanes);
        if constexpr (HIST_WIDE) {
            uint64_t cnt = 0;
            GatherMaskParams p(1, static_cast<uint16_t>(lanes / 256), 16, 1);
            GatherMask(dst, src, mask.ReinterpretCast<uint16_t>(), true, 256, p, cnt);
            ext = static_cast<uint32_t>(cnt);
            return ext;
        } else {
            // normal mode: repeat r keeps lanes [256r, 256r + 128) by mask bytes [32r, 32r + 16); the
            // compare from lane 128 on puts lanes [256r + 128, 256r + 256) in mask2's
            LocalTensor<uint8_t> mask2 = mask[N / 8];
            SetMaskNorm();
            ResetMask();
            CompareScalar(mask2, src[128], thr, cmp, lanes - 128);
            GatherMaskParams p(1, static_cast<uint16_t>(lanes / 256), 16, 1);
            uint64_t c1 = 0, c2 = 0;
            GatherMask(dst, src, mask.ReinterpretCast<uint16_t>(), false, 0, p, c1);
            const uint32_t off = RoundUp(static_cast<uint32_t>(c1), 16);
            GatherMask(dst[off], src[128], mask2.ReinterpretCast<uint16_t>(), false, 0, p, c2);
            ext = off + static_cast<uint32_t>(c2);
            return static_cast<uint32_t>(c1 + c2);
        }
    }

    TPipe pipe_;
    TBuf<TPosition::VECCALC> inBuf_, xBuf_, hBuf_, tailBuf_, maskBuf_, outBuf_;
    GlobalTensor<uint16_t> x_;
    GlobalTensor<uint32_t> x32_;
    GlobalTensor<int32_t> part_;
    EnecTilingData t_;
    uint64_t hist_[ENEC_HIST_BINS];
    uint32_t wordBytes_ = 2, shift_ = 8;
    uint64_t U_ = N, units_ = 0, fullUnits_ = 0;
    uint32_t lastReal_ = 0, lastLanes_ = 0;
    uint32_t tailLen_ = 0, tailReal_ = 0, tailTop_ = 0;      // tail lanes used, elements in it, all < tailTop_
    uint32_t mode_ = 0;                                       // the most frequent exponent of the last unit
    uint64_t best_ = 0;                                       // (its count so far)
};

class ParamsKernel {
public:
    __aicore__ inline void Init(GM_ADDR partial, GM_ADDR tilingIn, GM_ADDR tilingOut, GM_ADDR blob)
    {
        LoadTiling(tilingIn, t_);
        part_.SetGlobalBuffer(reinterpret_cast<__gm__ int32_t*>(partial), t_.coreNum * ENEC_HIST_SLOT_BYTES / 4);
        out_.SetGlobalBuffer(reinterpret_cast<__gm__ uint8_t*>(tilingOut), sizeof(EnecTilingData));
        blob_ = blob;
        pipe_.InitBuffer(chunkBuf_, CORES_PER_LOAD * ENEC_HIST_SLOT_BYTES);
        pipe_.InitBuffer(accBuf_, ENEC_HIST_SLOT_BYTES);
        pipe_.InitBuffer(wordBuf_, 448);
    }

    __aicore__ inline void Process()
    {
        if (GetBlockIdx() != 0) return;
        // ---- the cores' planes summed (each digit sum < coreNum * 2^16)
        const uint32_t ints = ENEC_HIST_SLOT_BYTES / 4;
        LocalTensor<int32_t> acc = accBuf_.Get<int32_t>();
        LocalTensor<int32_t> chunk = chunkBuf_.Get<int32_t>();
        Duplicate(acc, static_cast<int32_t>(0), static_cast<int32_t>(ints));
        for (uint64_t c0 = 0; c0 < t_.coreNum; c0 += CORES_PER_LOAD) {
            const uint32_t cs = static_cast<uint32_t>(t_.coreNum - c0 < CORES_PER_LOAD ? t_.coreNum - c0 : CORES_PER_LOAD);
            if (c0 > 0) {
                Sync<HardEvent::V_MTE2>();                     // the previous chunk is summed
            }
            DataCopy(chunk, part_[c0 * ints], cs * ints);
            Sync<HardEvent::MTE2_V>();
            for (uint32_t c = 0; c < cs; ++c) Add(acc, acc, chunk[c * ints], static_cast<int32_t>(ints));
        }
        int64_t hist[ENEC_HIST_BINS];
        for (uint32_t v = 0; v < ENEC_HIST_BINS; ++v) {
            uint64_t s = 0;
            for (uint32_t p = 0; p < ENEC_HIST_PLANES; ++p) {
                s += static_cast<uint64_t>(static_cast<uint32_t>(acc.GetValue(p * ENEC_HIST_BINS + v))) << (16 * p);
            }
            hist[v] = static_cast<int64_t>(s);
        }

        // ---- the search (exact integer doubles), the layout that follows from (b, n, m)
        const uint32_t w = t_.dtype == 1 ? 5 : 8;
        int64_t cum[2 * ENEC_HIST_BINS + 1];
        uint32_t b = 0, n = 1, m = 0;
        EnecSearchParams<EnecSoftOps>(hist, w, cum, &b, &n, &m);
        EnecTilingData t = t_;
        EnecLayout(t, t_.dtype, t_.numel, t_.ndim, n, m);
        t.b = b;
        t.n = n;
        t.m = m;

        // ---- tiling of the compress kernels; header bytes 0..95; zero gaps. One UB region each:
        //      words 0..18 the tiling, 24..35 the header, 48..51 zeros.
        LocalTensor<uint64_t> words = wordBuf_.Get<uint64_t>();
        const uint64_t* tw = reinterpret_cast<const uint64_t*>(&t);
        for (uint32_t i = 0; i < sizeof(EnecTilingData) / 8; ++i) words.SetValue(i, tw[i]);
        DataCopyPad(out_, words.ReinterpretCast<uint8_t>(), DataCopyExtParams(1, sizeof(EnecTilingData), 0, 0, 0));
        uint64_t hw[12];
        EnecHeaderWords(t, t_.ndim, t.outlierOffset, hw);
        for (uint32_t i = 0; i < 12; ++i) words.SetValue(24 + i, hw[i]);
        for (uint32_t i = 0; i < 4; ++i) words.SetValue(48 + i, 0);
        uint64_t gapStart[4], gapLen[4];
        const uint32_t gaps = EnecGaps(t, gapStart, gapLen);
        uint64_t blobBytes = ENEC_HEADER_FIXED_BYTES;
        for (uint32_t i = 0; i < gaps; ++i) {
            if (gapStart[i] + gapLen[i] > blobBytes) blobBytes = gapStart[i] + gapLen[i];
        }
        GlobalTensor<uint8_t> blob;
        blob.SetGlobalBuffer(reinterpret_cast<__gm__ uint8_t*>(blob_), blobBytes);
        DataCopy(blob, words[24].ReinterpretCast<uint8_t>(), ENEC_HEADER_FIXED_BYTES);
        for (uint32_t i = 0; i < gaps; ++i) {
            DataCopyPad(blob[gapStart[i]], words[48].ReinterpretCast<uint8_t>(),
                DataCopyExtParams(1, static_cast<uint32_t>(gapLen[i]), 0, 0, 0));
        }
    }

private:
    static constexpr uint32_t CORES_PER_LOAD = 8;
    TPipe pipe_;
    TBuf<TPosition::VECCALC> chunkBuf_, accBuf_, wordBuf_;
    GlobalTensor<int32_t> part_;
    GlobalTensor<uint8_t> out_;
    GM_ADDR blob_ = nullptr;
    EnecTilingData t_;
};

}  // namespace enec

// Argument order follows the CANN op convention (inputs, outputs, workspace, tiling). `partial`:
// coreNum * ENEC_HIST_SLOT_BYTES bytes.
extern "C" __global__ __aicore__ void enec_histogram(GM_ADDR x, GM_ADDR partial, GM_ADDR workspace, GM_ADDR tiling)
{
    KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_AIV_ONLY);
    enec::HistogramKernel k;
    k.Init(x, partial, tiling);
    k.Process();
}

// One core. `tiling`: the host's tiling of the tensor (numel, dtype, coreNum, ndim; b, n, m not yet
// chosen); `tilingOut`: the compress kernels' tiling (sizeof(EnecTilingData) bytes); `blob`: the
// blob whose header the host wrote (dims included), its fixed 96 bytes and gaps written here.
extern "C" __global__ __aicore__ void enec_params(GM_ADDR partial, GM_ADDR tilingOut, GM_ADDR blob, GM_ADDR workspace,
    GM_ADDR tiling)
{
    KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_AIV_ONLY);
    enec::ParamsKernel k;
    k.Init(partial, tiling, tilingOut, blob);
    k.Process();
}
