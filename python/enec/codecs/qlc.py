"""Quad Length Codes (codec 2): the numpy reference, the executable spec of docs/FORMAT.md §7.2.

Every element is an 8-bit symbol (its bit pattern). Its codeword is a 3-bit area prefix `a`
followed by a k_a-bit index inside area a. The symbols present in the tensor, sorted by
decreasing count (ties: smaller symbol first), fill the 8 areas in order; area a holds c_a
symbols and k_a = ceil(log2 c_a) (0 for c_a <= 1). The area sizes c_0..c_7 are chosen per
tensor by an exact dynamic program that minimises the total code length (`build_table`).

Stream layout: the 3-bit prefixes of all elements form one fixed-width stream (prefix i at bit
3i), the variable-width indices a second stream cut into chunks of 65536 elements, each chunk
starting on a byte boundary with its end recorded in a chunk index. The sizes are exactly the
interleaved code's (3 + k_a bits per element); the split lets a decoder find every code's
position with one prefix sum and decode any chunk on its own.
"""
from __future__ import annotations

import numpy as np

from .. import format as fmt
from ..errors import CorruptStreamError
from . import _bits, _info

ID = fmt.CODEC_QLC
NAME = "qlc"
DTYPES = ("float8_e4m3fn", "float8_e5m2", "int8", "uint8")
AREAS = 8
PREFIX_BITS = 3
CHUNK = 65536                   # elements per chunk of the index stream
TABLE_FIXED = 2 * AREAS         # u16 count per area, then the symbols


def area_width(count: int) -> int:
    """k: index bits of an area holding `count` symbols."""
    return max(0, int(count - 1).bit_length()) if count > 1 else 0


def build_table(hist: np.ndarray):
    """(counts per area [8], symbols in rank order) minimising sum_s hist[s]·(3 + k_area(s)).

    f[a][j] = least bits to code the j most frequent symbols with a areas;
    f[a][j] = min_i f[a-1][i] + (3 + k(j - i))·(P[j] - P[i]), an area of j - i symbols
    (0 allowed: an empty area). Ties go to the smallest i (numpy argmin's first minimum).
    """
    hist = np.asarray(hist, dtype=np.int64)
    order = np.lexsort((np.arange(256), -hist))           # count descending, symbol ascending
    order = order[hist[order] > 0]
    s = order.size
    P = np.concatenate([[0], np.cumsum(hist[order])]).astype(np.int64)
    big = np.iinfo(np.int64).max // 4
    i = np.arange(s + 1)[:, None]
    j = np.arange(s + 1)[None, :]
    c = j - i
    kt = np.array([area_width(n) for n in range(257)], dtype=np.int64)
    k = kt[np.clip(c, 0, 256)]
    ok = (c >= 0) & (c <= 256)
    cost = np.where(ok, (PREFIX_BITS + k) * (P[None, :] - P[:, None]), big)
    cost = np.where(c == 0, 0, cost)
    f = np.full(s + 1, big, dtype=np.int64)
    f[0] = 0
    choice = np.zeros((AREAS, s + 1), dtype=np.int64)
    for a in range(AREAS):
        tot = f[:, None] + cost
        tot = np.where((f[:, None] >= big) | (cost >= big), big, tot)
        choice[a] = np.argmin(tot, axis=0)
        f = tot[choice[a], np.arange(s + 1)]
    counts = np.zeros(AREAS, dtype=np.int64)
    jj = s
    for a in range(AREAS - 1, -1, -1):
        ii = int(choice[a, jj])
        counts[a] = jj - ii
        jj = ii
    assert jj == 0
    return counts, order.astype(np.uint8)


def table_bits(hist: np.ndarray, counts: np.ndarray, symbols: np.ndarray) -> int:
    """Total code bits of a histogram under a table."""
    ks = np.repeat([area_width(int(c)) for c in counts], counts)
    return int(np.sum(np.asarray(hist, np.int64)[symbols.astype(np.int64)] * (PREFIX_BITS + ks)))


def _code_luts(counts, symbols):
    """symbol -> area, symbol -> index, area -> k, area -> first rank."""
    area_of = np.zeros(256, dtype=np.uint8)
    index_of = np.zeros(256, dtype=np.uint16)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
    for a in range(AREAS):
        syms = symbols[starts[a]:starts[a] + counts[a]].astype(np.int64)
        area_of[syms] = a
        index_of[syms] = np.arange(counts[a])
    k = np.array([area_width(int(c)) for c in counts], dtype=np.uint8)
    return area_of, index_of, k, starts


# ----------------------------------------------------------------------------- layout

def layout(numel: int, ndim: int, nsym: int):
    """(table, index, prefix, data) offsets and the index/prefix sizes."""
    chunks = (numel + CHUNK - 1) // CHUNK
    hb = fmt.header_bytes(ndim)
    table_off = hb
    index_off = _bits.round_up(table_off + TABLE_FIXED + nsym)
    prefix_off = _bits.round_up(index_off + 8 * chunks)
    prefix_bytes = (PREFIX_BITS * numel + 7) // 8
    data_off = _bits.round_up(prefix_off + prefix_bytes)
    return table_off, index_off, prefix_off, data_off, chunks, prefix_bytes


def max_bytes(numel: int, ndim: int) -> int:
    """Largest blob for any data: the DP never exceeds 8 bits per element (8 areas of 32
    symbols would code any tensor in 3 + 5 bits), plus one padding byte per chunk."""
    *_, data_off, chunks, _ = layout(numel, ndim, 256)
    return data_off + numel + chunks


# ----------------------------------------------------------------------------- kernels (reference)

class Reference:
    name = "reference"

    @staticmethod
    def histogram(sym: np.ndarray) -> np.ndarray:
        return np.bincount(sym, minlength=256).astype(np.int64)

    @staticmethod
    def encode(sym, area_of, index_of, k):
        """-> (prefix stream bytes, index-stream bytes, chunk ends (u64))."""
        n = sym.size
        areas = area_of[sym]
        prefix = _bits.pack_fixed(areas, PREFIX_BITS)
        widths = k[areas].astype(np.int64)
        pos, chunk_bytes, _ = _bits.chunk_bit_positions(widths, CHUNK)
        ends = np.cumsum(chunk_bytes).astype(np.int64)
        total = int(ends[-1]) if n else 0
        data = _bits.pack_fields(index_of[sym], widths, pos, total)
        return prefix, data, ends

    @staticmethod
    def decode(prefix_buf, data_buf, ends, numel, counts, symbols):
        areas = _bits.unpack_fixed(prefix_buf, numel, PREFIX_BITS).astype(np.int64)
        counts = np.asarray(counts, np.int64)
        if numel and np.any(counts[areas] == 0):
            raise CorruptStreamError("qlc: a prefix names an empty area")
        k = np.array([area_width(int(c)) for c in counts], dtype=np.int64)
        widths = k[areas]
        pos, chunk_bytes, chunk_bits = _bits.chunk_bit_positions(widths, CHUNK)
        if not np.array_equal(np.cumsum(chunk_bytes), ends):
            raise CorruptStreamError("qlc: chunk index disagrees with the code lengths of its prefixes")
        starts = np.concatenate([[0], ends[:-1]]).astype(np.int64)
        for c in range(ends.size):
            b = chunk_bits[c] % 8
            if b and int(data_buf[ends[c] - 1]) >> b:
                raise CorruptStreamError(f"qlc: chunk {c} has non-zero padding bits")
        del starts
        idx = _bits.unpack_fields(data_buf, pos, widths).astype(np.int64)
        if numel and np.any(idx >= counts[areas]):
            raise CorruptStreamError("qlc: an index lies past its area's symbols")
        first = np.concatenate([[0], np.cumsum(counts)[:-1]])
        return symbols[first[areas] + idx]


# ----------------------------------------------------------------------------- codec

def encode(words: np.ndarray, spec: fmt.DTypeSpec, shape: tuple, kern=Reference) -> np.ndarray:
    sym = np.ascontiguousarray(words, dtype=np.uint8).reshape(-1)
    numel = sym.size
    counts, symbols = build_table(kern.histogram(sym))
    area_of, index_of, k, _ = _code_luts(counts, symbols)
    prefix, data, ends = kern.encode(sym, area_of, index_of, k)
    table_off, index_off, prefix_off, data_off, chunks, prefix_bytes = layout(numel, len(shape), symbols.size)
    total = data_off + (int(ends[-1]) if chunks else 0)
    hdr = fmt.Header(ID, spec, tuple(shape), numel, (0, 0, 0, 0), CHUNK, chunks,
                          (table_off, index_off, prefix_off, data_off, 0), total)
    blob = np.zeros(total, dtype=np.uint8)
    _bits.put(blob, 0, np.frombuffer(hdr.pack(), np.uint8))
    _bits.put(blob, table_off, counts.astype("<u2").view(np.uint8))
    _bits.put(blob, table_off + TABLE_FIXED, symbols)
    _bits.put(blob, index_off, np.asarray(ends, "<u8").view(np.uint8))
    _bits.put(blob, prefix_off, prefix)
    _bits.put(blob, data_off, data)
    return blob


def read_table(buf: np.ndarray, h: fmt.Header):
    counts = _bits.section(buf, h.offsets[0], TABLE_FIXED, "qlc table").view("<u2").astype(np.int64)
    if np.any(counts > 256) or counts.sum() > 256:
        raise CorruptStreamError(f"qlc table: area sizes {counts.tolist()} exceed 256 symbols")
    nsym = int(counts.sum())
    symbols = _bits.section(buf, h.offsets[0] + TABLE_FIXED, nsym, "qlc table symbols")
    if np.unique(symbols).size != nsym:
        raise CorruptStreamError("qlc table: a symbol appears twice")
    if h.numel and nsym == 0:
        raise CorruptStreamError("qlc table is empty but the tensor is not")
    return counts, symbols.copy()


def read_header(h: fmt.Header) -> fmt.Header:
    """Check the header fields this codec defines; the header itself is its reading of them."""
    if h.params != (0, 0, 0, 0) or h.offsets[4] != 0:
        raise CorruptStreamError("qlc header: reserved parameter bytes are not zero")
    if h.block_elems != CHUNK:
        raise CorruptStreamError(f"qlc header: chunk size {h.block_elems}, expected {CHUNK}")
    if h.blocks != (h.numel + CHUNK - 1) // CHUNK:
        raise CorruptStreamError("qlc header: chunk count does not match numel")
    # offsets depend on the table size (0..256 symbols): check them against every possibility
    table_off = fmt.header_bytes(len(h.shape))
    if h.offsets[0] != table_off:
        raise CorruptStreamError("qlc header: table offset does not follow the header")
    nsym_max = h.offsets[1] - table_off - TABLE_FIXED
    if not (0 <= nsym_max <= 256 + _bits.ALIGN):
        raise CorruptStreamError("qlc header: section offsets inconsistent")
    _, index_off, prefix_off, data_off, _, _ = layout(h.numel, len(h.shape), max(0, nsym_max))
    if (h.offsets[1], h.offsets[2], h.offsets[3]) != (index_off, prefix_off, data_off):
        raise CorruptStreamError("qlc header: section offsets do not match the format's layout")
    if h.total_bytes < data_off:
        raise CorruptStreamError("qlc header: total size ends before the data section")
    return h


def decode(buf: np.ndarray, h: fmt.Header, kern=Reference) -> np.ndarray:
    counts, symbols = read_table(buf, h)
    table_off, index_off, prefix_off, data_off, chunks, prefix_bytes = layout(
        h.numel, len(h.shape), symbols.size)
    if (index_off, prefix_off, data_off) != tuple(h.offsets[1:4]):
        raise CorruptStreamError("qlc: section offsets disagree with the table size")
    data_len = buf.size - data_off
    ends = _bits.ends_index(buf, index_off, chunks, data_len, "qlc chunk index")
    if chunks and ends[-1] != data_len:
        raise CorruptStreamError("qlc: chunk index does not end at the blob end")
    if not chunks and data_len:
        raise CorruptStreamError("qlc: trailing data in an empty tensor's blob")
    prefix = _bits.section(buf, prefix_off, prefix_bytes, "qlc prefixes")
    _bits.check_tail_zero(prefix, PREFIX_BITS * h.numel, "qlc prefixes")
    return kern.decode(prefix, buf[data_off:], ends, h.numel, counts, symbols)


def inspect(buf: np.ndarray, h: fmt.Header) -> _info.TableInfo:
    counts, symbols = read_table(buf, h)
    return _info.TableInfo(
        **_info.common_fields(buf, h),
        section_bytes={"header": h.header_bytes, "table": TABLE_FIXED + symbols.size,
                       "index": 8 * h.blocks, "prefixes": (PREFIX_BITS * h.numel + 7) // 8,
                       "indices": h.total_bytes - h.offsets[3]},
        table={"area_sizes": counts.tolist(),
               "code_lengths": [PREFIX_BITS + area_width(int(c)) for c in counts],
               "symbols": symbols.tolist()},
        block_elems=h.block_elems, blocks=h.blocks)
