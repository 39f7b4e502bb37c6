// Device functions shared by the enec AscendC kernels: the four ENEC stages.
//
//   * EncodeTransform / DecodeTransform : branch-free integer transform y = (b - x) mod 2^n and
//                                         its inverse x = (b - signext_n(y)) mod 2^W
//   * GroupOrFold + FlagBits            : bit-width quantization: OR-fold of each group of 16
//                                         codes (lanes j + k*G) into one flag bit
//   * HalvingPack / HalvingUnpack       : hierarchical halving bit-packing (docs/FORMAT.md §5)
//   * IddScan                           : intra-segment-dependency-decoupled prefix scan over the
//                                         group flags, which places the outliers on decode
//
// Only instructions that Atlas A2 (dav-c220) vector cores offer are used, with their dtype rules:
// bit operations on uint16/int16 lanes, shifts by scalars, integer add/mul on int16/int32, float
// compare, Gather/GatherMask for data movement between lanes. No instruction reads an element
// that the same instruction writes unless the operands are identical, and every operand starts on
// a 32-byte boundary. All block geometry comes from docs/FORMAT.md (python/enec/format.py).
#ifndef ENEC_COMMON_H
#define ENEC_COMMON_H

#include "kernel_operator.h"
#include "enec_tiling.h"

namespace enec {

using namespace AscendC;

constexpr uint32_t N = ENEC_BLOCK_ELEMS;
constexpr uint32_t GMAX = ENEC_MAX_GROUPS;
constexpr uint32_t SCAN_WORDS = GMAX / 16;   // 64 flag words of 16 bits per full block

__aicore__ inline uint32_t RoundUp(uint32_t x, uint32_t k) { return (x + k - 1) / k * k; }

// Order everything pipe A did before everything pipe B does next (E = A_B). The event id comes
// from the TPipe's pool, never a hand-picked one: TQue operations own ids of the same pool.
// Scalar <-> pipe ordering is not written by hand: the compiler's auto-sync inserts it.
template <HardEvent E> __aicore__ inline void Sync()
{
    const int32_t id = static_cast<int32_t>(GetTPipePtr()->FetchEventID(E));
    SetFlag<E>(id);
    WaitFlag<E>(id);
}

__aicore__ inline void LoadTiling(GM_ADDR tiling, EnecTilingData& t)
{
    __gm__ uint64_t* p = reinterpret_cast<__gm__ uint64_t*>(tiling);
    uint64_t* q = reinterpret_cast<uint64_t*>(&t);
    for (uint32_t i = 0; i < sizeof(EnecTilingData) / sizeof(uint64_t); ++i) {
        q[i] = p[i];
    }
}

// Per-block metadata (counts, outlier index) of the blocks first, first + stride, ... : n items in
// one strided DMA, item k in its own 32-byte slot at dst[k * 32 / sizeof(T)]. One copy per chunk
// of blocks instead of a scalar GM read (a DCache miss) per block.
constexpr uint32_t META_ITEMS = 64;
template <typename T>
__aicore__ inline void LoadStrided(const LocalTensor<T>& dst, const GlobalTensor<T>& src, uint64_t first, uint32_t n,
    uint64_t stride)
{
    DataCopyPad(dst, src[first], DataCopyExtParams(static_cast<uint16_t>(n), sizeof(T),
        static_cast<uint32_t>((stride - 1) * sizeof(T)), 0, 0), DataCopyPadExtParams<T>(false, 0, 0, 0));
}

// Copy `count` uint16 lanes (a vector instruction: shift by 0).
__aicore__ inline void CopyLanes(const LocalTensor<uint16_t>& dst, const LocalTensor<uint16_t>& src, uint32_t count)
{
    ShiftLeft(dst, src, static_cast<uint16_t>(0), static_cast<int32_t>(count));
}

// Keep the low `bits` bits of every lane: the shift pair (v << (16 - bits)) >> (16 - bits).
__aicore__ inline void KeepLowBits(const LocalTensor<uint16_t>& dst, const LocalTensor<uint16_t>& src, uint32_t bits,
    uint32_t count)
{
    ShiftLeft(dst, src, static_cast<uint16_t>(16 - bits), static_cast<int32_t>(count));
    ShiftRight(dst, dst, static_cast<uint16_t>(16 - bits), static_cast<int32_t>(count));
}

// ------------------------------------------------------------------------------------------------
// Stage 1: branch-free integer transform.
// x (exponents, uint16 lanes) -> y = (b - x) mod 2^n, in place: multiply by -1, add b, keep n bits.
__aicore__ inline void EncodeTransform(const LocalTensor<uint16_t>& y, uint32_t b, uint32_t n, uint32_t count)
{
    LocalTensor<int16_t> s = y.ReinterpretCast<int16_t>();
    Muls(s, s, static_cast<int16_t>(-1), static_cast<int32_t>(count));
    Adds(s, s, static_cast<int16_t>(b), static_cast<int32_t>(count));
    KeepLowBits(y, y, n, count);
}

// y (n-bit codes) -> x = (b - signext_n(y)) mod 2^W, in place.
__aicore__ inline void DecodeTransform(const LocalTensor<uint16_t>& y, uint32_t b, uint32_t n, uint32_t w,
    uint32_t count)
{
    LocalTensor<int16_t> s = y.ReinterpretCast<int16_t>();
    ShiftLeft(s, s, static_cast<int16_t>(16 - n), static_cast<int32_t>(count));
    ShiftRight(s, s, static_cast<int16_t>(16 - n), static_cast<int32_t>(count));   // arithmetic: sign-extends
    Muls(s, s, static_cast<int16_t>(-1), static_cast<int32_t>(count));
    Adds(s, s, static_cast<int16_t>(b), static_cast<int32_t>(count));
    KeepLowBits(y, y, w, count);
}

// ------------------------------------------------------------------------------------------------
// Field split (docs/FORMAT.md §4.1) of 16-bit words w = s | e | mant (mantBits = 7 or 10):
// exponent x = (w << 1) >> (mantBits + 1), raw r = ((w << (16 - mantBits)) >> (15 - mantBits)) | (w >> 15).
__aicore__ inline void SplitFields(const LocalTensor<uint16_t>& w, const LocalTensor<uint16_t>& x,
    const LocalTensor<uint16_t>& raw, uint32_t mantBits, uint32_t count)
{
    const int32_t c = static_cast<int32_t>(count);
    ShiftRight(x, w, static_cast<uint16_t>(15), c);                        // sign (x is scratch here)
    ShiftLeft(raw, w, static_cast<uint16_t>(16 - mantBits), c);
    ShiftRight(raw, raw, static_cast<uint16_t>(15 - mantBits), c);
    Or(raw, raw, x, c);
    ShiftLeft(x, w, static_cast<uint16_t>(1), c);
    ShiftRight(x, x, static_cast<uint16_t>(mantBits + 1), c);
}

// Inverse of SplitFields, into x's lanes: w = (raw & 1) << 15 | x << mantBits | raw >> 1.
// `tmp` is scratch of `count` lanes; raw is destroyed.
__aicore__ inline void JoinFields(const LocalTensor<uint16_t>& x, const LocalTensor<uint16_t>& raw,
    const LocalTensor<uint16_t>& tmp, uint32_t mantBits, uint32_t count)
{
    const int32_t c = static_cast<int32_t>(count);
    ShiftLeft(tmp, raw, static_cast<uint16_t>(15), c);
    ShiftRight(raw, raw, static_cast<uint16_t>(1), c);
    ShiftLeft(x, x, static_cast<uint16_t>(mantBits), c);
    Or(x, x, tmp, c);
    Or(x, x, raw, c);
}

// ------------------------------------------------------------------------------------------------
// Stage 3: hierarchical halving bit-packing of `count` lanes (a multiple of 256) of `width`-bit
// values (1..11). The lanes in `d` are destroyed; the packed 16-bit words end up in out[0, H) with
// H = count * width / 16, which is returned. z needs count * width / 8 lanes; `out` is z itself or
// a buffer disjoint from z and d (then z can be reused while `out` is being stored).
__aicore__ inline uint32_t HalvingPack(const LocalTensor<uint16_t>& d, uint32_t width, uint32_t count,
    const LocalTensor<uint16_t>& z, const LocalTensor<uint16_t>& out)
{
    const uint32_t half = count * width / 16;                 // word i = Z[i] | Z[i + H] << 8
    uint32_t len = count;
    uint32_t pos = 0;
    while (width > 0) {
        while (width < 8) {                                   // fold the upper half onto the lower
            const uint32_t h = len / 2;
            ShiftLeft(d[h], d[h], static_cast<uint16_t>(width), static_cast<int32_t>(h));
            Or(d, d, d[h], static_cast<int32_t>(h));
            len = h;
            width *= 2;
        }
        // emit every lane's low byte as Z[pos, pos + len): below H masked, from H on already
        // shifted into the high byte (the shift drops the rest of the lane)
        const uint32_t lo = pos >= half ? 0 : (half - pos < len ? half - pos : len);
        if (lo > 0) KeepLowBits(z[pos], d, 8, lo);
        if (lo < len) ShiftLeft(z[pos + lo], d[lo], static_cast<uint16_t>(8), static_cast<int32_t>(len - lo));
        if (width > 8) ShiftRight(d, d, static_cast<uint16_t>(8), static_cast<int32_t>(len));   // bits left
        pos += len;
        width -= 8;
    }
    Or(out, z, z[half], static_cast<int32_t>(half));
    return half;
}

// Inverse of HalvingPack. The H = count * width / 16 packed words are in `src` (which may be
// z[H, 2H)); the `count` lanes are written to d. z needs count * width / 8 lanes.
__aicore__ inline void HalvingUnpack(const LocalTensor<uint16_t>& src, const LocalTensor<uint16_t>& z, uint32_t width,
    uint32_t count, const LocalTensor<uint16_t>& d)
{
    const uint32_t half = count * width / 16;
    if (width == 8) {                                         // one emit of every lane: Z is d itself
        KeepLowBits(d, src, 8, half);
        ShiftRight(d[half], src, static_cast<uint16_t>(8), static_cast<int32_t>(half));
        return;
    }
    KeepLowBits(z, src, 8, half);                             // low bytes  -> Z[0, H)
    ShiftRight(z[half], src, static_cast<uint16_t>(8), static_cast<int32_t>(half));   // high -> Z[H, 2H)
    // replay the packing schedule forwards to learn each step, then undo it backwards
    uint8_t kind[16];
    uint8_t wid[16];
    uint32_t lens[16];
    uint32_t steps = 0;
    uint32_t w = width;
    uint32_t len = count;
    uint32_t pos = 0;
    while (w > 0) {
        while (w < 8) {
            len /= 2;
            kind[steps] = 1; wid[steps] = static_cast<uint8_t>(w); lens[steps] = len; ++steps;
            w *= 2;
        }
        kind[steps] = 0; wid[steps] = 8; lens[steps] = len; ++steps;
        pos += len;
        w -= 8;
    }
    bool first = true;
    for (uint32_t i = steps; i-- > 0;) {
        const int32_t l = static_cast<int32_t>(lens[i]);
        if (kind[i] == 0) {                                   // un-emit: d = (d << 8) | Z[pos - len, pos)
            pos -= lens[i];
            if (first) {
                CopyLanes(d, z[pos], lens[i]);
                first = false;
            } else {
                ShiftLeft(d, d, static_cast<uint16_t>(8), l);
                Or(d, d, z[pos], l);
            }
        } else {                                              // unfold: split lanes into low/high wid bits
            ShiftRight(d[lens[i]], d, static_cast<uint16_t>(wid[i]), l);
            KeepLowBits(d, d, wid[i], lens[i]);
        }
    }
}

// The packed words already in z[H, 2H).
__aicore__ inline void HalvingUnpack(const LocalTensor<uint16_t>& z, uint32_t width, uint32_t count,
    const LocalTensor<uint16_t>& d)
{
    HalvingUnpack(z[count * width / 16], z, width, count, d);
}

// ------------------------------------------------------------------------------------------------
// Stage 2: bit-width quantization. OR of the 16 codes of every group (group j = lanes j + k*G),
// by folding the upper half of the lanes onto the lower half four times: acc[j], j < G = count/16.
__aicore__ inline void GroupOrFold(const LocalTensor<uint16_t>& y, const LocalTensor<uint16_t>& acc, uint32_t count)
{
    uint32_t h = count / 2;
    Or(acc, y, y[h], static_cast<int32_t>(h));
    while (h > count / ENEC_GROUP_LEN) {
        h /= 2;
        Or(acc, acc, acc[h], static_cast<int32_t>(h));
    }
}

// Flag bits: bit j of `mask` = (acc[j] >= 2^m), for j < groups. The OR values (<= 255) are
// converted exactly to half and compared as floats (Atlas A2 compares only floats).
// `acc` must have room for roundup(groups, 128) lanes (the tail is zeroed); `hf` likewise halves.
__aicore__ inline void FlagBits(const LocalTensor<uint16_t>& acc, const LocalTensor<half>& hf,
    const LocalTensor<uint8_t>& mask, uint32_t m, uint32_t groups)
{
    const uint32_t g128 = RoundUp(groups, 128);
    if (g128 > groups) {
        Duplicate(acc[groups], static_cast<uint16_t>(0), static_cast<int32_t>(g128 - groups));
    }
    Cast(hf, acc.ReinterpretCast<int16_t>(), RoundMode::CAST_NONE, g128);
    // level-2 CompareScalar runs with the current mask (it does not set one): make it full here
    SetMaskNorm();
    ResetMask();
    CompareScalar(mask, hf, static_cast<half>(static_cast<float>((1u << m) - 1)), CMPMODE::GT, g128);
}

// ------------------------------------------------------------------------------------------------
// Outlier compaction (encoder): the lanes k*G + j (rows k = 0..15 of G lanes) of every group j
// whose flag bit is set, row after row, in lane order, into dst; returns how many were written.
//
// GatherMask in counter mode reads G elements per repeat, so one instruction does all 16 rows
// with the same pattern, but the A2 documentation does not confirm counter mode beyond 128
// elements per repeat (scripts/npu_probe.py checks it on a device). Built with
// ENEC_GATHERMASK_COUNTER_MAX=128 the kernels use normal mode instead (128 lanes per repeat, a
// pattern of 16 bytes read from its own 32-byte block): the flag words are replicated for the 16
// rows and spread one 8-word chunk per block by a Gather over `offs` (OutlierPatternOffsets).
// Both forms write the same bytes (tests/test_gathermask_fallback.py). `pattern`: scratch of
// PATTERN_HALVES (narrow form only).
#ifndef ENEC_GATHERMASK_COUNTER_MAX
#define ENEC_GATHERMASK_COUNTER_MAX 1024
#endif
constexpr bool GATHERMASK_WIDE = ENEC_GATHERMASK_COUNTER_MAX >= ENEC_MAX_GROUPS;
constexpr uint32_t PATTERN_HALVES = 2 * GMAX;    // 16 rows x G/128 chunks x one 16-half block

// Gather byte offsets that build the normal-mode pattern of a block of `groups` groups: entry
// 16r + w (w < 8) = flag word (8r + w) mod (G/16) of the 16 replicated rows; w >= 8 pads the
// block (never read as a pattern). Scalar writes: once per launch, and once more for a short
// last block.
__aicore__ inline void OutlierPatternOffsets(const LocalTensor<uint32_t>& offs, uint32_t groups)
{
    const uint32_t words = groups / 16;
    for (uint32_t i = 0; i < 2 * groups; ++i) {
        const uint32_t w = i % 16;
        offs.SetValue(i, w < 8 ? 2 * ((8 * (i / 16) + w) % words) : 0);
    }
}

__aicore__ inline uint32_t CompactFlaggedLanes(const LocalTensor<uint16_t>& dst, const LocalTensor<uint16_t>& src,
    const LocalTensor<uint8_t>& mask, uint32_t groups, const LocalTensor<uint16_t>& pattern,
    const LocalTensor<uint32_t>& offs)
{
    uint64_t cnt = 0;
    if constexpr (GATHERMASK_WIDE) {
        (void)pattern;
        (void)offs;
        // counter mode: 16 repeats of G lanes (k = 0..15) reuse the same G-bit pattern
        GatherMaskParams p(1, 16, static_cast<uint16_t>(groups / 16), 0);
        GatherMask(dst, src, mask.ReinterpretCast<uint16_t>(), true, groups, p, cnt);
    } else {
        Gather(pattern, mask.ReinterpretCast<uint16_t>(), offs, 0, 2 * groups);
        // normal mode: G / 8 repeats of 128 lanes (256 bytes), each with its own pattern block
        GatherMaskParams p(1, static_cast<uint16_t>(groups / 8), 8, 1);
        GatherMask(dst, src, pattern, false, 0, p, cnt);
    }
    return static_cast<uint32_t>(cnt);
}

// ------------------------------------------------------------------------------------------------
// Stage 4: IDD-Scan (intra-segment dependency decoupled scan) over the 1024 group flags of a block.
//
// The flags form a 64 x 16 matrix (row w = flag word w = groups 16w .. 16w+15, one 32-byte
// segment of int16 counts). A scan inside a row would need dependencies inside one 32-byte
// segment, which the vector unit forbids, so:
//   flags:   one Select turns the flag bits into 0/1 lanes (half), one Cast into int16 fg[j]
//   stage 1: a Gather transposes fg to T[b][w] (16 x 64); the row prefix becomes a prefix across
//            rows, Hillis-Steele over whole 128-byte rows (4 steps, ping-pong); a Gather
//            transposes back -> R[w][b], the inclusive count inside row w.
//   stage 2: Hillis-Steele over whole rows, C[w] += C[w - 2^s] (row shifts are 32-byte multiples),
//            so C[w][15] is the inclusive count up to row w; a Gather broadcasts C[w-1][15]
//            (0 for w = 0, read from a zero prefix) over row w, and Pinc = R + that.
// Outputs, for every group j < 1024 (int16): fg[j] = flag of j, pinc[j] = inclusive prefix count.
// Returns F, the number of flagged groups. Unused groups (j >= G of a short block) must have
// zero flag bits in `flags`.
struct ScanTables {
    LocalTensor<uint32_t> offT;   // transpose back, in bytes: (16w + b) <- (64b + w)
    LocalTensor<uint32_t> offI;   // transpose, in bytes: (64b + w) <- (16w + b)
    LocalTensor<uint32_t> offE;   // broadcast offsets: (16w + b) <- 16w + 15 of a zero-prefixed buffer
};

// Built once per kernel launch with vector instructions. `tmp` holds 2 x 1024 int32 scratch lanes.
__aicore__ inline void BuildScanTables(const ScanTables& t, const LocalTensor<int32_t>& tmp)
{
    const int32_t n = static_cast<int32_t>(GMAX);
    LocalTensor<int32_t> i = t.offE.ReinterpretCast<int32_t>();
    LocalTensor<int32_t> hi = tmp;
    LocalTensor<int32_t> lo = tmp[GMAX];
    LocalTensor<int32_t> offT = t.offT.ReinterpretCast<int32_t>();
    LocalTensor<int32_t> offI = t.offI.ReinterpretCast<int32_t>();
    CreateVecIndex(i, static_cast<int32_t>(0), GMAX);
    // offT[i = 16w + b] = 2 (64 b + w)
    ShiftRight(hi, i, static_cast<int32_t>(4), n);
    ShiftLeft(lo, hi, static_cast<int32_t>(4), n);
    Sub(lo, i, lo, n);
    Muls(lo, lo, static_cast<int32_t>(2 * SCAN_WORDS), n);
    Muls(offT, hi, static_cast<int32_t>(2), n);
    Add(offT, offT, lo, n);
    // offI[i = 64b + w] = 2 (16 w + b)
    ShiftRight(hi, i, static_cast<int32_t>(6), n);
    ShiftLeft(lo, hi, static_cast<int32_t>(6), n);
    Sub(lo, i, lo, n);
    Muls(lo, lo, static_cast<int32_t>(32), n);
    Muls(offI, hi, static_cast<int32_t>(2), n);
    Add(offI, offI, lo, n);
    // offE[i = 16w + b] = w ? 2 (16 w + 15) : 0
    ShiftRight(hi, i, static_cast<int32_t>(4), n);
    Muls(i, hi, static_cast<int32_t>(32), n);
    Adds(i, i, static_cast<int32_t>(30), n);
    Duplicate(i, static_cast<int32_t>(0), 16);
}

struct ScanScratch {              // views into a scratch buffer, each 1024 (+16) int16 lanes
    LocalTensor<uint16_t> bits;   // T[b][w] (16 x 64), then P
    LocalTensor<uint16_t> pre;    // ping-pong partner of `bits`
    LocalTensor<uint16_t> rows;   // 0/1 flags as half, then R[w][b]
    LocalTensor<uint16_t> c0;     // 16 zero lanes + C (ping)
    LocalTensor<uint16_t> c1;     // 16 zero lanes + C (pong)
    LocalTensor<uint16_t> bcast;  // ones (half), then exclusive row offsets broadcast over each row
};

__aicore__ inline uint32_t IddScan(const LocalTensor<uint8_t>& flags, const ScanTables& tab, const ScanScratch& s,
    const LocalTensor<uint16_t>& fg, const LocalTensor<uint16_t>& pinc)
{
    const int32_t G = static_cast<int32_t>(GMAX);
    // flag bits -> 0/1 lanes
    LocalTensor<half> ones = s.bcast.ReinterpretCast<half>();
    LocalTensor<half> fgh = s.rows.ReinterpretCast<half>();
    Duplicate(ones, static_cast<half>(1.0f), G);
    Select(fgh, flags, ones, static_cast<half>(0.0f), SELMODE::VSEL_TENSOR_SCALAR_MODE, GMAX);
    Cast(fg.ReinterpretCast<int16_t>(), fgh, RoundMode::CAST_RINT, GMAX);
    // stage 1: transpose, prefix across the 16 rows of 64 (Hillis-Steele), transpose back
    Gather(s.bits, fg, tab.offI, 0, GMAX);
    LocalTensor<int16_t> src = s.bits.ReinterpretCast<int16_t>();
    LocalTensor<int16_t> other = s.pre.ReinterpretCast<int16_t>();
    for (uint32_t shift = 1; shift < 16; shift *= 2) {
        const uint32_t lo = SCAN_WORDS * shift;
        Adds(other, src, static_cast<int16_t>(0), static_cast<int32_t>(lo));
        Add(other[lo], src[lo], src, static_cast<int32_t>(GMAX - lo));
        LocalTensor<int16_t> t = src;
        src = other;
        other = t;
    }
    Gather(s.rows, src.ReinterpretCast<uint16_t>(), tab.offT, 0, GMAX);
    // stage 2: Hillis-Steele over whole rows (16 lanes = 32 bytes), ping-pong, zero prefix row
    Duplicate(s.c0, static_cast<uint16_t>(0), 16);
    Duplicate(s.c1, static_cast<uint16_t>(0), 16);
    LocalTensor<int16_t> ri = s.rows.ReinterpretCast<int16_t>();
    src = ri;
    bool ping = true;
    for (uint32_t shift = 1; shift < SCAN_WORDS; shift *= 2) {
        LocalTensor<int16_t> dst = (ping ? s.c0 : s.c1).ReinterpretCast<int16_t>()[16];
        const uint32_t lo = 16 * shift;
        Adds(dst, src, static_cast<int16_t>(0), static_cast<int32_t>(lo));
        Add(dst[lo], src[lo], src, static_cast<int32_t>(GMAX - lo));
        src = dst;
        ping = !ping;
    }
    // src = C (inside a zero-prefixed buffer); broadcast the previous row's total over each row
    LocalTensor<uint16_t> cbuf = ping ? s.c1 : s.c0;
    Gather(s.bcast, cbuf, tab.offE, 0, GMAX);
    Add(pinc.ReinterpretCast<int16_t>(), ri, s.bcast.ReinterpretCast<int16_t>(), G);
    return static_cast<uint32_t>(cbuf.GetValue(16 + GMAX - 1));
}

}  // namespace enec

#endif
