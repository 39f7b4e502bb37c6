"""The native CPU implementation: python/enec/csrc/enec_native.cpp through ctypes.

ctypes releases the GIL for the duration of each call, so several Python threads can compress
at once; each call also splits its blocks over torch.get_num_threads() threads.
"""
from __future__ import annotations

import ctypes
import os

import numpy as np

from . import _native_lib
from . import format as fmt
from .errors import CorruptStreamError
from .params import Params

name = "native"
ABI_VERSION = 5          # enec_native_version() of the library this module was written for

_lib = None
_load_error = None


def _load():
    global _lib, _load_error
    if _lib is not None or _load_error is not None:
        return _lib
    # ENEC_NATIVE_LIB points at another build of the library (CI's sanitizer build)
    lib, _load_error = _native_lib.load("_enec_native", "ENEC_NATIVE_LIB", "enec_native_version", ABI_VERSION)
    if lib is None:
        return None
    i64, i32, vp = ctypes.c_int64, ctypes.c_int, ctypes.c_void_p
    lib.enec_histogram.argtypes = [vp, i64, i32, vp, i32]
    lib.enec_histogram.restype = i32
    lib.enec_encode.argtypes = [vp, i64, i32, i32, vp, i32, i32, i32, vp, i32]
    lib.enec_encode.restype = i64
    lib.enec_decode.argtypes = [vp, i64, i32, i64, i32, i32, i32, i32, vp, i32, ctypes.c_char_p, i32, i64, i64]
    lib.enec_decode.restype = i32
    lib.enec_advise_huge.argtypes = [vp, i64]
    lib.enec_advise_huge.restype = None
    lib.enec_prefault.argtypes = [vp, i64, i32]
    lib.enec_prefault.restype = None
    lib.enec_set_simd.argtypes = [i32]
    lib.enec_set_simd.restype = None
    lib.enec_simd_level.argtypes = []
    lib.enec_simd_level.restype = i32
    lib.enec_outlier_bytes.argtypes = [vp, i64, i32, i32, i32, i32, i32]
    lib.enec_outlier_bytes.restype = i64
    lib.enec_choose_params.argtypes = [vp, i32, vp]
    lib.enec_choose_params.restype = None
    lib.enec_analyze.argtypes = [vp, i64, i32, vp, vp, i32]
    lib.enec_analyze.restype = i32
    lib.enec_encode_nonzeros.argtypes = [vp, i64, vp, i64, i32, i32, i32, i32, vp, i32]
    lib.enec_encode_nonzeros.restype = i64
    lib.enec_zero_group_outlier_bytes.argtypes = [vp, i64, i32, i32, i32, i32]
    lib.enec_zero_group_outlier_bytes.restype = i64
    lib.enec_analyze_bitmap.argtypes = [vp, i64, i32, vp, vp, vp, i32]
    lib.enec_analyze_bitmap.restype = i32
    lib.enec_simd_detected.argtypes = []
    lib.enec_simd_detected.restype = i32
    _lib = lib
    return lib


def empty(n: int, dtype, populate: bool = False) -> np.ndarray:
    """A 64-byte aligned output array (_native_lib.aligned_empty: huge pages when large);
    `populate`: the caller writes all of it (a decoder's output), its pages are mapped now."""
    nbytes = n * np.dtype(dtype).itemsize
    return _native_lib.aligned_empty(_load(), "enec", n, dtype, nbytes if populate else 0,
                                     _threads() if populate else 1)


def available() -> bool:
    return _load() is not None


SIMD_NAMES = {0: "portable C++", 1: "AVX2", 2: "AVX-512"}


def simd_level() -> int:
    """The kernels in use: 0 portable C++, 1 AVX2, 2 AVX-512 (BW/VBMI/VBMI2)."""
    return int(_load().enec_simd_level())


def simd_detected() -> int:
    """The best kernel level this CPU supports (ignores set_simd)."""
    return int(_load().enec_simd_detected())


def set_simd(enable) -> None:
    """Cap the kernel level (every level writes the same bytes; for tests): True = the best the
    CPU has, False or 0 = portable C++, 1 = at most AVX2, 2 = at most AVX-512."""
    level = 2 if enable is True else 0 if enable is False else int(enable)
    _load().enec_set_simd(level)


def load_error() -> str | None:
    _load()
    return _load_error


def _threads() -> int:
    try:
        import torch
        return max(1, torch.get_num_threads())
    except Exception:
        return os.cpu_count() or 1


def _ptr(a: np.ndarray) -> int:
    return a.ctypes.data if a.size else 0


def histogram(words: np.ndarray, spec: fmt.DTypeSpec) -> np.ndarray:
    words = np.ascontiguousarray(words)
    hist = np.zeros(1 << spec.exp_bits, dtype=np.int64)
    _load().enec_histogram(_ptr(words), words.size, spec.code, hist.ctypes.data, _threads())
    return hist


def choose_params(hist: np.ndarray, spec: fmt.DTypeSpec):
    """params.choose_params computed natively (the same search; the tests hold them equal)."""
    hist = np.ascontiguousarray(hist, dtype=np.int64)
    assert hist.shape == (1 << spec.exp_bits,)
    out = np.zeros(3, dtype=np.int32)
    _load().enec_choose_params(hist.ctypes.data, spec.code, out.ctypes.data)
    return Params(int(out[0]), int(out[1]), int(out[2]))


def analyze(words: np.ndarray, spec: fmt.DTypeSpec):
    """(histogram, params) in one native call: what compress needs before encoding."""
    words = np.ascontiguousarray(words)
    hist = np.empty(1 << spec.exp_bits, dtype=np.int64)
    out = np.zeros(3, dtype=np.int32)
    _load().enec_analyze(_ptr(words), words.size, spec.code, hist.ctypes.data, out.ctypes.data, _threads())
    return hist, Params(int(out[0]), int(out[1]), int(out[2]))


def analyze_bitmap(words: np.ndarray, spec: fmt.DTypeSpec, bitmap: np.ndarray | None = None):
    """(histogram, params, zero bitmap) from one pass over the words: the bitmap is the sparse
    codec's bitmap pattern (bit i = word i is non-zero), what encode_nonzeros takes; written into
    `bitmap` (ceil(numel / 8) contiguous bytes, e.g. its place in a sparse blob) when given."""
    words = np.ascontiguousarray(words).reshape(-1)
    hist = np.empty(1 << spec.exp_bits, dtype=np.int64)
    out = np.zeros(3, dtype=np.int32)
    nbytes = (words.size + 7) // 8
    if bitmap is None:
        bitmap = np.empty(nbytes, dtype=np.uint8)
    elif bitmap.dtype != np.uint8 or bitmap.shape != (nbytes,) or not bitmap.flags.c_contiguous:
        raise ValueError(f"bitmap must be {nbytes} contiguous bytes")
    _load().enec_analyze_bitmap(_ptr(words), words.size, spec.code, hist.ctypes.data, out.ctypes.data,
                                _ptr(bitmap), _threads())
    return hist, Params(int(out[0]), int(out[1]), int(out[2])), bitmap


def encoded_size(words: np.ndarray, spec: fmt.DTypeSpec, shape, params) -> int:
    """The size of encode(words, spec, shape, params), found without encoding (one read pass)."""
    words = np.ascontiguousarray(words).reshape(-1)
    out_bytes = _load().enec_outlier_bytes(_ptr(words), words.size, spec.code, params.b, params.n,
                                           params.m, _threads())
    if out_bytes < 0:
        raise RuntimeError(f"native size pass failed with code {out_bytes}")
    return fmt.layout(spec, words.size, len(shape), params.m).outlier_offset + out_bytes


def encode(words: np.ndarray, spec: fmt.DTypeSpec, shape, params, out: np.ndarray | None = None) -> np.ndarray:
    """The blob; written straight into `out` (a writable 1-D uint8 array) when `out` can hold the
    worst case for these parameters, else into a new array (the caller copies it)."""
    words = np.ascontiguousarray(words).reshape(-1)
    numel = words.size
    blob = _blob_buffer(spec, numel, len(shape), params, out)
    # the library writes the whole blob: header, sections and the gaps between them
    dims = (ctypes.c_uint64 * max(1, len(shape)))(*shape)
    size = _load().enec_encode(_ptr(words), numel, spec.code, len(shape), dims, params.b, params.n,
                               params.m, blob.ctypes.data, _threads())
    if size < 0:
        raise RuntimeError(f"native encoder failed with code {size}")
    return blob[:size]


def _blob_buffer(spec: fmt.DTypeSpec, numel: int, ndim: int, params, out) -> np.ndarray:
    """`out` when it can hold the worst case for these parameters, else a new array (np.empty:
    pages never written cost no memory): a block's outlier slots never outnumber its lanes, so
    outliers take at most lanes*(n-m)/8."""
    lay = fmt.layout(spec, numel, ndim, params.m)
    bound = lay.outlier_offset + fmt.geometry(numel).total_lanes * (params.n - params.m) // 8
    return out[:bound] if out is not None and out.size >= bound else empty(bound, np.uint8)


def encode_nonzeros(words: np.ndarray, bitmap: np.ndarray, nnz: int, spec: fmt.DTypeSpec, params,
                    out: np.ndarray | None = None) -> np.ndarray:
    """encode(words[words != 0], spec, (nnz,), params, out) without extracting the non-zeros:
    `bitmap` is the sparse codec's bitmap pattern of `words` (bit i = word i is non-zero)."""
    words = np.ascontiguousarray(words).reshape(-1)
    bitmap = np.ascontiguousarray(bitmap, dtype=np.uint8).reshape(-1)
    if bitmap.size != (words.size + 7) // 8:
        raise ValueError(f"bitmap of {bitmap.size} bytes for {words.size} words")
    blob = _blob_buffer(spec, nnz, 1, params, out)
    size = _load().enec_encode_nonzeros(_ptr(words), words.size, _ptr(bitmap), nnz, spec.code, params.b,
                                        params.n, params.m, blob.ctypes.data, _threads())
    if size == -3:
        raise ValueError(f"the bitmap does not hold {nnz} non-zeros")
    if size < 0:
        raise RuntimeError(f"native encoder failed with code {size}")
    return blob[:size]


def size_lower_bound(bitmap: np.ndarray, numel: int, spec: fmt.DTypeSpec, ndim: int, params) -> int:
    """A lower bound of encode(words, spec, shape, params).size from the words' zero pattern
    alone (`bitmap`, as in encode_nonzeros): the sections the parameters fix, plus the outliers
    of the groups that hold a zero word when the zero exponent is an outlier code."""
    bitmap = np.ascontiguousarray(bitmap, dtype=np.uint8).reshape(-1)
    if bitmap.size != (numel + 7) // 8:
        raise ValueError(f"bitmap of {bitmap.size} bytes for {numel} words")
    zb = _load().enec_zero_group_outlier_bytes(_ptr(bitmap), numel, spec.code, params.b, params.n, params.m)
    if zb < 0:
        raise RuntimeError(f"native size bound failed with code {zb}")
    return fmt.layout(spec, numel, ndim, params.m).outlier_offset + zb


def decode(buf: np.ndarray, header: fmt.EnecHeader, out: np.ndarray | None = None) -> np.ndarray:
    """The words; written into `out` (a writable array of numel words) when given."""
    return decode_blocks(buf, header, 0, header.blocks, out)


def decode_blocks(buf: np.ndarray, header: fmt.EnecHeader, t_begin: int, t_end: int,
                  out: np.ndarray | None = None) -> np.ndarray:
    """Decode blocks [t_begin, t_end) only: elements t_begin*N up to min(t_end*N, numel)."""
    buf = np.ascontiguousarray(buf)
    count = max(0, min(t_end * fmt.BLOCK_ELEMS, header.numel) - t_begin * fmt.BLOCK_ELEMS)
    word = np.uint16 if header.dtype.word_bits == 16 else np.uint32
    if out is None:
        out = empty(count, word, populate=True)
    elif out.dtype != word or out.size != count or not out.flags.c_contiguous:
        raise ValueError("decode_blocks: out must be a contiguous array of the decoded words")
    err = ctypes.create_string_buffer(256)
    rc = _load().enec_decode(
        _ptr(buf), buf.size, header.dtype.code, header.numel, len(header.shape), header.b, header.n,
        header.m, _ptr(out), _threads(), err, len(err), t_begin, t_end)
    if rc != 0:
        raise CorruptStreamError(err.value.decode())
    return out
