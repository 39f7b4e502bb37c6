"""Loading enec's compiled libraries through ctypes: one loader for all three (the ENEC codec's
`_enec_native*.so`, the QLC/APack/sparse kernels' `_enec_codecs*.so` and the entropy codec's
`_enec_entropy*.so`), each checked against
the ABI version its Python binding was written for, so a stale build is refused with a message
instead of being called with the wrong signatures."""
from __future__ import annotations

import ctypes
import glob
import importlib.machinery
import os

PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))


def _candidates(stem: str) -> list:
    """This interpreter's build first (its extension suffix), then any other build left here."""
    own = [os.path.join(PACKAGE_DIR, stem + s) for s in importlib.machinery.EXTENSION_SUFFIXES]
    others = sorted(glob.glob(os.path.join(PACKAGE_DIR, stem + "*.so")))
    return [p for p in own if os.path.exists(p)] + [p for p in others if p not in own]


def load(stem: str, env_var: str, version_symbol: str, version: int):
    """(library, None) or (None, why not). `env_var` names another build to load instead (CI's
    sanitizer builds); `version_symbol()` must return `version`."""
    paths = [os.environ[env_var]] if os.environ.get(env_var) else _candidates(stem)
    if not paths:
        return None, f"the native library {stem} is not built (pip install -e . builds it)"
    errors = []
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
            fn = getattr(lib, version_symbol)
        except (OSError, AttributeError) as e:
            errors.append(f"{path}: {e}")
            continue
        fn.argtypes, fn.restype = [], ctypes.c_int
        got = fn()
        if got == version:
            return lib, None
        errors.append(f"{path}: ABI version {got}, this enec needs {version} "
                      f"(rebuild: python setup.py build_ext --inplace)")
    return None, "; ".join(errors)


HUGE_PAGE = 2 << 20
HUGE_MIN_BYTES = 8 << 20     # arrays this large get huge pages


def aligned_empty(lib, prefix: str, n: int, dtype, populate: int = 0, nthreads: int = 1):
    """An uninitialised output array of n `dtype` elements, 64-byte aligned (the libraries write
    large outputs with aligned non-temporal stores). A large one starts on a 2 MB boundary with
    transparent huge pages (`<prefix>_advise_huge`): fewer first-touch page faults, and a decoder
    hands each thread whole 2 MB pages; the skipped head is never touched, so it costs address
    space, not memory.

    populate: bytes from the start that the caller is about to write whole from `nthreads`
    threads; in a large array their pages are mapped now, by those threads (`<prefix>_prefault`,
    enec_native/pages.h). A decoder's output (all of it): its non-temporal stores then do not meet
    the lines the kernel has just cleared; 64 Mi BF16, 2 threads, fresh output: ENEC's decode
    22 -> 16 ms, the entropy codec's 41 -> 28 ms. The entropy encoder's blob as far as it is
    sure to write (entropy_native.surely_written; the rest is a worst case never written whole):
    its threads place their blocks in order, and a page clearing inside that order stalls both;
    55 -> 51.5 ms."""
    import numpy as np
    dtype = np.dtype(dtype)
    nbytes = n * dtype.itemsize
    align = HUGE_PAGE if nbytes >= HUGE_MIN_BYTES else 64
    raw = np.empty(nbytes + align, dtype=np.uint8)
    skip = (-raw.ctypes.data) % align
    a = raw[skip:skip + nbytes].view(dtype)
    if align == HUGE_PAGE:
        getattr(lib, prefix + "_advise_huge")(a.ctypes.data, a.nbytes)
        if populate > 0:
            getattr(lib, prefix + "_prefault")(a.ctypes.data, min(int(populate), a.nbytes), nthreads)
    return a
