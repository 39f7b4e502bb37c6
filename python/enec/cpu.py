"""CPU codec drivers: tensor <-> words, parameter choice, and the choice of implementation.

Two implementations produce byte-identical blobs:
  * "reference": python/enec/reference.py (numpy, the executable spec),
  * "native": the compiled C++ path (python/enec/native.py), when it is built.
Both expose histogram(words, spec), encode(words, spec, shape, params) and decode(buf, header).
ENEC_CPU_IMPL=reference|native forces one.
"""
from __future__ import annotations

import os

import numpy as np
import torch

from . import format as fmt
from . import reference
from .errors import ChecksumMismatchError, CorruptStreamError, EnecError, HeaderMismatchError


class _Reference:
    name = "reference"

    @staticmethod
    def histogram(words, spec):
        return reference.exponent_histogram(words, spec)

    @staticmethod
    def encode(words, spec, shape, params, out=None):
        return reference.compress_words(words, spec, shape, params)   # a new array: the caller copies

    @staticmethod
    def decode(buf, header, out=None):
        return reference.decompress_words(buf, header)   # a new array: the caller copies


REFERENCE = _Reference()


def _load_native():
    try:
        from . import native
    except ImportError:
        return None
    return native if native.available() else None


def implementations() -> dict:
    """Available CPU implementations by name."""
    impls = {"reference": REFERENCE}
    nat = _load_native()
    if nat is not None:
        impls["native"] = nat
    return impls


def get_impl(name: str | None = None):
    impls = implementations()
    name = name or os.environ.get("ENEC_CPU_IMPL") or ("native" if "native" in impls else "reference")
    if name not in impls:
        raise EnecError(f"CPU implementation {name!r} is not available (have: {', '.join(impls)})")
    return impls[name]


_WORD_VIEW = {8: (torch.uint8, np.uint8), 16: (torch.int16, np.uint16), 32: (torch.int32, np.uint32)}


def spec_of(dtype: torch.dtype) -> fmt.DTypeSpec:
    if not isinstance(dtype, torch.dtype):
        raise TypeError(f"expected a torch.dtype, got {dtype!r}")
    return fmt.dtype_spec(str(dtype).replace("torch.", ""))


def any_spec_of(dtype: torch.dtype) -> fmt.DTypeSpec:
    """The spec of a dtype some codec takes (ENEC's and the 8-bit ones of codecs 2-4)."""
    if not isinstance(dtype, torch.dtype):
        raise TypeError(f"expected a torch.dtype, got {dtype!r}")
    return fmt.any_dtype_spec(str(dtype).replace("torch.", ""))


def tensor_words(x: torch.Tensor, spec: fmt.DTypeSpec) -> np.ndarray:
    """A read-only flat numpy view of the tensor's bit patterns (a contiguous copy only if needed).

    The caller's tensor is never written to.
    """
    tv, nv = _WORD_VIEW[spec.word_bits]
    flat = x.detach().contiguous().reshape(-1).view(tv)
    arr = flat.numpy().view(nv)
    arr.flags.writeable = False
    return arr


def checksum_of(words: np.ndarray) -> int:
    """XXH64 (seed 0) of the uncompressed bytes: the element bit patterns, little-endian."""
    import xxhash
    return xxhash.xxh64_intdigest(memoryview(np.ascontiguousarray(words)).cast("B"))


def _set_checksum(blob: np.ndarray, value: int) -> None:
    blob[fmt.CHECKSUM_KIND_OFFSET] = fmt.CHECKSUM_XXH64
    blob[fmt.CHECKSUM_OFFSET:fmt.CHECKSUM_OFFSET + 8] = np.frombuffer(
        value.to_bytes(8, "little"), np.uint8)


def _encode(x: torch.Tensor, impl, checksum: bool, codec: str, out: np.ndarray | None = None,
            params=None) -> np.ndarray:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"enec.compress expects a torch.Tensor, got {type(x).__name__}")
    from . import codecs
    spec = any_spec_of(x.dtype)
    codecs.check_codec(codec, spec)
    if x.device.type != "cpu":
        raise EnecError(f"the CPU codec got a tensor on {x.device}")
    if x.dim() > fmt.MAX_NDIM:
        raise EnecError(f"tensors of more than {fmt.MAX_NDIM} dimensions are not supported")
    if params is not None:
        from .params import check_plan
        params = check_plan(params, spec)
    impl = impl or get_impl()
    words = tensor_words(x, spec)
    if out is not None and np.may_share_memory(words, out):
        raise EnecError("compress: out overlaps the input tensor")
    blob = codecs.encode_words(words, spec, tuple(x.shape), codec, impl, out=out, params=params)
    if checksum:
        _set_checksum(blob, checksum_of(words))
    return blob


def compress_tensor(x: torch.Tensor, impl=None, checksum: bool = False, codec: str = "auto",
                    params=None) -> torch.Tensor:
    """Compress with `codec` ("auto" picks by dtype and, for data with many zeros, by size);
    `params` (b, n, m): a reused plan (enec.plan), ENEC with these parameters."""
    return torch.from_numpy(_encode(x, impl, checksum, codec, params=params))


def _check_out(out, what: str) -> None:
    if not isinstance(out, torch.Tensor):
        raise TypeError(f"{what}: out must be a torch.Tensor, got {type(out).__name__}")
    if out.device.type != "cpu":
        raise EnecError(f"{what}: the CPU codec got out on {out.device}")
    if not out.is_contiguous():
        raise EnecError(f"{what}: out must be contiguous")


def compress_into(x: torch.Tensor, out: torch.Tensor, impl=None, checksum: bool = False,
                  codec: str = "auto", params=None) -> int:
    """Compress into the caller's 1-D uint8 tensor `out` (e.g. a reused or pinned buffer) and
    return the blob's size in bytes: the blob is out[:size]. Large enough is always
    enec.max_compressed_size(x.numel(), x.dtype, x.dim()). Bytes of `out` past the blob are
    unspecified afterwards (the encoder uses them as room for the worst case)."""
    _check_out(out, "compress")
    if out.dtype != torch.uint8 or out.dim() != 1:
        raise EnecError(f"compress: out must be a 1-D uint8 tensor, got {out.dtype} of shape {tuple(out.shape)}")
    if isinstance(x, torch.Tensor) and x.device.type == "cpu" and x.numel() and out.numel() \
            and x.untyped_storage().data_ptr() == out.untyped_storage().data_ptr():
        raise EnecError("compress: out shares storage with the input tensor")
    dst = out.detach().numpy()
    blob = _encode(x, impl, checksum, codec, dst, params)
    if blob.ctypes.data != dst.ctypes.data:           # not encoded in place: copy it there
        if blob.size > dst.size:
            raise EnecError(f"compress: out holds {dst.size} bytes, the blob needs {blob.size} "
                            f"(enec.max_compressed_size gives a size that always suffices)")
        dst[:blob.size] = blob
    return int(blob.size)


def blob_array(blob) -> np.ndarray:
    """A uint8 numpy view of a blob given as a tensor, bytes-like or numpy array."""
    if isinstance(blob, torch.Tensor):
        if blob.dtype != torch.uint8:
            raise EnecError(f"a compressed blob must be a uint8 tensor, got {blob.dtype}")
        if blob.dim() != 1:
            raise EnecError(f"a compressed blob must be 1-D, got shape {tuple(blob.shape)}")
        if blob.device.type != "cpu":
            blob = blob.cpu()
        return blob.detach().contiguous().numpy()
    if isinstance(blob, np.ndarray):
        if blob.dtype != np.uint8 or blob.ndim != 1:
            raise EnecError("a compressed blob must be a 1-D uint8 array")
        return np.ascontiguousarray(blob)
    try:
        return np.frombuffer(memoryview(blob).cast("B"), dtype=np.uint8)
    except TypeError:
        raise TypeError(f"cannot read a compressed blob from {type(blob).__name__}") from None


_SIGNED = {8: np.uint8, 16: np.int16, 32: np.int32}


def _decode(buf: np.ndarray, header, impl, out: np.ndarray | None = None) -> np.ndarray:
    """The decoded words (in `out`, a flat word array, when given), checksum verified."""
    impl = impl or get_impl()
    if header.codec == fmt.CODEC_ENEC:
        words = impl.decode(buf, header, out) if out is not None else impl.decode(buf, header)
    else:
        from . import codecs
        words = codecs.decode_words(buf, header, impl)
    if words.size != header.numel:
        raise CorruptStreamError("decoder returned the wrong number of elements")
    if out is not None and words.ctypes.data != out.ctypes.data:
        out[...] = words.reshape(-1)
        words = out
    if header.checksum_kind == fmt.CHECKSUM_XXH64 and checksum_of(words) != header.checksum:
        raise ChecksumMismatchError(
            f"decompressed data does not match the blob's XXH64 checksum "
            f"(stored {header.checksum:#018x}, computed {checksum_of(words):#018x}): the blob is corrupt")
    return words


def _parse(blob, shape, dtype):
    buf = blob_array(blob)
    header = fmt.parse_header(buf)
    out_dtype = getattr(torch, header.dtype.name)
    if dtype is not None and dtype != out_dtype:
        raise HeaderMismatchError(f"blob holds {out_dtype}, caller expects {dtype}")
    if shape is not None and tuple(int(s) for s in shape) != header.shape:
        raise HeaderMismatchError(f"blob holds shape {header.shape}, caller expects {tuple(shape)}")
    return buf, header, out_dtype


def decompress_tensor(blob, shape=None, dtype=None, impl=None) -> torch.Tensor:
    buf, header, out_dtype = _parse(blob, shape, dtype)
    words = _decode(buf, header, impl)
    signed = _SIGNED[header.dtype.word_bits]                     # torch lacks uint16/32 views
    t = torch.from_numpy(np.ascontiguousarray(words).reshape(-1).view(signed))
    return t.view(out_dtype).reshape(header.shape)


def decompress_into(blob, out: torch.Tensor, impl=None) -> torch.Tensor:
    """Decompress into the caller's tensor `out`, whose shape and dtype must be the blob's; returns
    out. If the blob turns out corrupt, the error is raised and out's contents are unspecified."""
    _check_out(out, "decompress")
    buf, header, _ = _parse(blob, out.shape, out.dtype)
    tv, nv = _WORD_VIEW[header.dtype.word_bits]
    dst = out.detach().reshape(-1).view(tv).numpy().view(nv)
    if dst.size and np.may_share_memory(dst, buf):
        raise EnecError("decompress: out overlaps the blob")
    _decode(buf, header, impl, dst)
    return out


__all__ = ["compress_tensor", "compress_into", "decompress_tensor", "decompress_into", "decompress_rows",
           "get_impl", "implementations", "spec_of"]


def decompress_rows(blob, start: int, stop: int, impl=None) -> torch.Tensor:
    """Rows [start, stop) of the first dimension, decoding only the blocks that hold them
    (every block decodes on its own). Without a block-range decoder, decodes everything."""
    buf = blob_array(blob)
    header = fmt.parse_header(buf)
    if not header.shape:
        raise EnecError("a 0-dim tensor has no rows to slice")
    rows = header.shape[0]
    start, stop, _ = slice(start, stop).indices(rows)
    stop = max(stop, start)
    inner = header.numel // rows if rows else 0
    lo, hi = start * inner, stop * inner
    out_dtype = getattr(torch, header.dtype.name)
    signed = _SIGNED[header.dtype.word_bits]
    impl = impl or get_impl()
    if hi == lo:
        return torch.empty((stop - start,) + header.shape[1:], dtype=out_dtype)
    if hasattr(impl, "decode_blocks") and header.checksum_kind == fmt.CHECKSUM_NONE \
            and header.codec == fmt.CODEC_ENEC:
        t0, t1 = lo // fmt.BLOCK_ELEMS, (hi + fmt.BLOCK_ELEMS - 1) // fmt.BLOCK_ELEMS
        words = impl.decode_blocks(buf, header, t0, t1)[lo - t0 * fmt.BLOCK_ELEMS:hi - t0 * fmt.BLOCK_ELEMS]
    else:   # a checksum covers the whole tensor: verify it, then slice
        full = decompress_tensor(buf, impl=impl)
        return full[start:stop].clone()
    t = torch.from_numpy(np.ascontiguousarray(words).view(signed))
    return t.view(out_dtype).reshape((stop - start,) + header.shape[1:])
