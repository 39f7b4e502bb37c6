"""A fixed-length coverage-guided (atheris/libFuzzer) run of each CPU decoder; scripts/fuzz.py
runs longer. A finding (crash, unexpected exception) makes libFuzzer exit non-zero."""
import os
import subprocess
import sys

import pytest

from enec import cpu

SCRIPT = os.path.join(os.path.dirname(__file__), "..", "scripts", "fuzz.py")


@pytest.mark.parametrize("impl_name", list(cpu.implementations()))
def test_atheris_fixed_run(impl_name):
    import atheris  # noqa: F401  (a test dependency: missing means a failure, not a skip)
    env = dict(os.environ, ENEC_CPU_IMPL=impl_name)
    r = subprocess.run([sys.executable, SCRIPT, "-runs=10000", "-seed=7"], env=env,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "Done 10000 runs" in r.stderr
