"""A fixed-length coverage-guided (atheris/libFuzzer) run of each CPU decoder and of the emulated
decompress kernel; scripts/fuzz.py runs longer. A finding (crash, unexpected exception, for the
kernel also the emulation's GM bounds check firing) makes libFuzzer exit non-zero."""
import os
import subprocess
import sys

import pytest

from enec import codecs

SCRIPT = os.path.join(os.path.dirname(__file__), "..", "scripts", "fuzz.py")


@pytest.mark.parametrize("impl_name", list(codecs.implementations()))
def test_atheris_fixed_run(impl_name):
    import atheris  # noqa: F401  (a test dependency: missing means a failure, not a skip)
    env = dict(os.environ, ENEC_CPU_IMPL=impl_name)
    r = subprocess.run([sys.executable, SCRIPT, "-runs=10000", "-seed=7"], env=env,
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "Done 10000 runs" in r.stderr


def test_atheris_fixed_run_emulated():
    import atheris  # noqa: F401
    import emulated
    if not emulated.available():
        pytest.skip("kernel sources are not in this checkout")
    emulated.lib()          # build (cached) outside the fuzz run's time limit
    r = subprocess.run([sys.executable, SCRIPT, "--target=emulated", "-runs=5000", "-seed=7"],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "Done 5000 runs" in r.stderr
    # the structured mutations must get past the host checks into the kernel
    assert "decoded by the kernel" in r.stderr, r.stderr[-1000:]
