#!/usr/bin/env python3
"""Probe, on an Ascend NPU, each hardware behaviour that the enec kernels rely on and that the
project's AscendC emulation assumes; print PASS/FAIL per assumption.

    python scripts/npu_probe.py              # on the NPU (after scripts/build_npu.sh)
    python scripts/npu_probe.py --emulated   # the same probes under the emulation (no device)
    CANN_ROOT=.../8.1.RC1 python scripts/npu_probe.py --harness   # through the real CANN headers (CPU)

Each probe is a small AscendC kernel (op_kernel/enec_probe.cpp) using the instruction forms of the
enec kernels; its output is compared with a numpy statement of the assumption. Under the emulation
every probe must pass: that shows the emulation implements what we assume. On the device a FAIL
names an assumption the emulation (and so the kernels' CI verification) gets wrong.
Exit status: 0 when every probe passes, 1 otherwise.
"""
from __future__ import annotations

import argparse
import atexit
import dataclasses
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
from typing import Callable

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[1]
FILL = 0xEE          # op_kernel/enec_probe.cpp FILL16 (0xEEEE): UB lanes a probe must not write
OUT_FILL = 0xC3      # host pre-fill of `out`: GM bytes a probe must not write
ARGS = 8             # uint32 arguments per probe (enec_probe.cpp ARGS)
DEFAULT_CORES = 48   # vector cores of a 910B2 (910B3/B4: 40)

# run(kernel, blocks, in bytes, out bytes pre-filled, args uint32[ARGS]) -> the bytes left in out
Runner = Callable[[str, int, np.ndarray, np.ndarray, np.ndarray], np.ndarray]


@dataclasses.dataclass
class Result:
    name: str
    ok: bool
    assumption: str
    detail: str


def _args(*v: int) -> np.ndarray:
    a = np.zeros(ARGS, dtype=np.uint32)
    a[:len(v)] = v
    return a


def _bytes(*arrays: np.ndarray) -> np.ndarray:
    return np.concatenate([np.ascontiguousarray(a).view(np.uint8).reshape(-1) for a in arrays])


def _out(nbytes: int) -> np.ndarray:
    return np.full(nbytes, OUT_FILL, dtype=np.uint8)


def _pad32(a: np.ndarray) -> np.ndarray:
    b = np.ascontiguousarray(a).view(np.uint8).reshape(-1)
    return np.concatenate([b, np.zeros(-b.size % 32, dtype=np.uint8)])


def _same(got: np.ndarray, want: np.ndarray) -> tuple[bool, str]:
    got, want = np.asarray(got).reshape(-1), np.asarray(want).reshape(-1)
    if got.shape != want.shape:
        return False, f"{got.size} values, expected {want.size}"
    bad = np.flatnonzero(got != want)
    if bad.size == 0:
        return True, f"{want.size} values as expected"
    i = int(bad[0])
    return False, f"{bad.size} of {want.size} values differ; first at {i}: got {got[i]:#x}, expected {want[i]:#x}"


# ------------------------------------------------------------------------------------------------
# GatherMask (enec_compress: outlier compaction, FP32 split)

def gathermask_expected(src: np.ndarray, bits: np.ndarray, per: int, reps: int, per_repeat: bool = True) -> np.ndarray:
    """Counter mode as the emulation assumes it: `per` elements in each of `reps` repeats, every
    repeat selected by the same `per`-bit pattern (src1RepeatStride 0). per_repeat=False states a
    wrong reading (the mask counts elements in total: only the first `per` elements)."""
    if per_repeat:
        return src[np.tile(bits, reps).astype(bool)]
    return src[:per][bits.astype(bool)]


def probe_gathermask_counter(run: Runner, rng: np.random.Generator, per: int = 1024, reps: int = 16,
                             per_repeat: bool = True) -> Result:
    src = rng.integers(0, 1 << 16, per * reps, dtype=np.uint16)
    bits = (rng.random(per) < 0.3).astype(np.uint8)
    bits[0] = bits[-1] = 1
    pattern = np.packbits(bits, bitorder="little")
    out = run("gathermask", 1, _bytes(src, _pad32(pattern)), _out(32 + 2 * src.size), _args(0, per, reps))
    cnt = int(out[:4].view(np.uint32)[0])
    dst = out[32:].view(np.uint16)
    want = gathermask_expected(src, bits, per, reps, per_repeat)
    ok, detail = _same(dst[:want.size], want)
    ok = ok and cnt == want.size
    tail = "untouched" if np.all(out[32 + 2 * want.size:] == FILL) else "overwritten (the kernels do not rely on it)"
    return Result(f"gathermask.counter_{per}x{reps}", ok,
                  f"GatherMask counter mode, {per:,} elements x {reps} repeats, one {per}-bit pattern reused by every "
                  "repeat (src1RepeatStride 0): the selected elements in order, count = selected",
                  f"count {cnt} (expected {want.size}); {detail}; lanes after the count {tail}")


def probe_gathermask_counter_stride1(run: Runner, rng: np.random.Generator, reps: int = 64) -> Result:
    """enec_histogram's bit count: counter mode, 256 elements per repeat, repeat r selected by its
    own 32-byte pattern block (src1RepeatStride 1, a CompareScalar mask read in order)."""
    per = 256
    src = rng.integers(0, 1 << 16, per * reps, dtype=np.uint16)
    bits = (rng.random(per * reps) < rng.uniform(0.05, 0.95)).astype(np.uint8)
    bits[0] = bits[-1] = 1
    bits[per:2 * per] = 0                                     # a repeat that keeps nothing
    pattern = np.packbits(bits, bitorder="little")
    out = run("gathermask", 1, _bytes(src, pattern), _out(32 + 2 * src.size), _args(3, per, reps))
    cnt = int(out[:4].view(np.uint32)[0])
    want = src[bits.astype(bool)]
    ok, detail = _same(out[32:].view(np.uint16)[:want.size], want)
    ok = ok and cnt == want.size
    return Result(f"gathermask.counter_{per}x{reps}_stride1", ok,
                  f"GatherMask counter mode, {per} elements x {reps} repeats, each repeat its own 32-byte pattern "
                  "block (src1RepeatStride 1): the selected elements in order, count = set bits of the whole mask",
                  f"count {cnt} (expected {want.size}); {detail}")


def probe_gathermask_builtin(run: Runner, rng: np.random.Generator, pattern: int, reps: int = 128) -> Result:
    src = rng.integers(0, 1 << 16, 128 * reps, dtype=np.uint16)
    out = run("gathermask", 1, _bytes(src), _out(32 + 2 * src.size), _args(pattern, 0, reps))
    cnt = int(out[:4].view(np.uint32)[0])
    want = src[pattern - 1::2]
    ok, detail = _same(out[32:32 + 2 * want.size].view(np.uint16), want)
    which = "even" if pattern == 1 else "odd"
    return Result(f"gathermask.builtin_{which}", ok and cnt == want.size,
                  f"GatherMask built-in pattern {pattern} ({which} lanes), normal mode, {reps} repeats of 128 halves: "
                  f"the {which} elements in order (FP32 split into halves)",
                  f"count {cnt} (expected {want.size}); {detail}")


# ------------------------------------------------------------------------------------------------
# Gather (IDD-Scan transposes, decompress outlier gather)

def gather_expected(table: np.ndarray, offsets: np.ndarray, base: int, in_bytes: bool = True) -> np.ndarray:
    """dst[i] = the uint16 at byte base + offsets[i] of the table (in_bytes=False: a wrong reading,
    offsets and base counted in elements)."""
    idx = (base + offsets) // 2 if in_bytes else base + offsets
    return table[np.clip(idx, 0, table.size - 1)]


def probe_gather(run: Runner, rng: np.random.Generator, in_bytes: bool = True) -> Result:
    table_elems, count, base = 16384 + 16, 4096, 32
    table = rng.integers(0, 1 << 16, table_elems, dtype=np.uint16)
    offsets = 2 * rng.integers(0, (2 * table_elems - base) // 2, count).astype(np.uint32)
    offsets[0], offsets[1] = 0, 2 * table_elems - base - 2      # first and last reachable element
    out = run("gather", 1, _bytes(table, offsets), _out(2 * count), _args(table_elems, count, base))
    ok, detail = _same(out.view(np.uint16), gather_expected(table, offsets, base, in_bytes))
    return Result("gather.byte_offsets", ok,
                  f"Gather (level 2, uint16, {count} elements): offsets and srcBaseAddr are in bytes", detail)


# ------------------------------------------------------------------------------------------------
# DataCopyPad

def probe_pad_load(run: Runner, rng: np.random.Generator, elem_bytes: int, real: int, pad: int) -> Result:
    dt = {1: np.uint8, 2: np.uint16, 4: np.uint32}[elem_bytes]
    per = 32 // elem_bytes
    aligned = -(-real // per) * per
    src = rng.integers(0, np.iinfo(dt).max, real, dtype=dt, endpoint=True)
    out = run("pad_load", 1, _bytes(src), _out((aligned + per) * elem_bytes), _args(elem_bytes, real, pad))
    want = _bytes(src, np.full(aligned - real, pad, dtype=dt), np.full(32, FILL, dtype=np.uint8))
    ok, detail = _same(out, want)
    return Result(f"pad_load.u{8 * elem_bytes}_{real}", ok,
                  f"DataCopyPad GM->UB, {real} x uint{8 * elem_bytes} with right padding {aligned - real} of value "
                  f"{pad:#x}: the data, then the pad value up to the 32-byte boundary, nothing written after it",
                  detail)


def probe_strided_load(run: Runner, rng: np.random.Generator, first: int = 3, n: int = 48, stride: int = 7) -> Result:
    total = first + (n - 1) * stride + 1
    src = rng.integers(0, 1 << 63, total, dtype=np.uint64)
    out = run("strided_load", 1, _bytes(src), _out(32 * n), _args(first, n, stride, total))
    ok, detail = _same(out.view(np.uint64)[0::4], src[first::stride][:n])
    return Result("pad_load.strided_meta", ok,
                  f"DataCopyPad GM->UB, {n} bursts of one uint64 with a source gap (LoadStrided, per-block "
                  "metadata): burst k lands at the start of the k-th 32-byte UB block", detail)


def probe_pad_store(run: Runner, rng: np.random.Generator, real: int = 37) -> Result:
    lanes = -(-real // 16) * 16
    src = rng.integers(0, 1 << 16, lanes, dtype=np.uint16)
    out = run("pad_store", 1, _bytes(src), _out(2 * lanes), _args(0, real))
    ok, detail = _same(out, _bytes(src[:real], np.full(2 * (lanes - real), OUT_FILL, dtype=np.uint8)))
    return Result(f"pad_store.tail_{real}", ok,
                  f"DataCopyPad UB->GM of {real} uint16 (a short block's tail): exactly {2 * real} bytes written, "
                  "the rest of the 32-byte block untouched", detail)


def probe_pad_store_strided(run: Runner, rng: np.random.Generator, items: int = 64, cn: int = 48) -> Result:
    src = rng.integers(0, 1 << 63, 4 * items, dtype=np.uint64)
    out = run("pad_store", 1, _bytes(src), _out(8 * items * cn), _args(1, items, cn))
    want = np.full(8 * items * cn, OUT_FILL, dtype=np.uint8).view(np.uint64).copy()
    want[0::cn] = src[0::4]
    ok, detail = _same(out.view(np.uint64), want)
    return Result("pad_store.strided_index", ok,
                  f"DataCopyPad UB->GM, {items} bursts of 8 bytes with a GM gap of {(cn - 1) * 8} bytes (enec_finish's "
                  "index entries): burst k from UB block k to GM byte 8 k cn, nothing else written", detail)


def probe_adjacent_writes(run: Runner, rng: np.random.Generator, item_bytes: int, cores: int) -> Result:
    items = 3 * cores + 5
    src = rng.integers(0, 256, items * item_bytes, dtype=np.uint8)
    out = run("adjacent_writes", cores, src, _out(src.size + 64), _args(item_bytes, items, cores))
    ok, detail = _same(out, np.concatenate([src, np.full(64, OUT_FILL, dtype=np.uint8)]))
    return Result(f"adjacent_writes.{item_bytes}B", ok,
                  f"{items} DataCopyPad UB->GM writes of {item_bytes} bytes side by side, item i from core i mod "
                  f"{cores} (several cores inside one 32-byte sector): no byte lost or overwritten", detail)


# ------------------------------------------------------------------------------------------------
# int16 / uint16 shifts

SHIFTS = (0, 1, 4, 7, 8, 15)


def shift_values(rng: np.random.Generator, n: int = 4096) -> np.ndarray:
    x = rng.integers(-(1 << 15), 1 << 15, n, dtype=np.int16)
    x[:8] = [0, 1, -1, 0x7FFF, -0x8000, 0x4000, -0x4000, 0x00FF]
    return x


def shift_expected(x: np.ndarray, op: int, s: int, arithmetic: bool = True) -> np.ndarray:
    """op 0 ShiftRight int16 (arithmetic; arithmetic=False states the wrong, logical reading),
    1 ShiftRight uint16 (logical), 2 / 3 ShiftLeft int16 / uint16 (zeros in, bits above 16 dropped)."""
    u = x.view(np.uint16)
    if op == 0:
        return x >> s if arithmetic else (u >> s).view(np.int16)
    if op == 1:
        return (u >> s).view(np.int16)
    return ((u.astype(np.uint32) << s) & 0xFFFF).astype(np.uint16).view(np.int16)


def probe_shifts(run: Runner, rng: np.random.Generator, arithmetic: bool = True) -> list[Result]:
    x = shift_values(rng)
    n, k = x.size, len(SHIFTS)
    out = run("shift", 1, _bytes(x), _out(8 * k * n), _args(n, k, *SHIFTS)).view(np.int16).reshape(4, k, n)
    texts = ("ShiftRight on int16 is arithmetic (sign-extends; DecodeTransform relies on it)",
             "ShiftRight on uint16 is logical", "ShiftLeft on int16 shifts in zeros, drops bits above 16",
             "ShiftLeft on uint16 shifts in zeros, drops bits above 16")
    names = ("shift.right_int16", "shift.right_uint16", "shift.left_int16", "shift.left_uint16")
    res = []
    for op in range(4):
        checks = [_same(out[op, j], shift_expected(x, op, s, arithmetic)) for j, s in enumerate(SHIFTS)]
        bad = [f"shift {s}: {d}" for (ok, d), s in zip(checks, SHIFTS) if not ok]
        res.append(Result(names[op], not bad, f"{texts[op]}, shifts {', '.join(map(str, SHIFTS))}",
                          "; ".join(bad) if bad else f"{n} values x {k} shifts as expected"))
    return res


# ------------------------------------------------------------------------------------------------
# Event ids and pipe ordering

def probe_events(run: Runner, rng: np.random.Generator, cores: int, n: int = 4096, rounds: int = 8,
                 skip_sync: bool = False) -> list[Result]:
    x = rng.integers(-1000, 1000, n, dtype=np.int16)
    out = run("events", cores, _bytes(x), _out(64 + 2 * cores * rounds * n), _args(n, rounds, int(skip_sync)))
    ids = out[:64].view(np.int32)[:9]
    rows = out[64:].view(np.int16).reshape(cores, rounds, n)
    want = np.stack([x + r + 1 for r in range(rounds)]).astype(np.int16)
    in_range = bool(np.all((ids >= 0) & (ids < 8)))
    shown = f"ids {ids.tolist()} (the CANN 8.1 headers' lowest-free-first pool gives [0, 0, 1, 1, 0, 1, 0, 0, 1])"
    res = [
        Result("events.fetch_does_not_reserve", in_range and ids[1] == ids[0],
               "FetchEventID returns a free id without reserving it: the next AllocEventID returns the same id", shown),
        Result("events.alloc_reserves", in_range and ids[2] != ids[1] and ids[3] == ids[2],
               "AllocEventID reserves its id: FetchEventID and the next AllocEventID return another", shown),
        Result("events.release_frees", in_range and ids[4] == ids[1],
               "ReleaseEventID returns the id to the pool", shown),
        Result("events.queue_holds_id", in_range and ids[5] != ids[0] and ids[6] == ids[0],
               "a VECOUT TQue's EnQue holds a V_MTE3 id from the same pool until DeQue (so hand-written syncs take "
               "ids with FetchEventID)", shown),
        Result("events.free_tensor_holds_id", in_range and ids[8] != ids[7],
               "FreeTensor of a VECOUT buffer holds an MTE3_V id from the same pool", shown),
    ]
    ok, detail = _same(rows, np.broadcast_to(want, rows.shape))
    res.append(Result("events.set_wait_orders_copy", ok,
                      "SetFlag/WaitFlag<V_MTE3> orders a UB->GM copy after a chain of vector ops, and <MTE3_V> the next "
                      f"vector writes after the copy ({rounds} rounds reusing one buffer, {cores} cores)", detail))
    return res


# ------------------------------------------------------------------------------------------------

def all_probes(run: Runner, cores: int = DEFAULT_CORES, seed: int = 2026, only: tuple = ()) -> list[Result]:
    """Every probe (or those whose name starts with one of `only`), in a fixed order; a probe that
    errors (rule break, device error) is a FAIL."""
    rng = np.random.default_rng(seed)
    jobs: list[tuple[str, Callable[[], Result | list[Result]]]] = [
        ("gathermask.counter_1024x16", lambda: probe_gathermask_counter(run, rng)),
        ("gathermask.counter_48x16", lambda: probe_gathermask_counter(run, rng, per=48)),
        ("gathermask.counter_256x64_stride1", lambda: probe_gathermask_counter_stride1(run, rng)),
        ("gathermask.builtin_even", lambda: probe_gathermask_builtin(run, rng, 1)),
        ("gathermask.builtin_odd", lambda: probe_gathermask_builtin(run, rng, 2)),
        ("gather.byte_offsets", lambda: probe_gather(run, rng)),
        ("pad_load.u8_12", lambda: probe_pad_load(run, rng, 1, 12, 0)),
        ("pad_load.u8_2", lambda: probe_pad_load(run, rng, 1, 2, 0)),
        ("pad_load.u16_37", lambda: probe_pad_load(run, rng, 2, 37, 0x3F80)),
        ("pad_load.u32_5", lambda: probe_pad_load(run, rng, 4, 5, 0x3F800000)),
        ("pad_load.strided_meta", lambda: probe_strided_load(run, rng)),
        ("pad_store.tail_37", lambda: probe_pad_store(run, rng)),
        ("pad_store.strided_index", lambda: probe_pad_store_strided(run, rng)),
        *[(f"adjacent_writes.{b}B", (lambda b=b: probe_adjacent_writes(run, rng, b, cores))) for b in (2, 4, 8, 12)],
        ("shift", lambda: probe_shifts(run, rng)),
        ("events", lambda: probe_events(run, rng, cores)),
    ]
    results: list[Result] = []
    def wanted(name: str) -> bool:    # "shift.right_int16" selects the job "shift", and only that result
        return not only or any(name.startswith(p) or p.startswith(name) for p in only)

    for name, job in jobs:
        if not wanted(name):
            continue
        try:
            r = job()
        except Exception as e:       # a kernel fault or an emulation rule: report it as this probe's failure
            r = Result(name, False, "the probe kernel runs", f"{type(e).__name__}: {e}")
        results.extend(x for x in (r if isinstance(r, list) else [r]) if wanted(x.name))
    return results


# ------------------------------------------------------------------------------------------------
# back ends

def probe_emu_runner(kernel_dir: pathlib.Path | None = None, build_dir: pathlib.Path | None = None,
                     extra_flags: tuple = ()) -> Runner:
    """The emulation's runner (tests/ascendc_emu/probe_emu.py), over the probes of `kernel_dir`
    (default op_kernel/), compiled with `extra_flags` added."""
    sys.path.insert(0, str(ROOT / "tests" / "ascendc_emu"))
    import probe_emu
    return probe_emu.runner(kernel_dir, build_dir, extra_flags)


def emulated_runner() -> Runner:
    return probe_emu_runner()


def npu_runner() -> Runner:
    sys.path.insert(0, str(ROOT / "python"))
    import torch
    import enec.npu
    st = enec.npu.status()
    if st["backend"] != "npu":
        raise SystemExit(f"no NPU back end here: {st['reason']}\n(run with --emulated for the emulation)")
    if not hasattr(torch.ops.enec_probe, "run"):
        raise SystemExit(f"{st['library']} has no probe kernels (torch.ops.enec_probe.run): "
                         "rebuild it with scripts/build_npu.sh")

    def run(kernel, blocks, inp, out, args):
        dev = torch.device("npu")
        i = torch.from_numpy(np.array(inp, dtype=np.uint8)).to(dev)
        o = torch.from_numpy(np.array(out, dtype=np.uint8)).to(dev)
        a = torch.from_numpy(np.array(args, dtype=np.uint32).view(np.int32)).to(dev)
        torch.ops.enec_probe.run(kernel, i, o, a, blocks)
        return o.cpu().numpy()
    return run


def harness_runner(cann_root: str, harness: str, exe: str | None = None) -> Runner:
    work = pathlib.Path(tempfile.mkdtemp(prefix="enec-probe-harness-"))
    atexit.register(shutil.rmtree, work, True)
    if not exe:
        exe = str(work / "probe_host")
        env = dict(os.environ, CANN_ROOT=cann_root, BUILD_DIR=str(work / "build"))
        r = subprocess.run(["bash", f"{harness}/build.sh", str(ROOT / "op_kernel/enec_probe.cpp"),
                            str(ROOT / "tests/ascendc_emu/harness/probe_host.cpp"), "-o", exe],
                           env=env, capture_output=True, text=True)
        if r.returncode:
            raise SystemExit(f"building the probes with the harness failed:\n{r.stdout[-2000:]}{r.stderr[-4000:]}")

    def run(kernel, blocks, inp, out, args):
        paths = [work / f"{p}.bin" for p in ("in", "out", "args")]
        for p, a in zip(paths, (inp, out, args)):
            np.ascontiguousarray(a).tofile(p)
        r = subprocess.run([exe, kernel, str(blocks), *map(str, paths)], capture_output=True, text=True)
        if r.returncode:
            raise RuntimeError(r.stderr.strip()[-2000:])
        return np.fromfile(paths[1], dtype=np.uint8)
    return run


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    where = ap.add_mutually_exclusive_group()
    where.add_argument("--emulated", action="store_true", help="run the probes under the project's emulation")
    where.add_argument("--harness", action="store_true",
                       help="run them through the real CANN headers on the CPU harness (needs CANN_ROOT)")
    ap.add_argument("--cores", type=int, default=DEFAULT_CORES, help="blocks for the multi-core probes")
    ap.add_argument("--only", action="append", default=[], metavar="PREFIX",
                    help="run only the probes whose name starts with PREFIX (repeatable), e.g. gathermask")
    ap.add_argument("--harness-dir", default=str(ROOT.parent / "shared" / "tools" / "ascendc-harness"))
    ap.add_argument("--harness-binary", help="an already built probe_host")
    args = ap.parse_args(argv)
    if args.emulated:
        run, where_ = emulated_runner(), "the emulation (tests/ascendc_emu)"
    elif args.harness:
        cann = os.environ.get("CANN_ROOT") or sys.exit("--harness needs CANN_ROOT (the CANN 8.1 tree, folder 8.1.RC1)")
        run, where_ = harness_runner(cann, args.harness_dir, args.harness_binary), "the real CANN headers (CPU harness)"
    else:
        run, where_ = npu_runner(), "the NPU"
    results = all_probes(run, args.cores, only=tuple(args.only))
    if not results:
        sys.exit(f"no probe matches {args.only}")
    for r in results:
        print(f"{'PASS' if r.ok else 'FAIL'}  {r.name}: {r.assumption}\n      {r.detail}")
    bad = sum(not r.ok for r in results)
    print(f"{len(results) - bad} of {len(results)} assumptions hold on {where_}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
