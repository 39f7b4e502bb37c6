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
#include <algorithm>
#include <unordered_map>

#include "emu_model.h"

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
constexpr int NUM_EVENTS = 32;

// The pipes of an AIV core that the kernels use: the scalar unit (S, which also issues every
// instruction in program order), the vector unit (V), GM->UB DMA (MTE2) and UB->GM DMA (MTE3).
enum Pipe : uint8_t { PS = 0, PV = 1, PMTE2 = 2, PMTE3 = 3, NPIPE = 4 };
inline const char* PipeName(int p)
{
    static const char* n[] = {"S", "V", "MTE2", "MTE3"};
    return p >= 0 && p < NPIPE ? n[p] : "?";
}

// Call-site location of an API call (GCC evaluates __builtin_FILE/LINE in a default argument at
// the caller).
struct Loc { const char* file; int line; };
inline Loc Here(const char* f = __builtin_FILE(), int l = __builtin_LINE()) { return {f, l}; }
inline std::string LocStr(const Loc& l)
{
    const char* f = l.file ? l.file : "?";
    const char* s = strrchr(f, '/');
    return std::string(s ? s + 1 : f) + ":" + std::to_string(l.line);
}

struct GmRegion { const uint8_t* base; uint64_t size; std::string name; };

struct Stats {
    uint64_t ubHighWater = 0;      // largest UB allocation of any core (bytes)
    uint64_t ubAbove184 = 0;       // number of cores whose UB use exceeded 184 KiB
    uint64_t vecInstr = 0, dmaInstr = 0, scalarAccess = 0, blocksRun = 0;
    uint64_t overlapTolerated = 0; // rule breaks tolerated in relaxed mode (operand overlap, extent)
};

// Options of a launch. strictOverlap = false lets kernels written against other assumptions (the
// ENEC authors' kernels) run: operands that partially overlap are executed with all reads before
// all writes and counted in Stats::overlapTolerated instead of failing.
struct Config {
    bool strictOverlap = true;
    bool strictMask = true;     // level-2 CompareScalar needs a mask the kernel set itself
    bool strictOverflow = true; // integer overflow fails (off: wraps, two's complement)
    bool strictExtent = true;   // an operand must stay inside its LocalTensor (off: inside the UB)
};
inline Config& Cfg() { static Config c; return c; }

// ---- pipe model state -----------------------------------------------------------------------
struct InstrInfo { const char* what; Loc loc; uint8_t pipe; };
struct Stamp { uint32_t instr = 0; uint64_t clk = 0; double end = 0; };   // instr: log index + 1
struct Shadow { Stamp w; uint8_t wPipe = 0; Stamp r[NPIPE]; };
struct Flag {
    bool set = false;
    uint64_t snap[NPIPE] = {};
    double time = 0;
    Loc loc{nullptr, 0};
    bool byQueue = false;
};
struct MaskState { bool explicitlySet = true; bool full = true; bool counter = false; InstrInfo by{"kernel start", {nullptr, 0}, PV}; };

struct Core {
    alignas(64) uint8_t ub[UB_BYTES];
    uint32_t ubUsed = 0;
    uint32_t buffers = 0;
    uint32_t queBufsPerPos[16] = {};
    int32_t blockIdx = 0, blockNum = 1;
    int64_t rsvdCnt = 0;
    std::vector<std::function<std::string()>> endChecks;
    std::vector<std::function<void()>> pipeEnd;   // TPipe teardown (queue-owned events)
    // pipe model
    uint64_t vc[NPIPE][NPIPE] = {};   // vc[p][q]: the last instruction of pipe q that pipe p is ordered after
    uint64_t cnt[NPIPE] = {};
    Flag flags[NUM_EVENTS][MAX_EVENT_ID];
    uint8_t queueIds[NUM_EVENTS] = {};     // event ids allocated by TQue operations (bit mask)
    uint8_t kernelIds[NUM_EVENTS] = {};    // ids the kernel allocated from the TPipe (AllocEventID)
    uint8_t fetchedIds[NUM_EVENTS] = {};   // ids the kernel took with FetchEventID
    uint8_t usedBy[NUM_EVENTS][MAX_EVENT_ID] = {};   // 1: hand-written sync, 2: queue
    std::vector<InstrInfo> log;
    Shadow ubShadow[UB_BYTES / 32];
    std::unordered_map<uint64_t, Shadow> gmShadow;
    MaskState mask;
    // timing (cycles)
    double tS = 0, pipeFree[NPIPE] = {}, busy[NPIPE] = {};
    double gmBytes = 0;
};

inline Core*& CurCore() { static thread_local Core* c = nullptr; return c; }
inline Stats& GetStats() { static Stats s; return s; }
inline std::vector<GmRegion>& GmRegions() { static std::vector<GmRegion> r; return r; }

[[noreturn]] inline void Fail(const char* fmt, ...) {
    char buf[2048];
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
inline bool InUb(const void* p) {
    auto* q = static_cast<const uint8_t*>(p);
    return CurCore() && q >= CurCore()->ub && q < CurCore()->ub + UB_BYTES;
}

// ---- hazards and timing ------------------------------------------------------------------------
// An access of one instruction: a byte range of UB or GM, read or written.
struct Access { const void* p; uint64_t bytes; bool write; };

inline std::string Describe(const Core& c, uint32_t instr)
{
    const InstrInfo& i = c.log[instr - 1];
    return std::string(i.what) + " (pipe " + PipeName(i.pipe) + ", " + LocStr(i.loc) + ")";
}

inline std::string RangeStr(const void* p, uint64_t bytes)
{
    char b[96];
    if (InUb(p)) snprintf(b, sizeof b, "UB [%llu, %llu)", (unsigned long long)UbOff(p), (unsigned long long)(UbOff(p) + bytes));
    else snprintf(b, sizeof b, "GM [%p, +%llu)", p, (unsigned long long)bytes);
    return b;
}

// Optional profile: busy cycles per (pipe, instruction, call site), all cores of all launches.
struct ProfileEntry { double cycles = 0; uint64_t count = 0; };
inline bool& Profiling() { static bool on = false; return on; }
inline std::unordered_map<std::string, ProfileEntry>& Profile() { static std::unordered_map<std::string, ProfileEntry> p; return p; }

// Issue one instruction to pipe p costing `cycles`: checks every access against the accesses of
// the other pipes not ordered before it (a hazard fails the run, naming both instructions), lets
// accesses that involve the scalar unit wait as the compiler's auto-sync would, and advances the
// core's timeline.
inline void Issue(Pipe p, const char* what, Loc loc, std::initializer_list<Access> acc, double cycles)
{
    Core& c = C();
    c.log.push_back({what, loc, p});
    const uint32_t id = static_cast<uint32_t>(c.log.size());
    uint64_t merge[NPIPE] = {};
    double dep = 0;
    const double flagLat = model::Get().flagCycles;
    auto check = [&](const Stamp& s, int q, bool priorWrite, bool write, const void* bp, uint64_t off) {
        if (!s.instr || q == p) return;
        if (c.vc[p][q] >= s.clk) return;
        if (p == PS || q == PS) {   // the compiler's auto-sync orders scalar accesses with the pipes
            if (s.clk > merge[q]) merge[q] = s.clk;
            if (s.end + flagLat > dep) dep = s.end + flagLat;
            return;
        }
        const char* kind = write ? (priorWrite ? "writes" : "overwrites") : "reads";
        Fail("pipe hazard: %s %s %s, which %s %s, and nothing orders pipe %s before pipe %s "
             "(missing SetFlag/WaitFlag<HardEvent::%s_%s>, a TQue EnQue/DeQue or a PipeBarrier<PIPE_ALL>)",
             Describe(c, id).c_str(), kind, RangeStr(bp, off).c_str(),
             Describe(c, s.instr).c_str(), priorWrite ? "wrote it" : "reads it", PipeName(q), PipeName(p),
             PipeName(q), PipeName(p));
    };
    auto shadows = [&](const Access& a, const std::function<void(Shadow&, const void*)>& f) {
        if (!a.bytes) return;
        const uint8_t* b = static_cast<const uint8_t*>(a.p);
        if (InUb(b)) {
            const uint64_t lo = UbOff(b) / 32, hi = (UbOff(b) + a.bytes + 31) / 32;
            for (uint64_t k = lo; k < hi && k < UB_BYTES / 32; ++k) f(c.ubShadow[k], c.ub + k * 32);
        } else {
            const uint64_t lo = reinterpret_cast<uint64_t>(b) / 32, hi = (reinterpret_cast<uint64_t>(b) + a.bytes + 31) / 32;
            for (uint64_t k = lo; k < hi; ++k) f(c.gmShadow[k], reinterpret_cast<const void*>(k * 32));
        }
    };
    for (const Access& a : acc) {
        shadows(a, [&](Shadow& sh, const void* bp) {
            check(sh.w, sh.wPipe, true, a.write, bp, 32);
            if (a.write)
                for (int q = 0; q < NPIPE; ++q) check(sh.r[q], q, false, true, bp, 32);
        });
    }
    for (int q = 0; q < NPIPE; ++q)
        if (merge[q] > c.vc[p][q]) c.vc[p][q] = merge[q];
    const uint64_t clk = ++c.cnt[p];
    c.vc[p][p] = clk;
    double start, end;
    if (p == PS) {
        start = std::max(c.tS, dep);
        end = start + cycles;
        c.tS = end;
    } else {
        start = std::max(std::max(c.tS, c.pipeFree[p]), dep);
        end = start + cycles;
        c.pipeFree[p] = end;
        c.tS += model::Get().scalarIssueCycles;
    }
    c.busy[p] += cycles;
    if (Profiling()) {
        ProfileEntry& e = Profile()[std::string(PipeName(p)) + " " + what + " @ " + LocStr(loc)];
        e.cycles += cycles;
        e.count++;
    }
    const Stamp st{id, clk, end};
    for (const Access& a : acc)
        if (!a.write) shadows(a, [&](Shadow& sh, const void*) { sh.r[p] = st; });
    for (const Access& a : acc)
        if (a.write) shadows(a, [&](Shadow& sh, const void*) { sh.w = st; sh.wPipe = p; for (auto& r : sh.r) r = Stamp(); });
}

// Cost helpers (emu_model.h)
inline double VecCycles(uint64_t bytes, double perRepeat = -1)
{
    const auto& m = model::Get();
    const double rep = static_cast<double>((bytes + 255) / 256);
    return m.vecIssueCycles + rep * (perRepeat < 0 ? m.vecCyclesPerRepeat : perRepeat);
}
inline double& DmaBytesPerCycle() { static thread_local double v = 0; return v; }   // set per launch
inline double DmaCycles(uint64_t gmBytes)
{
    C().gmBytes += static_cast<double>(gmBytes);
    return model::Get().dmaLatencyCycles + static_cast<double>(gmBytes) / DmaBytesPerCycle();
}
inline void Vec(const char* what, Loc loc, std::initializer_list<Access> acc, uint64_t widestBytes, double perRepeat = -1)
{
    GetStats().vecInstr++;
    Issue(PV, what, loc, acc, VecCycles(widestBytes, perRepeat));
}
inline void ScalarUb(const char* what, Loc loc, const void* p, uint64_t bytes, bool write)
{
    GetStats().scalarAccess++;
    Issue(PS, what, loc, {Access{p, bytes, write}}, model::Get().scalarUbCycles);
}
inline void ScalarGm(const char* what, Loc loc, const void* p, uint64_t bytes, bool write)
{
    GetStats().scalarAccess++;
    Issue(PS, what, loc, {Access{p, bytes, write}}, model::Get().scalarGmCycles);
}

// Vector instructions that rely on the mask state call this (level-2 CompareScalar does not set
// the mask: it uses whatever the previous instruction left).
inline void NeedsKernelMask(const char* what, Loc loc)
{
    MaskState& m = C().mask;
    if (!m.explicitlySet)
        Fail("%s at %s runs with the vector mask left by %s at %s: this instruction does not set the mask "
             "itself; set it right before (SetMaskNorm(); ResetMask();)", what, LocStr(loc).c_str(), m.by.what,
             LocStr(m.by.loc).c_str());
    if (!m.full || m.counter)
        Fail("%s at %s needs a full mask in normal mode", what, LocStr(loc).c_str());
}
// A level-2 API that sets and restores the mask itself: afterwards the state is "left by it".
inline void MaskLeftBy(const char* what, Loc loc, bool counter = false)
{
    MaskState& m = C().mask;
    m.explicitlySet = false; m.full = true; m.counter = counter; m.by = InstrInfo{what, loc, PV};
}

// Pipes of a HardEvent (S, V, MTE2, MTE3 only: the kernels run on AIV cores).
inline bool EventPipes(int e, int& src, int& dst);
inline std::string EventName(int e);

// ---- launch report (timing) ---------------------------------------------------------------------
struct LaunchReport {
    double us = 0;                 // projected kernel time (slowest core, HBM bound, launch cost)
    double coreCycles = 0;         // slowest core's timeline (cycles)
    double busy[NPIPE] = {};       // busy cycles per pipe, summed over all cores
    double slowBusy[NPIPE] = {};   // busy cycles per pipe of the slowest core
    int critical = 0;              // pipe with the most busy cycles on the slowest core
    double gmBytes = 0;            // bytes moved by MTE2/MTE3, all cores
    int cores = 0, activeCores = 0;
};
inline LaunchReport& LastReport() { static LaunchReport r; return r; }

inline void ResetCore(Core& c, int i, int blockDim)
{
    memset(c.ub, 0xA5, UB_BYTES);
    c.ubUsed = 0; c.buffers = 0; memset(c.queBufsPerPos, 0, sizeof c.queBufsPerPos);
    c.blockIdx = i; c.blockNum = blockDim; c.rsvdCnt = 0; c.endChecks.clear(); c.pipeEnd.clear();
    memset(c.vc, 0, sizeof c.vc); memset(c.cnt, 0, sizeof c.cnt);
    for (auto& row : c.flags) for (auto& f : row) f = Flag();
    memset(c.queueIds, 0, sizeof c.queueIds); memset(c.kernelIds, 0, sizeof c.kernelIds); memset(c.fetchedIds, 0, sizeof c.fetchedIds);
    memset(c.usedBy, 0, sizeof c.usedBy);
    c.log.clear();
    for (auto& s : c.ubShadow) s = Shadow();
    c.gmShadow.clear();
    c.mask = MaskState();
    c.tS = 0; for (int p = 0; p < NPIPE; ++p) { c.pipeFree[p] = 0; c.busy[p] = 0; }
    c.gmBytes = 0;
}

// Run `body` as an AIV-only kernel on blockDim cores, one after another. Each core starts with
// a poisoned UB and no buffers. activeCores: cores that get work (they share the HBM bandwidth);
// 0 = all. Returns "" or the first error; LastReport() holds the projected timing.
inline std::string Launch(int blockDim, const std::function<void()>& body, int activeCores = 0)
{
    static thread_local Core* storage = nullptr;
    if (!storage) storage = new Core();
    const auto& m = model::Get();
    const int active = activeCores > 0 && activeCores < blockDim ? activeCores : blockDim;
    const double perCoreGBps = std::min(m.coreDmaGBps, m.hbmGBps / std::max(active, 1));
    DmaBytesPerCycle() = perCoreGBps / m.clockGHz;
    LaunchReport rep;
    rep.cores = blockDim;
    rep.activeCores = active;
    for (int i = 0; i < blockDim; ++i) {
        Core& c = *storage;
        ResetCore(c, i, blockDim);
        CurCore() = &c;
        try {
            body();
            for (auto& f : c.pipeEnd) f();
            for (auto& chk : c.endChecks) {
                std::string e = chk();
                if (!e.empty()) Fail("%s", e.c_str());
            }
            for (int e = 0; e < NUM_EVENTS; ++e)
                for (uint32_t id = 0; id < MAX_EVENT_ID; ++id)
                    if (c.flags[e][id].set)
                        Fail("kernel ended with event (%s, id %u) set but never waited (set at %s)", EventName(e).c_str(), id,
                             LocStr(c.flags[e][id].loc).c_str());
        } catch (const Error& ex) {
            c.endChecks.clear(); c.pipeEnd.clear();
            CurCore() = nullptr;
            return ex.what();
        }
        double end = c.tS;
        for (int p = 0; p < NPIPE; ++p) { end = std::max(end, c.pipeFree[p]); rep.busy[p] += c.busy[p]; }
        rep.gmBytes += c.gmBytes;
        if (end > rep.coreCycles) {
            rep.coreCycles = end;
            for (int p = 0; p < NPIPE; ++p) rep.slowBusy[p] = c.busy[p];
        }
        c.endChecks.clear(); c.pipeEnd.clear();
        GetStats().blocksRun++;
        CurCore() = nullptr;
    }
    int crit = 0;
    for (int p = 1; p < NPIPE; ++p) if (rep.slowBusy[p] > rep.slowBusy[crit]) crit = p;
    rep.critical = crit;
    const double coreUs = rep.coreCycles / (m.clockGHz * 1e3);
    const double hbmUs = rep.gmBytes / (m.hbmGBps * 1e3);
    rep.us = std::max(coreUs, hbmUs) + m.launchUs;
    LastReport() = rep;
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
    // Without a size (as the ENEC authors' kernels call it): every access is checked against the
    // registered GM buffers only.
    void SetGlobalBuffer(__gm__ T* buffer) {
        addr_ = buffer; size_ = UINT64_MAX / 2 / sizeof(T);
    }
    T GetValue(const uint64_t offset, emu::Loc loc = emu::Here()) const {
        Check(offset, 1, "GlobalTensor::GetValue");
        emu::ScalarGm("GlobalTensor::GetValue", loc, addr_ + offset, sizeof(T), false);
        T v; memcpy(&v, addr_ + offset, sizeof(T)); return v;
    }
    void SetValue(const uint64_t offset, T value, emu::Loc loc = emu::Here()) {
        Check(offset, 1, "GlobalTensor::SetValue");
        emu::ScalarGm("GlobalTensor::SetValue", loc, addr_ + offset, sizeof(T), true);
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
        emu::CheckGmRegion(addr_ + off, count * sizeof(T), what);
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
    T GetValue(const uint32_t i, emu::Loc loc = emu::Here()) const {
        if ((i + 1) * sizeof(T) > bytes_) emu::Fail("LocalTensor::GetValue(%u) beyond %u elements", i, GetSize());
        emu::ScalarUb("LocalTensor::GetValue", loc, ptr_ + i * sizeof(T), sizeof(T), false);
        T v; memcpy(&v, ptr_ + i * sizeof(T), sizeof(T)); return v;
    }
    template <typename T1> void SetValue(const uint32_t i, const T1 value, emu::Loc loc = emu::Here()) const {
        if ((i + 1) * sizeof(T) > bytes_) emu::Fail("LocalTensor::SetValue(%u) beyond %u elements", i, GetSize());
        emu::ScalarUb("LocalTensor::SetValue", loc, ptr_ + i * sizeof(T), sizeof(T), true);
        T v = static_cast<T>(value); memcpy(ptr_ + i * sizeof(T), &v, sizeof(T));
    }
    // Scalar element reference (the real API returns T&): counted as one scalar read-modify-write.
    T& operator()(const uint32_t i, emu::Loc loc = emu::Here()) const {
        if ((i + 1) * sizeof(T) > bytes_) emu::Fail("LocalTensor(%u) beyond %u elements", i, GetSize());
        emu::ScalarUb("LocalTensor::operator()", loc, ptr_ + i * sizeof(T), sizeof(T), true);
        return *reinterpret_cast<T*>(ptr_ + i * sizeof(T));
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
    if (bytes > t.Bytes() && !Cfg().strictExtent && off + bytes <= UB_BYTES) { GetStats().overlapTolerated++; return {t.Raw(), bytes}; }
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
    if (overlap && d.p != s.p && !Cfg().strictOverlap) { GetStats().overlapTolerated++; return; }
    if (overlap && d.p != s.p)
        Fail("%s: dst [%llu, +%llu) partially overlaps %s [%llu, +%llu) (only identical or disjoint operands are allowed)",
             op, (unsigned long long)UbOff(d.p), (unsigned long long)d.bytes, sname,
             (unsigned long long)UbOff(s.p), (unsigned long long)s.bytes);
}
inline void NoOverlap(Opnd d, Opnd s, const char* op, const char* sname) {
    if (d.bytes == 0 || s.bytes == 0) return;
    if (d.p < s.p + s.bytes && s.p < d.p + d.bytes) {
        if (!Cfg().strictOverlap) { GetStats().overlapTolerated++; return; }
        Fail("%s: dst overlaps %s (this instruction needs disjoint operands)", op, sname);
    }
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
        if ((v < static_cast<double>(std::numeric_limits<T>::min()) || v > static_cast<double>(std::numeric_limits<T>::max())) &&
            !Cfg().strictOverflow) {
            using U = typename std::make_unsigned<T>::type;
            return static_cast<T>(static_cast<U>(static_cast<int64_t>(v)));
        }
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
                   const AscendC::LocalTensor<T>& s1, int32_t count, const char* op, F f, Loc loc) {
    CheckCount(count, op);
    Opnd d = UbOperand(dst, count, op, "dst"), a = UbOperand(s0, count, op, "src0"), b = UbOperand(s1, count, op, "src1");
    NoPartialOverlap(d, a, op, "src0");
    NoPartialOverlap(d, b, op, "src1");
    Vec(op, loc, {Access{a.p, a.bytes, false}, Access{b.p, b.bytes, false}, Access{d.p, d.bytes, true}}, d.bytes);
    MaskLeftBy(op, loc);
    std::vector<T> out(count);
    for (int32_t i = 0; i < count; ++i) out[i] = f(ReadElem<T>(a.p, i), ReadElem<T>(b.p, i));
    if (count) memcpy(const_cast<uint8_t*>(d.p), out.data(), count * sizeof(T));
}

template <class T, class F>
inline void Unary(const AscendC::LocalTensor<T>& dst, const AscendC::LocalTensor<T>& s, int32_t count, const char* op, F f, Loc loc) {
    CheckCount(count, op);
    Opnd d = UbOperand(dst, count, op, "dst"), a = UbOperand(s, count, op, "src");
    NoPartialOverlap(d, a, op, "src");
    Vec(op, loc, {Access{a.p, a.bytes, false}, Access{d.p, d.bytes, true}}, d.bytes);
    MaskLeftBy(op, loc);
    std::vector<T> out(count);
    for (int32_t i = 0; i < count; ++i) out[i] = f(ReadElem<T>(a.p, i));
    if (count) memcpy(const_cast<uint8_t*>(d.p), out.data(), count * sizeof(T));
}

}  // namespace emu

namespace AscendC {

// ---------------------------------------------------------------- system
inline int64_t GetBlockIdx() { return emu::C().blockIdx; }
inline int64_t GetBlockNum() { return emu::C().blockNum; }

template <HardEvent event> inline void SetFlag(int32_t eventID, emu::Loc loc = emu::Here());
template <HardEvent event> inline void WaitFlag(int32_t eventID, emu::Loc loc = emu::Here());

}  // namespace AscendC

namespace emu {

inline bool EventPipes(int e, int& src, int& dst)
{
    using H = AscendC::HardEvent;
    switch (static_cast<H>(e)) {
        case H::MTE2_V: src = PMTE2; dst = PV; return true;
        case H::V_MTE2: src = PV; dst = PMTE2; return true;
        case H::MTE3_V: src = PMTE3; dst = PV; return true;
        case H::V_MTE3: src = PV; dst = PMTE3; return true;
        case H::MTE3_MTE2: src = PMTE3; dst = PMTE2; return true;
        case H::MTE2_MTE3: src = PMTE2; dst = PMTE3; return true;
        case H::S_V: src = PS; dst = PV; return true;
        case H::V_S: src = PV; dst = PS; return true;
        case H::S_MTE2: src = PS; dst = PMTE2; return true;
        case H::MTE2_S: src = PMTE2; dst = PS; return true;
        case H::S_MTE3: src = PS; dst = PMTE3; return true;
        case H::MTE3_S: src = PMTE3; dst = PS; return true;
        case H::V_V: src = PV; dst = PV; return true;
        default: return false;
    }
}
inline std::string EventName(int e)
{
    int s = 0, d = 0;
    if (!EventPipes(e, s, d)) return "event " + std::to_string(e);
    return std::string(PipeName(s)) + "_" + PipeName(d);
}

// SetFlag/WaitFlag as the hardware does them: set_flag goes to the source pipe's queue and fires
// once the source pipe has finished everything before it; wait_flag holds the destination pipe
// until then. byQueue: issued by a TQue operation (ids from the TPipe's pool).
inline void DoSetFlag(int e, int32_t id, Loc loc, bool byQueue)
{
    Core& c = C();
    int src = 0, dst = 0;
    if (!EventPipes(e, src, dst)) Fail("SetFlag: event type %d is not an AIV pipe pair", e);
    if (id < 0 || id >= static_cast<int32_t>(MAX_EVENT_ID)) Fail("SetFlag<%s>: event id %d outside 0..7", EventName(e).c_str(), id);
    Flag& f = c.flags[e][id];
    if (f.set)
        Fail("SetFlag<%s>(%d) at %s: the flag is already set (by %s at %s) and not yet waited: on hardware a hang or lost "
             "ordering", EventName(e).c_str(), id, LocStr(loc).c_str(), f.byQueue ? "a TQue operation" : "SetFlag",
             LocStr(f.loc).c_str());
    if (!byQueue && (c.queueIds[e] >> id & 1))
        Fail("SetFlag<%s>(%d) at %s: event id %d is owned by a TQue right now; take hand-written ids from "
             "GetTPipePtr()->FetchEventID/AllocEventID", EventName(e).c_str(), id, LocStr(loc).c_str(), id);
    c.usedBy[e][id] |= byQueue ? 2 : (((c.kernelIds[e] | c.fetchedIds[e]) >> id & 1) ? 0 : 1);
    if (c.usedBy[e][id] == 3)
        Fail("event (%s, id %d) is used both by a TQue and by hand-written SetFlag/WaitFlag with a hand-picked id "
             "(last at %s); the SetFlag constraints forbid it: take ids from GetTPipePtr()->FetchEventID/AllocEventID",
             EventName(e).c_str(), id, LocStr(loc).c_str());
    f.set = true;
    f.byQueue = byQueue;
    f.loc = loc;
    for (int q = 0; q < NPIPE; ++q) f.snap[q] = c.vc[src][q];
    f.time = src == PS ? c.tS : std::max(c.tS, c.pipeFree[src]);
    c.tS += model::Get().scalarIssueCycles;
}
inline void DoWaitFlag(int e, int32_t id, Loc loc, bool byQueue)
{
    Core& c = C();
    int src = 0, dst = 0;
    if (!EventPipes(e, src, dst)) Fail("WaitFlag: event type %d is not an AIV pipe pair", e);
    if (id < 0 || id >= static_cast<int32_t>(MAX_EVENT_ID)) Fail("WaitFlag<%s>: event id %d outside 0..7", EventName(e).c_str(), id);
    Flag& f = c.flags[e][id];
    if (!f.set)
        Fail("WaitFlag<%s>(%d) at %s: the flag was never set (the core would hang)", EventName(e).c_str(), id,
             LocStr(loc).c_str());
    (void)byQueue;
    for (int q = 0; q < NPIPE; ++q) c.vc[dst][q] = std::max(c.vc[dst][q], f.snap[q]);
    const double t = f.time + model::Get().flagCycles;
    if (dst == PS) c.tS = std::max(c.tS, t);
    else c.pipeFree[dst] = std::max(c.pipeFree[dst], t);
    f.set = false;
}
inline int32_t PoolAlloc(int e, bool byQueue, const char* who)
{
    Core& c = C();
    const uint8_t used = c.queueIds[e] | c.kernelIds[e];
    for (int32_t id = 0; id < static_cast<int32_t>(MAX_EVENT_ID); ++id)
        if (!(used >> id & 1)) {
            (byQueue ? c.queueIds[e] : c.kernelIds[e]) |= static_cast<uint8_t>(1u << id);
            return id;
        }
    Fail("%s: no free event id of type %s (all 8 in use)", who, EventName(e).c_str());
}
inline void PoolRelease(int e, int32_t id, bool byQueue)
{
    Core& c = C();
    (byQueue ? c.queueIds[e] : c.kernelIds[e]) &= static_cast<uint8_t>(~(1u << id));
}
inline void BarrierAll(Loc loc)
{
    Core& c = C();
    double t = c.tS;
    for (int p = 0; p < NPIPE; ++p) t = std::max(t, c.pipeFree[p]);
    t += model::Get().barrierAllCycles;
    c.tS = t;
    for (int p = 0; p < NPIPE; ++p) c.pipeFree[p] = t;
    uint64_t all[NPIPE] = {};
    for (int p = 0; p < NPIPE; ++p)
        for (int q = 0; q < NPIPE; ++q) all[q] = std::max(all[q], c.vc[p][q]);
    for (int p = 0; p < NPIPE; ++p)
        for (int q = 0; q < NPIPE; ++q) c.vc[p][q] = all[q];
    (void)loc;
}

}  // namespace emu

namespace AscendC {

template <HardEvent event> inline void SetFlag(int32_t eventID, emu::Loc loc) { emu::DoSetFlag(static_cast<int>(event), eventID, loc, false); }
template <HardEvent event> inline void WaitFlag(int32_t eventID, emu::Loc loc) { emu::DoWaitFlag(static_cast<int>(event), eventID, loc, false); }
// PipeBarrier<PIPE_ALL> drains every pipe; a single-pipe barrier orders that pipe with itself,
// which the model already assumes (each pipe executes in order).
template <pipe_t pipe> inline void PipeBarrier(emu::Loc loc = emu::Here())
{
    (void)emu::C();
    if (pipe == PIPE_ALL) emu::BarrierAll(loc);
}

// Vector mask registers: explicit settings by the kernel.
inline void SetMaskNorm() { auto& m = emu::C().mask; m.counter = false; m.explicitlySet = true; }
inline void SetMaskCount() { auto& m = emu::C().mask; m.counter = true; m.explicitlySet = true; }
inline void ResetMask() { auto& m = emu::C().mask; m.full = true; m.explicitlySet = true; }

// ---------------------------------------------------------------- TPipe / TQue / TBuf
class TPipe;
TPipe* GetTPipePtr();

struct BufSlot {
    uint8_t* p = nullptr; uint32_t len = 0; bool allocated = false; bool queued = false;
    int32_t enqId = -1, freeId = -1;
};

// TQue as CANN 8.1 implements it (kernel_tquebind_impl.h): EnQue sets the src->dst event with an id
// allocated from the TPipe's pool, DeQue waits for it and releases the id; FreeTensor sets the
// dst->src event (id from the pool), the next AllocTensor of that buffer waits for it. VECIN
// queues: MTE2->V and back (V->MTE2); VECOUT: V->MTE3 and back (MTE3->V); VECCALC: V->V.
template <TPosition pos, int32_t depth, auto mask = 0> class TQue {
public:
    static constexpr HardEvent kEnq = pos == TPosition::VECIN ? HardEvent::MTE2_V
                                    : pos == TPosition::VECOUT ? HardEvent::V_MTE3 : HardEvent::V_V;
    static constexpr HardEvent kFree = pos == TPosition::VECIN ? HardEvent::V_MTE2
                                     : pos == TPosition::VECOUT ? HardEvent::MTE3_V : HardEvent::V_V;
    template <typename T> LocalTensor<T> AllocTensor(emu::Loc loc = emu::Here()) {
        for (auto& s : *slots_)
            if (!s.allocated) {
                if (s.freeId >= 0) {
                    emu::DoWaitFlag(static_cast<int>(kFree), s.freeId, loc, true);
                    emu::PoolRelease(static_cast<int>(kFree), s.freeId, true);
                    s.freeId = -1;
                }
                s.allocated = true; s.queued = false; return LocalTensor<T>(s.p, s.len);
            }
        emu::Fail("TQue::AllocTensor: all %zu buffers of the queue are in use (the core would wait forever)", slots_->size());
    }
    template <typename T> bool EnQue(const LocalTensor<T>& t, emu::Loc loc = emu::Here()) {
        BufSlot& s = Find(t.Raw(), "EnQue");
        if (!s.allocated || s.queued) emu::Fail("TQue::EnQue: tensor not allocated or already queued");
        if (queued_.size() >= static_cast<size_t>(depth < 1 ? 1 : depth))
            emu::Fail("TQue::EnQue: queue depth %d exceeded", depth);
        if (kEnq != HardEvent::V_V) {
            s.enqId = emu::PoolAlloc(static_cast<int>(kEnq), true, "TQue::EnQue");
            emu::DoSetFlag(static_cast<int>(kEnq), s.enqId, loc, true);
        }
        s.queued = true; queued_.push_back(&s); return true;
    }
    template <typename T> LocalTensor<T> DeQue(emu::Loc loc = emu::Here()) {
        if (queued_.empty()) emu::Fail("TQue::DeQue on an empty queue (the core would wait forever)");
        BufSlot* s = queued_.front();
        queued_.erase(queued_.begin());
        s->queued = false;
        if (s->enqId >= 0) {
            emu::DoWaitFlag(static_cast<int>(kEnq), s->enqId, loc, true);
            emu::PoolRelease(static_cast<int>(kEnq), s->enqId, true);
            s->enqId = -1;
        }
        return LocalTensor<T>(s->p, s->len);
    }
    template <typename T> void FreeTensor(LocalTensor<T>& t, emu::Loc loc = emu::Here()) {
        BufSlot& s = Find(t.Raw(), "FreeTensor");
        if (!s.allocated) emu::Fail("TQue::FreeTensor of a tensor that is not allocated (double free?)");
        if (s.queued) emu::Fail("TQue::FreeTensor of a tensor still in the queue");
        s.allocated = false;
        if (kFree != HardEvent::V_V) {
            s.freeId = emu::PoolAlloc(static_cast<int>(kFree), true, "TQue::FreeTensor");
            emu::DoSetFlag(static_cast<int>(kFree), s.freeId, loc, true);
        }
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

inline TPipe*& CurPipe() { static thread_local TPipe* p = nullptr; return p; }

class TPipe {
public:
    TPipe() { (void)emu::C(); CurPipe() = this; }
    ~TPipe() { if (CurPipe() == this) CurPipe() = nullptr; }
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
        constexpr HardEvent kFree = TQue<pos, depth, mask>::kFree;
        // TPipe teardown waits for the events that FreeTensor left set (they belong to the pipe)
        c.pipeEnd.push_back([slots]() {
            for (auto& s : *slots)
                if (s.freeId >= 0 && kFree != HardEvent::V_V) {
                    emu::DoWaitFlag(static_cast<int>(kFree), s.freeId, emu::Loc{"TPipe teardown", 0}, true);
                    emu::PoolRelease(static_cast<int>(kFree), s.freeId, true);
                    s.freeId = -1;
                }
        });
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
    // Event ids for hand-written syncs, from the same pool the queues use.
    int32_t FetchEventID(HardEvent evt) {
        auto& c = emu::C();
        const int e = static_cast<int>(evt);
        const uint8_t used = c.queueIds[e] | c.kernelIds[e];
        for (int32_t id = 0; id < static_cast<int32_t>(emu::MAX_EVENT_ID); ++id)
            if (!(used >> id & 1)) { c.fetchedIds[e] |= static_cast<uint8_t>(1u << id); return id; }
        emu::Fail("FetchEventID: no free event id of type %s", emu::EventName(e).c_str());
    }
    template <HardEvent evt> int32_t FetchEventID() { return FetchEventID(evt); }
    template <HardEvent evt> int32_t AllocEventID() { return emu::PoolAlloc(static_cast<int>(evt), false, "AllocEventID"); }
    template <HardEvent evt> void ReleaseEventID(int32_t id) { emu::PoolRelease(static_cast<int>(evt), id, false); }
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
inline TPipe* GetTPipePtr()
{
    if (!CurPipe()) emu::Fail("GetTPipePtr: no TPipe on this core");
    return CurPipe();
}

// ---------------------------------------------------------------- data movement
template <typename T> inline void DataCopy(const LocalTensor<T>& dst, const GlobalTensor<T>& src, const uint32_t count,
                                           emu::Loc loc = emu::Here()) {
    emu::GetStats().dmaInstr++;
    if ((count * sizeof(T)) % 32) emu::Fail("DataCopy GM->UB: %u elements x %zu bytes is not a multiple of 32 bytes (the hardware truncates)", count, sizeof(T));
    emu::Opnd d = emu::UbOperand(dst, count, "DataCopy", "dst");
    src.Check(0, count, "DataCopy GM->UB");
    emu::Issue(emu::PMTE2, "DataCopy GM->UB", loc, {emu::Access{src.GetPhyAddr(), d.bytes, false}, emu::Access{d.p, d.bytes, true}},
               emu::DmaCycles(d.bytes));
    memcpy(const_cast<uint8_t*>(d.p), src.GetPhyAddr(), d.bytes);
}
template <typename T> inline void DataCopy(const GlobalTensor<T>& dst, const LocalTensor<T>& src, const uint32_t count,
                                           emu::Loc loc = emu::Here()) {
    emu::GetStats().dmaInstr++;
    if ((count * sizeof(T)) % 32) emu::Fail("DataCopy UB->GM: %u elements x %zu bytes is not a multiple of 32 bytes (the hardware truncates)", count, sizeof(T));
    emu::Opnd s = emu::UbOperand(src, count, "DataCopy", "src");
    dst.Check(0, count, "DataCopy UB->GM");
    emu::Issue(emu::PMTE3, "DataCopy UB->GM", loc, {emu::Access{s.p, s.bytes, false}, emu::Access{dst.GetPhyAddr(), s.bytes, true}},
               emu::DmaCycles(s.bytes));
    memcpy(dst.GetPhyAddr(), s.p, s.bytes);
}
// UB -> UB copies run on the vector pipe.
template <typename T> inline void DataCopy(const LocalTensor<T>& dst, const LocalTensor<T>& src, const uint32_t count,
                                           emu::Loc loc = emu::Here()) {
    if ((count * sizeof(T)) % 32) emu::Fail("DataCopy UB->UB: %u elements x %zu bytes is not a multiple of 32 bytes", count, sizeof(T));
    emu::Opnd d = emu::UbOperand(dst, count, "DataCopy", "dst"), s = emu::UbOperand(src, count, "DataCopy", "src");
    emu::NoOverlap(d, s, "DataCopy UB->UB", "src");
    emu::Vec("DataCopy UB->UB", loc, {emu::Access{s.p, s.bytes, false}, emu::Access{d.p, d.bytes, true}}, d.bytes);
    memcpy(const_cast<uint8_t*>(d.p), s.p, s.bytes);
}

// GM -> UB, byte-granular bursts; each burst lands in UB padded to a 32-byte boundary.
template <typename T>
inline void DataCopyPad(const LocalTensor<T>& dst, const GlobalTensor<T>& src, const DataCopyExtParams& p,
                        const DataCopyPadExtParams<T>& pad, emu::Loc loc = emu::Here()) {
    emu::GetStats().dmaInstr++;
    if (p.blockLen % sizeof(T)) emu::Fail("DataCopyPad GM->UB: blockLen %u not a multiple of sizeof(T)=%zu", p.blockLen, sizeof(T));
    if (p.blockCount > 4095 || p.blockLen > 2097151) emu::Fail("DataCopyPad GM->UB: blockCount/blockLen out of range");
    if (pad.leftPadding * sizeof(T) > 32 || pad.rightPadding * sizeof(T) > 32) emu::Fail("DataCopyPad: padding above 32 bytes");
    uint64_t burstUb = (pad.leftPadding * sizeof(T) + p.blockLen + pad.rightPadding * sizeof(T) + 31) / 32 * 32;
    uint64_t total = p.blockCount ? (p.blockCount - 1) * (burstUb + p.dstStride * 32ull) + burstUb : 0;
    emu::Opnd d = emu::UbOperand(dst, total / sizeof(T), "DataCopyPad", "dst");
    uint8_t* out = const_cast<uint8_t*>(d.p);
    const uint64_t gspan = p.blockCount ? (uint64_t)p.blockCount * p.blockLen + (p.blockCount - 1ull) * p.srcStride : 0;
    if (p.blockCount) src.Check(0, gspan / sizeof(T), "DataCopyPad GM->UB");
    emu::Issue(emu::PMTE2, "DataCopyPad GM->UB", loc, {emu::Access{src.GetPhyAddr(), gspan, false}, emu::Access{d.p, d.bytes, true}},
               emu::DmaCycles(gspan));
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
inline void DataCopyPad(const GlobalTensor<T>& dst, const LocalTensor<T>& src, const DataCopyExtParams& p,
                        emu::Loc loc = emu::Here()) {
    emu::GetStats().dmaInstr++;
    if (p.blockLen % sizeof(T)) emu::Fail("DataCopyPad UB->GM: blockLen %u not a multiple of sizeof(T)=%zu", p.blockLen, sizeof(T));
    if (p.blockCount > 4095 || p.blockLen > 2097151) emu::Fail("DataCopyPad UB->GM: blockCount/blockLen out of range");
    uint64_t burstUb = (p.blockLen + 31) / 32 * 32;
    uint64_t total = p.blockCount ? (p.blockCount - 1) * (burstUb + p.srcStride * 32ull) + p.blockLen : 0;
    emu::Opnd s = emu::UbOperand(src, (total + sizeof(T) - 1) / sizeof(T), "DataCopyPad", "src");
    const uint64_t gspan = p.blockCount ? (uint64_t)p.blockCount * p.blockLen + (p.blockCount - 1ull) * p.dstStride : 0;
    if (p.blockCount) dst.Check(0, gspan / sizeof(T), "DataCopyPad UB->GM");
    emu::Issue(emu::PMTE3, "DataCopyPad UB->GM", loc, {emu::Access{s.p, s.bytes, false}, emu::Access{dst.GetPhyAddr(), gspan, true}},
               emu::DmaCycles(gspan));
    uint64_t gpos = 0;
    for (uint32_t b = 0; b < p.blockCount; ++b) {
        dst.Check(gpos / sizeof(T), p.blockLen / sizeof(T), "DataCopyPad UB->GM");
        memcpy(reinterpret_cast<uint8_t*>(dst.GetPhyAddr()) + gpos, s.p + b * (burstUb + p.srcStride * 32ull), p.blockLen);
        gpos += p.blockLen + p.dstStride;
    }
}

// ---------------------------------------------------------------- vector: fill
template <typename T> inline void Duplicate(const LocalTensor<T>& dst, const T& v, const int32_t& count,
                                            emu::Loc loc = emu::Here()) {
    static_assert(emu::IsOneOf<T, int16_t, uint16_t, int32_t, uint32_t, half, float>(),
                  "Duplicate: dtype not supported on Atlas A2 (16/32-bit integers, half, float)");
    emu::CheckCount(count, "Duplicate");
    emu::Opnd d = emu::UbOperand(dst, count, "Duplicate", "dst");
    emu::Vec("Duplicate", loc, {emu::Access{d.p, d.bytes, true}}, d.bytes);
    emu::MaskLeftBy("Duplicate", loc);
    for (int32_t i = 0; i < count; ++i) emu::WriteElem<T>(const_cast<uint8_t*>(d.p), i, v);
}

// ---------------------------------------------------------------- vector: arithmetic
template <typename T> inline void Add(const LocalTensor<T>& d, const LocalTensor<T>& a, const LocalTensor<T>& b, const int32_t& n, emu::Loc loc = emu::Here()) {
    static_assert(emu::IsArith<T>(), "Add: Atlas A2 supports int16/int32/half/float only (no unsigned, no bf16)");
    emu::Binary(d, a, b, n, "Add", [](T x, T y) { return emu::ArithResult<T>(emu::AsDouble(x) + emu::AsDouble(y), "Add"); }, loc);
}
template <typename T> inline void Sub(const LocalTensor<T>& d, const LocalTensor<T>& a, const LocalTensor<T>& b, const int32_t& n, emu::Loc loc = emu::Here()) {
    static_assert(emu::IsArith<T>(), "Sub: Atlas A2 supports int16/int32/half/float only (no unsigned, no bf16)");
    emu::Binary(d, a, b, n, "Sub", [](T x, T y) { return emu::ArithResult<T>(emu::AsDouble(x) - emu::AsDouble(y), "Sub"); }, loc);
}
template <typename T> inline void Mul(const LocalTensor<T>& d, const LocalTensor<T>& a, const LocalTensor<T>& b, const int32_t& n, emu::Loc loc = emu::Here()) {
    static_assert(emu::IsArith<T>(), "Mul: Atlas A2 supports int16/int32/half/float only (no unsigned, no bf16)");
    emu::Binary(d, a, b, n, "Mul", [](T x, T y) { return emu::ArithResult<T>(emu::AsDouble(x) * emu::AsDouble(y), "Mul"); }, loc);
}
template <typename T> inline void Max(const LocalTensor<T>& d, const LocalTensor<T>& a, const LocalTensor<T>& b, const int32_t& n, emu::Loc loc = emu::Here()) {
    static_assert(emu::IsArith<T>(), "Max: Atlas A2 supports int16/int32/half/float only");
    emu::Binary(d, a, b, n, "Max", [](T x, T y) { return emu::AsDouble(x) >= emu::AsDouble(y) ? x : y; }, loc);
}
template <typename T> inline void Min(const LocalTensor<T>& d, const LocalTensor<T>& a, const LocalTensor<T>& b, const int32_t& n, emu::Loc loc = emu::Here()) {
    static_assert(emu::IsArith<T>(), "Min: Atlas A2 supports int16/int32/half/float only");
    emu::Binary(d, a, b, n, "Min", [](T x, T y) { return emu::AsDouble(x) <= emu::AsDouble(y) ? x : y; }, loc);
}
template <typename T> inline void Adds(const LocalTensor<T>& d, const LocalTensor<T>& s, const T& v, const int32_t& n, emu::Loc loc = emu::Here()) {
    static_assert(emu::IsArith<T>(), "Adds: Atlas A2 supports int16/int32/half/float only (no unsigned)");
    emu::Unary(d, s, n, "Adds", [v](T x) { return emu::ArithResult<T>(emu::AsDouble(x) + emu::AsDouble(v), "Adds"); }, loc);
}
template <typename T> inline void Muls(const LocalTensor<T>& d, const LocalTensor<T>& s, const T& v, const int32_t& n, emu::Loc loc = emu::Here()) {
    static_assert(emu::IsArith<T>(), "Muls: Atlas A2 supports int16/int32/half/float only (no unsigned)");
    emu::Unary(d, s, n, "Muls", [v](T x) { return emu::ArithResult<T>(emu::AsDouble(x) * emu::AsDouble(v), "Muls"); }, loc);
}

// ---------------------------------------------------------------- vector: bit operations
template <typename T> inline void And(const LocalTensor<T>& d, const LocalTensor<T>& a, const LocalTensor<T>& b, const int32_t& n, emu::Loc loc = emu::Here()) {
    static_assert(emu::IsOneOf<T, int16_t, uint16_t>(), "And: Atlas A2 supports int16/uint16 only");
    emu::Binary(d, a, b, n, "And", [](T x, T y) { return static_cast<T>(x & y); }, loc);
}
template <typename T> inline void Or(const LocalTensor<T>& d, const LocalTensor<T>& a, const LocalTensor<T>& b, const int32_t& n, emu::Loc loc = emu::Here()) {
    static_assert(emu::IsOneOf<T, int16_t, uint16_t>(), "Or: Atlas A2 supports int16/uint16 only");
    emu::Binary(d, a, b, n, "Or", [](T x, T y) { return static_cast<T>(x | y); }, loc);
}
template <typename T> inline void Not(const LocalTensor<T>& d, const LocalTensor<T>& s, const int32_t& n, emu::Loc loc = emu::Here()) {
    static_assert(emu::IsOneOf<T, int16_t, uint16_t>(), "Not: Atlas A2 supports int16/uint16 only");
    emu::Unary(d, s, n, "Not", [](T x) { return static_cast<T>(~x); }, loc);
}
template <typename T> inline void ShiftLeft(const LocalTensor<T>& d, const LocalTensor<T>& s, const T& sh, const int32_t& n, emu::Loc loc = emu::Here()) {
    static_assert(emu::IsOneOf<T, int16_t, uint16_t, int32_t, uint32_t>(), "ShiftLeft: Atlas A2 supports 16/32-bit integers only");
    const int64_t w = 8 * sizeof(T);
    if (static_cast<int64_t>(sh) < 0 || static_cast<int64_t>(sh) > w) emu::Fail("ShiftLeft: shift %lld outside [0, %lld]", (long long)sh, (long long)w);
    emu::Unary(d, s, n, "ShiftLeft", [sh, w](T x) {
        using U = typename std::make_unsigned<T>::type;
        return static_cast<T>(sh >= w ? 0 : static_cast<U>(static_cast<U>(x) << sh));
    }, loc);
}
template <typename T> inline void ShiftRight(const LocalTensor<T>& d, const LocalTensor<T>& s, const T& sh, const int32_t& n, emu::Loc loc = emu::Here()) {
    static_assert(emu::IsOneOf<T, int16_t, uint16_t, int32_t, uint32_t>(), "ShiftRight: Atlas A2 supports 16/32-bit integers only");
    const int64_t w = 8 * sizeof(T);
    if (static_cast<int64_t>(sh) < 0 || static_cast<int64_t>(sh) > w) emu::Fail("ShiftRight: shift %lld outside [0, %lld]", (long long)sh, (long long)w);
    emu::Unary(d, s, n, "ShiftRight", [sh, w](T x) {   // logical for unsigned, arithmetic for signed
        if (sh >= w) return static_cast<T>(std::is_signed<T>::value && x < 0 ? -1 : 0);
        return static_cast<T>(x >> sh);
    }, loc);
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
inline void Cast(const LocalTensor<D>& dst, const LocalTensor<S>& src, const RoundMode& rm, const uint32_t count,
                 emu::Loc loc = emu::Here()) {
    static_assert(CastSupported<D, S>(), "Cast: this conversion is not offered by dav-c220 (or not modelled)");
    emu::Opnd d = emu::UbOperand(dst, count, "Cast", "dst"), s = emu::UbOperand(src, count, "Cast", "src");
    if (sizeof(D) != sizeof(S)) emu::NoOverlap(d, s, "Cast", "src"); else emu::NoPartialOverlap(d, s, "Cast", "src");
    emu::Vec("Cast", loc, {emu::Access{s.p, s.bytes, false}, emu::Access{d.p, d.bytes, true}}, std::max(d.bytes, s.bytes));
    emu::MaskLeftBy("Cast", loc);
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
inline void CompareScalar(const LocalTensor<U>& dst, const LocalTensor<T>& src0, const T src1Scalar, CMPMODE cmpMode, uint32_t count,
                          emu::Loc loc = emu::Here()) {
    static_assert(emu::IsFloat<T>(), "CompareScalar: Atlas A2 compares half/float only");
    static_assert(std::is_same<U, uint8_t>::value, "CompareScalar: the result is a uint8_t bit mask");
    if ((count * sizeof(T)) % 256) emu::Fail("CompareScalar: count*sizeof(T) = %zu is not a multiple of 256 bytes", count * sizeof(T));
    emu::Opnd s = emu::UbOperand(src0, count, "CompareScalar", "src0");
    emu::Opnd d = emu::UbOperand(dst, count / 8, "CompareScalar", "dst");
    emu::NoOverlap(d, s, "CompareScalar", "src0");
    // level 2 = repeats of the level-0 instruction with MASK_PLACEHOLDER (dav_c220 vec_cmp_impl.h)
    if (emu::Cfg().strictMask) emu::NeedsKernelMask("CompareScalar (level 2)", loc);
    emu::Vec("CompareScalar", loc, {emu::Access{s.p, s.bytes, false}, emu::Access{d.p, d.bytes, true}}, s.bytes);
    uint8_t* o = const_cast<uint8_t*>(d.p);
    memset(o, 0, count / 8);
    double b = emu::AsDouble(src1Scalar);
    for (uint32_t i = 0; i < count; ++i)
        if (CmpOp<T>(cmpMode, emu::AsDouble(emu::ReadElem<T>(s.p, i)), b)) o[i / 8] |= static_cast<uint8_t>(1u << (i % 8));
}
template <typename U, typename T>
inline void Compare(const LocalTensor<U>& dst, const LocalTensor<T>& src0, const LocalTensor<T>& src1, CMPMODE cmpMode, uint32_t count,
                    emu::Loc loc = emu::Here()) {
    static_assert(emu::IsFloat<T>(), "Compare: Atlas A2 compares half/float only (int32 EQ only in level-0 form)");
    static_assert(std::is_same<U, uint8_t>::value, "Compare: the result is a uint8_t bit mask");
    if ((count * sizeof(T)) % 256) emu::Fail("Compare: count*sizeof(T) = %zu is not a multiple of 256 bytes", count * sizeof(T));
    emu::Opnd a = emu::UbOperand(src0, count, "Compare", "src0"), b = emu::UbOperand(src1, count, "Compare", "src1");
    emu::Opnd d = emu::UbOperand(dst, count / 8, "Compare", "dst");
    emu::NoOverlap(d, a, "Compare", "src0"); emu::NoOverlap(d, b, "Compare", "src1");
    emu::Vec("Compare", loc, {emu::Access{a.p, a.bytes, false}, emu::Access{b.p, b.bytes, false}, emu::Access{d.p, d.bytes, true}}, a.bytes);
    emu::MaskLeftBy("Compare", loc);
    uint8_t* o = const_cast<uint8_t*>(d.p);
    memset(o, 0, count / 8);
    for (uint32_t i = 0; i < count; ++i)
        if (CmpOp<T>(cmpMode, emu::AsDouble(emu::ReadElem<T>(a.p, i)), emu::AsDouble(emu::ReadElem<T>(b.p, i))))
            o[i / 8] |= static_cast<uint8_t>(1u << (i % 8));
}
// Select, tensor-tensor mode: dst[i] = bit i of selMask ? src0[i] : src1[i].
template <typename T, typename U>
inline void Select(const LocalTensor<T>& dst, const LocalTensor<U>& selMask, const LocalTensor<T>& src0,
                   const LocalTensor<T>& src1, SELMODE selMode, uint32_t count, emu::Loc loc = emu::Here()) {
    static_assert(emu::IsFloat<T>(), "Select: Atlas A2 selects half/float only");
    static_assert(std::is_same<U, uint8_t>::value, "Select: the mask is a uint8_t bit mask");
    if (selMode != SELMODE::VSEL_TENSOR_TENSOR_MODE) emu::Fail("Select: only VSEL_TENSOR_TENSOR_MODE is modelled");
    emu::Opnd m = emu::UbOperand(selMask, (count + 7) / 8, "Select", "selMask");
    emu::Opnd a = emu::UbOperand(src0, count, "Select", "src0"), b = emu::UbOperand(src1, count, "Select", "src1");
    emu::Opnd d = emu::UbOperand(dst, count, "Select", "dst");
    emu::NoPartialOverlap(d, a, "Select", "src0"); emu::NoPartialOverlap(d, b, "Select", "src1");
    emu::NoOverlap(d, m, "Select", "selMask");
    emu::Vec("Select", loc, {emu::Access{m.p, m.bytes, false}, emu::Access{a.p, a.bytes, false}, emu::Access{b.p, b.bytes, false},
                             emu::Access{d.p, d.bytes, true}}, d.bytes);
    emu::MaskLeftBy("Select", loc);
    std::vector<T> out(count);
    for (uint32_t i = 0; i < count; ++i)
        out[i] = ((m.p[i / 8] >> (i % 8)) & 1) ? emu::ReadElem<T>(a.p, i) : emu::ReadElem<T>(b.p, i);
    if (count) memcpy(const_cast<uint8_t*>(d.p), out.data(), count * sizeof(T));
}
// ReduceSum (level 2): float-only on A2; result in dst[0].
template <typename T>
inline void ReduceSum(const LocalTensor<T>& dst, const LocalTensor<T>& src, const LocalTensor<T>& work, const int32_t count,
                      emu::Loc loc = emu::Here()) {
    static_assert(emu::IsFloat<T>(), "ReduceSum: Atlas A2 reduces half/float only");
    emu::Opnd s = emu::UbOperand(src, count, "ReduceSum", "src");
    emu::Opnd d = emu::UbOperand(dst, 1, "ReduceSum", "dst");
    (void)work;
    emu::NoOverlap(d, s, "ReduceSum", "src");
    emu::Vec("ReduceSum", loc, {emu::Access{s.p, s.bytes, false}, emu::Access{d.p, d.bytes, true}}, s.bytes);
    emu::MaskLeftBy("ReduceSum", loc);
    double acc = 0;
    for (int32_t i = 0; i < count; ++i) acc += emu::AsDouble(emu::ReadElem<T>(s.p, i));
    emu::WriteElem<T>(const_cast<uint8_t*>(d.p), 0, static_cast<T>(static_cast<float>(acc)));
}

// ---------------------------------------------------------------- vector: gather
// dst[i] = *(T*)((uint8_t*)src + srcBaseAddr + offset[i]); offsets are bytes.
template <typename T>
inline void Gather(const LocalTensor<T>& dst, const LocalTensor<T>& src, const LocalTensor<uint32_t>& offs,
                   const uint32_t srcBaseAddr, const uint32_t count, emu::Loc loc = emu::Here()) {
    static_assert(sizeof(T) == 2 || sizeof(T) == 4, "Gather: element size must be 2 or 4 bytes");
    // level 2 keeps the repeat count in a uint8_t (inner_kernel_operator_vec_gather_intf.cppm)
    if ((static_cast<uint64_t>(count) * sizeof(T) + 255) / 256 > 255)
        emu::Fail("Gather: %u elements need %llu repeats; the level-2 form stores the repeat count in a uint8_t (at most 255 "
                  "repeats = %zu elements)", count, (unsigned long long)((static_cast<uint64_t>(count) * sizeof(T) + 255) / 256),
                  255 * 256 / sizeof(T));
    emu::Opnd d = emu::UbOperand(dst, count, "Gather", "dst"), o = emu::UbOperand(offs, count, "Gather", "offset");
    emu::Opnd s{src.Raw(), src.Bytes()};
    emu::UbOperand(src, 0, "Gather", "src");
    emu::NoOverlap(d, o, "Gather", "offset");
    std::vector<T> out(count);
    uint64_t lo = UINT64_MAX, hi = 0;
    for (uint32_t i = 0; i < count; ++i) {
        uint64_t b = srcBaseAddr + static_cast<uint64_t>(emu::ReadElem<uint32_t>(o.p, i));
        if (b % sizeof(T)) emu::Fail("Gather: byte offset %llu of element %u not aligned to the element size", (unsigned long long)b, i);
        if (b + sizeof(T) > s.bytes) emu::Fail("Gather: byte offset %llu of element %u outside the %llu-byte source", (unsigned long long)b, i, (unsigned long long)s.bytes);
        if (s.p + b < d.p + d.bytes && d.p < s.p + b + sizeof(T))
            emu::Fail("Gather: element %u reads UB offset %llu inside the destination (dst and the gathered source must be disjoint)",
                      i, (unsigned long long)emu::UbOff(s.p + b));
        memcpy(&out[i], s.p + b, sizeof(T));
        lo = std::min(lo, b); hi = std::max(hi, b + sizeof(T));
    }
    emu::Vec("Gather", loc, {emu::Access{o.p, o.bytes, false}, emu::Access{s.p + (count ? lo : 0), count ? hi - lo : 0, false},
                             emu::Access{d.p, d.bytes, true}}, d.bytes, emu::model::Get().gatherCyclesPerRepeat);
    emu::MaskLeftBy("Gather", loc);
    if (count) memcpy(const_cast<uint8_t*>(d.p), out.data(), count * sizeof(T));
}

#ifndef EMU_GATHERMASK_COUNTER_MAX
#define EMU_GATHERMASK_COUNTER_MAX 0xFFFFFFFFu
#endif
namespace emu_detail {
template <typename T, typename Take>
inline void GatherMaskRun(const LocalTensor<T>& dst, const LocalTensor<T>& src0, bool reduceMode, uint32_t mask,
                          const GatherMaskParams& p, uint64_t& rsvdCnt, Take take, ::emu::Loc loc,
                          const ::emu::Opnd* pattern) {
    if (p.src0BlockStride != 1) ::emu::Fail("GatherMask: src0BlockStride != 1 is not modelled");
    if (p.repeatTimes > 255) ::emu::Fail("GatherMask: repeatTimes %u above 255", p.repeatTimes);
    uint32_t per = reduceMode ? mask : 256 / sizeof(T);
    if (reduceMode && mask == 0) ::emu::Fail("GatherMask: counter mode with mask 0");
    // Counter mode beyond 128 elements per repeat is what the A2 documentation does not confirm:
    // a build with -DEMU_GATHERMASK_COUNTER_MAX=128 rejects it (the kernels' narrow form must pass).
    if (reduceMode && mask > EMU_GATHERMASK_COUNTER_MAX)
        ::emu::Fail("GatherMask: counter mode with %u elements per repeat, above the %u this build allows",
                    mask, static_cast<unsigned>(EMU_GATHERMASK_COUNTER_MAX));
    uint64_t span = p.repeatTimes ? (uint64_t)(p.repeatTimes - 1) * p.src0RepeatStride * 32 / sizeof(T) + per : 0;
    ::emu::Opnd s = ::emu::UbOperand(src0, span, "GatherMask", "src0");
    ::emu::UbOperand(dst, 0, "GatherMask", "dst");
    std::vector<T> out;
    for (uint32_t r = 0; r < p.repeatTimes; ++r)
        for (uint32_t i = 0; i < per; ++i)
            if (take(r, i)) out.push_back(::emu::ReadElem<T>(s.p + (uint64_t)r * p.src0RepeatStride * 32, i));
    ::emu::Opnd d = ::emu::UbOperand(dst, out.size(), "GatherMask", "dst");
    ::emu::NoPartialOverlap(d, s, "GatherMask", "src0");
    ::emu::Vec("GatherMask", loc, {::emu::Access{s.p, s.bytes, false}, ::emu::Access{pattern ? pattern->p : s.p, pattern ? pattern->bytes : 0, false},
                                   ::emu::Access{d.p, d.bytes, true}}, s.bytes);
    ::emu::MaskLeftBy("GatherMask", loc, reduceMode);
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
                       const bool reduceMode, const uint32_t mask, const GatherMaskParams& p, uint64_t& rsvdCnt,
                       ::emu::Loc loc = ::emu::Here()) {
    static_assert((std::is_same<U, uint16_t>::value && emu::IsOneOf<T, half, bfloat16_t, uint16_t, int16_t>()) ||
                  (std::is_same<U, uint32_t>::value && emu::IsOneOf<T, float, uint32_t, int32_t>()),
                  "GatherMask: a uint16_t pattern needs 16-bit elements, a uint32_t pattern 32-bit elements");
    uint32_t per = reduceMode ? mask : 256 / sizeof(T);
    uint64_t patBytes = p.repeatTimes ? (uint64_t)(p.repeatTimes - 1) * p.src1RepeatStride * 32 + (per + 7) / 8 : 0;
    ::emu::Opnd pt = ::emu::UbOperand(src1Pattern.template ReinterpretCast<uint8_t>(), patBytes, "GatherMask", "src1Pattern");
    emu_detail::GatherMaskRun(dst, src0, reduceMode, mask, p, rsvdCnt, [&](uint32_t r, uint32_t i) {
        return ((pt.p[(uint64_t)r * p.src1RepeatStride * 32 + i / 8] >> (i % 8)) & 1) != 0;
    }, loc, &pt);
}
// Built-in patterns: 1 even, 2 odd, 3..6 index % 4 == 0..3, 7 all.
template <typename T, GatherMaskMode mode = defaultGatherMaskMode>
inline void GatherMask(const LocalTensor<T>& dst, const LocalTensor<T>& src0, const uint8_t src1Pattern,
                       const bool reduceMode, const uint32_t mask, const GatherMaskParams& p, uint64_t& rsvdCnt,
                       ::emu::Loc loc = ::emu::Here()) {
    static_assert(emu::IsOneOf<T, half, bfloat16_t, uint16_t, int16_t, float, uint32_t, int32_t>(), "GatherMask: dtype");
    if (src1Pattern < 1 || src1Pattern > 7) ::emu::Fail("GatherMask: built-in pattern %u outside 1..7", src1Pattern);
    emu_detail::GatherMaskRun(dst, src0, reduceMode, mask, p, rsvdCnt, [&](uint32_t, uint32_t i) {
        switch (src1Pattern) {
            case 1: return i % 2 == 0; case 2: return i % 2 == 1; case 3: return i % 4 == 0;
            case 4: return i % 4 == 1; case 5: return i % 4 == 2; case 6: return i % 4 == 3; default: return true;
        }
    }, loc, nullptr);
}
inline int64_t GetGatherMaskRemainCount() { return ::emu::C().rsvdCnt; }

// ---------------------------------------------------------------- APIs the ENEC authors' kernels use
// Select, tensor-scalar mode (level 2): dst[i] = bit i of selMask ? src0[i] : scalar.
template <typename T, typename U>
inline void Select(const LocalTensor<T>& dst, const LocalTensor<U>& selMask, const LocalTensor<T>& src0, T src1,
                   SELMODE selMode, uint32_t count, emu::Loc loc = emu::Here()) {
    static_assert(emu::IsFloat<T>(), "Select: Atlas A2 selects half/float only");
    static_assert(std::is_unsigned<U>::value, "Select: the mask is an unsigned bit mask");
    if (selMode != SELMODE::VSEL_TENSOR_SCALAR_MODE) emu::Fail("Select: this overload is the tensor-scalar mode");
    emu::Opnd m = emu::UbOperand(selMask.template ReinterpretCast<uint8_t>(), (count + 7) / 8, "Select", "selMask");
    emu::Opnd a = emu::UbOperand(src0, count, "Select", "src0");
    emu::Opnd d = emu::UbOperand(dst, count, "Select", "dst");
    emu::NoPartialOverlap(d, a, "Select", "src0");
    emu::NoOverlap(d, m, "Select", "selMask");
    emu::Vec("Select", loc, {emu::Access{m.p, m.bytes, false}, emu::Access{a.p, a.bytes, false}, emu::Access{d.p, d.bytes, true}}, d.bytes);
    emu::MaskLeftBy("Select", loc);
    std::vector<T> out(count);
    for (uint32_t i = 0; i < count; ++i) out[i] = ((m.p[i / 8] >> (i % 8)) & 1) ? emu::ReadElem<T>(a.p, i) : src1;
    if (count) memcpy(const_cast<uint8_t*>(d.p), out.data(), count * sizeof(T));
}

// CreateVecIndex (level 2): dst[i] = first + i.
template <typename T>
inline void CreateVecIndex(LocalTensor<T> dst, const T& first, uint32_t count, emu::Loc loc = emu::Here()) {
    static_assert(emu::IsOneOf<T, int16_t, int32_t, half, float>(), "CreateVecIndex: int16/int32/half/float on A2");
    emu::Opnd d = emu::UbOperand(dst, count, "CreateVecIndex", "dst");
    emu::Vec("CreateVecIndex", loc, {emu::Access{d.p, d.bytes, true}}, d.bytes);
    emu::MaskLeftBy("CreateVecIndex", loc);
    for (uint32_t i = 0; i < count; ++i)
        emu::WriteElem<T>(const_cast<uint8_t*>(d.p), i, emu::ArithResult<T>(emu::AsDouble(first) + i, "CreateVecIndex"));
}

// CumSum (high-level API, lib/math/cumsum.h), last axis: dst[r][c] = src[r][0] + ... + src[r][c], in T
// arithmetic. Priced as CANN 8.1 builds it (impl/math/cumsum/cumsum_common_impl.h): a TransDataTo5HD
// transpose per 16 columns, one Add per column over the rows, the transpose back, a copy.
struct CumSumConfig { bool isLastAxis{true}; bool isReuseSource{false}; bool outputLastRow{false}; };
struct CumSumInfo { uint32_t outter{0}; uint32_t inner{0}; };
constexpr CumSumConfig defaultCumSumConfig = {true, false, true};
template <typename T, const CumSumConfig& config = defaultCumSumConfig>
inline void CumSum(LocalTensor<T>& dst, LocalTensor<T>& lastRow, const LocalTensor<T>& src, LocalTensor<uint8_t>& tmp,
                   const CumSumInfo& info, emu::Loc loc = emu::Here()) {
    static_assert(emu::IsFloat<T>(), "CumSum: half/float only on A2");
    if (!config.isLastAxis) emu::Fail("CumSum: only the last-axis form is modelled");
    const uint32_t n = info.outter * info.inner;
    if ((info.inner * sizeof(T)) % 32) emu::Fail("CumSum: inner %u is not 32-byte aligned", info.inner);
    emu::Opnd s = emu::UbOperand(src, n, "CumSum", "src"), d = emu::UbOperand(dst, n, "CumSum", "dst");
    emu::Opnd t = emu::UbOperand(tmp, 2 * n * sizeof(T), "CumSum", "sharedTmpBuffer");
    const uint64_t rowsBytes = static_cast<uint64_t>((info.outter + 15) / 16 * 16) * sizeof(T);
    for (uint32_t k = 0; k < (info.inner + 15) / 16; ++k)
        emu::Vec("CumSum:TransDataTo5HD", loc, {emu::Access{s.p, s.bytes, false}, emu::Access{t.p, t.bytes, true}}, 16 * rowsBytes);
    for (uint32_t c = 1; c < info.inner; ++c)
        emu::Vec("CumSum:Add", loc, {emu::Access{t.p, t.bytes, false}, emu::Access{t.p, t.bytes, true}}, rowsBytes);
    for (uint32_t k = 0; k < (info.inner + 15) / 16; ++k)
        emu::Vec("CumSum:TransDataTo5HD", loc, {emu::Access{t.p, t.bytes, false}, emu::Access{d.p, d.bytes, true}}, 16 * rowsBytes);
    emu::MaskLeftBy("CumSum", loc);
    std::vector<T> out(n);
    for (uint32_t r = 0; r < info.outter; ++r) {
        T acc = emu::ReadElem<T>(s.p, static_cast<uint64_t>(r) * info.inner);
        out[r * info.inner] = acc;
        for (uint32_t c = 1; c < info.inner; ++c) {
            acc = emu::ArithResult<T>(emu::AsDouble(acc) + emu::AsDouble(emu::ReadElem<T>(s.p, static_cast<uint64_t>(r) * info.inner + c)), "CumSum");
            out[r * info.inner + c] = acc;
        }
    }
    if (n) memcpy(const_cast<uint8_t*>(d.p), out.data(), n * sizeof(T));
    if (config.outputLastRow && info.outter) {
        emu::Opnd l = emu::UbOperand(lastRow, info.inner, "CumSum", "lastRow");
        memcpy(const_cast<uint8_t*>(l.p), out.data() + (info.outter - 1) * info.inner, info.inner * sizeof(T));
    }
}

// Broadcast (high-level API, lib/pad/broadcast.h), dim 2: a [R,1] source along axis 1 to [R,C]
// (or [1,C] along axis 0 to [R,C]). Priced as two vector passes over the destination.
template <typename T, int32_t dim, int32_t axis, bool isReuseSource = false>
inline void Broadcast(const LocalTensor<T>& dst, const LocalTensor<T>& src, const uint32_t dstShape[dim],
                      const uint32_t srcShape[dim], emu::Loc loc = emu::Here()) {
    static_assert(dim == 2, "Broadcast: only dim 2 is modelled");
    const uint32_t R = dstShape[0], Cn = dstShape[1];
    if ((axis == 1 && (srcShape[0] != R || srcShape[1] != 1)) || (axis == 0 && (srcShape[0] != 1 || srcShape[1] != Cn)))
        emu::Fail("Broadcast: shapes do not match the axis");
    emu::Opnd s = emu::UbOperand(src, axis == 1 ? R : Cn, "Broadcast", "src"), d = emu::UbOperand(dst, R * Cn, "Broadcast", "dst");
    emu::NoOverlap(d, s, "Broadcast", "src");
    for (int k = 0; k < 2; ++k)
        emu::Vec("Broadcast", loc, {emu::Access{s.p, s.bytes, false}, emu::Access{d.p, d.bytes, true}}, d.bytes);
    emu::MaskLeftBy("Broadcast", loc);
    for (uint32_t r = 0; r < R; ++r)
        for (uint32_t c = 0; c < Cn; ++c)
            emu::WriteElem<T>(const_cast<uint8_t*>(d.p), static_cast<uint64_t>(r) * Cn + c, emu::ReadElem<T>(s.p, axis == 1 ? r : c));
}

}  // namespace AscendC
