"""The ENEC exponent codec (codec 1): BF16, FP16, FP32. The byte layout is format.py's (its
block geometry and sections are shared with the C++ and NPU kernels); the parameter search is
params.py's. Two implementations write the same bytes:
  * "reference": python/enec/reference.py (numpy, the executable spec),
  * "native": the compiled C++ library (python/enec/native.py), when it is built.
Both expose histogram(words, spec), encode(words, spec, shape, params) and decode(buf, header);
the native one also analyze, choose_params, encoded_size and decode_blocks.
ENEC_CPU_IMPL=reference|native forces one.
"""
from __future__ import annotations

import dataclasses
import os

import numpy as np

from .. import format as fmt
from .. import native, reference
from ..errors import CorruptStreamError, EnecError
from ..params import choose_params
from . import _info

ID = fmt.CODEC_ENEC
NAME = "enec"
DTYPES = tuple(fmt.ENEC_DTYPES_BY_NAME)


# ----------------------------------------------------------------------------- implementations

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


def implementations() -> dict:
    """Available implementations by name."""
    impls = {"reference": REFERENCE}
    if native.available():
        impls["native"] = native
    return impls


def get_impl(name: str | None = None):
    """The implementation `name`, else ENEC_CPU_IMPL's, else native when built, else the reference."""
    impls = implementations()
    name = name or os.environ.get("ENEC_CPU_IMPL") or ("native" if "native" in impls else "reference")
    if name not in impls:
        raise EnecError(f"CPU implementation {name!r} is not available (have: {', '.join(impls)})")
    return impls[name]


# ----------------------------------------------------------------------------- encode

def analyze(words, spec: fmt.DTypeSpec, impl):
    """(exponent histogram, ENEC parameters) of `words`."""
    if hasattr(impl, "analyze"):      # native: histogram and the same search in one call
        return impl.analyze(words, spec)
    hist = impl.histogram(words, spec)
    return hist, choose_params(hist, spec)


def params_of(hist, spec: fmt.DTypeSpec, impl):
    """The parameters of a histogram (params.choose_params; natively when the library has it)."""
    if hasattr(impl, "choose_params"):
        return impl.choose_params(hist, spec)
    return choose_params(hist, spec)


def encode(words, spec: fmt.DTypeSpec, shape, impl, params=None, out=None) -> np.ndarray:
    """The blob; an implementation may write it into `out` (else the caller copies it there)."""
    if params is None:
        params = analyze(words, spec, impl)[1]
    if out is not None:
        return impl.encode(words, spec, tuple(shape), params, out=out)
    return impl.encode(words, spec, tuple(shape), params)


def encoded_size(words, spec: fmt.DTypeSpec, shape, params, impl) -> int | None:
    """The blob's size without encoding (one read pass) when the implementation can find it."""
    if hasattr(impl, "encoded_size"):
        return impl.encoded_size(words, spec, shape, params)
    return None


def output_buffer(nbytes: int, impl) -> np.ndarray:
    """An uninitialised uint8 array for a blob the implementation writes (the native library's
    is aligned for its streaming stores and asks for huge pages)."""
    return impl.empty(nbytes, np.uint8) if hasattr(impl, "empty") else np.empty(nbytes, np.uint8)


def can_encode_nonzeros(impl) -> bool:
    """Whether the implementation codes a tensor's non-zeros straight from its words and its
    zero bitmap (analyze_bitmap, encode_nonzeros, size_lower_bound): the native library."""
    return all(hasattr(impl, f) for f in ("analyze_bitmap", "encode_nonzeros", "size_lower_bound"))


def analyze_bitmap(words, spec: fmt.DTypeSpec, impl, bitmap=None):
    """(exponent histogram, ENEC parameters, zero bitmap) from one pass (can_encode_nonzeros);
    the bitmap is written into `bitmap` when given."""
    return impl.analyze_bitmap(words, spec, bitmap)


def encode_nonzeros(words, bitmap, nnz: int, spec: fmt.DTypeSpec, impl, params, out=None) -> np.ndarray:
    """The blob of the 1-D tensor words[words != 0] (`bitmap`: bit i = word i is non-zero),
    without extracting it (can_encode_nonzeros)."""
    return impl.encode_nonzeros(words, bitmap, nnz, spec, params, out)


def size_lower_bound(bitmap, numel: int, spec: fmt.DTypeSpec, ndim: int, params, impl) -> int:
    """A lower bound of the blob's size from the words' zero bitmap alone (can_encode_nonzeros)."""
    return impl.size_lower_bound(bitmap, numel, spec, ndim, params)


def lower_bound(hist, zeros: int, spec: fmt.DTypeSpec, params) -> int:
    """Bytes the blob of the non-zero words needs at least: `hist` is the exponent histogram of
    all words (a zero word is in bin 0), `params` the non-zeros' parameters. The sections whose
    size follows from the parameters, plus one outlier group per 16 outlier elements."""
    h = hist.copy()
    h[0] -= zeros
    b, n, m = params.b, params.n, params.m
    x = np.arange(h.size)
    outliers = int(h[((b - x) & ((1 << n) - 1)) >= (1 << m)].sum())
    nnz = int(h.sum())
    return fmt.layout(spec, nnz, 1, m).outlier_offset + 2 * (n - m) * -(-outliers // fmt.GROUP_LEN)


def max_bytes(spec: fmt.DTypeSpec, numel: int, ndim: int) -> int:
    return fmt.max_compressed_bytes(spec, numel, ndim)


# ----------------------------------------------------------------------------- decode

def validate_params(spec: fmt.DTypeSpec, b: int, n: int, m: int) -> None:
    if not (1 <= n <= spec.exp_bits and 0 <= m <= n and 0 <= b < (1 << spec.exp_bits)):
        raise CorruptStreamError(
            f"invalid ENEC parameters b={b} n={n} m={m} for {spec.name} "
            f"(need 1 <= n <= {spec.exp_bits}, 0 <= m <= n, 0 <= b < {1 << spec.exp_bits})")


def read_header(h: fmt.Header) -> fmt.EnecHeader:
    """ENEC's reading of a parsed common header: its parameters and section offsets, checked."""
    b, n, m, glen = h.params
    if glen != fmt.GROUP_LEN or h.block_elems != fmt.BLOCK_ELEMS:
        raise CorruptStreamError(f"unsupported group length {glen} / block size {h.block_elems}")
    validate_params(h.dtype, b, n, m)
    if h.blocks != fmt.num_blocks(h.numel):
        raise CorruptStreamError(f"header block count {h.blocks} does not match {h.numel} elements")
    lay = fmt.layout(h.dtype, h.numel, len(h.shape), m)
    if tuple(h.offsets) != (lay.raw_offset, lay.low_offset, lay.flags_offset, lay.index_offset,
                            lay.outlier_offset):
        raise CorruptStreamError("section offsets in the header do not match the format's layout")
    if h.total_bytes < lay.outlier_offset:
        raise CorruptStreamError("header's total size ends before its outlier section")
    if n == m and h.total_bytes != lay.outlier_offset:
        raise CorruptStreamError("outlier bytes present although n == m")
    return fmt.EnecHeader(h.dtype, h.shape, h.numel, b, n, m, h.checksum_kind, h.checksum,
                          h.total_bytes - lay.outlier_offset)


def decode(buf, h: fmt.EnecHeader, impl, out=None) -> np.ndarray:
    """The words; written into `out` (a flat word array) when the implementation can."""
    return impl.decode(buf, h, out) if out is not None else impl.decode(buf, h)


def decode_range(buf, h: fmt.EnecHeader, lo: int, hi: int, impl) -> np.ndarray | None:
    """Words [lo, hi), decoding only the blocks that hold them (every block decodes on its own);
    None when the implementation has no block-range decoder or a checksum covers the whole."""
    if not hasattr(impl, "decode_blocks") or h.checksum_kind != fmt.CHECKSUM_NONE:
        return None
    t0, t1 = lo // fmt.BLOCK_ELEMS, (hi + fmt.BLOCK_ELEMS - 1) // fmt.BLOCK_ELEMS
    return impl.decode_blocks(buf, h, t0, t1)[lo - t0 * fmt.BLOCK_ELEMS:hi - t0 * fmt.BLOCK_ELEMS]


# ----------------------------------------------------------------------------- inspect

@dataclasses.dataclass(frozen=True)
class EnecInfo(_info.BlobInfo):
    """ENEC's parameters, blocks and outlier groups."""
    b: int
    n: int
    m: int
    group_len: int
    block_elems: int
    blocks: int
    flagged_groups: int
    total_groups: int
    independent_decode_bytes: int   # what block independence costs: index + outlier padding

    def details(self) -> list:
        share = self.flagged_groups / self.total_groups if self.total_groups else 0.0
        return [f"  params     b={self.b} n={self.n} m={self.m}, groups of {self.group_len}, "
                f"{self.blocks:,} blocks of {self.block_elems:,}",
                f"  outliers   {self.flagged_groups:,} of {self.total_groups:,} groups flagged "
                f"({100 * share:.2f} %)"]


def inspect(buf: np.ndarray, h: fmt.EnecHeader) -> EnecInfo:
    """Counts the flagged groups (from the flag section) without decoding."""
    lay = h.layout
    geo = fmt.geometry(h.numel)
    flagged = padding = total_groups = 0
    off = lay.flags_offset
    for t in range(geo.blocks):                   # per-block flagged groups -> outlier padding
        nb = fmt.flag_block_bytes(geo.lanes(t))
        f = int(np.unpackbits(buf[off:off + nb]).sum())
        off += nb
        flagged += f
        total_groups += fmt.block_groups(geo.lanes(t))
        if h.n > h.m:
            padding += fmt.outlier_block_bytes(f, h.n, h.m) - fmt.packed_bytes(fmt.GROUP_LEN * f, h.n - h.m)
    return EnecInfo(
        **_info.common_fields(buf, h),
        section_bytes={"header": lay.header_bytes, "raw": lay.raw_bytes, "low": lay.low_bytes,
                       "flags": lay.flags_bytes, "index": lay.index_bytes, "outliers": h.outlier_bytes},
        b=h.b, n=h.n, m=h.m, group_len=fmt.GROUP_LEN, block_elems=fmt.BLOCK_ELEMS, blocks=h.blocks,
        flagged_groups=flagged, total_groups=total_groups,
        independent_decode_bytes=lay.index_bytes + padding)
