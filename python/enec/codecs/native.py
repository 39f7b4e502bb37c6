"""Native kernels of QLC, APack and the sparse pattern coder: python/enec/csrc/codecs_native.cpp
through ctypes.

Optional: when the library is not built, `available()` is False and the numpy references run.
The kernel classes have the signatures of `qlc.Reference`, `apack.Reference` and
`sparse.Reference` (the zero-pattern coder) and produce the same bytes
(tests/test_codecs_native.py, tests/test_codecs_sparse_native.py). ENEC_CODECS_LIB points at
another build.
"""
from __future__ import annotations

import ctypes

import numpy as np

from .. import _native_lib
from ..errors import CorruptStreamError
from . import apack, qlc, sparse

ABI_VERSION = 4          # codecs_abi_version() of the library this module was written for

_lib = None
_load_error = None


def _load():
    global _lib, _load_error
    if _lib is not None or _load_error is not None:
        return _lib
    lib, _load_error = _native_lib.load("_enec_codecs", "ENEC_CODECS_LIB", "codecs_abi_version", ABI_VERSION)
    if lib is None:
        return None
    i64, i32, vp = ctypes.c_int64, ctypes.c_int, ctypes.c_void_p
    lib.codecs_hist8.argtypes = [vp, i64, vp]
    lib.codecs_hist8.restype = None
    lib.qlc_encode.argtypes = [vp, i64, vp, vp, vp, i64, vp, vp, i64, vp]
    lib.qlc_encode.restype = i64
    lib.qlc_decode.argtypes = [vp, i64, vp, i64, vp, i64, vp, vp, i64, vp]
    lib.qlc_decode.restype = i32
    lib.apack_encode.argtypes = [vp, i64, vp, vp, vp, vp, i32, i64, vp, i64, vp, vp, i64, vp]
    lib.apack_encode.restype = i32
    lib.apack_decode.argtypes = [vp, i64, vp, vp, i64, vp, i64, vp, vp, vp, vp, i32, vp, i64, vp]
    lib.apack_decode.restype = i32
    lib.sparse_pattern_encode.argtypes = [i32, i32, i64, i64, vp, i64, vp, i64]
    lib.sparse_pattern_encode.restype = i64
    lib.sparse_pattern_decode.argtypes = [i32, i32, i64, i64, i64, vp, i64, vp, vp]
    lib.sparse_pattern_decode.restype = i32
    lib.sparse_scan.argtypes = [vp, i64, i32, vp, vp, vp, i32]
    lib.sparse_scan.restype = i64
    lib.sparse_set_simd.argtypes = [i32]
    lib.sparse_set_simd.restype = i32
    _lib = lib
    return lib


def available() -> bool:
    return _load() is not None


def load_error():
    _load()
    return _load_error


def _p(a: np.ndarray):
    return a.ctypes.data


def _c(a, dtype):
    return np.ascontiguousarray(a, dtype=dtype)


def _hist(sym):
    sym = _c(sym, np.uint8)
    h = np.zeros(256, dtype=np.int64)
    _load().codecs_hist8(_p(sym), sym.size, _p(h))
    return h


_QLC_ERRORS = {-1: "qlc: a prefix names an empty area",
               -2: "qlc: chunk index disagrees with the code lengths of its prefixes",
               -3: "qlc: a chunk has non-zero padding bits",
               -4: "qlc: an index lies past its area's symbols"}
_APACK_ERRORS = {-1: "apack: a chunk's rANS stream is shorter than its states or odd",
                 -2: "apack: a rANS lane state is below 2^16",
                 -3: "apack: a chunk's rANS stream ends early",
                 -4: "apack: a rANS stream does not end where its chunk ends",
                 -5: "apack: offset chunk index disagrees with the decoded ranges",
                 -6: "apack: a chunk has non-zero offset padding bits",
                 -7: "apack: an offset lies outside its range"}


class QLC:
    name = "native"

    histogram = staticmethod(_hist)

    @staticmethod
    def encode(sym, area_of, index_of, k):
        sym = _c(sym, np.uint8)
        n = sym.size
        chunks = (n + qlc.CHUNK - 1) // qlc.CHUNK
        prefix = np.zeros((3 * n + 7) // 8, dtype=np.uint8)
        data = np.empty(n + chunks, dtype=np.uint8)
        ends = np.zeros(chunks, dtype=np.int64)
        area_of, index_of, k = _c(area_of, np.uint8), _c(index_of, np.uint16), _c(k, np.uint8)
        used = _load().qlc_encode(_p(sym), n, _p(area_of), _p(index_of), _p(k), qlc.CHUNK,
                                  _p(prefix), _p(data), data.size, _p(ends))
        if used < 0:
            raise RuntimeError("qlc_encode: output capacity exceeded")
        return prefix, data[:used], ends

    @staticmethod
    def decode(prefix_buf, data_buf, ends, numel, counts, symbols):
        prefix_buf, data_buf = _c(prefix_buf, np.uint8), _c(data_buf, np.uint8)
        ends, counts = _c(ends, np.int64), _c(counts, np.int64)
        symbols = _c(symbols, np.uint8)
        if ends.size != (numel + qlc.CHUNK - 1) // qlc.CHUNK:
            raise CorruptStreamError("qlc: chunk index has the wrong length")
        out = np.empty(numel, dtype=np.uint8)
        rc = _load().qlc_decode(_p(prefix_buf), prefix_buf.size, _p(data_buf), data_buf.size, _p(ends),
                                numel, _p(counts), _p(symbols), qlc.CHUNK, _p(out))
        if rc:
            raise CorruptStreamError(_QLC_ERRORS.get(rc, f"qlc: decode error {rc}"))
        return out


class APACK:
    name = "native"

    histogram = staticmethod(_hist)

    @staticmethod
    def encode(sym, rng_of_byte, off_of_byte, widths, freqs):
        sym = _c(sym, np.uint8)
        n = sym.size
        chunks = (n + apack.CHUNK - 1) // apack.CHUNK
        rans = np.empty(chunks * apack.STATE_BYTES + 2 * n, dtype=np.uint8)
        offs = np.empty(n + chunks, dtype=np.uint8)
        rans_ends = np.zeros(chunks, dtype=np.int64)
        off_ends = np.zeros(chunks, dtype=np.int64)
        widths8 = _c(widths, np.uint8)
        freq32 = _c(freqs, np.uint32)
        rng_of_byte, off_of_byte = _c(rng_of_byte, np.uint8), _c(off_of_byte, np.uint8)
        rc = _load().apack_encode(_p(sym), n, _p(rng_of_byte), _p(off_of_byte), _p(widths8), _p(freq32),
                                  freq32.size, apack.CHUNK, _p(rans), rans.size, _p(rans_ends),
                                  _p(offs), offs.size, _p(off_ends))
        if rc:
            raise RuntimeError("apack_encode: output capacity exceeded")
        rl = int(rans_ends[-1]) if chunks else 0
        ol = int(off_ends[-1]) if chunks else 0
        return rans[:rl], rans_ends, offs[:ol], off_ends

    @staticmethod
    def decode(rans, rans_ends, offs, off_ends, numel, freqs, widths, sizes, starts, inv):
        rans, offs = _c(rans, np.uint8), _c(offs, np.uint8)
        rans_ends, off_ends = _c(rans_ends, np.int64), _c(off_ends, np.int64)
        freq32, widths8 = _c(freqs, np.uint32), _c(widths, np.uint8)
        sizes, starts, inv = _c(sizes, np.int64), _c(starts, np.int64), _c(inv, np.uint8)
        chunks = (numel + apack.CHUNK - 1) // apack.CHUNK
        if rans_ends.size != chunks or off_ends.size != chunks:
            raise CorruptStreamError("apack: chunk index has the wrong length")
        out = np.empty(numel, dtype=np.uint8)
        rc = _load().apack_decode(_p(rans), rans.size, _p(rans_ends), _p(offs), offs.size, _p(off_ends),
                                  numel, _p(freq32), _p(widths8), _p(sizes), _p(starts), freq32.size,
                                  _p(inv), apack.CHUNK, _p(out))
        if rc:
            raise CorruptStreamError(_APACK_ERRORS.get(rc, f"apack: decode error {rc}"))
        return out


_SPARSE_ERRORS = {-2: "non-zero padding bits",
                  -4: "pattern shorter than its block bitmap",
                  -5: "a block marked non-empty has no non-zero",
                  -6: "a non-zero lies past the tensor's end",
                  -7: "fewer non-zeros in the pattern than the header says",
                  -8: "row pointers are not 0 .. nnz, non-decreasing",
                  -9: "a column index is past the row length",
                  -10: "column indices not increasing within a row",
                  -11: "format or parameter not supported by the native kernel"}


def _pattern_params_ok(fmt_id, param):
    return ((fmt_id == sparse.BITMAP and param == 0) or (fmt_id == sparse.BITMAP2 and param in sparse.BITMAP2_LOG2)
            or (fmt_id == sparse.RLE and param in sparse.RLE_WIDTHS) or (fmt_id == sparse.CSR and param == 0))


def set_scan_simd(enable: bool) -> bool:
    """Allow (default) or forbid SPARSE.scan's AVX-512 compaction; returns whether the CPU has it."""
    return bool(_load().sparse_set_simd(1 if enable else 0))


def _scan_of(words, values, bitmap, counts, nnz) -> sparse.Scan:
    """The Scan of sparse_scan's outputs (counts: the bitmap2 block counts, then the fillers)."""
    nonempty = {p: int(counts[k]) for k, p in enumerate(sparse.BITMAP2_LOG2)}
    fillers = {w: int(counts[8 + k]) for k, w in enumerate(sparse.RLE_WIDTHS)}
    return sparse.Scan(words, values, bitmap, nonempty, fillers, nnz)


class SPARSE:
    """Zero-pattern coder of codec 4 (`sparse.Reference`'s signatures and bytes)."""
    name = "native"

    @staticmethod
    def scan(words, values=True):
        """sparse.scan in one native pass (no positions: they are found only if a format needs them).
        values=False: the Scan's values are None (not extracted: the caller codes them from the
        words and the bitmap)."""
        words = np.ascontiguousarray(words).reshape(-1)
        if words.dtype.itemsize not in (1, 2, 4):
            return sparse.scan(words)
        want_values = values
        values = np.empty_like(words) if want_values else None
        bitmap = np.zeros((words.size + 7) // 8, dtype=np.uint8)
        counts = np.zeros(32, dtype=np.int64)
        import torch                         # the thread count the rest of enec uses
        nnz = _load().sparse_scan(_p(words), words.size, words.dtype.itemsize, _p(values) if want_values else None,
                                  _p(bitmap), _p(counts), torch.get_num_threads())
        return _scan_of(words, values[:nnz] if want_values else None, bitmap, counts, nnz)

    @staticmethod
    def count(words, bitmap):
        """The Scan of `words` from their bitmap pattern (computed elsewhere, e.g. by
        enec.native.analyze_bitmap): the counts without reading the words; values not extracted."""
        words = np.ascontiguousarray(words).reshape(-1)
        bitmap = np.ascontiguousarray(bitmap, dtype=np.uint8).reshape(-1)
        if bitmap.size != (words.size + 7) // 8:
            raise ValueError(f"bitmap of {bitmap.size} bytes for {words.size} words")
        counts = np.zeros(32, dtype=np.int64)
        import torch
        nnz = _load().sparse_scan(None, words.size, words.dtype.itemsize, None, _p(bitmap), _p(counts),
                                  torch.get_num_threads())
        return _scan_of(words, None, bitmap, counts, nnz)

    @staticmethod
    def encode_pattern(fmt_id, param, numel, shape, pos):
        fmt_id, param, numel = int(fmt_id), int(param), int(numel)
        if fmt_id == sparse.DENSE or not _pattern_params_ok(fmt_id, param):
            # dense has no pattern; other (format, parameter) pairs are not part of the format
            return sparse.Reference.encode_pattern(fmt_id, param, numel, shape, pos)
        pos = _c(pos, np.int64).reshape(-1)
        nnz = pos.size
        cols = sparse.row_len(shape)
        # capacity: an upper bound on the exact size (the kernel returns the bytes it used)
        if fmt_id == sparse.BITMAP:
            bits = numel
        elif fmt_id == sparse.BITMAP2:
            s = 1 << param
            nb = (numel + s - 1) // s
            bits = nb + min(nb, nnz) * s
        elif fmt_id == sparse.RLE:        # sum(g div M) <= (sum g) div M, sum g <= numel - nnz
            bits = param * (nnz + max(numel - nnz, 0) // ((1 << param) - 1))
        else:
            bits = sparse.pattern_bits(sparse.CSR, 0, numel, shape, pos)
        out = np.empty((bits + 7) // 8, dtype=np.uint8)
        used = _load().sparse_pattern_encode(fmt_id, param, numel, cols, _p(pos), nnz, _p(out), out.size)
        if used == -1:
            raise ValueError("sparse_pattern_encode: positions not strictly increasing inside [0, numel)")
        if used < 0:
            raise RuntimeError(f"sparse_pattern_encode failed ({used})")
        return out[:used].copy() if used < out.size // 2 else out[:used]

    @staticmethod
    def decode_pattern(fmt_id, param, numel, shape, nnz, pat):
        fmt_id, param, numel, nnz = int(fmt_id), int(param), int(numel), int(nnz)
        if not _pattern_params_ok(fmt_id, param):
            # unknown formats and parameters a validated header cannot carry: the reference's verdict
            return sparse.Reference.decode_pattern(fmt_id, param, numel, shape, nnz, pat)
        what = "sparse " + sparse.FORMAT_NAMES[fmt_id]
        if nnz < 0 or nnz > numel:
            raise CorruptStreamError(f"{what}: {nnz} non-zeros for {numel} elements")
        pat = _c(pat, np.uint8).reshape(-1)
        out = np.empty(nnz, dtype=np.int64)
        info = np.zeros(1, dtype=np.int64)
        rc = _load().sparse_pattern_decode(fmt_id, param, numel, sparse.row_len(shape), nnz, _p(pat), pat.size,
                                           _p(out), _p(info))
        if rc == -1:
            raise CorruptStreamError(f"{what}: {pat.size} bytes where {int(info[0])} are needed"
                                     if info[0] >= 0 else f"{what}: pattern size overflows")
        if rc == -3:
            raise CorruptStreamError(f"sparse: pattern holds {int(info[0])} non-zeros, header says {nnz}")
        if rc:
            raise CorruptStreamError(f"{what}: " + _SPARSE_ERRORS.get(rc, f"decode error {rc}"))
        return out
