"""Output buffers' pages (python/enec/csrc/enec_native/pages.h, enec/_native_lib.aligned_empty):
both native libraries map a fresh decoder output's pages before writing it. Mapping must never
change a byte, and a populated buffer must really be mapped (its memory resident)."""
import sys

import numpy as np
import pytest

from enec import _native_lib, native
from enec.codecs import entropy_native

LIBS = {"enec": native, "entropy": entropy_native}


def _lib(prefix):
    mod = LIBS[prefix]
    if not mod.available():        # a failure, not a skip: the native libraries are part of the package
        pytest.fail(f"the {prefix} native library is not built: {mod.load_error()}")
    return mod._load()


@pytest.mark.parametrize("prefix", list(LIBS))
def test_prefault_keeps_every_byte(prefix):
    """At any offset and length (page-aligned or not, under one page, empty), from 1 to 4 threads
    (slices that split pages between threads): the bytes are those written before."""
    prefault = getattr(_lib(prefix), prefix + "_prefault")
    buf = np.random.default_rng(5).integers(0, 256, (24 << 20) + 12345, dtype=np.uint8)
    ref = buf.copy()
    for off, n, threads in ((0, buf.size, 3), (7, (9 << 20) + 1, 2), (4095, 1, 2), (4097, 8190, 4),
                            (100, 0, 2), (1, (17 << 20) - 3, 4), (0, buf.size, 1)):
        prefault(buf.ctypes.data + off, n, threads)
        assert np.array_equal(buf, ref), (off, n, threads)


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/self/statm")
@pytest.mark.parametrize("prefix", list(LIBS))
def test_populated_output_is_resident(prefix):
    """aligned_empty(..., populate=bytes) returns a 2 MB aligned array whose first `populate`
    bytes are mapped already (resident memory grows by that much, not more); without populate
    nothing is touched."""
    lib = _lib(prefix)
    n = 48 << 20
    grown = []
    arrays = []
    for populate in (0, n, n // 3):
        before = _rss()
        arrays.append(_native_lib.aligned_empty(lib, prefix, n // 2, np.uint16, populate, 2))
        grown.append(_rss() - before)
    lazy, eager, part = arrays
    assert eager.ctypes.data % _native_lib.HUGE_PAGE == 0 and eager.size == n // 2
    assert grown[0] < (4 << 20), grown
    assert grown[1] >= n - (4 << 20), grown
    assert n // 3 - (4 << 20) <= grown[2] <= n // 3 + (4 << 20), grown
    eager[:] = 7                   # writable, and every element is there
    assert int(eager.sum(dtype=np.int64)) == 7 * (n // 2)
