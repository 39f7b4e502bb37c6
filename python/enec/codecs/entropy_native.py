"""Native kernels of the entropy codec (codec 5): python/enec/csrc/entropy_native.cpp through
ctypes (the library enec._enec_entropy).

Optional: when the library is not built, `available()` is False and the numpy reference runs.
`ENTROPY` has the signatures of `entropy.Reference` (plus `encode_into`, which writes the sections
straight into the blob) and produces the same bytes (tests/test_codecs_entropy.py).
ENEC_ENTROPY_LIB points at another build (CI's sanitizer build). Calls release the GIL (ctypes)
and split their blocks over torch.get_num_threads() threads.
"""
from __future__ import annotations

import ctypes

import numpy as np

from .._native_lib import aligned_empty, load
from ..errors import CorruptStreamError
from . import _bits, entropy

ABI_VERSION = 3          # entropy_abi_version() of the library this module was written for

_lib = None
_load_error = None


def _load():
    global _lib, _load_error
    if _lib is not None or _load_error is not None:
        return _lib
    lib, _load_error = load("_enec_entropy", "ENEC_ENTROPY_LIB", "entropy_abi_version", ABI_VERSION)
    if lib is None:
        return None
    i64, i32, vp = ctypes.c_int64, ctypes.c_int, ctypes.c_void_p
    lib.entropy_histogram.argtypes = [vp, i64, i32, i64, vp, vp, i32]
    lib.entropy_histogram.restype = i32
    lib.entropy_encode.argtypes = [vp, i64, i32, i32, vp, i32, i64, vp, vp, vp, vp, i64, vp, i32]
    lib.entropy_encode.restype = i64
    lib.entropy_decode.argtypes = [vp, i64, vp, vp, i64, i32, i32, vp, i32, i64, vp, vp, vp, i32]
    lib.entropy_decode.restype = i32
    for f in ("entropy_set_simd",):
        getattr(lib, f).argtypes = [i32]
        getattr(lib, f).restype = i32
    for f in ("entropy_simd_level", "entropy_simd_detected"):
        getattr(lib, f).argtypes = []
        getattr(lib, f).restype = i32
    lib.entropy_advise_huge.argtypes = [vp, i64]
    lib.entropy_advise_huge.restype = None
    lib.entropy_prefault.argtypes = [vp, i64, i32]
    lib.entropy_prefault.restype = None
    _lib = lib
    return lib


def available() -> bool:
    return _load() is not None


def load_error():
    _load()
    return _load_error


SIMD_NAMES = {0: "portable C++", 1: "AVX2", 2: "AVX-512"}


def simd_level() -> int:
    """The kernels in use: 0 portable C++, 1 AVX2, 2 AVX-512 (BW, VBMI, VBMI2)."""
    return int(_load().entropy_simd_level())


def simd_detected() -> int:
    """The best kernel level this CPU supports (ignores set_simd)."""
    return int(_load().entropy_simd_detected())


def set_simd(enable) -> None:
    """Cap the kernel level (every level writes the same bytes; for tests): True = the best the
    CPU has, False or 0 = portable C++, 1 = at most AVX2, 2 = at most AVX-512."""
    _load().entropy_set_simd(2 if enable is True else 0 if enable is False else int(enable))


def _empty(n: int, dtype, populate: int = 0) -> np.ndarray:
    """An uninitialised array (_native_lib.aligned_empty: huge pages when large); `populate`:
    bytes from the start written whole right away, whose pages are mapped now."""
    return aligned_empty(_load(), "entropy", n, dtype, populate, _threads() if populate else 1)


def surely_written(plan, lay) -> int:
    """Bytes from the blob's start that the encoder is sure to write: the head and raw section
    exactly (lay.rans_off), then the rANS section as far as the plan's estimate less its slack:
    the estimate counts each symbol's ideal code length, and the coder's bytes stay within 0.2 %
    of it, up to 16 bytes a block below (the final lane states hold the last bits)."""
    rans_est = plan.est_bytes - lay.rans_off - 16 * lay.blocks
    return lay.rans_off + max(0, int(0.995 * rans_est))


def _fits(a, dtype, n: int, exact: bool) -> bool:
    """Whether the caller's array `a` can take the kernel's output in place: a writeable,
    C-contiguous 1-D array of `dtype` with n elements (at least n when not exact)."""
    return (isinstance(a, np.ndarray) and a.dtype == dtype and a.ndim == 1 and a.flags.c_contiguous
            and a.flags.writeable and (a.size == n if exact else a.size >= n))


def _threads() -> int:
    import torch                         # the thread count the rest of enec uses
    return max(1, torch.get_num_threads())


def _p(a: np.ndarray) -> int:
    return a.ctypes.data if a.size else 0


# the reference's messages, so that both implementations give the same verdict in the same words
ERRORS = {-1: "entropy: a block's rANS bytes are fewer than its lane states, or odd",
          -2: "entropy: a rANS lane state is below 2^16",
          -3: "entropy: a block's rANS words run out before its elements",
          -4: "entropy: a block's rANS stream does not end where the block ends",
          -5: "entropy: invalid frequency table",
          -6: "entropy: raw section size disagrees with the element count"}


def _args(plan, spec, numel, roff=None):
    """The plan as the library takes it: tables (u32), blocks per table, shifts or None, and the
    blocks' raw byte offsets (blocks + 1, int64; the decoder checks them against the shifts;
    `roff` when the caller has them already)."""
    tables = np.ascontiguousarray(plan.tables, dtype=np.uint32)
    blocks = entropy.num_blocks(numel)
    seg = min(plan.seg_blocks, max(1, blocks))
    shifts = None if plan.shifts is None else np.ascontiguousarray(plan.shifts, dtype=np.uint8)
    if roff is None:
        roff = entropy.raw_offsets(numel, spec, plan.k, shifts) if blocks else np.zeros(1, np.int64)
    return tables, seg, shifts, np.ascontiguousarray(roff, dtype=np.int64)


class ENTROPY:
    name = "native"

    @staticmethod
    def histogram(words, spec):
        words = np.ascontiguousarray(words).reshape(-1)
        blocks = entropy.num_blocks(words.size)
        nseg = (blocks + entropy.SEG_BLOCKS - 1) // entropy.SEG_BLOCKS
        a = entropy.alphabet(spec, entropy.MAX_TOP)
        hist = np.zeros((nseg, a), dtype=np.int64)
        mant_or = np.zeros(blocks, dtype=np.uint32)
        rc = _load().entropy_histogram(_p(words), words.size, spec.code, entropy.SEG_BLOCKS, _p(hist),
                                       _p(mant_or), _threads())
        if rc:
            raise RuntimeError(f"entropy_histogram failed ({rc})")
        return hist, mant_or.astype(np.int64)

    @staticmethod
    def encode_into(words, spec, plan, lay, out=None):
        """A blob with the raw, index and rANS sections written and every gap zeroed, and the
        blob's size. The blob is `out` (a uint8 array) when it holds the encoder's worst case,
        else np.empty of that size (pages never written cost nothing)."""
        words = np.ascontiguousarray(words).reshape(-1)
        cap = lay.blocks * entropy.STATE_BYTES + 2 * words.size
        need = lay.rans_off + cap
        if _fits(out, np.uint8, need, exact=False):
            blob = out[:need]
        else:
            # the pages the encoder writes, mapped first by its threads (_native_lib.aligned_empty)
            blob = _empty(need, np.uint8, populate=surely_written(plan, lay))
        blob[lay.raw_off + lay.raw_bytes:lay.rans_off] = 0
        blob[lay.index_off + 8 * lay.blocks:lay.raw_off] = 0
        tables, seg, shifts, roff = _args(plan, spec, words.size, lay.raw_offs)
        used = _load().entropy_encode(_p(words), words.size, spec.code, plan.k, tables.ctypes.data,
                                      tables.shape[1], seg, _p(shifts) if shifts is not None else 0, _p(roff),
                                      blob.ctypes.data + lay.raw_off, blob.ctypes.data + lay.rans_off, cap,
                                      blob.ctypes.data + lay.index_off, _threads())
        if used < 0:
            raise RuntimeError(f"entropy_encode failed ({used})")
        return blob, lay.rans_off + int(used)

    @staticmethod
    def encode(words, spec, plan):
        """The reference's (raw bytes, rANS bytes, ends), from encode_into (for tests)."""
        words = np.ascontiguousarray(words).reshape(-1)
        lay = entropy.layout(words.size, 1, spec, plan.k, [0] * len(plan.tables), plan.shifts)
        blob, total = ENTROPY.encode_into(words, spec, plan, lay)
        ends = blob[lay.index_off:lay.index_off + 8 * lay.blocks].view("<i8").astype(np.int64)
        return blob[lay.raw_off:lay.raw_off + lay.raw_bytes].copy(), blob[lay.rans_off:total].copy(), ends

    @staticmethod
    def decode(raw_buf, rans, ends, numel, spec, plan, out=None):
        """The words (into `out`, a flat C-contiguous word array of numel words, when given)."""
        raw_buf, rans = np.ascontiguousarray(raw_buf), np.ascontiguousarray(rans)
        ends = np.require(ends, np.int64, ["C", "A"])     # (an index read from an unaligned blob: copied)
        if ends.size != entropy.num_blocks(numel):
            raise CorruptStreamError("entropy: block index has the wrong length")
        _bits.check_ends(ends, rans.size, "entropy block index")     # (the library relies on it)
        tables, seg, shifts, roff = _args(plan, spec, numel)
        wt = np.uint16 if spec.word_bits == 16 else np.uint32
        if not _fits(out, wt, numel, exact=True):
            out = _empty(numel, wt, populate=numel * np.dtype(wt).itemsize)
        rc = _load().entropy_decode(_p(raw_buf), raw_buf.size, _p(rans), _p(ends), numel, spec.code, plan.k,
                                    tables.ctypes.data, tables.shape[1], seg,
                                    _p(shifts) if shifts is not None else 0, _p(roff), _p(out), _threads())
        if rc:
            raise CorruptStreamError(ERRORS.get(rc, f"entropy: decode error {rc}"))
        return out
