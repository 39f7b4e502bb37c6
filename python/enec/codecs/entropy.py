"""The entropy codec (codec 5): the numpy reference, the executable spec of docs/FORMAT.md §7.5.

The maximum-ratio codec for BF16, FP16 and FP32. Each element splits into a *symbol*, its
exponent field followed by the top k mantissa bits (k = 0..2, chosen per tensor), and a *raw
field*, the remaining mantissa bits and the sign, stored verbatim. The symbols are coded with
interleaved rANS (8 lanes, 32-bit states, 16-bit words, 12-bit frequencies) under one static
per-tensor table stored in the blob; the raw fields form one fixed-width bit stream.

Why the top mantissa bits: within one binade the mantissa of bell-shaped weights is not uniform
(values near the smaller end are denser), so coding 1-2 leading mantissa bits with the exponent
gains 0.5-1 % of ratio on real weights (all-MiniLM-L6-v2: BF16 1.5003 -> 1.5090 as one tensor),
which the pure exponent code cannot reach.

Blocks of 16384 elements are independent: a block's rANS bytes (8 lane states, then its words)
start at an offset recorded in a block index, and its raw fields start at a fixed bit position,
so any number of workers can decode any subset of blocks. The cost is 40 bytes a block
(states and index entry): under 0.2 % of a BF16 blob.
"""
from __future__ import annotations

import dataclasses
import heapq
import math

import numpy as np

from .. import format as fmt
from ..errors import CorruptStreamError
from . import _bits, _info

ID = fmt.CODEC_ENTROPY
NAME = "entropy"
DTYPES = ("bfloat16", "float16", "float32")
BLOCK = 16384                    # elements per independently decodable block (a multiple of 8)
LANES = 8                        # interleaved rANS states per block; element j uses lane j % 8
PROB_BITS = 12
PROB_SCALE = 1 << PROB_BITS
RANS_L = 1 << 16                 # lower bound of a lane state; states live in [2^16, 2^32)
STATE_BYTES = 4 * LANES
MAX_TOP = 2                      # mantissa bits a symbol may carry
TABLE_FIXED = 4                  # u16 first symbol, u16 symbol count, then the u16 frequencies

# dtype name -> (word bits, exponent bits W, mantissa bits M)
_FIELDS = {"bfloat16": (16, 8, 7), "float16": (16, 5, 10), "float32": (32, 8, 23)}


def fields(spec: fmt.DTypeSpec):
    """(W, M): exponent and mantissa widths; the raw field of top k has M - k + 1 bits."""
    _, W, M = _FIELDS[spec.name]
    return W, M


def raw_width(spec: fmt.DTypeSpec, k: int) -> int:
    return fields(spec)[1] - k + 1


def alphabet(spec: fmt.DTypeSpec, k: int) -> int:
    return 1 << (fields(spec)[0] + k)


# ----------------------------------------------------------------------------- field split

def split(words: np.ndarray, spec: fmt.DTypeSpec, k: int):
    """(symbols, raw fields) of the words: symbol = exponent << k | top k mantissa bits;
    raw = (low M-k mantissa bits) << 1 | sign. Integer shifts only (NaN payloads kept)."""
    W, M = fields(spec)
    w = np.asarray(words).astype(np.int64)
    sign = (w >> (W + M)) & 1
    exp = (w >> M) & ((1 << W) - 1)
    mant = w & ((1 << M) - 1)
    sym = (exp << k) | (mant >> (M - k))
    raw = ((mant & ((1 << (M - k)) - 1)) << 1) | sign
    return sym, raw


def merge(sym: np.ndarray, raw: np.ndarray, spec: fmt.DTypeSpec, k: int) -> np.ndarray:
    """The inverse of split: the words (uint16 / uint32)."""
    W, M = fields(spec)
    sym = sym.astype(np.int64)
    raw = raw.astype(np.int64)
    mant = ((sym & ((1 << k) - 1)) << (M - k)) | (raw >> 1)
    w = ((raw & 1) << (W + M)) | ((sym >> k) << M) | mant
    return w.astype(np.uint16 if spec.word_bits == 16 else np.uint32)


# ----------------------------------------------------------------------------- table

def quantize(counts: np.ndarray) -> np.ndarray:
    """12-bit frequencies summing to 4096: >= 1 for every present symbol, 0 for absent ones, all
    0 when there are no elements. Start from max(1, floor(c·4096/N)), then move single units
    greedily: add where c·log2((f+1)/f) is largest, remove where c·log2(f/(f-1)) is smallest
    (ties: the lower symbol). This is the table every implementation uses (chosen here). A heap
    keeps each step O(log S): a per-tensor cost, paid for every tensor of a checkpoint."""
    c = np.asarray(counts, dtype=np.int64)
    f = np.zeros(c.size, dtype=np.int64)
    N = int(c.sum())
    if N == 0:
        return f
    present = c > 0
    f[present] = np.maximum(1, c[present] * PROB_SCALE // N)
    total = int(f.sum())
    cnt = c.tolist()
    fl = f.tolist()
    syms = np.flatnonzero(present).tolist()
    if total < PROB_SCALE:
        heap = [(-cnt[i] * math.log2((fl[i] + 1) / fl[i]), i) for i in syms]
        heapq.heapify(heap)
        while total < PROB_SCALE:
            _, i = heapq.heappop(heap)
            fl[i] += 1
            total += 1
            heapq.heappush(heap, (-cnt[i] * math.log2((fl[i] + 1) / fl[i]), i))
    elif total > PROB_SCALE:
        heap = [(cnt[i] * math.log2(fl[i] / (fl[i] - 1)), i) for i in syms if fl[i] > 1]
        heapq.heapify(heap)
        while total > PROB_SCALE:
            _, i = heapq.heappop(heap)
            fl[i] -= 1
            total -= 1
            if fl[i] > 1:
                heapq.heappush(heap, (cnt[i] * math.log2(fl[i] / (fl[i] - 1)), i))
    return np.array(fl, dtype=np.int64)


def coded_bits(counts: np.ndarray, freqs: np.ndarray) -> float:
    """Ideal bits of the symbols under a table: sum c·log2(4096/f)."""
    c = np.asarray(counts, dtype=np.float64)
    keep = c > 0
    return float(np.sum(c[keep] * (PROB_BITS - np.log2(np.asarray(freqs, np.float64)[keep]))))


def table_span(freqs: np.ndarray):
    """(first, count): the smallest symbol range holding every non-zero frequency."""
    nz = np.flatnonzero(freqs)
    if nz.size == 0:
        return 0, 0
    return int(nz[0]), int(nz[-1] - nz[0] + 1)


def choose_table(hist_top: np.ndarray, spec: fmt.DTypeSpec, numel: int):
    """(k, frequencies over the whole alphabet) from the histogram of the symbols with MAX_TOP
    mantissa bits. Picks the k whose blob is smallest: coded symbol bits plus raw bits plus the
    table (ties: the smaller k). Part of no format rule (informative, §7.5), shared by every
    implementation so that they write the same bytes."""
    hist_top = np.asarray(hist_top, dtype=np.int64)
    best = None
    for k in range(MAX_TOP + 1):
        h = hist_top.reshape(-1, 1 << (MAX_TOP - k)).sum(axis=1)
        f = quantize(h)
        cost = coded_bits(h, f) + numel * raw_width(spec, k) + 8 * 2 * table_span(f)[1]
        if best is None or cost < best[0]:
            best = (cost, k, f)
    return best[1], best[2]


def cumulative(freqs):
    return np.concatenate([[0], np.cumsum(freqs)[:-1]]).astype(np.int64)


# ----------------------------------------------------------------------------- layout

def layout(numel: int, ndim: int, spec: fmt.DTypeSpec, k: int, nsym: int):
    """(table, index, raw, rans offsets, blocks, raw bytes)."""
    blocks = (numel + BLOCK - 1) // BLOCK
    table_off = fmt.header_bytes(ndim)
    index_off = _bits.round_up(table_off + TABLE_FIXED + 2 * nsym)
    raw_off = _bits.round_up(index_off + 8 * blocks)
    raw_bytes = (numel * raw_width(spec, k) + 7) // 8
    rans_off = _bits.round_up(raw_off + raw_bytes)
    return table_off, index_off, raw_off, rans_off, blocks, raw_bytes


def max_bytes(spec: fmt.DTypeSpec, numel: int, ndim: int) -> int:
    """Largest blob for any data: at most one 16-bit word per element (a state never grows by
    more than 12 bits a symbol), the lane states of every block, the largest table, k = 0."""
    _, _, _, rans_off, blocks, _ = layout(numel, ndim, spec, 0, alphabet(spec, MAX_TOP))
    return rans_off + blocks * STATE_BYTES + 2 * numel


# ----------------------------------------------------------------------------- kernels (reference)

def _grid(numel):
    """Block b, step t, lane l <-> element b·BLOCK + LANES·t + l."""
    blocks = (numel + BLOCK - 1) // BLOCK
    steps = (min(numel, BLOCK) + LANES - 1) // LANES
    return blocks, steps


class Reference:
    name = "reference"

    @staticmethod
    def histogram(words, spec):
        """Histogram of the symbols with MAX_TOP mantissa bits."""
        sym, _ = split(words, spec, MAX_TOP)
        return np.bincount(sym, minlength=alphabet(spec, MAX_TOP)).astype(np.int64)

    @staticmethod
    def encode(words, spec, k, freqs):
        """-> (raw stream bytes, rANS bytes, block rANS ends (cumulative))."""
        numel = words.size
        sym, raw = split(words, spec, k)
        raw_bytes = _bits.pack_fixed(raw, raw_width(spec, k))
        blocks, steps = _grid(numel)
        grid = np.full(blocks * steps * LANES, -1, dtype=np.int64)
        idx = np.arange(numel)
        grid[(idx // BLOCK) * steps * LANES + idx % BLOCK] = sym
        grid = grid.reshape(blocks, steps, LANES)
        freq = np.asarray(freqs, dtype=np.uint64)
        cum = cumulative(freqs).astype(np.uint64)
        x = np.full((blocks, LANES), RANS_L, dtype=np.uint64)
        out_words = np.zeros((blocks, steps, LANES), dtype=np.uint16)
        emit = np.zeros((blocks, steps, LANES), dtype=bool)
        for t in range(steps - 1, -1, -1):          # backwards: the decoder runs forwards
            s = grid[:, t, :]
            act = s >= 0
            sc = np.where(act, s, 0)
            f = np.where(act, freq[sc], np.uint64(1))
            e = act & (x >= (f << np.uint64(32 - PROB_BITS)))
            out_words[:, t, :] = (x & np.uint64(0xFFFF)).astype(np.uint16)
            emit[:, t, :] = e
            x = np.where(e, x >> np.uint64(16), x)
            xn = ((x // f) << np.uint64(PROB_BITS)) + (x % f) + cum[sc]
            x = np.where(act, xn, x)
        nwords = emit.reshape(blocks, steps * LANES).sum(axis=1)
        ends = np.cumsum(STATE_BYTES + 2 * nwords).astype(np.int64)
        parts = []
        for b in range(blocks):
            parts.append(x[b].astype("<u4").view(np.uint8))
            parts.append(out_words[b][emit[b]].astype("<u2").view(np.uint8))
        rans = np.concatenate(parts) if parts else np.zeros(0, np.uint8)
        return raw_bytes, rans, ends

    @staticmethod
    def decode(raw_buf, rans, ends, numel, spec, k, freqs):
        """The words, from validated sections: raw_buf holds exactly the raw stream, rans the
        rANS section, ends the (checked non-decreasing) block ends."""
        blocks, steps = _grid(numel)
        if numel == 0:
            return np.zeros(0, dtype=np.uint16 if spec.word_bits == 16 else np.uint32)
        freq = np.asarray(freqs, dtype=np.uint64)
        cumu = cumulative(freqs).astype(np.uint64)
        slot2sym = np.repeat(np.arange(freq.size), np.asarray(freqs, np.int64))
        start = np.concatenate([[0], ends[:-1]]).astype(np.int64)
        if np.any(ends - start < STATE_BYTES) or np.any((ends - start) % 2):
            raise CorruptStreamError("entropy: a block's rANS bytes are fewer than its lane states, or odd")
        st = start[:, None] + 4 * np.arange(LANES)[None, :]
        x = np.zeros((blocks, LANES), dtype=np.uint64)
        for j in range(4):
            x |= rans[st + j].astype(np.uint64) << np.uint64(8 * j)
        if np.any(x < RANS_L):
            raise CorruptStreamError("entropy: a rANS lane state is below 2^16")
        wbase = start + STATE_BYTES
        nwords = (ends - wbase) // 2
        ptr = np.zeros(blocks, dtype=np.int64)
        n_b = np.minimum(BLOCK, numel - np.arange(blocks) * BLOCK)
        lane = np.arange(LANES)
        out = np.zeros((blocks, steps, LANES), dtype=np.int64)
        padded = np.concatenate([rans, np.zeros(2, np.uint8)])
        mask = np.uint64(PROB_SCALE - 1)
        for t in range(steps):
            act = (t * LANES + lane)[None, :] < n_b[:, None]
            slot = (x & mask).astype(np.int64)
            s = slot2sym[slot]
            xn = freq[s] * (x >> np.uint64(PROB_BITS)) + slot.astype(np.uint64) - cumu[s]
            x = np.where(act, xn, x)
            out[:, t, :] = s
            need = act & (x < RANS_L)
            at = ptr[:, None] + np.cumsum(need, axis=1) - need
            if np.any(need & (at >= nwords[:, None])):
                raise CorruptStreamError("entropy: a block's rANS words run out before its elements")
            b = wbase[:, None] + 2 * np.where(need, at, 0)
            w = padded[b].astype(np.uint64) | (padded[b + 1].astype(np.uint64) << np.uint64(8))
            x = np.where(need, (x << np.uint64(16)) | w, x)
            ptr += need.sum(axis=1)
        if np.any(ptr != nwords) or np.any(x != RANS_L):
            raise CorruptStreamError("entropy: a block's rANS stream does not end where the block ends")
        keep = np.arange(steps * LANES)[None, :] < n_b[:, None]
        sym = out.reshape(blocks, -1)[keep]
        raw = _bits.unpack_fixed(raw_buf, numel, raw_width(spec, k))
        return merge(sym, raw, spec, k)


# ----------------------------------------------------------------------------- codec

def encode(words: np.ndarray, spec: fmt.DTypeSpec, shape: tuple, kern=Reference) -> np.ndarray:
    words = np.ascontiguousarray(words).reshape(-1)
    numel = words.size
    k, freqs = choose_table(kern.histogram(words, spec), spec, numel)
    first, nsym = table_span(freqs)
    lay = layout(numel, len(shape), spec, k, nsym)
    table_off, index_off, raw_off, rans_off, blocks, _ = lay
    if hasattr(kern, "encode_into"):
        # native: a blob with the raw, index and rANS sections written (gaps zeroed), and its size
        blob, total = kern.encode_into(words, spec, k, freqs, lay)
    else:
        raw, rans, ends = kern.encode(words, spec, k, freqs)
        total = rans_off + (int(ends[-1]) if blocks else 0)
        blob = np.zeros(total, dtype=np.uint8)
        _bits.put(blob, index_off, np.asarray(ends, "<u8").view(np.uint8))
        _bits.put(blob, raw_off, raw)
        _bits.put(blob, rans_off, rans)
    hdr = fmt.Header(ID, spec, tuple(shape), numel, (k, PROB_BITS, LANES, 0), BLOCK, blocks,
                          (table_off, index_off, raw_off, rans_off, 0), total)
    blob[:table_off] = np.frombuffer(hdr.pack(), np.uint8)
    table = np.zeros(index_off - table_off, dtype=np.uint8)      # the table and its gap
    table[:TABLE_FIXED] = np.array([first, nsym], "<u2").view(np.uint8)
    table[TABLE_FIXED:TABLE_FIXED + 2 * nsym] = freqs[first:first + nsym].astype("<u2").view(np.uint8)
    blob[table_off:index_off] = table
    return blob[:total]


def read_header(h: fmt.Header) -> fmt.Header:
    """Check the header fields this codec defines; the header itself is its reading of them."""
    k, pb, lanes, p3 = h.params
    if not (0 <= k <= MAX_TOP) or pb != PROB_BITS or lanes != LANES or p3 != 0 or h.offsets[4] != 0:
        raise CorruptStreamError(f"entropy header: bad parameters {h.params}")
    if h.block_elems != BLOCK or h.blocks != (h.numel + BLOCK - 1) // BLOCK:
        raise CorruptStreamError("entropy header: block size or count inconsistent")
    table_off = fmt.header_bytes(len(h.shape))
    if h.offsets[0] != table_off:
        raise CorruptStreamError("entropy header: table offset does not follow the header")
    # the table's size is read from the table; bound it here by the alphabet
    span = h.offsets[1] - table_off - TABLE_FIXED
    if not (0 <= span <= 2 * alphabet(h.dtype, k) + _bits.ALIGN):
        raise CorruptStreamError("entropy header: section offsets inconsistent")
    if h.total_bytes < h.offsets[3]:
        raise CorruptStreamError("entropy header: total size ends before the rANS section")
    return h


def read_table(buf: np.ndarray, h: fmt.Header):
    """(k, frequencies over the whole alphabet, first symbol, symbol count), validated."""
    k = h.params[0]
    first, nsym = (int(v) for v in _bits.section(buf, h.offsets[0], TABLE_FIXED, "entropy table").view("<u2"))
    size = alphabet(h.dtype, k)
    if first + nsym > size:
        raise CorruptStreamError(f"entropy table: symbols {first}..{first + nsym - 1} exceed the "
                                 f"alphabet of {size} ({h.dtype.name}, {k} mantissa bits)")
    span = _bits.section(buf, h.offsets[0] + TABLE_FIXED, 2 * nsym, "entropy table frequencies")
    freqs = np.zeros(size, dtype=np.int64)
    freqs[first:first + nsym] = span.view("<u2")
    want = PROB_SCALE if h.numel else 0
    if int(freqs.sum()) != want:
        raise CorruptStreamError(f"entropy table: frequencies sum to {int(freqs.sum())}, expected {want}")
    if nsym and (freqs[first] == 0 or freqs[first + nsym - 1] == 0):
        raise CorruptStreamError("entropy table: the symbol range does not start and end at a used symbol")
    if not nsym and first:
        raise CorruptStreamError("entropy table: an empty table must start at symbol 0")
    return k, freqs, first, nsym


def sections(buf: np.ndarray, h: fmt.Header):
    """(k, freqs, raw stream, rANS section, block ends), every offset checked."""
    k, freqs, first, nsym = read_table(buf, h)
    _, index_off, raw_off, rans_off, blocks, raw_bytes = layout(h.numel, len(h.shape), h.dtype, k, nsym)
    if (index_off, raw_off, rans_off) != tuple(h.offsets[1:4]):
        raise CorruptStreamError("entropy: section offsets disagree with the table size and numel")
    rans_len = buf.size - rans_off
    ends = _bits.ends_index(buf, index_off, blocks, rans_len, "entropy block index")
    if blocks and ends[-1] != rans_len:
        raise CorruptStreamError("entropy: block index does not end at the blob end")
    if not blocks and rans_len:
        raise CorruptStreamError("entropy: trailing data in an empty tensor's blob")
    raw = _bits.section(buf, raw_off, raw_bytes, "entropy raw section")
    _bits.check_tail_zero(raw, h.numel * raw_width(h.dtype, k), "entropy raw section")
    return k, freqs, raw, buf[rans_off:], ends


def decode(buf: np.ndarray, h: fmt.Header, kern=Reference) -> np.ndarray:
    k, freqs, raw, rans, ends = sections(buf, h)
    return kern.decode(raw, rans, ends, h.numel, h.dtype, k, freqs)


@dataclasses.dataclass(frozen=True)
class EntropyInfo(_info.TableInfo):
    """The entropy codec: its symbol table, blocks, and what block independence costs."""
    independent_decode_bytes: int    # each block's lane states and index entry

    def details(self) -> list:
        return super().details() + [f"  blocks     {self.independent_decode_bytes:,} bytes for independent decoding"]


def inspect(buf: np.ndarray, h: fmt.Header) -> EntropyInfo:
    k, freqs, first, nsym = read_table(buf, h)
    _, index_off, raw_off, rans_off, blocks, raw_bytes = layout(h.numel, len(h.shape), h.dtype, k, nsym)
    return EntropyInfo(
        **_info.common_fields(buf, h),
        section_bytes={"header": h.header_bytes, "table": TABLE_FIXED + 2 * nsym, "index": 8 * blocks,
                       "raw": raw_bytes, "rans": h.total_bytes - rans_off},
        table={"mantissa_bits_in_symbol": k, "first_symbol": first,
               "freqs": freqs[first:first + nsym].tolist(), "prob_bits": PROB_BITS, "lanes": LANES},
        block_elems=h.block_elems, blocks=h.blocks,
        independent_decode_bytes=(STATE_BYTES + 8) * blocks)
