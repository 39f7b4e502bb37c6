"""The CPU kernel of the ops: tensors into flat words (and blobs into uint8 arrays), one call
to the codec registry (enec.codecs), and the result back into a tensor. Which codec and which
implementation (numpy reference or native) run is the registry's business.
"""
from __future__ import annotations

import numpy as np
import torch

from . import codecs
from . import format as fmt
from .errors import EnecError, HeaderMismatchError

_WORD_VIEW = {8: (torch.uint8, np.uint8), 16: (torch.int16, np.uint16), 32: (torch.int32, np.uint32)}
_SIGNED = {8: np.uint8, 16: np.int16, 32: np.int32}     # torch lacks uint16/32 views


def dtype_spec_of(dtype: torch.dtype) -> fmt.DTypeSpec:
    """The spec of a torch dtype some codec takes (UnsupportedDTypeError otherwise)."""
    if not isinstance(dtype, torch.dtype):
        raise TypeError(f"expected a torch.dtype, got {dtype!r}")
    return fmt.dtype_spec(str(dtype).replace("torch.", ""))


def tensor_words(x: torch.Tensor, spec: fmt.DTypeSpec) -> np.ndarray:
    """A read-only flat numpy view of the tensor's bit patterns (a contiguous copy only if needed).

    The caller's tensor is never written to.
    """
    tv, nv = _WORD_VIEW[spec.word_bits]
    flat = x.detach().contiguous().reshape(-1).view(tv)
    arr = flat.numpy().view(nv)
    arr.flags.writeable = False
    return arr


def words_tensor(words: np.ndarray, header) -> torch.Tensor:
    """The tensor of decoded words, with the header's dtype and shape (shares their memory)."""
    t = torch.from_numpy(np.ascontiguousarray(words).reshape(-1).view(_SIGNED[header.dtype.word_bits]))
    return t.view(getattr(torch, header.dtype.name)).reshape(header.shape)


def _input_words(x: torch.Tensor):
    """The words of a tensor to compress and their spec (the registry checks the codec)."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"enec.compress expects a torch.Tensor, got {type(x).__name__}")
    spec = dtype_spec_of(x.dtype)
    if x.device.type != "cpu":
        raise EnecError(f"the CPU codec got a tensor on {x.device}")
    if x.dim() > fmt.MAX_NDIM:
        raise EnecError(f"tensors of more than {fmt.MAX_NDIM} dimensions are not supported")
    return tensor_words(x, spec), spec


def compress_tensor(x: torch.Tensor, impl=None, checksum: bool = False, codec: str = "auto",
                    params=None) -> torch.Tensor:
    """Compress with `codec` ("auto" picks by dtype and, for data with many zeros, by size);
    `params` (b, n, m): a reused plan (enec.plan), ENEC with these parameters."""
    words, spec = _input_words(x)
    return torch.from_numpy(codecs.compress(words, spec, tuple(x.shape), codec, impl, checksum, params=params))


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
    words, spec = _input_words(x)
    if np.may_share_memory(words, dst):
        raise EnecError("compress: out overlaps the input tensor")
    blob = codecs.compress(words, spec, tuple(x.shape), codec, impl, checksum, out=dst, params=params)
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


def _parse(blob, shape, dtype):
    buf = blob_array(blob)
    header = codecs.read_header(buf)
    out_dtype = getattr(torch, header.dtype.name)
    if dtype is not None and dtype != out_dtype:
        raise HeaderMismatchError(f"blob holds {out_dtype}, caller expects {dtype}")
    if shape is not None and tuple(int(s) for s in shape) != header.shape:
        raise HeaderMismatchError(f"blob holds shape {header.shape}, caller expects {tuple(shape)}")
    return buf, header


def decompress_tensor(blob, shape=None, dtype=None, impl=None) -> torch.Tensor:
    buf, header = _parse(blob, shape, dtype)
    return words_tensor(codecs.decompress(buf, header, impl), header)


def decompress_into(blob, out: torch.Tensor, impl=None) -> torch.Tensor:
    """Decompress into the caller's tensor `out`, whose shape and dtype must be the blob's; returns
    out. If the blob turns out corrupt, the error is raised and out's contents are unspecified."""
    _check_out(out, "decompress")
    buf, header = _parse(blob, out.shape, out.dtype)
    tv, nv = _WORD_VIEW[header.dtype.word_bits]
    dst = out.detach().reshape(-1).view(tv).numpy().view(nv)
    if dst.size and np.may_share_memory(dst, buf):
        raise EnecError("decompress: out overlaps the blob")
    codecs.decompress(buf, header, impl, dst)
    return out


def decompress_rows(blob, start: int, stop: int, impl=None) -> torch.Tensor:
    """Rows [start, stop) of the first dimension, decoding only the blocks that hold them when
    the codec can (codecs.decompress_range)."""
    buf, header = _parse(blob, None, None)
    if not header.shape:
        raise EnecError("a 0-dim tensor has no rows to slice")
    rows = header.shape[0]
    start, stop, _ = slice(start, stop).indices(rows)
    stop = max(stop, start)
    inner = header.numel // rows if rows else 0
    shape = (stop - start,) + tuple(header.shape[1:])
    if stop == start or inner == 0:
        return torch.empty(shape, dtype=getattr(torch, header.dtype.name))
    words = codecs.decompress_range(buf, header, start * inner, stop * inner, impl)
    t = torch.from_numpy(np.ascontiguousarray(words).view(_SIGNED[header.dtype.word_bits]))
    return t.view(getattr(torch, header.dtype.name)).reshape(shape)


__all__ = ["compress_tensor", "compress_into", "decompress_tensor", "decompress_into", "decompress_rows",
           "tensor_words", "words_tensor", "blob_array", "dtype_spec_of"]
