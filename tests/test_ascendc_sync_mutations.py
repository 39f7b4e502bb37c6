"""Every synchronisation statement of op_kernel/ is needed: deleting any one of them must fail.

For each `Sync<...>()` statement, and each TQue EnQue/DeQue pair, of the kernel sources, a copy
of op_kernel/ without it is compiled against the emulation (ENEC_EMU_KERNEL_DIR) and run by
tests/emu_sync_check.py. The emulation's pipe model must report a hazard (or the bytes must go
wrong); a deletion that goes unnoticed means the statement is not needed or the model is blind.
The unmutated kernels must run clean with the same script (the control).
"""
import os
import pathlib
import re
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
KDIR = ROOT / "op_kernel"
CHECK = ROOT / "tests" / "emu_sync_check.py"
SYNC = re.compile(r"^\s*Sync<HardEvent::\w+>\(\);")
ENQ = re.compile(r"^\s*(\w+)\.EnQue\(")
PROBES = "enec_probe.cpp"


def mutations():
    """(name, file, [line numbers to delete]) for every sync statement and EnQue/DeQue pair."""
    out = []
    for f in sorted(KDIR.iterdir()):
        # the hardware probes are not enec kernels: tests/test_npu_probe.py checks their syncs
        if f.suffix not in (".cpp", ".h") or f.name == PROBES:
            continue
        lines = f.read_text().splitlines()
        for i, line in enumerate(lines):
            if SYNC.match(line):
                out.append((f"{f.name}:{i + 1}:{line.strip()}", f.name, [i]))
            m = ENQ.match(line)
            if m:
                q = m.group(1)
                deq = next(j for j in range(i + 1, len(lines)) if f"{q}.DeQue<" in lines[j])
                # `auto o = q.DeQue<T>();` -> `auto o = <the enqueued tensor>;`
                out.append((f"{f.name}:{i + 1}:EnQue/DeQue of {q}", f.name, [i, deq]))
    return out


MUTATIONS = mutations()


def _run(kdir, tmp_path):
    env = dict(os.environ, ENEC_EMU_KERNEL_DIR=str(kdir), ENEC_EMU_CXXFLAGS="-O0",
               ENEC_EMU_BUILD=str(tmp_path / "build"))
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "python"), env.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, str(CHECK)], capture_output=True, text=True, env=env, timeout=600)


def _mutate(name, fname, dels, tmp_path):
    kdir = tmp_path / "op_kernel"
    shutil.copytree(KDIR, kdir)
    lines = (KDIR / fname).read_text().splitlines()
    enq = ENQ.match(lines[dels[0]]) if len(dels) == 2 else None
    if enq:
        tensor = re.search(r"EnQue\((\w+)\)", lines[dels[0]]).group(1)
        lines[dels[1]] = re.sub(r"\w+\.DeQue<\w+>\(\)", tensor, lines[dels[1]])
        lines[dels[0]] = ""
    else:
        for d in dels:
            lines[d] = ""
    (kdir / fname).write_text("\n".join(lines) + "\n")
    return kdir


def test_there_are_syncs_to_mutate():
    assert len(MUTATIONS) >= 10, MUTATIONS


def test_unmutated_kernels_run_clean(tmp_path):
    r = _run(KDIR, tmp_path)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("name,fname,dels", MUTATIONS, ids=[m[0] for m in MUTATIONS])
def test_deleting_a_sync_is_caught(name, fname, dels, tmp_path):
    kdir = _mutate(name, fname, dels, tmp_path)
    r = _run(kdir, tmp_path)
    assert r.returncode != 0, f"deleting {name} went unnoticed:\n{r.stdout}{r.stderr}"
    # the failure is the emulation's verdict (a hazard or wrong bytes), not a build error
    assert "Traceback" not in r.stderr, r.stderr[-2000:]
