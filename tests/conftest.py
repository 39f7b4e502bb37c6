"""Shared fixtures: the CPU implementations under test and the real MiniLM weights.

tests/support/ holds the development tools the tests import as top-level modules: `emulated`
(the AscendC kernels under the emulation) and `testdata` (the real test weights); they are not
part of the installed package."""
import os
import sys

import pytest
import torch

from enec import codecs

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))


def _impl_names():
    names = list(codecs.implementations())
    # CI builds the native path; there its absence is a failure, not a skip.
    if os.environ.get("ENEC_REQUIRE_NATIVE") == "1" and "native" not in names:
        raise RuntimeError("ENEC_REQUIRE_NATIVE=1 but the native CPU implementation is not built")
    return names


IMPL_NAMES = _impl_names()


@pytest.fixture(params=IMPL_NAMES)
def impl(request, monkeypatch):
    """Runs a test once per CPU implementation, with the ops routed to it."""
    monkeypatch.setenv("ENEC_CPU_IMPL", request.param)
    return codecs.get_impl(request.param)


@pytest.fixture(scope="session")
def minilm_fp32():
    import testdata
    return testdata.minilm_state_dict("float32")


@pytest.fixture(scope="session")
def minilm_bf16():
    import testdata
    return testdata.minilm_state_dict("bfloat16")


def bits(t: torch.Tensor) -> torch.Tensor:
    """Bit patterns of a float tensor, for exact comparison (NaN payloads, -0.0)."""
    view = {2: torch.int16, 4: torch.int32, 1: torch.uint8, 8: torch.int64}[t.element_size()]
    return t.contiguous().view(view)


def assert_bit_equal(a: torch.Tensor, b: torch.Tensor):
    assert a.dtype == b.dtype and a.shape == b.shape, (a.dtype, a.shape, b.dtype, b.shape)
    ba, bb = bits(a).reshape(-1), bits(b).reshape(-1)
    if not torch.equal(ba, bb):
        bad = (ba != bb).nonzero()[:5].reshape(-1).tolist()
        raise AssertionError(f"bit mismatch at flat indices {bad}: "
                             f"{[hex(int(ba[i])) for i in bad]} vs {[hex(int(bb[i])) for i in bad]}")
