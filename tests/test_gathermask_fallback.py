"""The two build-time forms of the outlier compaction (op_kernel/enec_common.h CompactFlaggedLanes)
and of enec_histogram's bit count (op_kernel/enec_params.cpp Compact).

GatherMask in counter mode with more than 128 elements per repeat is not confirmed by the A2
documentation. With -DENEC_GATHERMASK_COUNTER_MAX=128 the kernels avoid it; an emulation built with
-DEMU_GATHERMASK_COUNTER_MAX=128 rejects it. Both kernel forms must produce the reference's bytes,
and the strict emulation must catch the wide form (so it proves the narrow form avoids it).
"""
import os
import re
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]
CHECK = ROOT / "tests" / "emu_gathermask_check.py"


def _run(flags: str, tmp_path):
    env = dict(os.environ, ENEC_EMU_CXXFLAGS=flags, ENEC_EMU_BUILD=str(tmp_path / "build"))
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "python"), env.get("PYTHONPATH", "")])
    return subprocess.run([sys.executable, str(CHECK)], capture_output=True, text=True, env=env, timeout=900)


def test_narrow_form_makes_the_reference_bytes_under_the_strict_emulation(tmp_path):
    r = _run("-DENEC_GATHERMASK_COUNTER_MAX=128 -DEMU_GATHERMASK_COUNTER_MAX=128", tmp_path)
    assert r.returncode == 0 and r.stdout.strip() == "OK", r.stderr[-3000:]
    assert "UB use" not in r.stderr                # fits the unified buffer without the API's reserve


def test_wide_form_is_caught_by_the_strict_emulation(tmp_path):
    r = _run("-DEMU_GATHERMASK_COUNTER_MAX=128", tmp_path)
    assert r.returncode != 0
    # the first wide GatherMask to run: enec_histogram's bit count (256 per repeat) when the
    # parameters are chosen on the device, the outlier compaction (1024) otherwise
    assert re.search(r"GatherMask: counter mode with (256|1024) elements per repeat, above the 128", r.stderr)
