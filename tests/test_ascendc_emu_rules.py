"""Every hardware rule the AscendC emulation enforces fires on a deliberately broken snippet.

Runtime rules: tests/ascendc_emu/rule_snippets.cpp (compiled once against the emulation header),
each snippet run by name. Compile-time rules (dtype support per instruction, which the real
CANN headers also reject at compile time): g++ must refuse the snippet with the static_assert's
message, while the corrected snippet compiles.
"""
import ctypes
import hashlib
import pathlib
import subprocess

import pytest

import emulated as E

ROOT = pathlib.Path(__file__).resolve().parents[1]
INC = ROOT / "tests" / "ascendc_emu" / "include"
SNIPPETS = ROOT / "tests" / "ascendc_emu" / "rule_snippets.cpp"


@pytest.fixture(scope="module")
def rules():
    src = SNIPPETS.read_bytes() + (INC / "kernel_operator.h").read_bytes() + (INC / "emu_model.h").read_bytes()
    out = E.build_dir() / f"librules-{hashlib.sha256(src).hexdigest()[:16]}.so"
    if not out.exists():
        tmp = out.with_suffix(".tmp")
        subprocess.run(["g++", "-std=c++17", "-O1", "-shared", "-fPIC", f"-I{INC}", str(SNIPPETS), "-o", str(tmp)],
                       check=True)
        tmp.replace(out)
    lib = ctypes.CDLL(str(out))
    lib.emu_rule_run.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int]
    lib.emu_rule_ub_above_184k.restype = ctypes.c_uint64

    def run(name):
        err = ctypes.create_string_buffer(2048)
        rc = lib.emu_rule_run(name.encode(), err, 2048)
        assert rc != -1, f"no snippet {name}"
        return rc, err.value.decode()
    run.lib = lib
    return run


@pytest.mark.parametrize("name", ["ok_inplace", "ok_disjoint_halves", "ok_events", "ok_queue", "ok_datacopy",
                                  "ok_load_compute_store", "ok_queue_pipeline", "ok_fetched_event_id",
                                  "ok_scalar_autosync", "ok_barrier_all", "ok_mask_set", "ok_gather_255_repeats"])
def test_correct_snippets_run_clean(rules, name):
    assert rules(name) == (0, "")


RUNTIME = {
    "misaligned_operand": "not 32-byte aligned",
    "misaligned_getwithoffset": "offset 8 not 32-byte aligned",
    "datacopy_length": "not a multiple of 32 bytes",
    "datacopy_ub_misaligned": "not 32-byte aligned",
    "datacopypad_blocklen": "blockLen 6 not a multiple of sizeof(T)=4",
    "ub_capacity": "exceed the 192 KiB Unified Buffer",
    "too_many_buffers": "more than 64 buffers",
    "too_many_que_buffers": "more than 8 TQue buffers at one TPosition",
    "extent": "needs 2049 elements but the LocalTensor holds 2048",
    "partial_overlap": "partially overlaps src0",
    "partial_overlap_shift": "partially overlaps src",
    "gather_reads_dst": "inside the destination",
    "cast_overlap": "dst overlaps src",
    "datacopy_ub_overlap": "dst overlaps src",
    "compare_count": "not a multiple of 256 bytes",
    "shift_range": "shift 17 outside [0, 16]",
    "int_overflow": "integer overflow",
    "cast_float_to_int_none": "CAST_NONE from float to an integer",
    "gathermask_repeats": "repeatTimes 256 above 255",
    "alloc_no_free_buffer": "all 1 buffers of the queue are in use",
    "deque_empty": "DeQue on an empty queue",
    "enque_beyond_depth": "queue depth 1 exceeded",
    "double_free": "not allocated (double free?)",
    "missing_free": "still allocated (missing FreeTensor)",
    "gm_out_of_bounds": "outside the GlobalTensor's 16 elements",
    "gm_unregistered": "outside every registered GM buffer",
    "event_id_range": "event id 8 outside 0..7",
    "wait_without_set": "was never set",
    "set_twice": "is already set",
    # pipe model (each broken snippet has a fixed twin among the clean ones above)
    "hazard_mte2_v": "pipe hazard: Adds (pipe V",
    "hazard_v_mte3": "nothing orders pipe V before pipe MTE3",
    "hazard_mte3_v_war": "nothing orders pipe MTE3 before pipe V",
    "hazard_v_mte2_war": "nothing orders pipe V before pipe MTE2",
    "hazard_gm_mte3_mte2": "reads GM",
    "queue_event_collision": "is already set (by a TQue operation",
    "queue_and_manual_share_id": "used both by a TQue and by hand-written",
    "mask_left_by_other": "runs with the vector mask left by Cast",
    "gather_repeats_uint8": "stores the repeat count in a uint8_t",
    "set_never_waited": "set but never waited",
    "ub_poisoned": "poison seen",
}


@pytest.mark.parametrize("name", sorted(RUNTIME))
def test_runtime_rule_fires(rules, name):
    rc, msg = rules(name)
    assert rc == 1 and RUNTIME[name] in msg, msg
    assert msg.startswith("[ascendc-emu block 0]")


def test_ub_above_184k_is_flagged(rules):
    before = rules.lib.emu_rule_ub_above_184k()
    assert rules("ub_above_184k") == (0, "")
    assert rules.lib.emu_rule_ub_above_184k() == before + 2          # once per core


# dtype rules: (broken statement, its corrected form, message of the static_assert)
COMPILE = {
    "unsigned_add": ("Add(u, u, u, 128);", "Add(s, s, s, 128);", "Add: Atlas A2 supports int16/int32/half/float only"),
    "unsigned_adds": ("Adds(u, u, (uint16_t)1, 128);", "Adds(s, s, (int16_t)1, 128);", "Adds: Atlas A2 supports"),
    "and_int32": ("And(i32, i32, i32, 64);", "And(u, u, u, 128);", "And: Atlas A2 supports int16/uint16 only"),
    "or_half": ("Or(h, h, h, 128);", "Or(s, s, s, 128);", "Or: Atlas A2 supports int16/uint16 only"),
    "compare_int16": ("CompareScalar(mask, s, (int16_t)3, CMPMODE::GT, 128);",
                      "CompareScalar(mask, h, half(3.0f), CMPMODE::GT, 128);", "CompareScalar: Atlas A2 compares half/float only"),
    "compare_tensor_int32": ("Compare(mask, i32, i32, CMPMODE::EQ, 64);", "Compare(mask, f, f, CMPMODE::EQ, 64);",
                             "Compare: Atlas A2 compares half/float only"),
    "select_int16": ("Select(s, mask, s, s, SELMODE::VSEL_TENSOR_TENSOR_MODE, 128);",
                     "Select(h, mask, h, h, SELMODE::VSEL_TENSOR_TENSOR_MODE, 128);", "Select: Atlas A2 selects half/float only"),
    "reducesum_int32": ("ReduceSum(i32, i32, i32, 64);", "ReduceSum(f, f, f, 64);", "ReduceSum: Atlas A2 reduces half/float only"),
    "cast_int16_int32": ("Cast(i32, s, RoundMode::CAST_NONE, 64);", "Cast(f, s, RoundMode::CAST_NONE, 64);",
                         "Cast: this conversion is not offered by dav-c220"),
    "shift_half": ("ShiftLeft(h, h, h0, 128);", "ShiftLeft(u, u, (uint16_t)1, 128);", "ShiftLeft: Atlas A2 supports 16/32-bit integers only"),
    "gathermask_pattern_width": ("GatherMask(f, f, u, true, 64, GatherMaskParams(1, 1, 8, 0), cnt);",
                                 "GatherMask(f, f, u32, true, 64, GatherMaskParams(1, 1, 8, 0), cnt);",
                                 "GatherMask: a uint16_t pattern needs 16-bit elements"),
}

PRELUDE = """
#include "kernel_operator.h"
using namespace AscendC;
void snippet() {
    TPipe pipe; TBuf<TPosition::VECCALC> b; pipe.InitBuffer(b, 8192);
    auto u = b.Get<uint16_t>(); auto s = b.Get<int16_t>(); auto h = b.Get<half>(); auto f = b.Get<float>();
    auto i32 = b.Get<int32_t>(); auto u32 = b.Get<uint32_t>(); auto mask = b.Get<uint8_t>();
    half h0(1.0f); uint64_t cnt = 0; (void)u; (void)s; (void)h; (void)f; (void)i32; (void)u32; (void)mask; (void)h0; (void)cnt;
    %s
}
"""


def _syntax(tmp_path, name, stmt):
    src = tmp_path / f"{name}.cpp"
    src.write_text(PRELUDE % stmt)
    return subprocess.run(["g++", "-std=c++17", "-fsyntax-only", f"-I{INC}", str(src)], capture_output=True, text=True)


@pytest.mark.parametrize("name", sorted(COMPILE))
def test_dtype_rule_rejected_at_compile_time(tmp_path, name):
    broken, fixed, message = COMPILE[name]
    bad = _syntax(tmp_path, name, broken)
    assert bad.returncode != 0 and message in bad.stderr, bad.stderr[-2000:]
    good = _syntax(tmp_path, name + "_fixed", fixed)
    assert good.returncode == 0, good.stderr[-2000:]
