"""The friendly Python API over the torch ops."""
from __future__ import annotations

import dataclasses
import warnings

import numpy as np
import torch

from . import cpu
from . import format as fmt
from .errors import CorruptStreamError, EnecError, HeaderMismatchError
from .ops import compress as _compress_op
from .ops import compress_into as _compress_into_op
from .ops import decompress as _decompress_op
from .ops import decompress_into as _decompress_into_op


def _eager_cpu(*tensors) -> bool:
    """True when the CPU kernel can be called directly instead of through the dispatcher: plain
    CPU tensors, no torch.compile / export tracing and no dispatch mode (FakeTensorMode, make_fx)
    active. The op's CPU kernel is the same function; the dispatcher's first call alone imports
    torch._dynamo (2-3 s), which a CLI call or a script that compresses once should not pay."""
    if torch.compiler.is_compiling() or torch._C._len_torch_dispatch_stack() != 0:
        return False
    return all(type(t) in _PLAIN and t.device.type == "cpu" for t in tensors)


_PLAIN = (torch.Tensor, torch.nn.Parameter)   # a Parameter overrides no torch function


def compress(x: torch.Tensor, checksum: bool = False, codec: str = "auto", out: torch.Tensor | None = None) -> torch.Tensor:
    """Losslessly compress a BF16, FP16, FP32, FP8 (e4m3fn, e5m2), INT8 or UINT8 tensor (any
    shape, any strides).

    Returns a 1-D uint8 tensor on the input's device holding a self-describing blob
    (docs/FORMAT.md). The input is never modified. checksum=True stores an XXH64 of the data
    that decompress verifies. codec="auto" picks ENEC for BF16/FP16/FP32, Quad Length Codes for
    FP8 and APack for INT8/UINT8, and the sparse formats instead when the tensor has many zeros
    and that is smaller; "enec", "qlc", "apack", "sparse" or "entropy" (BF16/FP16/FP32: rANS-coded
    exponents, the highest ratio, several times slower than ENEC) forces one; "max" builds every
    codec that takes the dtype and keeps the smallest blob.

    out: a 1-D uint8 tensor to write the blob into (a reused or pinned buffer: no allocation,
    no page faults); the result is then the view out[:size]. max_compressed_size(x.numel(),
    x.dtype, x.dim()) bytes always suffice; bytes of out past the blob are unspecified after.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"enec.compress expects a torch.Tensor, got {type(x).__name__}")
    from . import codecs
    codecs.check_codec(codec, cpu.any_spec_of(x.dtype))
    if out is None:
        if _eager_cpu(x):
            return cpu.compress_tensor(x, checksum=checksum, codec=codec)
        return _compress_op(x, checksum, codec)
    if not isinstance(out, torch.Tensor):
        raise TypeError(f"enec.compress: out must be a torch.Tensor, got {type(out).__name__}")
    if x.device.type == "cpu" and out.device.type == "cpu":
        if _eager_cpu(x, out):
            size = cpu.compress_into(x, out, checksum=checksum, codec=codec)
        else:
            size = int(_compress_into_op(x, out, checksum, codec))
        return out[:size]
    blob = _compress_op(x, checksum, codec)         # another device: compress there, then copy
    if out.dtype != torch.uint8 or out.dim() != 1 or out.numel() < blob.numel():
        raise EnecError(f"compress: out must be a 1-D uint8 tensor of at least {blob.numel()} bytes")
    out[:blob.numel()].copy_(blob)
    return out[:blob.numel()]


_COMPILE_HINT = ("enec.decompress(blob) reads the blob's header to learn the shape and dtype, which "
                 "torch.compile cannot trace: pass them, enec.decompress(blob, shape=..., dtype=...), "
                 "or call torch.ops.enec.decompress(blob, shape, dtype)")


def decompress(blob, device=None, out: torch.Tensor | None = None, *, shape=None,
               dtype: torch.dtype | None = None) -> torch.Tensor:
    """Restore the exact tensor from a blob (uint8 tensor, bytes, bytearray, memoryview or
    numpy array); shape and dtype come from the blob's header.

    out: a tensor of the blob's shape and dtype to decompress into (returned); `device` is then
    out's device. If the blob is corrupt the error is raised and out's contents are unspecified.

    shape, dtype: what the blob holds, when the caller knows it (a HeaderMismatchError if the
    header disagrees). Under torch.compile they are required (the header cannot be read while
    tracing); the call is then torch.ops.enec.decompress and compiles into the graph.
    """
    if (shape is None) != (dtype is None):
        raise EnecError("decompress: pass both shape= and dtype=, or neither")
    if torch.compiler.is_compiling():
        if shape is None:
            raise EnecError(_COMPILE_HINT)
        res = _decompress_op(blob, list(shape), dtype)
        if out is not None:
            return out.copy_(res)
        return res.to(device) if device is not None else res
    if isinstance(blob, torch.Tensor):
        head = blob[:fmt.HEADER_FIXED_BYTES + 8 * fmt.MAX_NDIM].cpu() if blob.device.type != "cpu" else blob
        hdr = header_of(head, full=False)
        t = blob
    else:
        arr = cpu.blob_array(blob)
        hdr = header_of(arr, full=False)
        with warnings.catch_warnings():        # read-only buffers (bytes): never written to
            warnings.simplefilter("ignore", UserWarning)
            t = torch.from_numpy(arr)
    if shape is not None and (tuple(shape) != hdr.shape or dtype != getattr(torch, hdr.dtype.name)):
        raise HeaderMismatchError(f"blob holds {getattr(torch, hdr.dtype.name)} of shape {hdr.shape}, "
                                  f"the caller expects {dtype} of shape {tuple(shape)}")
    if out is not None:
        if not isinstance(out, torch.Tensor):
            raise TypeError(f"enec.decompress: out must be a torch.Tensor, got {type(out).__name__}")
        want = getattr(torch, hdr.dtype.name)
        if out.dtype != want or tuple(out.shape) != hdr.shape:
            raise HeaderMismatchError(f"blob holds {want} of shape {hdr.shape}, out is {out.dtype} "
                                      f"of shape {tuple(out.shape)}")
        if device is not None and torch.device(device) != out.device:
            raise EnecError(f"decompress: device={device} but out is on {out.device}")
        if t.device.type == "cpu" and out.device.type == "cpu" and out.is_contiguous():
            if _eager_cpu(t, out):
                cpu.decompress_into(t, out)
            else:
                _decompress_into_op(t, out)
            return out
    try:
        if _eager_cpu(t):
            res = cpu.decompress_tensor(t, list(hdr.shape), getattr(torch, hdr.dtype.name))
        else:
            res = _decompress_op(t, list(hdr.shape), getattr(torch, hdr.dtype.name))
    except ValueError as e:
        # the NPU binding's host checks raise a plain ValueError (op_host/enec_npu_binding.cpp)
        if isinstance(e, EnecError) or "enec: corrupt blob" not in str(e):
            raise
        raise CorruptStreamError(str(e).splitlines()[0]) from e
    if out is not None:
        return out.copy_(res)
    return res.to(device) if device is not None else res


def max_compressed_size(numel: int, dtype: torch.dtype, ndim: int = fmt.MAX_NDIM,
                        codec: str = "auto") -> int:
    """The largest blob `compress` can produce for `numel` elements of `dtype` (any data)."""
    from . import codecs
    if numel < 0:
        raise ValueError("numel must be >= 0")
    return codecs.max_bytes(cpu.any_spec_of(dtype), int(numel), ndim, codec)


@dataclasses.dataclass(frozen=True)
class BlobInfo:
    """What `inspect` reports about a blob; `print(info)` shows it on a few lines.

    The ENEC fields (b, n, m, group_len, flagged_groups, total_groups) are None for the other
    codecs, whose code table is `table`. blocks / block_elems: ENEC's blocks, the chunks of QLC
    and APack, None for sparse (its non-zero count is table["nnz"])."""
    codec: str
    dtype: torch.dtype
    shape: tuple
    numel: int
    b: int | None
    n: int | None
    m: int | None
    group_len: int | None
    block_elems: int | None
    blocks: int | None
    flagged_groups: int | None
    total_groups: int | None
    checksum: str | None
    section_bytes: dict
    original_bytes: int
    compressed_bytes: int
    independent_decode_bytes: int   # what block independence costs: index + outlier padding
    table: dict | None = None       # codecs 2-4: the per-tensor code table (see docs/FORMAT.md §7)

    @property
    def ratio(self) -> float:
        return self.original_bytes / self.compressed_bytes if self.compressed_bytes else float("nan")

    @property
    def bits_per_element(self) -> float:
        return 8 * self.compressed_bytes / self.numel if self.numel else float("nan")

    def __str__(self) -> str:
        lines = [f"enec blob: {self.dtype} {list(self.shape)}, {self.numel:,} elements, codec {self.codec}",
                 f"  size       {self.original_bytes:,} -> {self.compressed_bytes:,} bytes, "
                 f"ratio {self.ratio:.4f} ({self.bits_per_element:.3f} bits/element)"]
        if self.codec == "enec":
            lines.append(f"  params     b={self.b} n={self.n} m={self.m}, groups of {self.group_len}, "
                         f"{self.blocks:,} blocks of {self.block_elems:,}")
            share = self.flagged_groups / self.total_groups if self.total_groups else 0.0
            lines.append(f"  outliers   {self.flagged_groups:,} of {self.total_groups:,} groups flagged "
                         f"({100 * share:.2f} %)")
        else:
            if self.blocks is not None:
                lines.append(f"  chunks     {self.blocks:,} of {self.block_elems:,} elements")
            table = ", ".join(f"{k}={_short(v)}" for k, v in (self.table or {}).items())
            lines.append(f"  table      {table}")
        lines.append("  sections   " + ", ".join(f"{k} {v:,}" for k, v in self.section_bytes.items()))
        lines.append(f"  checksum   {self.checksum or 'none'}")
        return "\n".join(lines)


def _short(v, limit: int = 8) -> str:
    """A table entry for __str__: long lists are cut (the table attribute has all of it)."""
    if isinstance(v, (list, tuple)) and len(v) > limit:
        return "[" + ", ".join(map(str, v[:limit])) + f", ... ({len(v)} in all)]"
    return str(v)


def header_of(blob, full: bool = True) -> fmt.Header:
    """Parse a blob's header. With full=False only the header bytes need to be present."""
    arr = cpu.blob_array(blob)
    if full:
        return fmt.parse_header(arr)
    return fmt.parse_header_prefix(arr)


def inspect(blob) -> BlobInfo:
    """Parameters, section sizes and ratio of a blob, without decompressing it."""
    arr = cpu.blob_array(blob)
    h = fmt.parse_header(arr)
    if h.codec != fmt.CODEC_ENEC:
        return _inspect_codec(arr, h)
    lay = h.layout
    geo = fmt.geometry(h.numel)
    flagged = padding = 0
    off = lay.flags_offset
    for t in range(geo.blocks):                   # per-block flagged groups -> outlier padding
        nb = fmt.flag_block_bytes(geo.lanes(t))
        f = int(np.unpackbits(arr[off:off + nb]).sum())
        off += nb
        flagged += f
        if h.n > h.m:
            padding += fmt.outlier_block_bytes(f, h.n, h.m) - fmt.packed_bytes(fmt.GROUP_LEN * f, h.n - h.m)
    total_groups = sum(fmt.block_groups(geo.lanes(t)) for t in range(geo.blocks)) if geo.blocks else 0
    return BlobInfo(
        codec="enec", dtype=getattr(torch, h.dtype.name), shape=h.shape, numel=h.numel,
        b=h.b, n=h.n, m=h.m, group_len=fmt.GROUP_LEN, block_elems=fmt.BLOCK_ELEMS, blocks=h.blocks,
        flagged_groups=flagged, total_groups=total_groups,
        checksum=None if h.checksum_kind == fmt.CHECKSUM_NONE else "xxh64",
        section_bytes={"header": lay.header_bytes, "raw": lay.raw_bytes, "low": lay.low_bytes,
                       "flags": lay.flags_bytes, "index": lay.index_bytes,
                       "outliers": h.outlier_bytes},
        original_bytes=h.numel * h.dtype.word_bytes, compressed_bytes=arr.size,
        independent_decode_bytes=lay.index_bytes + padding)


def _inspect_codec(arr, h) -> BlobInfo:
    """inspect() of a codec-2/3/4 blob: its table and section sizes; ENEC's fields are None."""
    from . import codecs
    d = codecs.describe(arr, h)
    chunked = h.codec != fmt.CODEC_SPARSE          # sparse keeps its non-zero count in `blocks`
    return BlobInfo(
        codec=fmt.CODEC_NAMES[h.codec], dtype=getattr(torch, h.dtype.name), shape=h.shape,
        numel=h.numel, b=None, n=None, m=None, group_len=None,
        block_elems=h.block_elems if chunked else None, blocks=h.blocks if chunked else None,
        flagged_groups=None, total_groups=None,
        checksum=None if h.checksum_kind == fmt.CHECKSUM_NONE else "xxh64",
        section_bytes=d["section_bytes"], original_bytes=h.numel * h.dtype.word_bytes,
        compressed_bytes=arr.size, independent_decode_bytes=d.get("independent_decode_bytes", 0),
        table=d["table"])
