// Deliberately broken AscendC snippets, one per runtime rule of the emulation, plus correct
// controls. tests/test_ascendc_emu_rules.py runs each by name and checks the error message.
#include <cstring>
#include <map>
#include <string>

#include "kernel_operator.h"

using namespace AscendC;

namespace {

alignas(64) uint8_t g_gm[4096];

struct Ub {                          // one 8 KiB scratch buffer
    TPipe pipe;
    TBuf<TPosition::VECCALC> buf;
    Ub() { pipe.InitBuffer(buf, 8192); }
    template <class T> LocalTensor<T> t() { return buf.Get<T>(); }
};

using Snippet = void (*)();

const std::map<std::string, Snippet>& Snippets()
{
    static const std::map<std::string, Snippet> s = {
        // ---- correct controls (must run clean)
        {"ok_inplace", [] { Ub u; auto a = u.t<int16_t>(); Duplicate(a, (int16_t)1, 256); Adds(a, a, (int16_t)2, 256); }},
        {"ok_disjoint_halves", [] { Ub u; auto a = u.t<uint16_t>(); Duplicate(a, (uint16_t)1, 512); Or(a, a, a[256], 256); }},
        {"ok_events", [] { (void)emu::C(); SetFlag<HardEvent::V_MTE3>(EVENT_ID3); WaitFlag<HardEvent::V_MTE3>(EVENT_ID3); }},
        {"ok_queue", [] {
            TPipe p; TQue<TPosition::VECIN, 1> q; p.InitBuffer(q, 2, 1024);
            auto a = q.AllocTensor<half>(); auto b = q.AllocTensor<half>(); q.EnQue(a); auto c = q.DeQue<half>();
            q.FreeTensor(c); q.FreeTensor(b); }},
        {"ok_datacopy", [] {
            Ub u; GlobalTensor<uint16_t> g; g.SetGlobalBuffer((__gm__ uint16_t*)g_gm, 2048);
            DataCopy(u.t<uint16_t>(), g, 2048); DataCopy(g[16], u.t<uint16_t>(), 16); }},
        // ---- alignment
        {"misaligned_operand", [] { Ub u; auto a = u.t<int16_t>(); Adds(a[1], a[1], (int16_t)1, 64); }},
        {"misaligned_getwithoffset", [] { TPipe p; TBuf<TPosition::VECCALC> b; p.InitBuffer(b, 1024); b.GetWithOffset<half>(16, 8); }},
        {"datacopy_length", [] {
            Ub u; GlobalTensor<uint16_t> g; g.SetGlobalBuffer((__gm__ uint16_t*)g_gm, 2048);
            DataCopy(u.t<uint16_t>(), g, 17); }},
        {"datacopy_ub_misaligned", [] {
            Ub u; GlobalTensor<uint16_t> g; g.SetGlobalBuffer((__gm__ uint16_t*)g_gm, 2048);
            DataCopy(u.t<uint16_t>()[8], g, 16); }},
        {"datacopypad_blocklen", [] {
            Ub u; GlobalTensor<uint32_t> g; g.SetGlobalBuffer((__gm__ uint32_t*)g_gm, 1024);
            DataCopyPad(g, u.t<uint32_t>(), DataCopyExtParams(1, 6, 0, 0, 0)); }},
        // ---- capacity and buffers
        {"ub_capacity", [] { TPipe p; TBuf<TPosition::VECCALC> a, b; p.InitBuffer(a, 128 * 1024); p.InitBuffer(b, 65 * 1024); }},
        {"ub_above_184k", [] { TPipe p; TBuf<TPosition::VECCALC> a; p.InitBuffer(a, 188 * 1024); }},
        {"too_many_buffers", [] { TPipe p; TBuf<TPosition::VECCALC> b[65]; for (auto& x : b) p.InitBuffer(x, 32); }},
        {"too_many_que_buffers", [] {
            TPipe p; TQue<TPosition::VECIN, 1> q1, q2; p.InitBuffer(q1, 6, 64); p.InitBuffer(q2, 3, 64); }},
        {"extent", [] { Ub u; auto a = u.t<float>(); Duplicate(a, 1.0f, 2049); }},
        // ---- dependencies inside one instruction
        {"partial_overlap", [] { Ub u; auto a = u.t<int16_t>(); Add(a[16], a, a[512], 128); }},
        {"partial_overlap_shift", [] { Ub u; auto a = u.t<uint16_t>(); ShiftLeft(a[16], a, (uint16_t)1, 64); }},
        {"gather_reads_dst", [] {
            Ub u; auto d = u.t<uint16_t>(); auto o = u.t<uint32_t>()[1024];
            Duplicate(o, (uint32_t)130, 64); Gather(d[64], d, o, 0, 64); }},
        {"cast_overlap", [] { Ub u; auto a = u.t<int16_t>(); Cast(u.t<float>()[16], a, RoundMode::CAST_NONE, 64); }},
        {"datacopy_ub_overlap", [] { Ub u; auto a = u.t<uint16_t>(); DataCopy(a[16], a, 64); }},
        // ---- per-instruction parameters
        {"compare_count", [] { Ub u; auto h = u.t<half>(); CompareScalar(u.t<uint8_t>()[4096], h, half(1.0f), CMPMODE::GT, 64); }},
        {"shift_range", [] { Ub u; auto a = u.t<uint16_t>(); ShiftRight(a, a, (uint16_t)17, 64); }},
        {"int_overflow", [] { Ub u; auto a = u.t<int16_t>(); Duplicate(a, (int16_t)32000, 64); Adds(a, a, (int16_t)1000, 64); }},
        {"cast_float_to_int_none", [] { Ub u; auto f = u.t<float>(); Duplicate(f, 1.0f, 64); Cast(u.t<int32_t>()[1024], f, RoundMode::CAST_NONE, 64); }},
        {"gathermask_repeats", [] {
            Ub u; uint64_t c = 0; GatherMask(u.t<uint16_t>()[2048], u.t<uint16_t>(), (uint8_t)1, false, 0, GatherMaskParams(1, 256, 8, 0), c); }},
        // ---- queues
        {"alloc_no_free_buffer", [] {
            TPipe p; TQue<TPosition::VECIN, 1> q; p.InitBuffer(q, 1, 256); q.AllocTensor<half>(); q.AllocTensor<half>(); }},
        {"deque_empty", [] { TPipe p; TQue<TPosition::VECOUT, 1> q; p.InitBuffer(q, 2, 256); q.DeQue<half>(); }},
        {"enque_beyond_depth", [] {
            TPipe p; TQue<TPosition::VECIN, 1> q; p.InitBuffer(q, 2, 256);
            auto a = q.AllocTensor<half>(); auto b = q.AllocTensor<half>(); q.EnQue(a); q.EnQue(b); }},
        {"double_free", [] {
            TPipe p; TQue<TPosition::VECIN, 1> q; p.InitBuffer(q, 1, 256);
            auto a = q.AllocTensor<half>(); q.FreeTensor(a); q.FreeTensor(a); }},
        {"missing_free", [] { TPipe p; TQue<TPosition::VECIN, 1> q; p.InitBuffer(q, 1, 256); q.AllocTensor<half>(); }},
        // ---- global memory
        {"gm_out_of_bounds", [] {
            Ub u; GlobalTensor<uint16_t> g; g.SetGlobalBuffer((__gm__ uint16_t*)g_gm, 1024);
            DataCopy(u.t<uint16_t>(), g[1008], 32); }},
        {"gm_unregistered", [] { GlobalTensor<uint16_t> g; g.SetGlobalBuffer((__gm__ uint16_t*)g_gm + 1024, 2048); }},
        // ---- events
        {"event_id_range", [] { (void)emu::C(); SetFlag<HardEvent::MTE2_V>(8); }},
        {"wait_without_set", [] { (void)emu::C(); WaitFlag<HardEvent::MTE2_V>(EVENT_ID0); }},
        {"set_twice", [] { (void)emu::C(); SetFlag<HardEvent::V_S>(EVENT_ID1); SetFlag<HardEvent::V_S>(EVENT_ID1); }},
        {"set_never_waited", [] { (void)emu::C(); SetFlag<HardEvent::S_V>(EVENT_ID2); }},
        // ---- uninitialised UB is poisoned, not zero
        {"ub_poisoned", [] {
            Ub u; if (u.t<uint16_t>().GetValue(100) != 0xA5A5) emu::Fail("UB was not poisoned"); emu::Fail("poison seen"); }},
    };
    return s;
}

}  // namespace

extern "C" {

// Runs one snippet on 2 cores; returns 0 when it ran clean, 1 with the error in `err`,
// -1 for an unknown name.
int emu_rule_run(const char* name, char* err, int len)
{
    auto it = Snippets().find(name);
    if (it == Snippets().end()) return -1;
    emu::ClearGm();
    emu::RegisterGm(g_gm, sizeof g_gm, "gm");
    std::string e = emu::Launch(2, it->second);
    emu::ClearGm();
    std::strncpy(err, e.c_str(), len - 1);
    err[len - 1] = 0;
    return e.empty() ? 0 : 1;
}

uint64_t emu_rule_ub_above_184k() { return emu::GetStats().ubAbove184; }

int emu_rule_names(char* out, int len)
{
    std::string all;
    for (auto& kv : Snippets()) all += kv.first + "\n";
    std::strncpy(out, all.c_str(), len - 1);
    out[len - 1] = 0;
    return static_cast<int>(Snippets().size());
}

}  // extern "C"
