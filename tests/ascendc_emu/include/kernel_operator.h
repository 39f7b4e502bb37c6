// Project-owned emulation of the AscendC kernel API subset used by enec's kernels (op_kernel/).
//
// Purpose: compile the SAME kernel sources with g++ and run them on the CPU in CI, while enforcing
// the rules of the Atlas A2 (dav-c220) vector core that would break on real hardware. Signatures
// follow CANN 8.1.RC1 (basic_api/interface/*.h) for everything modelled here; anything a kernel
// uses that is not modelled fails to compile.
//
// Enforced (each rule fails loudly: a static_assert where the real headers also reject at compile
// time, otherwise an emu::Error exception naming the rule):
//   * Unified Buffer: 192 KiB per core; every byte above 184 KiB is reported (the top 8 KiB is
//     reserved as temp space by some APIs); at most 64 buffers per TPipe; at most 8 TQue buffers
//     per TPosition.
//   * 32-byte alignment of every UB operand (vector instructions and DMA UB side, TBuf offsets).
//   * DataCopy length: count * sizeof(T) must be a multiple of 32 bytes (the hardware silently
//     truncates otherwise).
//   * Extents: every operand inside its LocalTensor (and so its buffer); GM accesses inside the
//     GlobalTensor's SetGlobalBuffer size, and that inside a registered GM region.
//   * dtypes per instruction on A2: Add/Sub/Mul/Max/Min/Adds/Muls only int16/int32/half/float (no
//     unsigned); And/Or/Not only int16/uint16; ShiftLeft/ShiftRight 16/32-bit integers with the
//     shift in range; Compare/CompareScalar/Select/ReduceSum only half/float, Compare count*size a
//     multiple of 256 bytes; Cast only the conversions dav-c220 offers (with their round modes);
//     Gather 16/32-bit; GatherMask pattern width matching the element width.
//   * No dependency between elements of one 32-byte segment within one instruction: a
//     destination that overlaps a source must be the identical operand (same start), otherwise
//     error; Gather and Cast operands may not overlap at all.
//   * Integer Add/Sub/Mul/Adds/Muls overflow is an error (wrap vs saturate is undocumented).
//   * Queues: AllocTensor with no free buffer (deadlock on hardware), EnQue beyond the depth,
//     DeQue of an empty queue, FreeTensor of a tensor the queue does not own; all buffers must be
//     freed by the end of the kernel.
//   * Events: ids 0..7; SetFlag twice without WaitFlag, WaitFlag without SetFlag (deadlock), and
//     flags left set at kernel end are errors.
//   * UB content is undefined at kernel start and after InitBuffer: poisoned with 0xA5 bytes;
//     DataCopyPad dummy bytes are poisoned too.
// Not modelled: pipeline timing and missing synchronisation between pipes (execution is
// sequential), bank conflicts, true hardware rounding of subnormals, multi-core GM races.
#pragma once

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <cstdarg>
#include <functional>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>
#include <cmath>
#include <limits>
#include <memory>

#define __aicore__
#define __global__
#define __gm__
#define __ubuf__
#ifndef __CCE_AICORE__
#define __CCE_AICORE__ 220
#endif
#define ASCEND_IS_AIV (true)
#define ASCEND_IS_AIC (false)
#define KERNEL_TASK_TYPE_DEFAULT(value) ((void)(value))

using GM_ADDR = uint8_t*;

// ------------------------------------------------------------------------------------------ emu core
namespace emu {

struct Error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

constexpr uint32_t UB_BYTES = 192 * 1024;
constexpr uint32_t UB_SOFT_BYTES = 184 * 1024;
constexpr uint32_t MAX_BUFFERS = 64;
constexpr uint32_t MAX_QUE_BUFFERS_PER_POS = 8;
constexpr uint32_t MAX_EVENT_ID = 8;

struct GmRegion { const uint8_t* base; uint64_t size; std::string name; };

struct Stats {
    uint64_t ubHighWater = 0;      // largest UB allocation of any core (bytes)
    uint64_t ubAbove184 = 0;       // number of cores whose UB use exceeded 184 KiB
    uint64_t vecInstr = 0, dmaInstr = 0, scalarAccess = 0, blocksRun = 0;
};

struct Core {
    alignas(64) uint8_t ub[UB_BYTES];
    uint32_t ubUsed = 0;
    uint32_t buffers = 0;
    uint32_t queBufsPerPos[16] = {};
    int32_t blockIdx = 0, blockNum = 1;
    uint8_t events[32][MAX_EVENT_ID] = {};
    int64_t rsvdCnt = 0;
    std::vector<std::function<std::string()>> endChecks;
};

inline Core*& CurCore() { static thread_local Core* c = nullptr; return c; }
inline Stats& GetStats() { static Stats s; return s; }
inline std::vector<GmRegion>& GmRegions() { static std::vector<GmRegion> r; return r; }

[[noreturn]] inline void Fail(const char* fmt, ...) {
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    std::string msg = "[ascendc-emu";
    if (CurCore()) msg += " block " + std::to_string(CurCore()->blockIdx);
    msg += "] ";
    msg += buf;
    throw Error(msg);
}

inline Core& C() {
    if (!CurCore()) Fail("AscendC API used outside emu::Launch");
    return *CurCore();
}

inline void RegisterGm(const void* p, uint64_t bytes, const char* name) {
    GmRegions().push_back({static_cast<const uint8_t*>(p), bytes, name});
}
inline void ClearGm() { GmRegions().clear(); }

inline void CheckGmRegion(const void* p, uint64_t bytes, const char* what) {
    auto* q = static_cast<const uint8_t*>(p);
    if (GmRegions().empty()) return;
    for (auto& r : GmRegions())
        if (q >= r.base && q + bytes <= r.base + r.size) return;
    Fail("%s: GM range [%p, +%llu) is outside every registered GM buffer", what, p,
         (unsigned long long)bytes);
}

inline uint64_t UbOff(const void* p) {
    auto* q = static_cast<const uint8_t*>(p);
    auto& c = C();
    if (q < c.ub || q > c.ub + UB_BYTES) Fail("pointer is not inside the Unified Buffer");
    return static_cast<uint64_t>(q - c.ub);
}

// Run `body` as an AIV-only kernel on blockDim cores, one after another. Each core starts with
// a poisoned UB and no buffers. Returns "" or the first error.
inline std::string Launch(int blockDim, const std::function<void()>& body) {
    static thread_local Core* storage = nullptr;
    if (!storage) storage = new Core();
    for (int i = 0; i < blockDim; ++i) {
        Core& c = *storage;
        memset(c.ub, 0xA5, UB_BYTES);
        c.ubUsed = 0; c.buffers = 0; memset(c.queBufsPerPos, 0, sizeof c.queBufsPerPos);
        memset(c.events, 0, sizeof c.events);
        c.blockIdx = i; c.blockNum = blockDim; c.rsvdCnt = 0; c.endChecks.clear();
        CurCore() = &c;
        try {
            body();
            for (auto& chk : c.endChecks) {
                std::string e = chk();
                if (!e.empty()) Fail("%s", e.c_str());
            }
            for (int e = 0; e < 32; ++e)
                for (uint32_t id = 0; id < MAX_EVENT_ID; ++id)
                    if (c.events[e][id]) Fail("kernel ended with event (type %d, id %u) set but never waited", e, id);
        } catch (const Error& ex) {
            c.endChecks.clear();
            CurCore() = nullptr;
            return ex.what();
        }
        c.endChecks.clear();
        GetStats().blocksRun++;
        CurCore() = nullptr;
    }
    return "";
}

template <class T> constexpr bool IsOneOf() { return false; }
template <class T, class A, class... R> constexpr bool IsOneOf() {
    return std::is_same<T, A>::value || IsOneOf<T, R...>();
}

}  // namespace emu

// ------------------------------------------------------------------------------------------ AscendC
namespace AscendC {

// half: IEEE binary16 storage with exact conversions (round-to-nearest-even, subnormals kept).
struct half {
    uint16_t bits = 0;
    half() = default;
    half(float f) : bits(FromFloat(f)) {}
    half(double f) : bits(FromFloat(static_cast<float>(f))) {}
    half(int v) : bits(FromFloat(static_cast<float>(v))) {}
    operator float() const { return ToFloat(bits); }
    static uint16_t FromFloat(float f) {
        uint32_t x; memcpy(&x, &f, 4);
        uint32_t sign = (x >> 16) & 0x8000u, ax = x & 0x7FFFFFFFu;
        if (ax >= 0x7F800000u) return static_cast<uint16_t>(sign | (ax > 0x7F800000u ? 0x7E00u : 0x7C00u));
        if (ax >= 0x477FF000u) return static_cast<uint16_t>(sign | 0x7C00u);
        if (ax < 0x38800000u) {
            if (ax < 0x33000000u) return static_cast<uint16_t>(sign);
            uint32_t e = ax >> 23, m = (ax & 0x7FFFFFu) | 0x800000u, sh = 126 - e;
            uint32_t q = m >> sh, rem = m & ((1u << sh) - 1), hf = 1u << (sh - 1);
            if (rem > hf || (rem == hf && (q & 1))) q++;
            return static_cast<uint16_t>(sign | q);
        }
        uint32_t e = (ax >> 23) - 112, m = ax & 0x7FFFFFu;
        uint32_t q = (e << 10) | (m >> 13), rem = m & 0x1FFFu;
        if (rem > 0x1000u || (rem == 0x1000u && (q & 1))) q++;
        return static_cast<uint16_t>(sign | q);
    }
    static float ToFloat(uint16_t h) {
        uint32_t sign = (h & 0x8000u) << 16, e = (h >> 10) & 0x1F, m = h & 0x3FF, x;
        if (e == 0) {
            float v = std::ldexp(static_cast<float>(m), -24);
            return sign ? -v : v;
        }
        if (e == 31) x = sign | 0x7F800000u | (m << 13);
        else x = sign | ((e + 112) << 23) | (m << 13);
        float f; memcpy(&f, &x, 4); return f;
    }
};
struct bfloat16_t { uint16_t bits = 0; };

enum class TPosition : uint8_t { GM, A1, A2, B1, B2, C1, C2, CO1, CO2, VECIN, VECOUT, VECCALC, LCM = VECCALC, MAX };
using QuePosition = TPosition;
enum class HardEvent : uint8_t {
    MTE2_MTE1, MTE1_MTE2, MTE1_M, M_MTE1, MTE2_V, V_MTE2, MTE3_V, V_MTE3, M_V, V_M, V_V, MTE3_MTE1,
    MTE1_MTE3, MTE1_V, MTE2_M, M_MTE2, V_MTE1, M_FIX, FIX_M, MTE3_MTE2, MTE2_MTE3, S_V, V_S, S_MTE2,
    MTE2_S, S_MTE3, MTE3_S, MTE2_FIX, FIX_MTE2, FIX_S, M_S, FIX_MTE3, MAX
};
enum class RoundMode : uint8_t { CAST_NONE = 0, CAST_RINT, CAST_FLOOR, CAST_CEIL, CAST_ROUND, CAST_TRUNC, CAST_ODD };
enum class CMPMODE : uint8_t { LT = 0, GT, EQ, LE, GE, NE };
enum class SELMODE : uint8_t { VSEL_CMPMASK_SPR = 0, VSEL_TENSOR_SCALAR_MODE, VSEL_TENSOR_TENSOR_MODE };
enum KernelMetaType { KERNEL_TYPE_AIV_ONLY, KERNEL_TYPE_AIC_ONLY, KERNEL_TYPE_MIX_AIV_1_0, KERNEL_TYPE_MIX_AIC_1_1, KERNEL_TYPE_MIX_AIC_1_2 };
enum class GatherMaskMode : uint8_t { VERSION_V1 = 0, VERSION_V2 = 1 };
constexpr GatherMaskMode defaultGatherMaskMode = GatherMaskMode::VERSION_V2;

struct DataCopyExtParams {
    DataCopyExtParams() {}
    DataCopyExtParams(const uint16_t count, const uint32_t len, const uint32_t srcStrideIn,
                      const uint32_t dstStrideIn, const uint32_t rsvIn)
        : blockCount(count), blockLen(len), srcStride(srcStrideIn), dstStride(dstStrideIn), rsv(rsvIn) {}
    uint16_t blockCount = 1;
    uint32_t blockLen = 0;
    uint32_t srcStride = 0;
    uint32_t dstStride = 0;
    uint32_t rsv = 0;
};
template <typename T> struct DataCopyPadExtParams {
    DataCopyPadExtParams() {}
    DataCopyPadExtParams(const bool isPadValue, const uint8_t leftPadValue, const uint8_t rightPadValue, T padValue)
        : isPad(isPadValue), leftPadding(leftPadValue), rightPadding(rightPadValue), paddingValue(padValue) {}
    bool isPad = false;
    uint8_t leftPadding = 0;
    uint8_t rightPadding = 0;
    T paddingValue = 0;
};
struct GatherMaskParams {
    GatherMaskParams() {}
    GatherMaskParams(const uint8_t src0BlockStrideIn, const uint16_t repeatTimesIn,
                     const uint16_t src0RepeatStrideIn, const uint8_t src1RepeatStrideIn)
        : src0BlockStride(src0BlockStrideIn), repeatTimes(repeatTimesIn),
          src0RepeatStride(src0RepeatStrideIn), src1RepeatStride(src1RepeatStrideIn) {}
    uint8_t src0BlockStride = 1;
    uint16_t repeatTimes = 0;
    uint16_t src0RepeatStride = 8;
    uint8_t src1RepeatStride = 8;
};

}  // namespace AscendC

using AscendC::half;
using AscendC::bfloat16_t;

enum pipe_t { PIPE_S = 0, PIPE_V, PIPE_M, PIPE_MTE1, PIPE_MTE2, PIPE_MTE3, PIPE_ALL, PIPE_MTE4, PIPE_MTE5, PIPE_V2, PIPE_FIX };
enum event_t { EVENT_ID0 = 0, EVENT_ID1, EVENT_ID2, EVENT_ID3, EVENT_ID4, EVENT_ID5, EVENT_ID6, EVENT_ID7 };

namespace AscendC {

template <typename T> class LocalTensor;

// ---------------------------------------------------------------- GlobalTensor
template <typename T> class GlobalTensor {
public:
    using PrimType = T;
    void SetGlobalBuffer(__gm__ T* buffer, uint64_t bufferSize) {
        emu::CheckGmRegion(buffer, bufferSize * sizeof(T), "SetGlobalBuffer");
        addr_ = buffer; size_ = bufferSize;
    }
    T GetValue(const uint64_t offset) const {
        Check(offset, 1, "GlobalTensor::GetValue");
        emu::GetStats().scalarAccess++;
        T v; memcpy(&v, addr_ + offset, sizeof(T)); return v;
    }
    void SetValue(const uint64_t offset, T value) {
        Check(offset, 1, "GlobalTensor::SetValue");
        emu::GetStats().scalarAccess++;
        memcpy(addr_ + offset, &value, sizeof(T));
    }
    uint64_t GetSize() const { return size_; }
    GlobalTensor operator[](const uint64_t offset) const {
        if (offset > size_) emu::Fail("GlobalTensor[%llu] beyond its %llu elements", (unsigned long long)offset, (unsigned long long)size_);
        GlobalTensor g; g.addr_ = addr_ + offset; g.size_ = size_ - offset; return g;
    }
    T* GetPhyAddr() const { return addr_; }
    void Check(uint64_t off, uint64_t count, const char* what) const {
        if (!addr_) emu::Fail("%s: GlobalTensor without SetGlobalBuffer", what);
        if (off + count > size_)
            emu::Fail("%s: GM access [%llu, %llu) outside the GlobalTensor's %llu elements", what,
                      (unsigned long long)off, (unsigned long long)(off + count), (unsigned long long)size_);
    }
private:
    T* addr_ = nullptr;
    uint64_t size_ = 0;
};

// ---------------------------------------------------------------- LocalTensor
template <typename T> class LocalTensor {
public:
    using PrimType = T;
    LocalTensor() = default;
    LocalTensor(uint8_t* p, uint32_t bytes) : ptr_(p), bytes_(bytes) {}
    uint32_t GetSize() const { return bytes_ / sizeof(T); }
    uint32_t GetLength() const { return bytes_; }
    LocalTensor operator[](const uint32_t offset) const {
        if (offset * sizeof(T) > bytes_) emu::Fail("LocalTensor[%u] beyond its %u elements", offset, GetSize());
        return LocalTensor(ptr_ + offset * sizeof(T), bytes_ - offset * sizeof(T));
    }
    template <typename U> LocalTensor<U> ReinterpretCast() const { return LocalTensor<U>(ptr_, bytes_); }
    T GetValue(const uint32_t i) const {
        if ((i + 1) * sizeof(T) > bytes_) emu::Fail("LocalTensor::GetValue(%u) beyond %u elements", i, GetSize());
        emu::GetStats().scalarAccess++;
        T v; memcpy(&v, ptr_ + i * sizeof(T), sizeof(T)); return v;
    }
    template <typename T1> void SetValue(const uint32_t i, const T1 value) const {
        if ((i + 1) * sizeof(T) > bytes_) emu::Fail("LocalTensor::SetValue(%u) beyond %u elements", i, GetSize());
        emu::GetStats().scalarAccess++;
        T v = static_cast<T>(value); memcpy(ptr_ + i * sizeof(T), &v, sizeof(T));
    }
    T* GetPhyAddr() const { return reinterpret_cast<T*>(ptr_); }
    uint8_t* Raw() const { return ptr_; }
    uint32_t Bytes() const { return bytes_; }
private:
    uint8_t* ptr_ = nullptr;
    uint32_t bytes_ = 0;
};

}  // namespace AscendC

// ------------------------------------------------------------------------------------------ checks
namespace emu {

struct Opnd { const uint8_t* p; uint64_t bytes; };

template <class T>
inline Opnd UbOperand(const AscendC::LocalTensor<T>& t, uint64_t count, const char* op, const char* name) {
    if (!t.Raw()) Fail("%s: %s is an empty LocalTensor", op, name);
    uint64_t off = UbOff(t.Raw());
    if (off % 32) Fail("%s: %s starts at UB offset %llu, not 32-byte aligned", op, name, (unsigned long long)off);
    uint64_t bytes = count * sizeof(T);
    if (bytes > t.Bytes())
        Fail("%s: %s needs %llu elements but the LocalTensor holds %u", op, name,
             (unsigned long long)count, t.GetSize());
    return {t.Raw(), bytes};
}

// Destination vs source: identical start (in-place) or disjoint; anything else creates a
// dependency between elements of one instruction, which the hardware does not honour.
inline void NoPartialOverlap(Opnd d, Opnd s, const char* op, const char* sname) {
    if (d.bytes == 0 || s.bytes == 0) return;
    bool overlap = d.p < s.p + s.bytes && s.p < d.p + d.bytes;
    if (overlap && d.p != s.p)
        Fail("%s: dst [%llu, +%llu) partially overlaps %s [%llu, +%llu) (only identical or disjoint operands are allowed)",
             op, (unsigned long long)UbOff(d.p), (unsigned long long)d.bytes, sname,
             (unsigned long long)UbOff(s.p), (unsigned long long)s.bytes);
}
inline void NoOverlap(Opnd d, Opnd s, const char* op, const char* sname) {
    if (d.bytes == 0 || s.bytes == 0) return;
    if (d.p < s.p + s.bytes && s.p < d.p + d.bytes)
        Fail("%s: dst overlaps %s (this instruction needs disjoint operands)", op, sname);
}

inline void CheckCount(int64_t count, const char* op) {
    if (count < 0) Fail("%s: negative count %lld", op, (long long)count);
}

template <class T> inline T ReadElem(const uint8_t* p, uint64_t i) { T v; memcpy(&v, p + i * sizeof(T), sizeof(T)); return v; }
template <class T> inline void WriteElem(uint8_t* p, uint64_t i, T v) { memcpy(p + i * sizeof(T), &v, sizeof(T)); }

template <class T> constexpr bool IsArith() { return IsOneOf<T, int16_t, int32_t, AscendC::half, float>(); }
template <class T> constexpr bool IsFloat() { return IsOneOf<T, AscendC::half, float>(); }

template <class T> inline T ArithResult(double v, const char* op) {
    if constexpr (std::is_same<T, AscendC::half>::value) return AscendC::half(static_cast<float>(v));
    else if constexpr (std::is_same<T, float>::value) return static_cast<float>(v);
    else {
        if (v < static_cast<double>(std::numeric_limits<T>::min()) || v > static_cast<double>(std::numeric_limits<T>::max()))
            Fail("%s: integer overflow (%.0f does not fit the element type; wrap vs saturate is undocumented on A2)", op, v);
        return static_cast<T>(v);
    }
}
template <class T> inline double AsDouble(T v) {
    if constexpr (std::is_same<T, AscendC::half>::value) return static_cast<float>(v);
    else return static_cast<double>(v);
}

template <class T, class F>
inline void Binary(const AscendC::LocalTensor<T>& dst, const AscendC::LocalTensor<T>& s0,
                   const AscendC::LocalTensor<T>& s1, int32_t count, const char* op, F f) {
    CheckCount(count, op);
    GetStats().vecInstr++;
    Opnd d = UbOperand(dst, count, op, "dst"), a = UbOperand(s0, count, op, "src0"), b = UbOperand(s1, count, op, "src1");
    NoPartialOverlap(d, a, op, "src0");
    NoPartialOverlap(d, b, op, "src1");
    std::vector<T> out(count);
    for (int32_t i = 0; i < count; ++i) out[i] = f(ReadElem<T>(a.p, i), ReadElem<T>(b.p, i));
    if (count) memcpy(const_cast<uint8_t*>(d.p), out.data(), count * sizeof(T));
}

template <class T, class F>
inline void Unary(const AscendC::LocalTensor<T>& dst, const AscendC::LocalTensor<T>& s, int32_t count, const char* op, F f) {
    CheckCount(count, op);
    GetStats().vecInstr++;
    Opnd d = UbOperand(dst, count, op, "dst"), a = UbOperand(s, count, op, "src");
    NoPartialOverlap(d, a, op, "src");
    std::vector<T> out(count);
    for (int32_t i = 0; i < count; ++i) out[i] = f(ReadElem<T>(a.p, i));
    if (count) memcpy(const_cast<uint8_t*>(d.p), out.data(), count * sizeof(T));
}

}  // namespace emu

namespace AscendC {

// ---------------------------------------------------------------- system
inline int64_t GetBlockIdx() { return emu::C().blockIdx; }
inline int64_t GetBlockNum() { return emu::C().blockNum; }

template <HardEvent event> inline void SetFlag(int32_t eventID) {
    auto& c = emu::C();
    if (eventID < 0 || eventID >= (int32_t)emu::MAX_EVENT_ID) emu::Fail("SetFlag: event id %d outside 0..7", eventID);
    uint8_t& s = c.events[static_cast<int>(event)][eventID];
    if (s) emu::Fail("SetFlag: event (type %d, id %d) set twice without a WaitFlag", static_cast<int>(event), eventID);
    s = 1;
}
template <HardEvent event> inline void WaitFlag(int32_t eventID) {
    auto& c = emu::C();
    if (eventID < 0 || eventID >= (int32_t)emu::MAX_EVENT_ID) emu::Fail("WaitFlag: event id %d outside 0..7", eventID);
    uint8_t& s = c.events[static_cast<int>(event)][eventID];
    if (!s) emu::Fail("WaitFlag: event (type %d, id %d) was never set (the core would hang)", static_cast<int>(event), eventID);
    s = 0;
}
template <pipe_t pipe> inline void PipeBarrier() { (void)emu::C(); }

// ---------------------------------------------------------------- TPipe / TQue / TBuf
class TPipe;

struct BufSlot { uint8_t* p = nullptr; uint32_t len = 0; bool allocated = false; bool queued = false; };

template <TPosition pos, int32_t depth, auto mask = 0> class TQue {
public:
    template <typename T> LocalTensor<T> AllocTensor() {
        for (auto& s : *slots_)
            if (!s.allocated) { s.allocated = true; s.queued = false; return LocalTensor<T>(s.p, s.len); }
        emu::Fail("TQue::AllocTensor: all %zu buffers of the queue are in use (the core would wait forever)", slots_->size());
    }
    template <typename T> bool EnQue(const LocalTensor<T>& t) {
        BufSlot& s = Find(t.Raw(), "EnQue");
        if (!s.allocated || s.queued) emu::Fail("TQue::EnQue: tensor not allocated or already queued");
        if (queued_.size() >= static_cast<size_t>(depth < 1 ? 1 : depth))
            emu::Fail("TQue::EnQue: queue depth %d exceeded", depth);
        s.queued = true; queued_.push_back(&s); return true;
    }
    template <typename T> LocalTensor<T> DeQue() {
        if (queued_.empty()) emu::Fail("TQue::DeQue on an empty queue (the core would wait forever)");
        BufSlot* s = queued_.front();
        queued_.erase(queued_.begin());
        s->queued = false;
        return LocalTensor<T>(s->p, s->len);
    }
    template <typename T> void FreeTensor(LocalTensor<T>& t) {
        BufSlot& s = Find(t.Raw(), "FreeTensor");
        if (!s.allocated) emu::Fail("TQue::FreeTensor of a tensor that is not allocated (double free?)");
        if (s.queued) emu::Fail("TQue::FreeTensor of a tensor still in the queue");
        s.allocated = false;
    }
    std::shared_ptr<std::vector<BufSlot>> slots_ = std::make_shared<std::vector<BufSlot>>();
    std::vector<BufSlot*> queued_;
private:
    BufSlot& Find(uint8_t* p, const char* op) {
        for (auto& s : *slots_) if (s.p == p) return s;
        emu::Fail("TQue::%s: tensor does not belong to this queue", op);
    }
};

template <TPosition pos = TPosition::LCM> class TBuf {
public:
    template <typename T> LocalTensor<T> Get() { Need("Get"); return LocalTensor<T>(p_, len_); }
    template <typename T> LocalTensor<T> Get(uint32_t len) {
        Need("Get");
        if (len * sizeof(T) > len_) emu::Fail("TBuf::Get(%u): larger than the %u-byte buffer", len, len_);
        return LocalTensor<T>(p_, len * sizeof(T));
    }
    template <typename T> LocalTensor<T> GetWithOffset(uint32_t size, uint32_t bufOffset) {
        Need("GetWithOffset");
        if (bufOffset % 32) emu::Fail("TBuf::GetWithOffset: offset %u not 32-byte aligned", bufOffset);
        if (bufOffset + size * sizeof(T) > len_) emu::Fail("TBuf::GetWithOffset: [%u, +%zu) outside the %u-byte buffer", bufOffset, size * sizeof(T), len_);
        return LocalTensor<T>(p_ + bufOffset, size * sizeof(T));
    }
    uint8_t* p_ = nullptr;
    uint32_t len_ = 0;
private:
    void Need(const char* op) { if (!p_) emu::Fail("TBuf::%s before TPipe::InitBuffer", op); }
};

class TPipe {
public:
    TPipe() { (void)emu::C(); }
    template <TPosition pos, int32_t depth, auto mask>
    bool InitBuffer(TQue<pos, depth, mask>& que, uint8_t num, uint32_t len) {
        auto& c = emu::C();
        if (num == 0) emu::Fail("TPipe::InitBuffer: zero buffers");
        uint32_t& perPos = c.queBufsPerPos[static_cast<int>(pos) & 15];
        if (perPos + num > emu::MAX_QUE_BUFFERS_PER_POS)
            emu::Fail("TPipe::InitBuffer: more than %u TQue buffers at one TPosition", emu::MAX_QUE_BUFFERS_PER_POS);
        perPos += num;
        for (int i = 0; i < num; ++i) {
            BufSlot s; s.p = Take(len); s.len = (len + 31) / 32 * 32; que.slots_->push_back(s);
        }
        auto slots = que.slots_;
        c.endChecks.push_back([slots]() -> std::string {
            for (auto& s : *slots) if (s.allocated) return "kernel ended with a TQue buffer still allocated (missing FreeTensor)";
            return "";
        });
        return true;
    }
    template <TPosition pos> bool InitBuffer(TBuf<pos>& buf, uint32_t len) {
        buf.p_ = Take(len); buf.len_ = (len + 31) / 32 * 32; return true;
    }
    void Destroy() {}
private:
    uint8_t* Take(uint32_t len) {
        auto& c = emu::C();
        if (++c.buffers > emu::MAX_BUFFERS) emu::Fail("TPipe::InitBuffer: more than %u buffers", emu::MAX_BUFFERS);
        uint32_t l = (len + 31) / 32 * 32;
        if (l == 0) emu::Fail("TPipe::InitBuffer: zero-length buffer");
        if (c.ubUsed + l > emu::UB_BYTES)
            emu::Fail("TPipe::InitBuffer: %u + %u bytes exceed the 192 KiB Unified Buffer", c.ubUsed, l);
        uint8_t* p = c.ub + c.ubUsed;
        c.ubUsed += l;
        memset(p, 0xA5, l);
        auto& st = emu::GetStats();
        if (c.ubUsed > st.ubHighWater) st.ubHighWater = c.ubUsed;
        if (c.ubUsed > emu::UB_SOFT_BYTES && c.ubUsed - l <= emu::UB_SOFT_BYTES) {
            st.ubAbove184++;
            fprintf(stderr, "[ascendc-emu] warning: UB use %u bytes exceeds 184 KiB (top 8 KiB is API temp space)\n", c.ubUsed);
        }
        return p;
    }
};

// ---------------------------------------------------------------- data movement
template <typename T> inline void DataCopy(const LocalTensor<T>& dst, const GlobalTensor<T>& src, const uint32_t count) {
    emu::GetStats().dmaInstr++;
    if ((count * sizeof(T)) % 32) emu::Fail("DataCopy GM->UB: %u elements x %zu bytes is not a multiple of 32 bytes (the hardware truncates)", count, sizeof(T));
    emu::Opnd d = emu::UbOperand(dst, count, "DataCopy", "dst");
    src.Check(0, count, "DataCopy GM->UB");
    memcpy(const_cast<uint8_t*>(d.p), src.GetPhyAddr(), d.bytes);
}
template <typename T> inline void DataCopy(const GlobalTensor<T>& dst, const LocalTensor<T>& src, const uint32_t count) {
    emu::GetStats().dmaInstr++;
    if ((count * sizeof(T)) % 32) emu::Fail("DataCopy UB->GM: %u elements x %zu bytes is not a multiple of 32 bytes (the hardware truncates)", count, sizeof(T));
    emu::Opnd s = emu::UbOperand(src, count, "DataCopy", "src");
    dst.Check(0, count, "DataCopy UB->GM");
    memcpy(dst.GetPhyAddr(), s.p, s.bytes);
}
template <typename T> inline void DataCopy(const LocalTensor<T>& dst, const LocalTensor<T>& src, const uint32_t count) {
    emu::GetStats().dmaInstr++;
    if ((count * sizeof(T)) % 32) emu::Fail("DataCopy UB->UB: %u elements x %zu bytes is not a multiple of 32 bytes", count, sizeof(T));
    emu::Opnd d = emu::UbOperand(dst, count, "DataCopy", "dst"), s = emu::UbOperand(src, count, "DataCopy", "src");
    emu::NoOverlap(d, s, "DataCopy UB->UB", "src");
    memcpy(const_cast<uint8_t*>(d.p), s.p, s.bytes);
}

// GM -> UB, byte-granular bursts; each burst lands in UB padded to a 32-byte boundary.
template <typename T>
inline void DataCopyPad(const LocalTensor<T>& dst, const GlobalTensor<T>& src, const DataCopyExtParams& p,
                        const DataCopyPadExtParams<T>& pad) {
    emu::GetStats().dmaInstr++;
    if (p.blockLen % sizeof(T)) emu::Fail("DataCopyPad GM->UB: blockLen %u not a multiple of sizeof(T)=%zu", p.blockLen, sizeof(T));
    if (p.blockCount > 4095 || p.blockLen > 2097151) emu::Fail("DataCopyPad GM->UB: blockCount/blockLen out of range");
    if (pad.leftPadding * sizeof(T) > 32 || pad.rightPadding * sizeof(T) > 32) emu::Fail("DataCopyPad: padding above 32 bytes");
    uint64_t burstUb = (pad.leftPadding * sizeof(T) + p.blockLen + pad.rightPadding * sizeof(T) + 31) / 32 * 32;
    uint64_t total = p.blockCount ? (p.blockCount - 1) * (burstUb + p.dstStride * 32ull) + burstUb : 0;
    emu::Opnd d = emu::UbOperand(dst, total / sizeof(T), "DataCopyPad", "dst");
    uint8_t* out = const_cast<uint8_t*>(d.p);
    uint64_t gpos = 0;
    for (uint32_t b = 0; b < p.blockCount; ++b) {
        uint8_t* u = out + b * (burstUb + p.dstStride * 32ull);
        memset(u, 0xA5, burstUb);   // dummy bytes: undefined
        src.Check(gpos / sizeof(T), p.blockLen / sizeof(T), "DataCopyPad GM->UB");
        for (uint32_t i = 0; i < pad.leftPadding; ++i)
            if (pad.isPad) memcpy(u + i * sizeof(T), &pad.paddingValue, sizeof(T));
        memcpy(u + pad.leftPadding * sizeof(T), reinterpret_cast<const uint8_t*>(src.GetPhyAddr()) + gpos, p.blockLen);
        for (uint32_t i = 0; i < pad.rightPadding; ++i)
            if (pad.isPad) memcpy(u + pad.leftPadding * sizeof(T) + p.blockLen + i * sizeof(T), &pad.paddingValue, sizeof(T));
        gpos += p.blockLen + p.srcStride;
    }
}
// UB -> GM, writes exactly blockLen bytes per burst.
template <typename T>
inline void DataCopyPad(const GlobalTensor<T>& dst, const LocalTensor<T>& src, const DataCopyExtParams& p) {
    emu::GetStats().dmaInstr++;
    if (p.blockLen % sizeof(T)) emu::Fail("DataCopyPad UB->GM: blockLen %u not a multiple of sizeof(T)=%zu", p.blockLen, sizeof(T));
    if (p.blockCount > 4095 || p.blockLen > 2097151) emu::Fail("DataCopyPad UB->GM: blockCount/blockLen out of range");
    uint64_t burstUb = (p.blockLen + 31) / 32 * 32;
    uint64_t total = p.blockCount ? (p.blockCount - 1) * (burstUb + p.srcStride * 32ull) + p.blockLen : 0;
    emu::Opnd s = emu::UbOperand(src, (total + sizeof(T) - 1) / sizeof(T), "DataCopyPad", "src");
    uint64_t gpos = 0;
    for (uint32_t b = 0; b < p.blockCount; ++b) {
        dst.Check(gpos / sizeof(T), p.blockLen / sizeof(T), "DataCopyPad UB->GM");
        memcpy(reinterpret_cast<uint8_t*>(dst.GetPhyAddr()) + gpos, s.p + b * (burstUb + p.srcStride * 32ull), p.blockLen);
        gpos += p.blockLen + p.dstStride;
    }
}

// ---------------------------------------------------------------- vector: fill
template <typename T> inline void Duplicate(const LocalTensor<T>& dst, const T& v, const int32_t& count) {
    static_assert(emu::IsOneOf<T, int16_t, uint16_t, int32_t, uint32_t, half, float>(),
                  "Duplicate: dtype not supported on Atlas A2 (16/32-bit integers, half, float)");
    emu::CheckCount(count, "Duplicate");
    emu::GetStats().vecInstr++;
    emu::Opnd d = emu::UbOperand(dst, count, "Duplicate", "dst");
    for (int32_t i = 0; i < count; ++i) emu::WriteElem<T>(const_cast<uint8_t*>(d.p), i, v);
}

// ---------------------------------------------------------------- vector: arithmetic
template <typename T> inline void Add(const LocalTensor<T>& d, const LocalTensor<T>& a, const LocalTensor<T>& b, const int32_t& n) {
    static_assert(emu::IsArith<T>(), "Add: Atlas A2 supports int16/int32/half/float only (no unsigned, no bf16)");
    emu::Binary(d, a, b, n, "Add", [](T x, T y) { return emu::ArithResult<T>(emu::AsDouble(x) + emu::AsDouble(y), "Add"); });
}
template <typename T> inline void Sub(const LocalTensor<T>& d, const LocalTensor<T>& a, const LocalTensor<T>& b, const int32_t& n) {
    static_assert(emu::IsArith<T>(), "Sub: Atlas A2 supports int16/int32/half/float only (no unsigned, no bf16)");
    emu::Binary(d, a, b, n, "Sub", [](T x, T y) { return emu::ArithResult<T>(emu::AsDouble(x) - emu::AsDouble(y), "Sub"); });
}
template <typename T> inline void Mul(const LocalTensor<T>& d, const LocalTensor<T>& a, const LocalTensor<T>& b, const int32_t& n) {
    static_assert(emu::IsArith<T>(), "Mul: Atlas A2 supports int16/int32/half/float only (no unsigned, no bf16)");
    emu::Binary(d, a, b, n, "Mul", [](T x, T y) { return emu::ArithResult<T>(emu::AsDouble(x) * emu::AsDouble(y), "Mul"); });
}
template <typename T> inline void Max(const LocalTensor<T>& d, const LocalTensor<T>& a, const LocalTensor<T>& b, const int32_t& n) {
    static_assert(emu::IsArith<T>(), "Max: Atlas A2 supports int16/int32/half/float only");
    emu::Binary(d, a, b, n, "Max", [](T x, T y) { return emu::AsDouble(x) >= emu::AsDouble(y) ? x : y; });
}
template <typename T> inline void Min(const LocalTensor<T>& d, const LocalTensor<T>& a, const LocalTensor<T>& b, const int32_t& n) {
    static_assert(emu::IsArith<T>(), "Min: Atlas A2 supports int16/int32/half/float only");
    emu::Binary(d, a, b, n, "Min", [](T x, T y) { return emu::AsDouble(x) <= emu::AsDouble(y) ? x : y; });
}
template <typename T> inline void Adds(const LocalTensor<T>& d, const LocalTensor<T>& s, const T& v, const int32_t& n) {
    static_assert(emu::IsArith<T>(), "Adds: Atlas A2 supports int16/int32/half/float only (no unsigned)");
    emu::Unary(d, s, n, "Adds", [v](T x) { return emu::ArithResult<T>(emu::AsDouble(x) + emu::AsDouble(v), "Adds"); });
}
template <typename T> inline void Muls(const LocalTensor<T>& d, const LocalTensor<T>& s, const T& v, const int32_t& n) {
    static_assert(emu::IsArith<T>(), "Muls: Atlas A2 supports int16/int32/half/float only (no unsigned)");
    emu::Unary(d, s, n, "Muls", [v](T x) { return emu::ArithResult<T>(emu::AsDouble(x) * emu::AsDouble(v), "Muls"); });
}

// ---------------------------------------------------------------- vector: bit operations
template <typename T> inline void And(const LocalTensor<T>& d, const LocalTensor<T>& a, const LocalTensor<T>& b, const int32_t& n) {
    static_assert(emu::IsOneOf<T, int16_t, uint16_t>(), "And: Atlas A2 supports int16/uint16 only");
    emu::Binary(d, a, b, n, "And", [](T x, T y) { return static_cast<T>(x & y); });
}
template <typename T> inline void Or(const LocalTensor<T>& d, const LocalTensor<T>& a, const LocalTensor<T>& b, const int32_t& n) {
    static_assert(emu::IsOneOf<T, int16_t, uint16_t>(), "Or: Atlas A2 supports int16/uint16 only");
    emu::Binary(d, a, b, n, "Or", [](T x, T y) { return static_cast<T>(x | y); });
}
template <typename T> inline void Not(const LocalTensor<T>& d, const LocalTensor<T>& s, const int32_t& n) {
    static_assert(emu::IsOneOf<T, int16_t, uint16_t>(), "Not: Atlas A2 supports int16/uint16 only");
    emu::Unary(d, s, n, "Not", [](T x) { return static_cast<T>(~x); });
}
template <typename T> inline void ShiftLeft(const LocalTensor<T>& d, const LocalTensor<T>& s, const T& sh, const int32_t& n) {
    static_assert(emu::IsOneOf<T, int16_t, uint16_t, int32_t, uint32_t>(), "ShiftLeft: Atlas A2 supports 16/32-bit integers only");
    const int64_t w = 8 * sizeof(T);
    if (static_cast<int64_t>(sh) < 0 || static_cast<int64_t>(sh) > w) emu::Fail("ShiftLeft: shift %lld outside [0, %lld]", (long long)sh, (long long)w);
    emu::Unary(d, s, n, "ShiftLeft", [sh, w](T x) {
        using U = typename std::make_unsigned<T>::type;
        return static_cast<T>(sh >= w ? 0 : static_cast<U>(static_cast<U>(x) << sh));
    });
}
template <typename T> inline void ShiftRight(const LocalTensor<T>& d, const LocalTensor<T>& s, const T& sh, const int32_t& n) {
    static_assert(emu::IsOneOf<T, int16_t, uint16_t, int32_t, uint32_t>(), "ShiftRight: Atlas A2 supports 16/32-bit integers only");
    const int64_t w = 8 * sizeof(T);
    if (static_cast<int64_t>(sh) < 0 || static_cast<int64_t>(sh) > w) emu::Fail("ShiftRight: shift %lld outside [0, %lld]", (long long)sh, (long long)w);
    emu::Unary(d, s, n, "ShiftRight", [sh, w](T x) {   // logical for unsigned, arithmetic for signed
        if (sh >= w) return static_cast<T>(std::is_signed<T>::value && x < 0 ? -1 : 0);
        return static_cast<T>(x >> sh);
    });
}

// ---------------------------------------------------------------- vector: conversion
template <typename D, typename S> constexpr bool CastSupported() {
    return (std::is_same<D, float>::value && std::is_same<S, int16_t>::value) ||
           (std::is_same<D, half>::value && std::is_same<S, int16_t>::value) ||
           (std::is_same<D, int32_t>::value && std::is_same<S, float>::value) ||
           (std::is_same<D, int16_t>::value && std::is_same<S, half>::value) ||
           (std::is_same<D, float>::value && std::is_same<S, int32_t>::value) ||
           (std::is_same<D, float>::value && std::is_same<S, half>::value) ||
           (std::is_same<D, half>::value && std::is_same<S, float>::value);
}
template <typename D, typename S>
inline void Cast(const LocalTensor<D>& dst, const LocalTensor<S>& src, const RoundMode& rm, const uint32_t count) {
    static_assert(CastSupported<D, S>(), "Cast: this conversion is not offered by dav-c220 (or not modelled)");
    emu::GetStats().vecInstr++;
    emu::Opnd d = emu::UbOperand(dst, count, "Cast", "dst"), s = emu::UbOperand(src, count, "Cast", "src");
    if (sizeof(D) != sizeof(S)) emu::NoOverlap(d, s, "Cast", "src"); else emu::NoPartialOverlap(d, s, "Cast", "src");
    constexpr bool toInt = std::is_integral<D>::value, fromFloat = emu::IsFloat<S>();
    if (toInt && fromFloat && rm == RoundMode::CAST_NONE) emu::Fail("Cast: CAST_NONE from float to an integer is not supported on dav-c220");
    if (!(toInt && fromFloat) && std::is_integral<S>::value && rm != RoundMode::CAST_NONE)
        emu::Fail("Cast: only CAST_NONE is supported from an integer type on dav-c220");
    std::vector<D> out(count);
    for (uint32_t i = 0; i < count; ++i) {
        double v = emu::AsDouble(emu::ReadElem<S>(s.p, i));
        if constexpr (std::is_integral<D>::value) {
            double r = v;
            switch (rm) {
                case RoundMode::CAST_RINT: r = std::nearbyint(v); break;
                case RoundMode::CAST_FLOOR: r = std::floor(v); break;
                case RoundMode::CAST_CEIL: r = std::ceil(v); break;
                case RoundMode::CAST_ROUND: r = std::round(v); break;
                case RoundMode::CAST_TRUNC: r = std::trunc(v); break;
                default: emu::Fail("Cast: round mode not supported for float->int");
            }
            if (std::isnan(r) || r < (double)std::numeric_limits<D>::min() || r > (double)std::numeric_limits<D>::max())
                emu::Fail("Cast: value %g does not fit the integer type (saturation behaviour not relied on)", v);
            out[i] = static_cast<D>(r);
        } else if constexpr (std::is_same<D, half>::value) {
            float f = static_cast<float>(v);
            if (static_cast<double>(f) != v && std::is_integral<S>::value) emu::Fail("Cast: inexact integer->half");
            out[i] = half(f);
        } else {
            out[i] = static_cast<D>(v);
        }
    }
    if (count) memcpy(const_cast<uint8_t*>(d.p), out.data(), count * sizeof(D));
}

// ---------------------------------------------------------------- vector: compare / select
template <typename T> inline bool CmpOp(CMPMODE m, double a, double b) {
    switch (m) {
        case CMPMODE::LT: return a < b; case CMPMODE::GT: return a > b; case CMPMODE::EQ: return a == b;
        case CMPMODE::LE: return a <= b; case CMPMODE::GE: return a >= b; default: return a != b;
    }
}
template <typename U, typename T>
inline void CompareScalar(const LocalTensor<U>& dst, const LocalTensor<T>& src0, const T src1Scalar, CMPMODE cmpMode, uint32_t count) {
    static_assert(emu::IsFloat<T>(), "CompareScalar: Atlas A2 compares half/float only");
    static_assert(std::is_same<U, uint8_t>::value, "CompareScalar: the result is a uint8_t bit mask");
    emu::GetStats().vecInstr++;
    if ((count * sizeof(T)) % 256) emu::Fail("CompareScalar: count*sizeof(T) = %zu is not a multiple of 256 bytes", count * sizeof(T));
    emu::Opnd s = emu::UbOperand(src0, count, "CompareScalar", "src0");
    emu::Opnd d = emu::UbOperand(dst, count / 8, "CompareScalar", "dst");
    emu::NoOverlap(d, s, "CompareScalar", "src0");
    uint8_t* o = const_cast<uint8_t*>(d.p);
    memset(o, 0, count / 8);
    double b = emu::AsDouble(src1Scalar);
    for (uint32_t i = 0; i < count; ++i)
        if (CmpOp<T>(cmpMode, emu::AsDouble(emu::ReadElem<T>(s.p, i)), b)) o[i / 8] |= static_cast<uint8_t>(1u << (i % 8));
}
template <typename U, typename T>
inline void Compare(const LocalTensor<U>& dst, const LocalTensor<T>& src0, const LocalTensor<T>& src1, CMPMODE cmpMode, uint32_t count) {
    static_assert(emu::IsFloat<T>(), "Compare: Atlas A2 compares half/float only (int32 EQ only in level-0 form)");
    static_assert(std::is_same<U, uint8_t>::value, "Compare: the result is a uint8_t bit mask");
    emu::GetStats().vecInstr++;
    if ((count * sizeof(T)) % 256) emu::Fail("Compare: count*sizeof(T) = %zu is not a multiple of 256 bytes", count * sizeof(T));
    emu::Opnd a = emu::UbOperand(src0, count, "Compare", "src0"), b = emu::UbOperand(src1, count, "Compare", "src1");
    emu::Opnd d = emu::UbOperand(dst, count / 8, "Compare", "dst");
    emu::NoOverlap(d, a, "Compare", "src0"); emu::NoOverlap(d, b, "Compare", "src1");
    uint8_t* o = const_cast<uint8_t*>(d.p);
    memset(o, 0, count / 8);
    for (uint32_t i = 0; i < count; ++i)
        if (CmpOp<T>(cmpMode, emu::AsDouble(emu::ReadElem<T>(a.p, i)), emu::AsDouble(emu::ReadElem<T>(b.p, i))))
            o[i / 8] |= static_cast<uint8_t>(1u << (i % 8));
}
// Select, tensor-tensor mode: dst[i] = bit i of selMask ? src0[i] : src1[i].
template <typename T, typename U>
inline void Select(const LocalTensor<T>& dst, const LocalTensor<U>& selMask, const LocalTensor<T>& src0,
                   const LocalTensor<T>& src1, SELMODE selMode, uint32_t count) {
    static_assert(emu::IsFloat<T>(), "Select: Atlas A2 selects half/float only");
    static_assert(std::is_same<U, uint8_t>::value, "Select: the mask is a uint8_t bit mask");
    if (selMode != SELMODE::VSEL_TENSOR_TENSOR_MODE) emu::Fail("Select: only VSEL_TENSOR_TENSOR_MODE is modelled");
    emu::GetStats().vecInstr++;
    emu::Opnd m = emu::UbOperand(selMask, (count + 7) / 8, "Select", "selMask");
    emu::Opnd a = emu::UbOperand(src0, count, "Select", "src0"), b = emu::UbOperand(src1, count, "Select", "src1");
    emu::Opnd d = emu::UbOperand(dst, count, "Select", "dst");
    emu::NoPartialOverlap(d, a, "Select", "src0"); emu::NoPartialOverlap(d, b, "Select", "src1");
    emu::NoOverlap(d, m, "Select", "selMask");
    std::vector<T> out(count);
    for (uint32_t i = 0; i < count; ++i)
        out[i] = ((m.p[i / 8] >> (i % 8)) & 1) ? emu::ReadElem<T>(a.p, i) : emu::ReadElem<T>(b.p, i);
    if (count) memcpy(const_cast<uint8_t*>(d.p), out.data(), count * sizeof(T));
}
// ReduceSum (level 2): float-only on A2; result in dst[0].
template <typename T>
inline void ReduceSum(const LocalTensor<T>& dst, const LocalTensor<T>& src, const LocalTensor<T>& work, const int32_t count) {
    static_assert(emu::IsFloat<T>(), "ReduceSum: Atlas A2 reduces half/float only");
    emu::GetStats().vecInstr++;
    emu::Opnd s = emu::UbOperand(src, count, "ReduceSum", "src");
    emu::Opnd d = emu::UbOperand(dst, 1, "ReduceSum", "dst");
    (void)work;
    emu::NoOverlap(d, s, "ReduceSum", "src");
    double acc = 0;
    for (int32_t i = 0; i < count; ++i) acc += emu::AsDouble(emu::ReadElem<T>(s.p, i));
    emu::WriteElem<T>(const_cast<uint8_t*>(d.p), 0, static_cast<T>(static_cast<float>(acc)));
}

// ---------------------------------------------------------------- vector: gather
// dst[i] = *(T*)((uint8_t*)src + srcBaseAddr + offset[i]); offsets are bytes.
template <typename T>
inline void Gather(const LocalTensor<T>& dst, const LocalTensor<T>& src, const LocalTensor<uint32_t>& offs,
                   const uint32_t srcBaseAddr, const uint32_t count) {
    static_assert(sizeof(T) == 2 || sizeof(T) == 4, "Gather: element size must be 2 or 4 bytes");
    emu::GetStats().vecInstr++;
    emu::Opnd d = emu::UbOperand(dst, count, "Gather", "dst"), o = emu::UbOperand(offs, count, "Gather", "offset");
    emu::Opnd s{src.Raw(), src.Bytes()};
    emu::UbOperand(src, 0, "Gather", "src");
    emu::NoOverlap(d, o, "Gather", "offset");
    std::vector<T> out(count);
    for (uint32_t i = 0; i < count; ++i) {
        uint64_t b = srcBaseAddr + static_cast<uint64_t>(emu::ReadElem<uint32_t>(o.p, i));
        if (b % sizeof(T)) emu::Fail("Gather: byte offset %llu of element %u not aligned to the element size", (unsigned long long)b, i);
        if (b + sizeof(T) > s.bytes) emu::Fail("Gather: byte offset %llu of element %u outside the %llu-byte source", (unsigned long long)b, i, (unsigned long long)s.bytes);
        if (s.p + b < d.p + d.bytes && d.p < s.p + b + sizeof(T))
            emu::Fail("Gather: element %u reads UB offset %llu inside the destination (dst and the gathered source must be disjoint)",
                      i, (unsigned long long)emu::UbOff(s.p + b));
        memcpy(&out[i], s.p + b, sizeof(T));
    }
    if (count) memcpy(const_cast<uint8_t*>(d.p), out.data(), count * sizeof(T));
}

namespace emu_detail {
template <typename T, typename Take>
inline void GatherMaskRun(const LocalTensor<T>& dst, const LocalTensor<T>& src0, bool reduceMode, uint32_t mask,
                          const GatherMaskParams& p, uint64_t& rsvdCnt, Take take) {
    ::emu::GetStats().vecInstr++;
    if (p.src0BlockStride != 1) ::emu::Fail("GatherMask: src0BlockStride != 1 is not modelled");
    if (p.repeatTimes > 255) ::emu::Fail("GatherMask: repeatTimes %u above 255", p.repeatTimes);
    uint32_t per = reduceMode ? mask : 256 / sizeof(T);
    if (reduceMode && mask == 0) ::emu::Fail("GatherMask: counter mode with mask 0");
    uint64_t span = p.repeatTimes ? (uint64_t)(p.repeatTimes - 1) * p.src0RepeatStride * 32 / sizeof(T) + per : 0;
    ::emu::Opnd s = ::emu::UbOperand(src0, span, "GatherMask", "src0");
    ::emu::UbOperand(dst, 0, "GatherMask", "dst");
    std::vector<T> out;
    for (uint32_t r = 0; r < p.repeatTimes; ++r)
        for (uint32_t i = 0; i < per; ++i)
            if (take(r, i)) out.push_back(::emu::ReadElem<T>(s.p + (uint64_t)r * p.src0RepeatStride * 32, i));
    ::emu::Opnd d = ::emu::UbOperand(dst, out.size(), "GatherMask", "dst");
    ::emu::NoPartialOverlap(d, s, "GatherMask", "src0");
    if (!out.empty()) memcpy(const_cast<uint8_t*>(d.p), out.data(), out.size() * sizeof(T));
    rsvdCnt = out.size();
    ::emu::C().rsvdCnt = static_cast<int64_t>(out.size());
}
}  // namespace emu_detail

// GatherMask with a user bit pattern (bit i of the pattern selects element i of a repeat;
// src1RepeatStride advances the pattern by 32-byte blocks per repeat). Normal mode: 256 bytes of
// src0 per repeat; counter mode (reduceMode = true): `mask` elements per repeat.
template <typename T, typename U, GatherMaskMode mode = defaultGatherMaskMode>
inline void GatherMask(const LocalTensor<T>& dst, const LocalTensor<T>& src0, const LocalTensor<U>& src1Pattern,
                       const bool reduceMode, const uint32_t mask, const GatherMaskParams& p, uint64_t& rsvdCnt) {
    static_assert((std::is_same<U, uint16_t>::value && emu::IsOneOf<T, half, bfloat16_t, uint16_t, int16_t>()) ||
                  (std::is_same<U, uint32_t>::value && emu::IsOneOf<T, float, uint32_t, int32_t>()),
                  "GatherMask: a uint16_t pattern needs 16-bit elements, a uint32_t pattern 32-bit elements");
    uint32_t per = reduceMode ? mask : 256 / sizeof(T);
    uint64_t patBytes = p.repeatTimes ? (uint64_t)(p.repeatTimes - 1) * p.src1RepeatStride * 32 + (per + 7) / 8 : 0;
    ::emu::Opnd pt = ::emu::UbOperand(src1Pattern.template ReinterpretCast<uint8_t>(), patBytes, "GatherMask", "src1Pattern");
    emu_detail::GatherMaskRun(dst, src0, reduceMode, mask, p, rsvdCnt, [&](uint32_t r, uint32_t i) {
        return ((pt.p[(uint64_t)r * p.src1RepeatStride * 32 + i / 8] >> (i % 8)) & 1) != 0;
    });
}
// Built-in patterns: 1 even, 2 odd, 3..6 index % 4 == 0..3, 7 all.
template <typename T, GatherMaskMode mode = defaultGatherMaskMode>
inline void GatherMask(const LocalTensor<T>& dst, const LocalTensor<T>& src0, const uint8_t src1Pattern,
                       const bool reduceMode, const uint32_t mask, const GatherMaskParams& p, uint64_t& rsvdCnt) {
    static_assert(emu::IsOneOf<T, half, bfloat16_t, uint16_t, int16_t, float, uint32_t, int32_t>(), "GatherMask: dtype");
    if (src1Pattern < 1 || src1Pattern > 7) ::emu::Fail("GatherMask: built-in pattern %u outside 1..7", src1Pattern);
    emu_detail::GatherMaskRun(dst, src0, reduceMode, mask, p, rsvdCnt, [&](uint32_t, uint32_t i) {
        switch (src1Pattern) {
            case 1: return i % 2 == 0; case 2: return i % 2 == 1; case 3: return i % 4 == 0;
            case 4: return i % 4 == 1; case 5: return i % 4 == 2; case 6: return i % 4 == 3; default: return true;
        }
    });
}
inline int64_t GetGatherMaskRemainCount() { return ::emu::C().rsvdCnt; }

}  // namespace AscendC
