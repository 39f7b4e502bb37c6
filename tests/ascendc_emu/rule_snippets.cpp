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
            DataCopy(u.t<uint16_t>(), g, 2048);
            SetFlag<HardEvent::MTE2_MTE3>(EVENT_ID0); WaitFlag<HardEvent::MTE2_MTE3>(EVENT_ID0);
            DataCopy(g[16], u.t<uint16_t>(), 16); }},
        // ---- pipe model: correct controls
        {"ok_load_compute_store", [] {
            Ub u; GlobalTensor<int16_t> g; g.SetGlobalBuffer((__gm__ int16_t*)g_gm, 2048); auto a = u.t<int16_t>();
            DataCopy(a, g, 256);
            SetFlag<HardEvent::MTE2_V>(EVENT_ID0); WaitFlag<HardEvent::MTE2_V>(EVENT_ID0);
            Adds(a, a, (int16_t)1, 256);
            SetFlag<HardEvent::V_MTE3>(EVENT_ID0); WaitFlag<HardEvent::V_MTE3>(EVENT_ID0);
            DataCopy(g[1024], a, 256);
            SetFlag<HardEvent::MTE3_V>(EVENT_ID0); WaitFlag<HardEvent::MTE3_V>(EVENT_ID0);
            Duplicate(a, (int16_t)0, 256); }},
        {"ok_queue_pipeline", [] {
            TPipe p; TQue<TPosition::VECIN, 1> qi; TQue<TPosition::VECOUT, 1> qo; p.InitBuffer(qi, 2, 512); p.InitBuffer(qo, 2, 512);
            GlobalTensor<int16_t> g; g.SetGlobalBuffer((__gm__ int16_t*)g_gm, 2048);
            for (int i = 0; i < 4; ++i) {
                auto a = qi.AllocTensor<int16_t>(); DataCopy(a, g[256 * i], 256); qi.EnQue(a);
                auto b = qi.DeQue<int16_t>(); auto o = qo.AllocTensor<int16_t>(); Adds(o, b, (int16_t)1, 256);
                qi.FreeTensor(b); qo.EnQue(o); auto w = qo.DeQue<int16_t>(); DataCopy(g[1024 + 256 * i], w, 256); qo.FreeTensor(w);
            } }},
        {"ok_fetched_event_id", [] {
            TPipe p; TQue<TPosition::VECOUT, 1> q; p.InitBuffer(q, 1, 512);
            auto a = q.AllocTensor<int16_t>(); Duplicate(a, (int16_t)0, 256); q.EnQue(a); auto b = q.DeQue<int16_t>(); q.FreeTensor(b);
            int32_t id = GetTPipePtr()->FetchEventID(HardEvent::MTE3_V);
            SetFlag<HardEvent::MTE3_V>(id); WaitFlag<HardEvent::MTE3_V>(id); }},
        {"ok_scalar_autosync", [] {
            Ub u; auto a = u.t<int16_t>(); Duplicate(a, (int16_t)3, 256);
            a.SetValue(0, a.GetValue(5) + 1); Adds(a, a, (int16_t)1, 256); }},
        {"ok_barrier_all", [] {
            Ub u; GlobalTensor<int16_t> g; g.SetGlobalBuffer((__gm__ int16_t*)g_gm, 2048); auto a = u.t<int16_t>();
            DataCopy(a, g, 256); PipeBarrier<PIPE_ALL>(); Adds(a, a, (int16_t)1, 256); }},
        {"ok_mask_set", [] {
            Ub u; auto h = u.t<half>(); Duplicate(h, half(1.0f), 128); Cast(u.t<float>()[1024], h, RoundMode::CAST_NONE, 128);
            SetMaskNorm(); ResetMask(); CompareScalar(u.t<uint8_t>()[4096], h, half(0.5f), CMPMODE::GT, 128); }},
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
        // ---- pipe model: hazards between pipes, queue-owned events, mask state
        {"hazard_mte2_v", [] {
            Ub u; GlobalTensor<int16_t> g; g.SetGlobalBuffer((__gm__ int16_t*)g_gm, 2048); auto a = u.t<int16_t>();
            DataCopy(a, g, 256); Adds(a, a, (int16_t)1, 256); }},
        {"hazard_v_mte3", [] {
            Ub u; GlobalTensor<int16_t> g; g.SetGlobalBuffer((__gm__ int16_t*)g_gm, 2048); auto a = u.t<int16_t>();
            Duplicate(a, (int16_t)1, 256); DataCopy(g, a, 256); }},
        {"hazard_mte3_v_war", [] {
            Ub u; GlobalTensor<int16_t> g; g.SetGlobalBuffer((__gm__ int16_t*)g_gm, 2048); auto a = u.t<int16_t>();
            Duplicate(a, (int16_t)1, 256);
            SetFlag<HardEvent::V_MTE3>(EVENT_ID0); WaitFlag<HardEvent::V_MTE3>(EVENT_ID0);
            DataCopy(g, a, 256); Duplicate(a, (int16_t)2, 256); }},
        {"hazard_v_mte2_war", [] {
            Ub u; GlobalTensor<int16_t> g; g.SetGlobalBuffer((__gm__ int16_t*)g_gm, 2048); auto a = u.t<int16_t>();
            Duplicate(a, (int16_t)1, 256); Adds(a[256], a, (int16_t)1, 256); DataCopy(a, g, 256); }},
        {"hazard_gm_mte3_mte2", [] {
            Ub u; GlobalTensor<int16_t> g; g.SetGlobalBuffer((__gm__ int16_t*)g_gm, 2048); auto a = u.t<int16_t>();
            Duplicate(a, (int16_t)1, 256);
            SetFlag<HardEvent::V_MTE3>(EVENT_ID0); WaitFlag<HardEvent::V_MTE3>(EVENT_ID0);
            DataCopy(g, a, 256); DataCopy(a[512], g, 256); }},
        {"queue_event_collision", [] {
            TPipe p; TQue<TPosition::VECOUT, 1> q; p.InitBuffer(q, 1, 512);
            auto a = q.AllocTensor<int16_t>(); Duplicate(a, (int16_t)0, 256); q.EnQue(a); auto b = q.DeQue<int16_t>(); q.FreeTensor(b);
            SetFlag<HardEvent::MTE3_V>(EVENT_ID0); WaitFlag<HardEvent::MTE3_V>(EVENT_ID0); }},
        {"queue_and_manual_share_id", [] {
            TPipe p; TQue<TPosition::VECOUT, 1> q; p.InitBuffer(q, 1, 512);
            SetFlag<HardEvent::MTE3_V>(EVENT_ID0); WaitFlag<HardEvent::MTE3_V>(EVENT_ID0);
            auto a = q.AllocTensor<int16_t>(); Duplicate(a, (int16_t)0, 256); q.EnQue(a); auto b = q.DeQue<int16_t>(); q.FreeTensor(b); }},
        {"mask_left_by_other", [] {
            Ub u; auto h = u.t<half>(); Duplicate(h, half(1.0f), 128); Cast(u.t<float>()[1024], h, RoundMode::CAST_NONE, 128);
            CompareScalar(u.t<uint8_t>()[4096], h, half(0.5f), CMPMODE::GT, 128); }},
        {"gather_repeats_uint8", [] {
            TPipe p; TBuf<TPosition::VECCALC> d, o, s; p.InitBuffer(d, 65536); p.InitBuffer(o, 65536); p.InitBuffer(s, 256);
            Duplicate(o.Get<uint32_t>(), (uint32_t)0, 16384); Duplicate(s.Get<uint32_t>(), (uint32_t)7, 64);
            Gather(d.Get<uint32_t>(), s.Get<uint32_t>(), o.Get<uint32_t>(), 0, 16384); }},
        {"ok_gather_255_repeats", [] {
            TPipe p; TBuf<TPosition::VECCALC> d, o, s; p.InitBuffer(d, 65536); p.InitBuffer(o, 65536); p.InitBuffer(s, 256);
            Duplicate(o.Get<uint32_t>(), (uint32_t)0, 16384); Duplicate(s.Get<uint32_t>(), (uint32_t)7, 64);
            Gather(d.Get<uint32_t>(), s.Get<uint32_t>(), o.Get<uint32_t>(), 0, 16320); }},
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
