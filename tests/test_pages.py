"""Output buffers' pages (python/enec/csrc/enec_native/pages.h, enec/_native_lib.aligned_empty):
both native libraries map a fresh decoder output's pages before writing it. Mapping must never
change a byte, and a populated buffer must really be mapped (its pages resident)."""
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


_RESIDENT = """
import ctypes, sys
import numpy as np
from enec import _native_lib, native
from enec.codecs import entropy_native
prefix = sys.argv[1]
lib = {"enec": native, "entropy": entropy_native}[prefix]._load()
libc = ctypes.CDLL(None)
libc.mincore.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p]

def resident(a):                     # bytes of a's pages that are mapped (mincore)
    page = 4096
    start = a.ctypes.data - a.ctypes.data % page
    pages = (a.ctypes.data + a.nbytes - start + page - 1) // page
    vec = (ctypes.c_ubyte * pages)()
    assert libc.mincore(start, pages * page, vec) == 0
    return sum(v & 1 for v in vec) * page

n = 48 << 20
arrays = [_native_lib.aligned_empty(lib, prefix, n // 2, np.uint16, populate, 2) for populate in (0, n, n // 3)]
assert all(a.ctypes.data % _native_lib.HUGE_PAGE == 0 and a.size == n // 2 for a in arrays)
print(*[resident(a) for a in arrays])
arrays[1][:] = 7                     # writable, every element there
assert int(arrays[1].sum(dtype=np.int64)) == 7 * (n // 2)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="mincore on anonymous memory: Linux")
@pytest.mark.parametrize("prefix", list(LIBS))
def test_populated_output_is_resident(prefix):
    """aligned_empty(..., populate=bytes) returns a 2 MB aligned array whose first `populate`
    bytes are mapped already, and not more; without populate nothing is touched. Measured with
    mincore in a fresh interpreter (in this one, freed memory may come back already mapped)."""
    import subprocess
    _lib(prefix)
    r = subprocess.run([sys.executable, "-c", _RESIDENT, prefix], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    lazy, eager, part = (int(v) for v in r.stdout.split())
    n = 48 << 20
    assert lazy < (4 << 20), (lazy, eager, part)
    assert eager == n, (lazy, eager, part)
    assert n // 3 - (4 << 20) <= part <= n // 3 + (4 << 20), (lazy, eager, part)
