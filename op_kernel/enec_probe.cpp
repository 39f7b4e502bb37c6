// enec hardware probes (AscendC, vector cores only): one small kernel per hardware behaviour that
// the enec kernels rely on and that the project's emulation (tests/ascendc_emu) assumes without a
// hardware confirmation. scripts/npu_probe.py runs them on an NPU (torch.ops.enec_probe.run,
// op_host/enec_probe_binding.cpp), under the emulation (tests/ascendc_emu/probe_launcher.cpp) or
// through the real CANN headers on the CPU harness, and compares what they write with numpy.
//
// Every probe has the signature (in, out, args): `in` and `out` are GM byte buffers laid out as
// the probe's comment says (the host pre-fills `out`, so bytes a probe must not write are
// visible), `args` is ARGS uint32 values. Each probe uses the instruction forms the kernels use
// (the same parameter structs, Sync<> for pipe ordering), so what passes here is what they need.
#include "enec_common.h"

using namespace AscendC;

namespace enec {
namespace probe {

constexpr uint32_t ARGS = 8;
constexpr uint16_t FILL16 = 0xEEEE;      // UB pre-fill: lanes a probe must not write keep it

__aicore__ inline void LoadArgs(GM_ADDR args, uint32_t* a)
{
    __gm__ uint32_t* p = reinterpret_cast<__gm__ uint32_t*>(args);
    for (uint32_t i = 0; i < ARGS; ++i) {
        a[i] = p[i];
    }
}

// GatherMask as enec_compress uses it.
//   args: mode (0: user bit pattern, counter mode, `per` elements per repeat, every repeat reusing
//         the same pattern: src1RepeatStride 0 -- the outlier compaction; 1 / 2: built-in pattern
//         even / odd lanes, normal mode, 128 halves per repeat -- the FP32 split; 3: user bit
//         pattern, counter mode, 256 elements per repeat, each repeat its own 32-byte pattern
//         block: src1RepeatStride 1 -- enec_histogram's bit count), per, reps
//   in:   src uint16 [mode 0/3: per * reps, else 128 * reps] | pattern (mode 0: per bits, mode 3:
//         per * reps bits, in 32-byte units)
//   out:  count (uint32, in a 32-byte slot) | dst uint16 [as src] (lanes after the count keep FILL16)
__aicore__ inline void GatherMaskProbe(GM_ADDR in, GM_ADDR out, GM_ADDR args)
{
    uint32_t a[ARGS];
    LoadArgs(args, a);
    const uint32_t mode = a[0], per = a[1], reps = a[2];
    const uint32_t elems = mode == 0 || mode == 3 ? per * reps : 128 * reps;
    const uint32_t patBytes = mode == 0 ? RoundUp((per + 7) / 8, 32) : mode == 3 ? reps * 32 : 32;
    GlobalTensor<uint16_t> src, dstG;
    GlobalTensor<uint8_t> patG;
    GlobalTensor<uint32_t> cntG;
    src.SetGlobalBuffer(reinterpret_cast<__gm__ uint16_t*>(in), elems);
    cntG.SetGlobalBuffer(reinterpret_cast<__gm__ uint32_t*>(out), 8);
    dstG.SetGlobalBuffer(reinterpret_cast<__gm__ uint16_t*>(out + 32), elems);
    TPipe pipe;
    TBuf<TPosition::VECCALC> srcBuf, patBuf, dstBuf, cntBuf;
    pipe.InitBuffer(srcBuf, elems * 2);
    pipe.InitBuffer(patBuf, patBytes);
    pipe.InitBuffer(dstBuf, elems * 2);
    pipe.InitBuffer(cntBuf, 32);
    LocalTensor<uint16_t> s = srcBuf.Get<uint16_t>();
    LocalTensor<uint16_t> d = dstBuf.Get<uint16_t>();
    Duplicate(d, FILL16, static_cast<int32_t>(elems));
    DataCopy(s, src, elems);
    if (mode == 0 || mode == 3) {
        patG.SetGlobalBuffer(reinterpret_cast<__gm__ uint8_t*>(in + 2 * elems), patBytes);
        DataCopy(patBuf.Get<uint8_t>(), patG, patBytes);
    }
    Sync<HardEvent::MTE2_V>();
    uint64_t cnt = 0;
    if (mode == 0) {
        GatherMaskParams p(1, static_cast<uint16_t>(reps), static_cast<uint16_t>(per / 16), 0);
        GatherMask(d, s, patBuf.Get<uint16_t>(), true, per, p, cnt);
    } else if (mode == 3) {
        GatherMaskParams p(1, static_cast<uint16_t>(reps), static_cast<uint16_t>(per / 16), 1);
        GatherMask(d, s, patBuf.Get<uint16_t>(), true, per, p, cnt);
    } else {
        GatherMaskParams p(1, static_cast<uint16_t>(reps), 8, 0);
        GatherMask(d, s, static_cast<uint8_t>(mode), false, 0, p, cnt);
    }
    LocalTensor<uint32_t> c = cntBuf.Get<uint32_t>();
    Duplicate(c, static_cast<uint32_t>(0), 8);
    c.SetValue(0, static_cast<uint32_t>(cnt));
    Sync<HardEvent::V_MTE3>();
    DataCopy(cntG, c, 8);
    DataCopy(dstG, d, elems);
}

// Gather with byte offsets and a byte base, as the IDD-Scan transposes and the decompress outlier
// gather use it: dst[i] = uint16 at byte (base + offset[i]) of the source.
//   args: tableElems (multiple of 16), count (multiple of 16), baseBytes
//   in:   table uint16 [tableElems] | offsets uint32 [count];  out: dst uint16 [count]
__aicore__ inline void GatherProbe(GM_ADDR in, GM_ADDR out, GM_ADDR args)
{
    uint32_t a[ARGS];
    LoadArgs(args, a);
    const uint32_t tableElems = a[0], count = a[1], base = a[2];
    GlobalTensor<uint16_t> tabG, dstG;
    GlobalTensor<uint32_t> offG;
    tabG.SetGlobalBuffer(reinterpret_cast<__gm__ uint16_t*>(in), tableElems);
    offG.SetGlobalBuffer(reinterpret_cast<__gm__ uint32_t*>(in + 2 * tableElems), count);
    dstG.SetGlobalBuffer(reinterpret_cast<__gm__ uint16_t*>(out), count);
    TPipe pipe;
    TBuf<TPosition::VECCALC> tabBuf, offBuf, dstBuf;
    pipe.InitBuffer(tabBuf, tableElems * 2);
    pipe.InitBuffer(offBuf, count * 4);
    pipe.InitBuffer(dstBuf, count * 2);
    DataCopy(tabBuf.Get<uint16_t>(), tabG, tableElems);
    DataCopy(offBuf.Get<uint32_t>(), offG, count);
    Sync<HardEvent::MTE2_V>();
    Gather(dstBuf.Get<uint16_t>(), tabBuf.Get<uint16_t>(), offBuf.Get<uint32_t>(), base, count);
    Sync<HardEvent::V_MTE3>();
    DataCopy(dstG, dstBuf.Get<uint16_t>(), count);
}

// DataCopyPad GM -> UB with right padding up to the next 32 bytes (the tail loads: uint16 pivot
// for BF16/FP16, uint32 pivot for FP32, uint8 zeros for a short block's flag bytes).
//   args: element bytes (1, 2, 4), real (elements), padding value
//   in:   real elements;  out: the UB burst plus the next 32 bytes (which must keep FILL16)
template <typename T>
__aicore__ inline void PadLoad(GM_ADDR in, GM_ADDR out, uint32_t real, uint32_t padValue)
{
    const uint32_t perBlk = 32 / sizeof(T);
    const uint32_t aligned = RoundUp(real, perBlk);
    const uint32_t total = aligned + perBlk;
    GlobalTensor<T> srcG, dstG;
    srcG.SetGlobalBuffer(reinterpret_cast<__gm__ T*>(in), real);
    dstG.SetGlobalBuffer(reinterpret_cast<__gm__ T*>(out), total);
    TPipe pipe;
    TBuf<TPosition::VECCALC> buf;
    pipe.InitBuffer(buf, total * sizeof(T));
    Duplicate(buf.Get<uint16_t>(), FILL16, static_cast<int32_t>(total * sizeof(T) / 2));
    Sync<HardEvent::V_MTE2>();
    DataCopyPad(buf.Get<T>(), srcG, DataCopyExtParams(1, real * sizeof(T), 0, 0, 0),
        DataCopyPadExtParams<T>(true, 0, static_cast<uint8_t>(aligned - real), static_cast<T>(padValue)));
    Sync<HardEvent::MTE2_MTE3>();
    DataCopy(dstG, buf.Get<T>(), total);
}

__aicore__ inline void PadLoadProbe(GM_ADDR in, GM_ADDR out, GM_ADDR args)
{
    uint32_t a[ARGS];
    LoadArgs(args, a);
    if (a[0] == 1) {
        PadLoad<uint8_t>(in, out, a[1], a[2]);
    } else if (a[0] == 2) {
        PadLoad<uint16_t>(in, out, a[1], a[2]);
    } else {
        PadLoad<uint32_t>(in, out, a[1], a[2]);
    }
}

// The strided per-block metadata load (enec_common.h LoadStrided): item k = src[first + k * stride]
// lands at the start of the k-th 32-byte UB slot.
//   args: first, n, stride, src elements;  in: uint64 [src elements];  out: n slots of 4 uint64
__aicore__ inline void StridedLoadProbe(GM_ADDR in, GM_ADDR out, GM_ADDR args)
{
    uint32_t a[ARGS];
    LoadArgs(args, a);
    const uint32_t first = a[0], n = a[1], stride = a[2], total = a[3];
    GlobalTensor<uint64_t> srcG, dstG;
    srcG.SetGlobalBuffer(reinterpret_cast<__gm__ uint64_t*>(in), total);
    dstG.SetGlobalBuffer(reinterpret_cast<__gm__ uint64_t*>(out), 4 * n);
    TPipe pipe;
    TBuf<TPosition::VECCALC> buf;
    pipe.InitBuffer(buf, 32 * n);
    Duplicate(buf.Get<uint16_t>(), FILL16, static_cast<int32_t>(16 * n));
    Sync<HardEvent::V_MTE2>();
    LoadStrided(buf.Get<uint64_t>(), srcG, first, n, stride);
    Sync<HardEvent::MTE2_MTE3>();
    DataCopy(dstG, buf.Get<uint64_t>(), 4 * n);
}

// DataCopyPad UB -> GM writes exactly blockLen bytes per burst, nothing around them.
//   mode 0 (a short block's tail store): args 0, real;  in: uint16 [roundup(real, 16)];
//          out: uint16, the first `real` written
//   mode 1 (the strided outlier-index store of enec_finish): args 1, items, cn;  in: uint64
//          [4 * items] (item k at in[4k]);  out: uint64 [items * cn], item k at out[k * cn]
__aicore__ inline void PadStoreProbe(GM_ADDR in, GM_ADDR out, GM_ADDR args)
{
    uint32_t a[ARGS];
    LoadArgs(args, a);
    TPipe pipe;
    TBuf<TPosition::VECCALC> buf;
    if (a[0] == 0) {
        const uint32_t real = a[1], lanes = RoundUp(real, 16);
        GlobalTensor<uint16_t> srcG, dstG;
        srcG.SetGlobalBuffer(reinterpret_cast<__gm__ uint16_t*>(in), lanes);
        dstG.SetGlobalBuffer(reinterpret_cast<__gm__ uint16_t*>(out), lanes);
        pipe.InitBuffer(buf, lanes * 2);
        DataCopy(buf.Get<uint16_t>(), srcG, lanes);
        Sync<HardEvent::MTE2_MTE3>();
        DataCopyPad(dstG, buf.Get<uint16_t>(), DataCopyExtParams(1, real * 2, 0, 0, 0));
    } else {
        const uint32_t items = a[1], cn = a[2];
        GlobalTensor<uint64_t> srcG, dstG;
        srcG.SetGlobalBuffer(reinterpret_cast<__gm__ uint64_t*>(in), 4 * items);
        dstG.SetGlobalBuffer(reinterpret_cast<__gm__ uint64_t*>(out), items * cn);
        pipe.InitBuffer(buf, 32 * items);
        DataCopy(buf.Get<uint64_t>(), srcG, 4 * items);
        Sync<HardEvent::MTE2_MTE3>();
        DataCopyPad(dstG, buf.Get<uint64_t>(), DataCopyExtParams(static_cast<uint16_t>(items), 8, 0, (cn - 1) * 8, 0));
    }
}

// Small DataCopyPad writes from different cores into neighbouring GM bytes (per-block counts,
// flag bytes of a short block, index entries): item i (itemBytes bytes at in + i * itemBytes) goes
// to the same place of `out` from core i mod cores, through UB. No byte may be lost when cores
// write inside the same 32-byte sector at the same time.
//   args: itemBytes, items, cores (the launch's block count, as the kernels take it from the tiling)
//   in, out: uint8 [items * itemBytes] (out pre-filled beyond)
__aicore__ inline void AdjacentWritesProbe(GM_ADDR in, GM_ADDR out, GM_ADDR args)
{
    uint32_t a[ARGS];
    LoadArgs(args, a);
    const uint32_t itemBytes = a[0], items = a[1], cores = a[2];
    GlobalTensor<uint8_t> srcG, dstG;
    srcG.SetGlobalBuffer(reinterpret_cast<__gm__ uint8_t*>(in), static_cast<uint64_t>(items) * itemBytes);
    dstG.SetGlobalBuffer(reinterpret_cast<__gm__ uint8_t*>(out), static_cast<uint64_t>(items) * itemBytes);
    TPipe pipe;
    TBuf<TPosition::VECCALC> buf;
    pipe.InitBuffer(buf, RoundUp(itemBytes, 32));
    LocalTensor<uint8_t> b = buf.Get<uint8_t>();
    for (uint64_t i = GetBlockIdx(); i < items; i += cores) {
        Sync<HardEvent::MTE3_MTE2>();                 // the previous item's store has read the buffer
        DataCopyPad(b, srcG[i * itemBytes], DataCopyExtParams(1, itemBytes, 0, 0, 0),
            DataCopyPadExtParams<uint8_t>(false, 0, 0, 0));
        Sync<HardEvent::MTE2_MTE3>();
        DataCopyPad(dstG[i * itemBytes], b, DataCopyExtParams(1, itemBytes, 0, 0, 0));
    }
}

// ShiftRight / ShiftLeft by a scalar on int16 and uint16 lanes (DecodeTransform sign-extends an
// n-bit code with an int16 ShiftLeft + ShiftRight pair; every other shift is on uint16).
//   args: n (multiple of 16), number of shifts k (<= 6), the shifts
//   in:   int16 [n];  out: 4 * k rows of n: op 0 ShiftRight int16, 1 ShiftRight uint16,
//         2 ShiftLeft int16, 3 ShiftLeft uint16; row op * k + j uses shift j
__aicore__ inline void ShiftProbe(GM_ADDR in, GM_ADDR out, GM_ADDR args)
{
    uint32_t a[ARGS];
    LoadArgs(args, a);
    const uint32_t n = a[0], k = a[1];
    const int32_t c = static_cast<int32_t>(n);
    GlobalTensor<int16_t> srcG, dstG;
    srcG.SetGlobalBuffer(reinterpret_cast<__gm__ int16_t*>(in), n);
    dstG.SetGlobalBuffer(reinterpret_cast<__gm__ int16_t*>(out), 4 * k * n);
    TPipe pipe;
    TBuf<TPosition::VECCALC> inBuf, outBuf;
    pipe.InitBuffer(inBuf, n * 2);
    pipe.InitBuffer(outBuf, n * 2);
    LocalTensor<int16_t> x = inBuf.Get<int16_t>();
    LocalTensor<int16_t> y = outBuf.Get<int16_t>();
    DataCopy(x, srcG, n);
    Sync<HardEvent::MTE2_V>();
    for (uint32_t op = 0; op < 4; ++op) {
        for (uint32_t j = 0; j < k; ++j) {
            const uint32_t s = a[2 + j];
            Sync<HardEvent::MTE3_V>();               // the previous row's store has read y
            if (op == 0) {
                ShiftRight(y, x, static_cast<int16_t>(s), c);
            } else if (op == 1) {
                ShiftRight(y.ReinterpretCast<uint16_t>(), x.ReinterpretCast<uint16_t>(), static_cast<uint16_t>(s), c);
            } else if (op == 2) {
                ShiftLeft(y, x, static_cast<int16_t>(s), c);
            } else {
                ShiftLeft(y.ReinterpretCast<uint16_t>(), x.ReinterpretCast<uint16_t>(), static_cast<uint16_t>(s), c);
            }
            Sync<HardEvent::V_MTE3>();
            DataCopy(dstG[(op * k + j) * n], y, n);
        }
    }
}

// Event ids and a SetFlag/WaitFlag pair ordering a copy after a vector op.
//   ids (core 0 writes them, int32 [16] at out): what FetchEventID / AllocEventID / ReleaseEventID
//   and the TQue operations do to the TPipe's id pool, in this order:
//     0 Fetch(V_MTE3)  1 Alloc(V_MTE3)  2 Fetch(V_MTE3)  3 Alloc(V_MTE3)  [Release 1]
//     4 Fetch(V_MTE3)  [Release 3; VECOUT AllocTensor, EnQue]  5 Fetch(V_MTE3)  [DeQue]
//     6 Fetch(V_MTE3)  7 Fetch(MTE3_V)  [FreeTensor]  8 Fetch(MTE3_V)
//   ordering: every core, `rounds` times, adds r + 1 to the input with a chain of vector
//   instructions into one UB buffer and stores it (V -> MTE3 pair; the next round's vector writes
//   wait for the store by an MTE3 -> V pair). args: n (multiple of 16), rounds, skip (1: leave out
//   the V -> MTE3 pair: a negative control, which the emulation must reject).
//   in: int16 [n] (|x| < 1000);  out: ids (64 bytes) | per core: rounds rows of n int16
__aicore__ inline void EventsProbe(GM_ADDR in, GM_ADDR out, GM_ADDR args)
{
    uint32_t a[ARGS];
    LoadArgs(args, a);
    const uint32_t n = a[0], rounds = a[1], skip = a[2];
    const int32_t c = static_cast<int32_t>(n);
    GlobalTensor<int16_t> srcG, dstG;
    GlobalTensor<int32_t> idG;
    srcG.SetGlobalBuffer(reinterpret_cast<__gm__ int16_t*>(in), n);
    idG.SetGlobalBuffer(reinterpret_cast<__gm__ int32_t*>(out), 16);
    const uint64_t rows = static_cast<uint64_t>(rounds) * n;
    dstG.SetGlobalBuffer(reinterpret_cast<__gm__ int16_t*>(out + 64 + GetBlockIdx() * rows * 2), rows);
    TPipe pipe;
    TBuf<TPosition::VECCALC> inBuf, workBuf, idBuf;
    TQue<TPosition::VECOUT, 1> que;
    pipe.InitBuffer(inBuf, n * 2);
    pipe.InitBuffer(workBuf, n * 2);
    pipe.InitBuffer(idBuf, 64);
    pipe.InitBuffer(que, 1, 32);
    LocalTensor<int32_t> ids = idBuf.Get<int32_t>();
    Duplicate(ids, static_cast<int32_t>(-1), 16);
    TPipe* tp = GetTPipePtr();
    ids.SetValue(0, static_cast<int32_t>(tp->FetchEventID(HardEvent::V_MTE3)));
    const int32_t first = static_cast<int32_t>(tp->AllocEventID<HardEvent::V_MTE3>());
    ids.SetValue(1, first);
    ids.SetValue(2, static_cast<int32_t>(tp->FetchEventID(HardEvent::V_MTE3)));
    const int32_t second = static_cast<int32_t>(tp->AllocEventID<HardEvent::V_MTE3>());
    ids.SetValue(3, second);
    tp->ReleaseEventID<HardEvent::V_MTE3>(first);
    ids.SetValue(4, static_cast<int32_t>(tp->FetchEventID(HardEvent::V_MTE3)));
    tp->ReleaseEventID<HardEvent::V_MTE3>(second);
    LocalTensor<int32_t> q = que.AllocTensor<int32_t>();
    Duplicate(q, static_cast<int32_t>(0), 8);
    que.EnQue(q);
    ids.SetValue(5, static_cast<int32_t>(tp->FetchEventID(HardEvent::V_MTE3)));
    LocalTensor<int32_t> qd = que.DeQue<int32_t>();
    ids.SetValue(6, static_cast<int32_t>(tp->FetchEventID(HardEvent::V_MTE3)));
    ids.SetValue(7, static_cast<int32_t>(tp->FetchEventID(HardEvent::MTE3_V)));
    que.FreeTensor(qd);
    ids.SetValue(8, static_cast<int32_t>(tp->FetchEventID(HardEvent::MTE3_V)));
    if (GetBlockIdx() == 0) {
        DataCopy(idG, ids, 16);
    }

    LocalTensor<int16_t> x = inBuf.Get<int16_t>();
    LocalTensor<int16_t> w = workBuf.Get<int16_t>();
    DataCopy(x, srcG, n);
    Sync<HardEvent::MTE2_V>();
    for (uint32_t r = 0; r < rounds; ++r) {
        Sync<HardEvent::MTE3_V>();
        Muls(w, x, static_cast<int16_t>(1), c);
        for (uint32_t i = 0; i <= r; ++i) {                 // a chain of r + 1 dependent adds
            Adds(w, w, static_cast<int16_t>(1), c);
        }
        if (!skip) Sync<HardEvent::V_MTE3>();
        DataCopy(dstG[static_cast<uint64_t>(r) * n], w, n);
    }
}

}  // namespace probe
}  // namespace enec

// Argument order follows the CANN op convention (inputs, outputs, tiling): (in, out, args). Written
// out one by one (no macro): the launch-stub generator of ascendc_library sees each kernel.
extern "C" __global__ __aicore__ void enec_probe_gathermask(GM_ADDR in, GM_ADDR out, GM_ADDR args)
{
    KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_AIV_ONLY);
    enec::probe::GatherMaskProbe(in, out, args);
}

extern "C" __global__ __aicore__ void enec_probe_gather(GM_ADDR in, GM_ADDR out, GM_ADDR args)
{
    KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_AIV_ONLY);
    enec::probe::GatherProbe(in, out, args);
}

extern "C" __global__ __aicore__ void enec_probe_pad_load(GM_ADDR in, GM_ADDR out, GM_ADDR args)
{
    KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_AIV_ONLY);
    enec::probe::PadLoadProbe(in, out, args);
}

extern "C" __global__ __aicore__ void enec_probe_strided_load(GM_ADDR in, GM_ADDR out, GM_ADDR args)
{
    KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_AIV_ONLY);
    enec::probe::StridedLoadProbe(in, out, args);
}

extern "C" __global__ __aicore__ void enec_probe_pad_store(GM_ADDR in, GM_ADDR out, GM_ADDR args)
{
    KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_AIV_ONLY);
    enec::probe::PadStoreProbe(in, out, args);
}

extern "C" __global__ __aicore__ void enec_probe_adjacent_writes(GM_ADDR in, GM_ADDR out, GM_ADDR args)
{
    KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_AIV_ONLY);
    enec::probe::AdjacentWritesProbe(in, out, args);
}

extern "C" __global__ __aicore__ void enec_probe_shift(GM_ADDR in, GM_ADDR out, GM_ADDR args)
{
    KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_AIV_ONLY);
    enec::probe::ShiftProbe(in, out, args);
}

extern "C" __global__ __aicore__ void enec_probe_events(GM_ADDR in, GM_ADDR out, GM_ADDR args)
{
    KERNEL_TASK_TYPE_DEFAULT(KERNEL_TYPE_AIV_ONLY);
    enec::probe::EventsProbe(in, out, args);
}
