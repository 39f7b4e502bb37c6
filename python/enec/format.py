"""The enec stream format, version 1: the header every blob starts with, and the byte layout of
the ENEC codec's blobs. docs/FORMAT.md describes the same in prose, byte by byte.

Every blob starts with the common header (`Header`, `parse_header`); which codec wrote it is its
codec byte, and each codec module (python/enec/codecs/) reads the fields the header leaves to
it. An ENEC blob is: header | raw section | low-bits section | flag section | outlier index |
outlier section, each section starting at a multiple of 32 bytes (zero bytes fill the gaps);
every ENEC implementation (numpy reference, native CPU, AscendC kernels) takes its sizes and
offsets from here (`layout`, `EnecHeader`). This module imports nothing of enec's but its errors.
"""
from __future__ import annotations

import dataclasses
import functools
import struct

import numpy as np

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
# 8-bit dtypes (QLC, APack and sparse only): exp_bits/raw_bits describe the bit fields, the
# ENEC codec does not take them
FP8_E4M3 = DTypeSpec(3, "float8_e4m3fn", 8, 4, 4)
FP8_E5M2 = DTypeSpec(4, "float8_e5m2", 8, 5, 3)
INT8 = DTypeSpec(5, "int8", 8, 0, 8)
UINT8 = DTypeSpec(6, "uint8", 8, 0, 8)
ENEC_DTYPES = {s.code: s for s in (BF16, FP16, FP32)}            # the ENEC codec's dtypes
ENEC_DTYPES_BY_NAME = {s.name: s for s in ENEC_DTYPES.values()}
ALL_DTYPES = {s.code: s for s in (BF16, FP16, FP32, FP8_E4M3, FP8_E5M2, INT8, UINT8)}   # any codec's
ALL_DTYPES_BY_NAME = {s.name: s for s in ALL_DTYPES.values()}
ALL_DTYPE_NAMES = tuple(ALL_DTYPES_BY_NAME)


def dtype_spec(name: str) -> DTypeSpec:
    """The spec of a dtype (by its torch name) that some codec takes; which codec takes which
    dtype is the registry's business (codecs.check_codec)."""
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
    """The fixed header every blob starts with (docs/FORMAT.md §2), whatever its codec: magic,
    version, codec, dtype, shape, checksum and total size mean the same for all codecs; header
    bytes 8..11 (`params`), `block_elems`, `blocks` and the five `offsets` are the codec's own
    (each codec module reads them: its `read_header`)."""
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


@dataclasses.dataclass(frozen=True)
class EnecHeader:
    """The ENEC codec's reading of the header: params = (b, n, m, GROUP_LEN), block_elems =
    BLOCK_ELEMS, offsets = the five section offsets of `layout`. codecs/enec.py reads and checks
    it (`read_header`); the ENEC implementations write it (`pack`)."""
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
        return Header(CODEC_ENEC, self.dtype, tuple(self.shape), self.numel, (self.b, self.n, self.m, GROUP_LEN),
                      BLOCK_ELEMS, self.blocks, (lay.raw_offset, lay.low_offset, lay.flags_offset,
                                                 lay.index_offset, lay.outlier_offset),
                      self.total_bytes, self.checksum_kind, self.checksum).pack()


def parse_header(blob) -> Header:
    """Parse a blob's common header and check it against the blob's size. `blob`: bytes-like or
    uint8 array. The codec's own fields are checked by the codec (codecs.read_header)."""
    return _parse(memoryview(blob).cast("B"), whole=True)


def parse_header_prefix(prefix) -> Header:
    """Parse the common header from the first bytes of a blob (no check against the blob's size)."""
    return _parse(memoryview(prefix).cast("B"), whole=False)


def _parse(mv: memoryview, whole: bool) -> Header:
    size = len(mv)
    if size < HEADER_FIXED_BYTES:
        raise CorruptStreamError(f"blob of {size} bytes is too short for an enec header "
                                 f"(its fixed part alone is {HEADER_FIXED_BYTES} bytes)")
    (magic, version, codec, dcode, ndim, p0, p1, p2, p3, ck_kind, reserved, block, hbytes,
     numel, blocks, checksum, o0, o1, o2, o3, o4, total) = _HEADER.unpack_from(mv, 0)
    if magic != MAGIC:
        raise CorruptStreamError(f"not an enec blob (magic {bytes(magic)!r}, expected {MAGIC!r})")
    if version != VERSION:
        raise CorruptStreamError(f"unsupported enec format version {version} (this build reads {VERSION})")
    if codec not in CODEC_NAMES:
        raise CorruptStreamError(f"unknown codec id {codec} in enec blob")
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
    for i, d in enumerate(shape):
        # torch sizes are int64; with a zero dimension elsewhere the product check alone passes
        if d >= MAX_DIM:
            raise CorruptStreamError(f"dimension {i} of size {d} is not a valid tensor size")
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
    return Header(codec, ALL_DTYPES[dcode], tuple(shape), numel, (p0, p1, p2, p3), block, blocks,
                  (o0, o1, o2, o3, o4), total, ck_kind, checksum)


# ----------------------------------------------------------------------------- checksum

def checksum_of(words) -> int:
    """XXH64 (seed 0) of the uncompressed bytes: the element bit patterns, little-endian."""
    import xxhash
    return xxhash.xxh64_intdigest(memoryview(np.ascontiguousarray(words)).cast("B"))


def set_checksum(blob, value: int) -> None:
    """Store an XXH64 checksum in a blob's header (a writable uint8 array)."""
    blob[CHECKSUM_KIND_OFFSET] = CHECKSUM_XXH64
    blob[CHECKSUM_OFFSET:CHECKSUM_OFFSET + 8] = np.frombuffer(value.to_bytes(8, "little"), np.uint8)
