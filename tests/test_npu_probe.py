"""The hardware probes (scripts/npu_probe.py, op_kernel/enec_probe.cpp) under the emulation.

Every probe must pass under the emulation: it implements each hardware behaviour the kernels rely
on as we assume it. Negative controls show that a probe can fail: a deliberately wrong numpy
statement of an assumption (logical int16 ShiftRight, a counter-mode mask counted in total, Gather
offsets in elements), a back end that loses a byte, and the ordering probe without its
SetFlag/WaitFlag pair, which the emulation must reject. On an Ascend machine (marker npu) the
same probes run on the device.
"""
import importlib.util
import pathlib
import re
import shutil
import sys

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("npu_probe", ROOT / "scripts" / "npu_probe.py")
P = importlib.util.module_from_spec(_spec)
sys.modules["npu_probe"] = P            # dataclasses look their module up
_spec.loader.exec_module(P)

CORES = 8


@pytest.fixture(scope="module")
def run():
    return P.emulated_runner()


@pytest.fixture(scope="module")
def results(run):
    return {r.name: r for r in P.all_probes(run, cores=CORES)}


# the assumptions issue 13 lists, by result-name prefix
@pytest.mark.parametrize("prefix", [
    "gathermask.counter_1024x16", "gathermask.counter_48x16", "gathermask.counter_256x64_stride1", "gathermask.builtin_",
    "gather.byte_offsets",
    "pad_load.", "pad_store.", "adjacent_writes.", "shift.right_int16", "shift.", "events.fetch_does_not_reserve",
    "events.alloc_reserves", "events.release_frees", "events.queue_holds_id", "events.free_tensor_holds_id",
    "events.set_wait_orders_copy",
])
def test_every_probe_passes_under_the_emulation(results, prefix):
    mine = [r for name, r in results.items() if name.startswith(prefix)]
    assert mine, f"no probe result named {prefix}*"
    failed = [f"{r.name}: {r.detail}" for r in mine if not r.ok]
    assert not failed, failed


def test_probe_inventory(results):
    assert len(results) == 27
    assert all(r.assumption and r.detail for r in results.values())


def test_wrong_shift_assumption_fails(run):
    res = {r.name: r for r in P.probe_shifts(run, np.random.default_rng(1), arithmetic=False)}
    assert not res["shift.right_int16"].ok and "differ" in res["shift.right_int16"].detail
    assert res["shift.right_uint16"].ok and res["shift.left_int16"].ok


def test_wrong_gathermask_assumption_fails(run):
    rng = np.random.default_rng(2)
    assert not P.probe_gathermask_counter(run, rng, per_repeat=False).ok
    assert P.probe_gathermask_counter(run, rng).ok


def test_wrong_gather_assumption_fails(run):
    assert not P.probe_gather(run, np.random.default_rng(3), in_bytes=False).ok


def test_a_lost_byte_is_reported(run):
    def lossy(kernel, blocks, inp, out, args):
        got = run(kernel, blocks, inp, out, args)
        got[5] = P.OUT_FILL          # as if a neighbouring core's write had clobbered byte 5
        return got
    r = P.probe_adjacent_writes(lossy, np.random.default_rng(4), 4, CORES)
    assert not r.ok and "first at 5" in r.detail


def test_ordering_probe_without_its_sync_is_rejected(run):
    with pytest.raises(Exception, match="pipe hazard"):
        P.probe_events(run, np.random.default_rng(5), 2, skip_sync=True)


SYNC = re.compile(r"^\s*Sync<HardEvent::\w+>\(\);")
PROBE_SRC = ROOT / "op_kernel" / "enec_probe.cpp"
SYNC_LINES = [i for i, line in enumerate(PROBE_SRC.read_text().splitlines()) if SYNC.match(line)]


def test_there_are_probe_syncs():
    assert len(SYNC_LINES) >= 10


@pytest.mark.parametrize("line", SYNC_LINES, ids=[f"enec_probe.cpp:{i + 1}" for i in SYNC_LINES])
def test_deleting_a_probe_sync_is_caught(line, tmp_path):
    """Each Sync of a probe is needed (as for the enec kernels, tests/test_ascendc_sync_mutations.py):
    without it the emulation reports a hazard, so the probe's ordering is the one the device gets."""
    kdir = tmp_path / "op_kernel"
    shutil.copytree(ROOT / "op_kernel", kdir)
    lines = PROBE_SRC.read_text().splitlines()
    lines[line] = ""
    (kdir / "enec_probe.cpp").write_text("\n".join(lines) + "\n")
    run = P.probe_emu_runner(kdir, tmp_path / "build", ("-O0",))     # -O0: a faster build
    failed = [r for r in P.all_probes(run, cores=CORES) if not r.ok]
    assert failed, "deleting this Sync went unnoticed"


def test_cli_emulated_passes(capsys):
    assert P.main(["--emulated", "--cores", str(CORES)]) == 0
    out = capsys.readouterr().out
    assert "27 of 27 assumptions hold on the emulation" in out and "FAIL" not in out


def test_cli_only_runs_the_named_probes(capsys):
    assert P.main(["--emulated", "--only", "shift.", "--only", "gather.", "--cores", "2"]) == 0
    out = capsys.readouterr().out
    assert "5 of 5 assumptions hold" in out and "gathermask" not in out


def _device() -> bool:
    import enec.npu
    return enec.npu.status()["backend"] == "npu"


def test_cli_without_a_device_says_why():
    if _device():
        pytest.skip("an NPU is here: test_every_probe_passes_on_the_npu runs the probes on it")
    with pytest.raises(SystemExit, match="no NPU back end|torch_npu"):
        P.main([])


@pytest.mark.npu
def test_every_probe_passes_on_the_npu():
    """The kit for the first Ascend machine (python -m pytest -m npu tests): every assumption holds
    on the device."""
    if not _device():
        pytest.skip("no Ascend NPU with the enec binding here (enec.npu.status())")
    results = P.all_probes(P.npu_runner())
    failed = [f"{r.name}: {r.assumption}: {r.detail}" for r in results if not r.ok]
    assert not failed, failed
