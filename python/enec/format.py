"""The enec stream format, version 1: the one definition of the byte layout.

Every implementation (numpy reference, native CPU, AscendC kernels) takes its sizes and offsets
from here; docs/FORMAT.md describes the same layout in prose, byte by byte.

A blob is: header | raw section | low-bits section | flag section | outlier index | outlier section,
each section starting at a multiple of 32 bytes (zero bytes fill the gaps).
"""
from __future__ import annotations

import dataclasses
import functools
import struct

from .errors import CorruptStreamError, UnsupportedDTypeError

MAGIC = b"ENEC"
VERSION = 1
CODEC_ENEC = 1                 # the exponent codec of the ENEC paper
CODEC_QLC = 2                  # Quad Length Codes (8-bit symbols), python/enec/codecs/qlc.py
CODEC_APACK = 3                # APack range + offset coding, python/enec/codecs/apack.py
CODEC_SPARSE = 4               # zero-pattern formats + a dense codec, python/enec/codecs/sparse.py
CODEC_ENTROPY = 5              # rANS-coded exponent (+ top mantissa bits), python/enec/codecs/entropy.py
CODEC_NAMES = {CODEC_ENEC: "enec", CODEC_QLC: "qlc", CODEC_APACK: "apack", CODEC_SPARSE: "sparse",
               CODEC_ENTROPY: "entropy"}
CODEC_IDS = {v: k for k, v in CODEC_NAMES.items()}

BLOCK_ELEMS = 16384            # N: elements per block (the last block may be shorter)
GROUP_LEN = 16                 # L: codes per group; one flag bit per group
BLOCK_ROUND = 256              # a short last block is padded to a multiple of this many lanes
SECTION_ALIGN = 32             # every section starts 32-byte aligned (Ascend UB/DMA granularity)
MAX_NDIM = 32
MAX_DIM = 1 << 63              # a dimension must fit a torch (int64) size
HEADER_FIXED_BYTES = 96
INDEX_ENTRY_BYTES = 8          # one u64 per block: start of its outliers inside the outlier section

CHECKSUM_NONE = 0
CHECKSUM_XXH64 = 1             # XXH64, seed 0, of the uncompressed bytes
CHECKSUM_KIND_OFFSET = 12      # header byte holding the checksum kind
CHECKSUM_OFFSET = 40           # header bytes 40..47: the checksum, little-endian

_HEADER = struct.Struct("<4sBBBBBBBBB3sIIQQQQQQQQQ")
assert _HEADER.size == HEADER_FIXED_BYTES


@dataclasses.dataclass(frozen=True)
class DTypeSpec:
    """How one float dtype splits into a coded exponent and raw (stored verbatim) bits."""
    code: int          # header dtype byte
    name: str          # torch dtype name
    word_bits: int     # 16 or 32
    exp_bits: int      # W: width of the exponent field
    raw_bits: int      # sign + mantissa bits stored raw per element

    @property
    def word_bytes(self) -> int:
        return self.word_bits // 8


BF16 = DTypeSpec(0, "bfloat16", 16, 8, 8)
FP16 = DTypeSpec(1, "float16", 16, 5, 11)
FP32 = DTypeSpec(2, "float32", 32, 8, 24)
# 8-bit dtypes (codecs 2-4 only): exp_bits/raw_bits describe the bit fields, ENEC does not take them
FP8_E4M3 = DTypeSpec(3, "float8_e4m3fn", 8, 4, 4)
FP8_E5M2 = DTypeSpec(4, "float8_e5m2", 8, 5, 3)
INT8 = DTypeSpec(5, "int8", 8, 0, 8)
UINT8 = DTypeSpec(6, "uint8", 8, 0, 8)
DTYPES = {s.code: s for s in (BF16, FP16, FP32)}                 # the ENEC codec's dtypes
DTYPES_BY_NAME = {s.name: s for s in (BF16, FP16, FP32)}
SUPPORTED_DTYPE_NAMES = tuple(DTYPES_BY_NAME)
ALL_DTYPES = {s.code: s for s in (BF16, FP16, FP32, FP8_E4M3, FP8_E5M2, INT8, UINT8)}
ALL_DTYPES_BY_NAME = {s.name: s for s in ALL_DTYPES.values()}
ALL_DTYPE_NAMES = tuple(ALL_DTYPES_BY_NAME)


def dtype_spec(name: str) -> DTypeSpec:
    try:
        return DTYPES_BY_NAME[name]
    except KeyError:
        raise UnsupportedDTypeError(
            f"enec cannot compress dtype {name}; supported dtypes: "
            + ", ".join(f"torch.{n}" for n in SUPPORTED_DTYPE_NAMES)) from None


def any_dtype_spec(name: str) -> DTypeSpec:
    """The spec of any dtype some enec codec takes (ENEC's and the 8-bit ones)."""
    try:
        return ALL_DTYPES_BY_NAME[name]
    except KeyError:
        raise UnsupportedDTypeError(
            f"enec cannot compress dtype {name}; supported dtypes: "
            + ", ".join(f"torch.{n}" for n in ALL_DTYPE_NAMES)) from None


def round_up(x: int, k: int) -> int:
    return (x + k - 1) // k * k


def packed_bytes(count: int, width: int) -> int:
    """Bytes produced by hierarchical halving packing of `count` lanes of `width` bits."""
    return count * width // 8


# ----------------------------------------------------------------------------- blocks

def num_blocks(numel: int) -> int:
    return (numel + BLOCK_ELEMS - 1) // BLOCK_ELEMS


def block_numel(numel: int, t: int) -> int:
    """Real elements of block t."""
    return min(BLOCK_ELEMS, numel - t * BLOCK_ELEMS)


def block_lanes(n_real: int) -> int:
    """Lanes a block occupies: a full block N, a short last block rounded up to 256."""
    return round_up(n_real, BLOCK_ROUND)


def block_groups(lanes: int) -> int:
    return lanes // GROUP_LEN


def raw_block_bytes(spec: DTypeSpec, lanes: int) -> int:
    return packed_bytes(lanes, spec.raw_bits)


def low_block_bytes(lanes: int, m: int) -> int:
    return packed_bytes(lanes, m)


def flag_block_bytes(lanes: int) -> int:
    return block_groups(lanes) // 8


def outlier_slots(flagged_groups: int) -> int:
    """Lanes holding a block's outlier high bits: 16 per flagged group, padded to 256."""
    return GROUP_LEN * round_up(flagged_groups, 16)


def outlier_block_bytes(flagged_groups: int, n: int, m: int) -> int:
    return packed_bytes(outlier_slots(flagged_groups), n - m)


@dataclasses.dataclass(frozen=True)
class Geometry:
    """Everything about the block layout that follows from (numel, dtype, m)."""
    numel: int
    blocks: int
    full_blocks: int          # blocks holding BLOCK_ELEMS real elements
    last_real: int            # real elements of the last block (0 when numel == 0)
    last_lanes: int           # lanes of the last block

    def lanes(self, t: int) -> int:
        return BLOCK_ELEMS if t < self.full_blocks else self.last_lanes

    def real(self, t: int) -> int:
        return BLOCK_ELEMS if t < self.full_blocks else self.last_real

    def lane_start(self, t: int) -> int:
        """Lanes of all blocks before t (every block before the last is full)."""
        return t * BLOCK_ELEMS

    @property
    def total_lanes(self) -> int:
        return self.full_blocks * BLOCK_ELEMS + (self.last_lanes if self.blocks > self.full_blocks else 0)


def geometry(numel: int) -> Geometry:
    b = num_blocks(numel)
    full = numel // BLOCK_ELEMS
    last_real = numel - (b - 1) * BLOCK_ELEMS if b else 0
    last_lanes = block_lanes(last_real) if b else 0
    return Geometry(numel, b, full, last_real, last_lanes)


@dataclasses.dataclass(frozen=True)
class Layout:
    """Byte offsets of the sections. The outlier section size depends on the data."""
    header_bytes: int
    raw_offset: int
    low_offset: int
    flags_offset: int
    index_offset: int
    outlier_offset: int
    raw_bytes: int
    low_bytes: int
    flags_bytes: int
    index_bytes: int


def header_bytes(ndim: int) -> int:
    return round_up(HEADER_FIXED_BYTES + 8 * ndim, SECTION_ALIGN)


def layout(spec: DTypeSpec, numel: int, ndim: int, m: int) -> Layout:
    g = geometry(numel)
    raw = g.full_blocks * raw_block_bytes(spec, BLOCK_ELEMS)
    low = g.full_blocks * low_block_bytes(BLOCK_ELEMS, m)
    flags = g.full_blocks * flag_block_bytes(BLOCK_ELEMS)
    if g.blocks > g.full_blocks:
        raw += raw_block_bytes(spec, g.last_lanes)
        low += low_block_bytes(g.last_lanes, m)
        flags += flag_block_bytes(g.last_lanes)
    index = INDEX_ENTRY_BYTES * g.blocks
    hb = header_bytes(ndim)
    raw_off = hb
    low_off = round_up(raw_off + raw, SECTION_ALIGN)
    flags_off = round_up(low_off + low, SECTION_ALIGN)
    index_off = round_up(flags_off + flags, SECTION_ALIGN)
    out_off = round_up(index_off + index, SECTION_ALIGN)
    return Layout(hb, raw_off, low_off, flags_off, index_off, out_off, raw, low, flags, index)


def max_compressed_bytes(spec: DTypeSpec, numel: int, ndim: int = MAX_NDIM) -> int:
    """Upper bound of a blob's size for any data and any parameters (m <= n <= W).

    Per lane, low bits plus outlier bits never exceed n <= W bits (groups per block are a
    multiple of 16, so outlier padding stays within the block's lanes); so the layout with the
    low section at W bits bounds everything, plus one alignment gap.
    """
    return layout(spec, numel, ndim, spec.exp_bits).outlier_offset + SECTION_ALIGN


# ----------------------------------------------------------------------------- header

@dataclasses.dataclass(frozen=True)
class Header:
    dtype: DTypeSpec
    shape: tuple
    numel: int
    b: int
    n: int
    m: int
    checksum_kind: int = CHECKSUM_NONE
    checksum: int = 0
    outlier_bytes: int = 0

    codec = CODEC_ENEC

    @property
    def blocks(self) -> int:
        return num_blocks(self.numel)

    @functools.cached_property        # a pure function of frozen fields; saves per-call time
    def layout(self) -> Layout:
        return layout(self.dtype, self.numel, len(self.shape), self.m)

    @property
    def total_bytes(self) -> int:
        return self.layout.outlier_offset + self.outlier_bytes

    def pack(self) -> bytes:
        lay = self.layout
        fixed = _HEADER.pack(
            MAGIC, VERSION, CODEC_ENEC, self.dtype.code, len(self.shape), self.b, self.n, self.m,
            GROUP_LEN, self.checksum_kind, b"\0\0\0", BLOCK_ELEMS, lay.header_bytes,
            self.numel, self.blocks, self.checksum, lay.raw_offset, lay.low_offset, lay.flags_offset,
            lay.index_offset, lay.outlier_offset, self.total_bytes)
        dims = struct.pack(f"<{len(self.shape)}Q", *self.shape)
        return (fixed + dims).ljust(lay.header_bytes, b"\0")


def validate_params(spec: DTypeSpec, b: int, n: int, m: int) -> None:
    if not (1 <= n <= spec.exp_bits and 0 <= m <= n and 0 <= b < (1 << spec.exp_bits)):
        raise CorruptStreamError(
            f"invalid ENEC parameters b={b} n={n} m={m} for {spec.name} "
            f"(need 1 <= n <= {spec.exp_bits}, 0 <= m <= n, 0 <= b < {1 << spec.exp_bits})")


def parse_header(blob) -> Header:
    """Parse and validate a blob's header against its own size. `blob`: bytes-like or uint8 array."""
    return _parse(memoryview(blob).cast("B"), whole=True)


def parse_header_prefix(prefix) -> Header:
    """Parse a header from the first bytes of a blob (no check against the blob's size)."""
    return _parse(memoryview(prefix).cast("B"), whole=False)


def _parse(mv: memoryview, whole: bool) -> Header:
    size = len(mv)
    if size < HEADER_FIXED_BYTES:
        raise CorruptStreamError(f"blob of {size} bytes is too short for an enec header "
                                 f"({HEADER_FIXED_BYTES} bytes)")
    (magic, version, codec, dcode, ndim, b, n, m, glen, ck_kind, reserved, block, hbytes,
     numel, blocks, checksum, raw_off, low_off, flags_off, index_off, out_off,
     total) = _HEADER.unpack_from(mv, 0)
    if magic != MAGIC:
        raise CorruptStreamError(f"not an enec blob (magic {bytes(magic)!r}, expected {MAGIC!r})")
    if version != VERSION:
        raise CorruptStreamError(f"unsupported enec format version {version} (this build reads {VERSION})")
    if codec not in CODEC_NAMES:
        raise CorruptStreamError(f"unknown codec id {codec} in enec blob")
    if codec != CODEC_ENEC:
        return _parse_codec(mv, whole)
    if dcode not in DTYPES:
        raise CorruptStreamError(f"unknown dtype code {dcode} in enec blob")
    spec = DTYPES[dcode]
    if reserved != b"\0\0\0":
        raise CorruptStreamError("reserved header bytes are not zero")
    if glen != GROUP_LEN or block != BLOCK_ELEMS:
        raise CorruptStreamError(f"unsupported group length {glen} / block size {block}")
    if ck_kind not in (CHECKSUM_NONE, CHECKSUM_XXH64):
        raise CorruptStreamError(f"unknown checksum kind {ck_kind}")
    if ck_kind == CHECKSUM_NONE and checksum != 0:
        raise CorruptStreamError("checksum value present without a checksum kind")
    if ndim > MAX_NDIM:
        raise CorruptStreamError(f"blob declares {ndim} dimensions (max {MAX_NDIM})")
    validate_params(spec, b, n, m)
    if HEADER_FIXED_BYTES + 8 * ndim > size:
        raise CorruptStreamError(f"blob of {size} bytes ends inside its header")
    if hbytes != header_bytes(ndim) or (whole and size < hbytes):
        raise CorruptStreamError(f"header size {hbytes} inconsistent with ndim {ndim} or blob size {size}")
    shape = struct.unpack_from(f"<{ndim}Q", mv, HEADER_FIXED_BYTES)
    for i, d in enumerate(shape):
        # torch sizes are int64; with a zero dimension elsewhere the product check alone passes
        if d >= MAX_DIM:
            raise CorruptStreamError(f"dimension {i} of size {d} is not a valid tensor size")
    prod = 1
    for d in shape:
        prod *= d
    if prod != numel:
        raise CorruptStreamError(f"shape {tuple(shape)} has {prod} elements but header says {numel}")
    if blocks != num_blocks(numel):
        raise CorruptStreamError(f"header block count {blocks} does not match {numel} elements")
    if any(mv[HEADER_FIXED_BYTES + 8 * ndim:min(hbytes, size)]):
        raise CorruptStreamError("header padding is not zero")
    lay = layout(spec, numel, ndim, m)
    if (raw_off, low_off, flags_off, index_off, out_off) != (
            lay.raw_offset, lay.low_offset, lay.flags_offset, lay.index_offset, lay.outlier_offset):
        raise CorruptStreamError("section offsets in the header do not match the format's layout")
    if total < out_off:
        raise CorruptStreamError("header's total size ends before its outlier section")
    if whole and total != size:
        raise CorruptStreamError(f"blob is {size} bytes but its header says {total} "
                                 f"({'truncated' if size < total else 'trailing bytes'})")
    if n == m and total != out_off:
        raise CorruptStreamError("outlier bytes present although n == m")
    return Header(spec, tuple(shape), numel, b, n, m, ck_kind, checksum, total - out_off)


# ----------------------------------------------------------------------------- other codecs

@dataclasses.dataclass(frozen=True)
class CodecHeader:
    """The fixed header of a codec-2/3/4 blob (docs/FORMAT.md §7): the same 96 bytes as ENEC's,
    with bytes 8..11 (`params`), `block_elems`, `blocks` and the five offsets defined per codec."""
    codec: int
    dtype: DTypeSpec
    shape: tuple
    numel: int
    params: tuple            # header bytes 8, 9, 10, 11
    block_elems: int
    blocks: int
    offsets: tuple           # header bytes 48..87: five u64
    total_bytes: int
    checksum_kind: int = CHECKSUM_NONE
    checksum: int = 0

    @property
    def header_bytes(self) -> int:
        return header_bytes(len(self.shape))

    def pack(self) -> bytes:
        fixed = _HEADER.pack(
            MAGIC, VERSION, self.codec, self.dtype.code, len(self.shape), *self.params,
            self.checksum_kind, b"\0\0\0", self.block_elems, self.header_bytes,
            self.numel, self.blocks, self.checksum, *self.offsets, self.total_bytes)
        dims = struct.pack(f"<{len(self.shape)}Q", *self.shape)
        return (fixed + dims).ljust(self.header_bytes, b"\0")


def _parse_codec(mv: memoryview, whole: bool) -> CodecHeader:
    """Common checks of a codec-2/3/4 header; the codec module checks its own fields."""
    size = len(mv)
    (magic, version, codec, dcode, ndim, p0, p1, p2, p3, ck_kind, reserved, block, hbytes,
     numel, blocks, checksum, o0, o1, o2, o3, o4, total) = _HEADER.unpack_from(mv, 0)
    if dcode not in ALL_DTYPES:
        raise CorruptStreamError(f"unknown dtype code {dcode} in enec blob")
    if reserved != b"\0\0\0":
        raise CorruptStreamError("reserved header bytes are not zero")
    if ck_kind not in (CHECKSUM_NONE, CHECKSUM_XXH64):
        raise CorruptStreamError(f"unknown checksum kind {ck_kind}")
    if ck_kind == CHECKSUM_NONE and checksum != 0:
        raise CorruptStreamError("checksum value present without a checksum kind")
    if ndim > MAX_NDIM:
        raise CorruptStreamError(f"blob declares {ndim} dimensions (max {MAX_NDIM})")
    if HEADER_FIXED_BYTES + 8 * ndim > size:
        raise CorruptStreamError(f"blob of {size} bytes ends inside its header")
    if hbytes != header_bytes(ndim) or (whole and size < hbytes):
        raise CorruptStreamError(f"header size {hbytes} inconsistent with ndim {ndim} or blob size {size}")
    shape = struct.unpack_from(f"<{ndim}Q", mv, HEADER_FIXED_BYTES)
    prod = 1
    for d in shape:
        prod *= d
    if prod != numel:
        raise CorruptStreamError(f"shape {tuple(shape)} has {prod} elements but header says {numel}")
    if any(mv[HEADER_FIXED_BYTES + 8 * ndim:min(hbytes, size)]):
        raise CorruptStreamError("header padding is not zero")
    if whole and total != size:
        raise CorruptStreamError(f"blob is {size} bytes but its header says {total} "
                                 f"({'truncated' if size < total else 'trailing bytes'})")
    h = CodecHeader(codec, ALL_DTYPES[dcode], tuple(shape), numel, (p0, p1, p2, p3), block, blocks,
                    (o0, o1, o2, o3, o4), total, ck_kind, checksum)
    from .codecs import validate_header          # late import: codecs import this module
    validate_header(h)
    return h
