"""The entropy codec (codec 5): the numpy reference, the executable spec of docs/FORMAT.md §7.5.

The maximum-ratio codec for BF16, FP16 and FP32. Each element splits into a *symbol*, its
exponent field followed by the top k mantissa bits (k = 0..2, chosen per tensor), and a *raw
field*, the remaining mantissa bits and the sign, stored verbatim. The symbols are coded with
interleaved rANS (8 lanes, 32-bit states, 16-bit words, 12-bit frequencies) under one static
per-tensor table stored in the blob; the raw fields form one fixed-width bit stream (layout 0).
Layout 1, taken only when it makes the blob smaller, has a table per segment of 16 blocks (for
distributions that change along the tensor: FP16 weights as one tensor) and per block a shift
that drops the low mantissa bits zero in all its elements (FP32 tensors holding lower-precision
values); see choose_plan.

Why the top mantissa bits: within one binade the mantissa of bell-shaped weights is not uniform
(values near the smaller end are denser), so coding 1-2 leading mantissa bits with the exponent
gains 0.5-1 % of ratio on real weights (all-MiniLM-L6-v2: BF16 1.5003 -> 1.5090 as one tensor),
which the pure exponent code cannot reach.

Blocks of 16384 elements are independent: a block's rANS bytes (8 lane states, then its words)
start at an offset recorded in a block index, and its raw fields at a byte offset known from the
shifts, so any number of workers can decode any subset of blocks. The cost is 40 bytes a block
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
SEG_BLOCKS = 16                  # blocks per table the encoder tries in layout 1 (any power of two decodes)
MAX_SEG_LOG = 48                 # layout 1: p3 - 1 = log2(blocks per table) <= 48

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
    (ties: the lower symbol). This is the table every implementation uses (chosen here)."""
    c = np.asarray(counts, dtype=np.int64)
    f = np.zeros(c.size, dtype=np.int64)
    syms = np.flatnonzero(c)
    if syms.size:
        f[syms] = _quantize_present(c[syms])
    return f


def _quantize_present(cp: np.ndarray) -> np.ndarray:
    """quantize over the present symbols only (cp: their counts, all > 0, in symbol order). A heap
    keeps each step O(log S): a per-tensor cost, paid for every tensor of a checkpoint."""
    fp = np.maximum(1, cp * PROB_SCALE // int(cp.sum()))
    total = int(fp.sum())
    if total == PROB_SCALE:
        return fp
    cnt, fl, log2 = cp.tolist(), fp.tolist(), math.log2
    # heap items (key, j): j indexes the present symbols in ascending order, so ties still go
    # to the lower symbol
    if total < PROB_SCALE:
        heap = [(-cnt[j] * log2((fl[j] + 1) / fl[j]), j) for j in range(len(fl))]
        heapq.heapify(heap)
        while total < PROB_SCALE:
            _, j = heapq.heappop(heap)
            fl[j] += 1
            total += 1
            heapq.heappush(heap, (-cnt[j] * log2((fl[j] + 1) / fl[j]), j))
    else:
        heap = [(cnt[j] * log2(fl[j] / (fl[j] - 1)), j) for j in range(len(fl)) if fl[j] > 1]
        heapq.heapify(heap)
        while total > PROB_SCALE:
            _, j = heapq.heappop(heap)
            fl[j] -= 1
            total -= 1
            if fl[j] > 1:
                heapq.heappush(heap, (cnt[j] * log2(fl[j] / (fl[j] - 1)), j))
    return np.array(fl, dtype=np.int64)


def coded_bits(counts: np.ndarray, freqs: np.ndarray) -> float:
    """Ideal bits of the symbols under a table: sum c·log2(4096/f)."""
    c = np.asarray(counts, dtype=np.float64)
    keep = c > 0
    return _coded_bits_present(c[keep], np.asarray(freqs)[keep])


def _coded_bits_present(cp, fp) -> float:
    """coded_bits over the present symbols only (the same terms in the same order)."""
    return float(np.sum(np.asarray(cp, np.float64) * (PROB_BITS - np.log2(np.asarray(fp, np.float64)))))


def table_span(freqs: np.ndarray):
    """(first, count): the smallest symbol range holding every non-zero frequency."""
    nz = np.flatnonzero(freqs)
    if nz.size == 0:
        return 0, 0
    return int(nz[0]), int(nz[-1] - nz[0] + 1)


def table_candidates(hist_top: np.ndarray, spec: fmt.DTypeSpec, numel: int) -> list:
    """[(cost in bits, k, frequencies over the whole alphabet)] for k = 0..MAX_TOP, from the
    histogram of the symbols with MAX_TOP mantissa bits: coded symbol bits plus raw bits plus the
    table. Layout 0 takes the cheapest (ties: the smaller k)."""
    hist_top = np.asarray(hist_top, dtype=np.int64)
    out = []
    for k in range(MAX_TOP + 1):
        h = hist_top.reshape(-1, 1 << (MAX_TOP - k)).sum(axis=1)
        # (a present symbol gets f >= 1, an absent one 0: the table's span is the present one's)
        nz = np.flatnonzero(h)
        f = np.zeros(h.size, dtype=np.int64)
        if nz.size:
            f[nz] = _quantize_present(h[nz])
        out.append((_layout0_cost(h, nz, f, spec, k, numel), k, f))
    return out


def _layout0_cost(h, nz, f, spec, k, numel) -> float:
    """table_candidates' cost of k: coded symbol bits under f, raw bits, table bits (nz: the
    present symbols; f is non-zero exactly there, so they also give the table's span)."""
    bits = _coded_bits_present(h[nz], f[nz]) if nz.size else 0.0
    span = int(nz[-1] - nz[0] + 1) if nz.size else 0
    return bits + numel * raw_width(spec, k) + 8 * 2 * span


def _layout0_choice(hist_top: np.ndarray, spec: fmt.DTypeSpec, numel: int):
    """(k, its table, table_at): the cheapest of table_candidates (ties: the smaller k), without
    quantising a k that cannot reach the best cost: the symbols' order-0 entropy bounds their
    coded bits under any table from below, so a k whose entropy plus raw and table bits already
    exceeds the best cost found cannot win or tie. table_at(k) gives any k's table (computed on
    first use); the choice is table_candidates', bit for bit."""
    hs = []
    for k in range(MAX_TOP + 1):
        h = hist_top.reshape(-1, 1 << (MAX_TOP - k)).sum(axis=1)
        nz = np.flatnonzero(h)
        span = int(nz[-1] - nz[0] + 1) if nz.size else 0
        c = h[nz].astype(np.float64)
        n = float(c.sum())
        entropy_bits = n * math.log2(n) - float(np.dot(c, np.log2(c))) if nz.size else 0.0
        hs.append((h, nz, entropy_bits + numel * raw_width(spec, k) + 16 * span))
    tables = {}

    def table_at(k):
        if k not in tables:
            h, nz, _ = hs[k]
            f = np.zeros(h.size, dtype=np.int64)
            if nz.size:
                f[nz] = _quantize_present(h[nz])
            tables[k] = f
        return tables[k]

    best = None
    for k in sorted(range(MAX_TOP + 1), key=lambda q: (hs[q][2], q)):
        h, nz, bound = hs[k]
        if best is not None and bound - best[0] > 1e-9 * abs(bound) + 1e-3:    # (float slack)
            continue
        cost = _layout0_cost(h, nz, table_at(k), spec, k, numel)
        if best is None or (cost, k) < best:
            best = (cost, k)
    return best[1], table_at(best[1]), table_at


def cumulative(freqs):
    return np.concatenate([[0], np.cumsum(freqs)[:-1]]).astype(np.int64)


# ----------------------------------------------------------------------------- plan (layout 1)

@dataclasses.dataclass
class Plan:
    """What the encoder chose: k, the layout (p3) and its tables, the blocks' raw shifts.

    p3 = 0: layout 0, one table, every raw field RW bits. p3 >= 1: layout 1, one table per
    segment of 2^(p3 - 1) blocks and per block a shift t (0..M-k): the block's raw fields drop the
    t low mantissa bits that are zero in every element of the block (RW - t bits each)."""
    k: int
    p3: int
    tables: np.ndarray               # [tables, 2^(W+k)] 12-bit frequencies
    shifts: np.ndarray | None        # [blocks] uint8 (layout 1), None (layout 0)
    # choose_plan's estimate of the blob's bytes (0: none); not part of the choice
    est_bytes: float = dataclasses.field(default=0.0, compare=False)

    @property
    def seg_blocks(self) -> int:
        return 1 << (self.p3 - 1) if self.p3 else 1 << MAX_SEG_LOG

    def table_of_block(self, blocks: int) -> np.ndarray:
        return np.arange(blocks, dtype=np.int64) // self.seg_blocks


def num_blocks(numel: int) -> int:
    """Blocks of BLOCK elements (the last one may be shorter)."""
    return (numel + BLOCK - 1) // BLOCK


def num_tables(blocks: int, p3: int) -> int:
    if p3 == 0:
        return 1
    seg = 1 << (p3 - 1)
    return (blocks + seg - 1) // seg


def block_sizes(numel: int) -> np.ndarray:
    blocks = num_blocks(numel)
    return np.minimum(BLOCK, numel - np.arange(blocks, dtype=np.int64) * BLOCK)


def trailing_zeros(mant_or: np.ndarray, width: int) -> np.ndarray:
    """Per block: the low mantissa bits (of `width`) that are zero in every element, 0..width."""
    v = np.asarray(mant_or, dtype=np.int64) & ((1 << width) - 1)
    low = v & -v                                    # the lowest set bit (0 when none)
    t = np.log2(np.where(low == 0, 1, low)).astype(np.int64)   # exact: a power of two below 2^53
    return np.where(v == 0, width, t)


def raw_offsets(numel: int, spec: fmt.DTypeSpec, k: int, shifts) -> np.ndarray:
    """[blocks + 1]: byte offset of each block's raw fields in the raw section, and its size.
    Every block but the last has BLOCK (a multiple of 8) fields: whole bytes."""
    if shifts is None:                      # every block RW bits an element (a per-tensor cost)
        blocks, rw = num_blocks(numel), raw_width(spec, k)
        offs = np.arange(blocks + 1, dtype=np.int64) * (BLOCK * rw // 8)
        if blocks:
            offs[-1] = offs[-2] + ((numel - (blocks - 1) * BLOCK) * rw + 7) // 8
        return offs
    nb = block_sizes(numel)
    w = raw_width(spec, k) - np.asarray(shifts, np.int64)
    full = nb * w // 8                                     # exact for every full block
    full[-1:] = (nb[-1:] * w[-1:] + 7) // 8
    return np.concatenate([[0], np.cumsum(full)]).astype(np.int64)


def _ideal_bits(h: np.ndarray) -> float:
    """The order-0 entropy in bits of every row of counts, summed: sum N·log2 N - sum c·log2 c
    (over the non-zero counts only: most of a histogram's bins are empty)."""
    h = np.asarray(h)
    n = h.sum(axis=-1).astype(np.float64)
    c = h[h > 0].astype(np.float64)
    n = n[n > 0]
    return float(np.sum(n * np.log2(n)) - np.sum(c * np.log2(c)))


def _spans(h: np.ndarray) -> np.ndarray:
    """Per row of counts: the span first..last of the present symbols (0 when none)."""
    nz = h > 0
    any_ = nz.any(axis=-1)
    first = np.argmax(nz, axis=-1)
    last = h.shape[-1] - 1 - np.argmax(nz[..., ::-1], axis=-1)
    return np.where(any_, last - first + 1, 0)


def choose_plan(seg_hist: np.ndarray, mant_or: np.ndarray, spec: fmt.DTypeSpec, numel: int, ndim: int) -> Plan:
    """The encoder's choice (informative, §7.5), shared by every implementation so that they
    write the same bytes. seg_hist: [segments of SEG_BLOCKS blocks, 2^(W+2)] histograms of the
    symbols with MAX_TOP mantissa bits; mant_or: per block, the OR of its elements' mantissas.

    k and its table, the cheapest of table_candidates for the whole tensor (layout 0); then layout 1
    with one table (raw shifts) at each k, and with a table per segment of SEG_BLOCKS blocks at
    the best k, each taken only if its estimated blob is strictly smaller."""
    seg_hist = np.asarray(seg_hist, dtype=np.int64).reshape(-1, alphabet(spec, MAX_TOP))
    glob = seg_hist.sum(axis=0)
    k0, f0, table_at = _layout0_choice(glob, spec, numel)       # table_candidates' cheapest
    h0 = glob.reshape(-1, 1 << (MAX_TOP - k0)).sum(axis=1)
    best = (_estimate(h0, [f0], spec, k0, numel, ndim, None), Plan(k0, 0, f0[None, :], None))
    blocks = num_blocks(numel)
    if blocks == 0:
        return best[1]
    W, M = fields(spec)
    nseg = seg_hist.shape[0]
    one_p3 = 1 + max(0, (blocks - 1).bit_length())          # one segment: 2^(p3-1) >= blocks
    tz = trailing_zeros(mant_or, M)          # at width M - k: min(tz, M - k)
    for k in range(MAX_TOP + 1):
        if not tz.any():              # one table and no shift: layout 0 with a shift section
            break
        shifts = np.minimum(tz, M - k).astype(np.uint8)
        h = glob.reshape(-1, 1 << (MAX_TOP - k)).sum(axis=1)
        size = _estimate(h, [table_at(k)], spec, k, numel, ndim, shifts)
        if size < best[0]:
            best = (size, Plan(k, one_p3, table_at(k)[None, :], shifts))
    if nseg > 1:
        k = best[1].k
        g = 1 << (MAX_TOP - k)
        nz = np.flatnonzero(glob)                  # (only the columns some symbol uses: fast)
        lo, hi = nz[0] // g * g, (nz[-1] // g + 1) * g
        hs = seg_hist[:, lo:hi].reshape(nseg, -1, g).sum(axis=2)
        h = hs.sum(axis=0)
        # screen with the ideal entropy and the tables' spans before quantising every segment
        gain = _ideal_bits(h) - _ideal_bits(hs) - 16 * (int(_spans(hs).sum()) - int(_spans(h)))
        if gain > 0:
            tables = np.zeros((nseg, alphabet(spec, k)), dtype=np.int64)
            for q in range(nseg):
                tables[q, lo // g:hi // g] = quantize(hs[q])
            shifts = np.minimum(tz, M - k).astype(np.uint8)
            full = np.zeros((nseg, alphabet(spec, k)), dtype=np.int64)
            full[:, lo // g:hi // g] = hs
            size = _estimate(full, tables, spec, k, numel, ndim, shifts)
            if size < best[0]:
                best = (size, Plan(k, SEG_BLOCKS.bit_length(), tables, shifts))   # p3 - 1 = log2(16)
    best[1].est_bytes = best[0]
    return best[1]


def _estimate(hists, tables, spec, k, numel, ndim, shifts) -> float:
    """Estimated blob bytes: the sections with their alignment, the symbols at their ideal cost
    under the tables, the lane states."""
    hists = np.asarray(hists).reshape(len(tables), -1)
    coded = sum(coded_bits(h, f) for h, f in zip(hists, tables))
    lay = layout(numel, ndim, spec, k, [table_span(f)[1] for f in tables], shifts)
    return lay.rans_off + lay.blocks * STATE_BYTES + coded / 8


# ----------------------------------------------------------------------------- layout

@dataclasses.dataclass(frozen=True)
class Layout:
    table_off: int
    shift_off: int        # layout 1: the blocks' shift bytes (o4); layout 0: 0
    index_off: int
    raw_off: int
    rans_off: int
    blocks: int
    raw_bytes: int
    raw_offs: np.ndarray  # [blocks + 1] per block raw byte offsets within the raw section


def layout(numel: int, ndim: int, spec: fmt.DTypeSpec, k: int, nsyms, shifts=None) -> Layout:
    """The section offsets. nsyms: the symbol count of each table (one for layout 0); shifts: the
    blocks' raw shifts (layout 1) or None (layout 0)."""
    blocks = num_blocks(numel)
    nsyms = [nsyms] if np.isscalar(nsyms) else list(nsyms)
    table_off = fmt.header_bytes(ndim)
    tables_end = table_off + sum(TABLE_FIXED + 2 * int(s) for s in nsyms)
    if shifts is None:
        shift_off = 0
        index_off = _bits.round_up(tables_end)
    else:
        shift_off = _bits.round_up(tables_end)
        index_off = _bits.round_up(shift_off + blocks)
    raw_off = _bits.round_up(index_off + 8 * blocks)
    offs = raw_offsets(numel, spec, k, shifts) if blocks else np.zeros(1, np.int64)
    raw_bytes = int(offs[-1])
    rans_off = _bits.round_up(raw_off + raw_bytes)
    return Layout(table_off, shift_off, index_off, raw_off, rans_off, blocks, raw_bytes, offs)


def max_bytes(spec: fmt.DTypeSpec, numel: int, ndim: int) -> int:
    """Largest blob for any data: at most one 16-bit word per element (a state never grows by
    more than 12 bits a symbol), the lane states of every block, k = 0, and the largest tables of
    either layout (layout 1: a full table per segment, and the shift bytes)."""
    blocks = num_blocks(numel)
    a = alphabet(spec, MAX_TOP)
    lay0 = layout(numel, ndim, spec, 0, a)
    nseg = max(1, (blocks + SEG_BLOCKS - 1) // SEG_BLOCKS)
    lay1 = layout(numel, ndim, spec, 0, [a] * nseg, np.zeros(blocks, np.uint8))
    return max(lay0.rans_off, lay1.rans_off) + blocks * STATE_BYTES + 2 * numel


# ----------------------------------------------------------------------------- kernels (reference)

def _grid(numel):
    """Block b, step t, lane l <-> element b·BLOCK + LANES·t + l."""
    blocks = num_blocks(numel)
    steps = (min(numel, BLOCK) + LANES - 1) // LANES
    return blocks, steps


def _raw_fields(raw: np.ndarray, numel: int, shifts) -> tuple:
    """(stored fields, per element shift): layout 1 drops a block's t zero mantissa bits, which
    sit above the sign bit of the raw field."""
    if shifts is None:
        return raw, None
    t = np.repeat(np.asarray(shifts, np.int64), block_sizes(numel))
    return ((raw >> (t + 1)) << 1) | (raw & 1), t


class Reference:
    name = "reference"

    @staticmethod
    def histogram(words, spec):
        """(histograms of the symbols with MAX_TOP mantissa bits per segment of SEG_BLOCKS blocks,
        the OR of the mantissas per block)."""
        numel = words.size
        sym, _ = split(words, spec, MAX_TOP)
        a = alphabet(spec, MAX_TOP)
        seg = np.arange(numel, dtype=np.int64) // (SEG_BLOCKS * BLOCK)
        nseg = (numel + SEG_BLOCKS * BLOCK - 1) // (SEG_BLOCKS * BLOCK)
        hist = np.bincount(seg * a + sym, minlength=nseg * a).reshape(nseg, a).astype(np.int64)
        _, M = fields(spec)
        blocks = num_blocks(numel)
        mant = np.asarray(words).astype(np.int64) & ((1 << M) - 1)
        mant_or = np.zeros(blocks, dtype=np.int64)
        if blocks:
            mant_or = np.bitwise_or.reduceat(mant, np.arange(blocks) * BLOCK)
        return hist, mant_or

    @staticmethod
    def encode(words, spec, plan):
        """-> (raw stream bytes, rANS bytes, block rANS ends (cumulative))."""
        numel = words.size
        k = plan.k
        sym, raw = split(words, spec, k)
        stored, t = _raw_fields(raw, numel, plan.shifts)
        rw = raw_width(spec, k)
        if t is None:
            raw_bytes = _bits.pack_fixed(stored, rw)
        else:
            offs = raw_offsets(numel, spec, k, plan.shifts)
            widths = rw - t
            idx = np.arange(numel, dtype=np.int64)
            pos = 8 * offs[idx // BLOCK] + (idx % BLOCK) * widths
            raw_bytes = _bits.pack_fields(stored, widths, pos, int(offs[-1]))
        blocks, steps = _grid(numel)
        grid = np.full(blocks * steps * LANES, -1, dtype=np.int64)
        idx = np.arange(numel)
        grid[(idx // BLOCK) * steps * LANES + idx % BLOCK] = sym
        grid = grid.reshape(blocks, steps, LANES)
        tb = plan.table_of_block(blocks)[:, None]
        freq = np.asarray(plan.tables, dtype=np.uint64)
        cum = np.stack([cumulative(f) for f in plan.tables]).astype(np.uint64)
        x = np.full((blocks, LANES), RANS_L, dtype=np.uint64)
        out_words = np.zeros((blocks, steps, LANES), dtype=np.uint16)
        emit = np.zeros((blocks, steps, LANES), dtype=bool)
        for t in range(steps - 1, -1, -1):          # backwards: the decoder runs forwards
            s = grid[:, t, :]
            act = s >= 0
            sc = np.where(act, s, 0)
            f = np.where(act, freq[tb, sc], np.uint64(1))
            e = act & (x >= (f << np.uint64(32 - PROB_BITS)))
            out_words[:, t, :] = (x & np.uint64(0xFFFF)).astype(np.uint16)
            emit[:, t, :] = e
            x = np.where(e, x >> np.uint64(16), x)
            xn = ((x // f) << np.uint64(PROB_BITS)) + (x % f) + cum[tb, sc]
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
    def decode(raw_buf, rans, ends, numel, spec, plan, out=None):
        """The words, from validated sections: raw_buf holds exactly the raw stream, rans the
        rANS section, ends the (checked non-decreasing) block ends, plan validated tables and
        shifts. (`out` is the native kernel's; the reference returns a new array.)"""
        blocks, steps = _grid(numel)
        if numel == 0:
            return np.zeros(0, dtype=np.uint16 if spec.word_bits == 16 else np.uint32)
        k = plan.k
        freq = np.asarray(plan.tables, dtype=np.uint64)
        cumu = np.stack([cumulative(f) for f in plan.tables]).astype(np.uint64)
        slot2sym = np.stack([np.repeat(np.arange(f.size), np.asarray(f, np.int64)) for f in plan.tables])
        tb = plan.table_of_block(blocks)[:, None]
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
            s = slot2sym[tb, slot]
            xn = freq[tb, s] * (x >> np.uint64(PROB_BITS)) + slot.astype(np.uint64) - cumu[tb, s]
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
        rw = raw_width(spec, k)
        if plan.shifts is None:
            raw = _bits.unpack_fixed(raw_buf, numel, rw).astype(np.int64)
        else:
            offs = raw_offsets(numel, spec, k, plan.shifts)
            t = np.repeat(np.asarray(plan.shifts, np.int64), block_sizes(numel))
            idx = np.arange(numel, dtype=np.int64)
            v = _bits.unpack_fields(raw_buf, 8 * offs[idx // BLOCK] + (idx % BLOCK) * (rw - t), rw - t)
            v = v.astype(np.int64)
            raw = ((v >> 1) << (t + 1)) | (v & 1)
        return merge(sym, raw, spec, k)


# ----------------------------------------------------------------------------- codec

def encode(words: np.ndarray, spec: fmt.DTypeSpec, shape: tuple, kern=Reference, out=None) -> np.ndarray:
    """The blob; the native kernel writes it into `out` (a uint8 array) when `out` holds the
    encoder's worst case (max_bytes always does), else the caller copies it there."""
    words = np.ascontiguousarray(words).reshape(-1)
    numel = words.size
    seg_hist, mant_or = kern.histogram(words, spec)
    plan = choose_plan(seg_hist, mant_or, spec, numel, len(shape))
    spans = [table_span(f) for f in plan.tables]
    lay = layout(numel, len(shape), spec, plan.k, [s for _, s in spans], plan.shifts)
    if hasattr(kern, "encode_into"):
        # native: a blob with the raw, index and rANS sections written (gaps zeroed), and its size
        blob, total = kern.encode_into(words, spec, plan, lay, out)
    else:
        raw, rans, ends = kern.encode(words, spec, plan)
        total = lay.rans_off + (int(ends[-1]) if lay.blocks else 0)
        blob = np.zeros(total, dtype=np.uint8)
        _bits.put(blob, lay.index_off, np.asarray(ends, "<u8").view(np.uint8))
        _bits.put(blob, lay.raw_off, raw)
        _bits.put(blob, lay.rans_off, rans)
    hdr = fmt.Header(ID, spec, tuple(shape), numel, (plan.k, PROB_BITS, LANES, plan.p3), BLOCK, lay.blocks,
                     (lay.table_off, lay.index_off, lay.raw_off, lay.rans_off, lay.shift_off), total)
    blob[:lay.table_off] = np.frombuffer(hdr.pack(), np.uint8)
    head_end = lay.shift_off if plan.shifts is not None else lay.index_off
    table = np.zeros(head_end - lay.table_off, dtype=np.uint8)      # the tables and their gap
    o = 0
    for f, (first, nsym) in zip(plan.tables, spans):
        table[o:o + TABLE_FIXED] = np.array([first, nsym], "<u2").view(np.uint8)
        table[o + TABLE_FIXED:o + TABLE_FIXED + 2 * nsym] = f[first:first + nsym].astype("<u2").view(np.uint8)
        o += TABLE_FIXED + 2 * nsym
    blob[lay.table_off:head_end] = table
    if plan.shifts is not None:
        sh = np.zeros(lay.index_off - lay.shift_off, dtype=np.uint8)  # the shifts and their gap
        sh[:lay.blocks] = plan.shifts
        blob[lay.shift_off:lay.index_off] = sh
    return blob[:total]


def read_header(h: fmt.Header) -> fmt.Header:
    """Check the header fields this codec defines; the header itself is its reading of them."""
    k, pb, lanes, p3 = h.params
    if not (0 <= k <= MAX_TOP) or pb != PROB_BITS or lanes != LANES or not (0 <= p3 <= MAX_SEG_LOG + 1):
        raise CorruptStreamError(f"entropy header: bad parameters {h.params}")
    if p3 == 0 and h.offsets[4] != 0:
        raise CorruptStreamError("entropy header: layout 0 has no shift section (o4 must be 0)")
    if h.block_elems != BLOCK or h.blocks != num_blocks(h.numel):
        raise CorruptStreamError("entropy header: block size or count inconsistent")
    if p3 and not h.blocks:
        raise CorruptStreamError("entropy header: layout 1 for a tensor without elements")
    table_off = fmt.header_bytes(len(h.shape))
    if h.offsets[0] != table_off:
        raise CorruptStreamError("entropy header: table offset does not follow the header")
    # the tables' sizes are read from the tables; bound them here by the alphabet
    tables_end = h.offsets[4] if p3 else h.offsets[1]
    span = tables_end - table_off
    # (before any table is parsed: a corrupt block count or segment size must not set the work)
    if h.offsets[1] + 8 * h.blocks > h.total_bytes:
        raise CorruptStreamError("entropy header: the block index runs past the blob end")
    # every element keeps at least its sign bit raw and every block its lane states: a blob too
    # short for that claims more elements than it holds (and must not set the tables' work)
    if h.offsets[1] + (8 + STATE_BYTES) * h.blocks + (h.numel + 7) // 8 > h.total_bytes:
        raise CorruptStreamError(f"entropy header: {h.numel} elements cannot fit in a blob of "
                                 f"{h.total_bytes} bytes (raw section and lane states)")
    tables = num_tables(h.blocks, p3)
    limit = tables * (TABLE_FIXED + 2 * alphabet(h.dtype, k)) + _bits.ALIGN
    if not (TABLE_FIXED * tables <= span <= limit):
        raise CorruptStreamError("entropy header: section offsets inconsistent")
    if h.total_bytes < h.offsets[3]:
        raise CorruptStreamError("entropy header: total size ends before the rANS section")
    return h


def _read_one_table(buf, off, size, h, k, empty_ok):
    first, nsym = (int(v) for v in _bits.section(buf, off, TABLE_FIXED, "entropy table").view("<u2"))
    if first + nsym > size:
        raise CorruptStreamError(f"entropy table: symbols {first}..{first + nsym - 1} exceed the "
                                 f"alphabet of {size} ({h.dtype.name}, {k} mantissa bits)")
    span = _bits.section(buf, off + TABLE_FIXED, 2 * nsym, "entropy table frequencies")
    freqs = np.zeros(size, dtype=np.int64)
    freqs[first:first + nsym] = span.view("<u2")
    want = 0 if empty_ok else PROB_SCALE
    if int(freqs.sum()) != want:
        raise CorruptStreamError(f"entropy table: frequencies sum to {int(freqs.sum())}, expected {want}")
    if nsym and (freqs[first] == 0 or freqs[first + nsym - 1] == 0):
        raise CorruptStreamError("entropy table: the symbol range does not start and end at a used symbol")
    if not nsym and first:
        raise CorruptStreamError("entropy table: an empty table must start at symbol 0")
    return freqs, first, nsym


def read_table(buf: np.ndarray, h: fmt.Header):
    """(plan without shifts, [(first, count)] per table), every table validated."""
    k, p3 = h.params[0], h.params[3]
    size = alphabet(h.dtype, k)
    off = h.offsets[0]
    tables, spans = [], []
    for _ in range(num_tables(h.blocks, p3)):
        f, first, nsym = _read_one_table(buf, off, size, h, k, empty_ok=h.numel == 0)
        tables.append(f)
        spans.append((first, nsym))
        off += TABLE_FIXED + 2 * nsym
    return Plan(k, p3, tables[0][None, :] if len(tables) == 1 else np.stack(tables), None), spans


def sections(buf: np.ndarray, h: fmt.Header):
    """(plan, raw stream, rANS section, block ends), every offset checked."""
    plan, spans = read_table(buf, h)
    k, p3 = plan.k, plan.p3
    blocks = h.blocks
    if p3:
        _, M = fields(h.dtype)
        shift_off = _bits.round_up(h.offsets[0] + sum(TABLE_FIXED + 2 * s for _, s in spans))
        if h.offsets[4] != shift_off:
            raise CorruptStreamError("entropy: shift section offset disagrees with the tables' size")
        shifts = _bits.section(buf, shift_off, blocks, "entropy shift section").copy()
        if np.any(shifts > M - k):
            raise CorruptStreamError(f"entropy shift section: a block drops more than the {M - k} "
                                     "mantissa bits of its raw fields")
        plan.shifts = shifts
    lay = layout(h.numel, len(h.shape), h.dtype, k, [s for _, s in spans], plan.shifts)
    if (lay.index_off, lay.raw_off, lay.rans_off) != tuple(h.offsets[1:4]):
        raise CorruptStreamError("entropy: section offsets disagree with the table size and numel")
    rans_len = buf.size - lay.rans_off
    ends = _bits.ends_index(buf, lay.index_off, blocks, rans_len, "entropy block index")
    if blocks and ends[-1] != rans_len:
        raise CorruptStreamError("entropy: block index does not end at the blob end")
    if not blocks and rans_len:
        raise CorruptStreamError("entropy: trailing data in an empty tensor's blob")
    raw = _bits.section(buf, lay.raw_off, lay.raw_bytes, "entropy raw section")
    if blocks:
        nb_last = h.numel - (blocks - 1) * BLOCK
        w_last = raw_width(h.dtype, k) - (int(plan.shifts[-1]) if plan.shifts is not None else 0)
        _bits.check_tail_zero(raw, 8 * int(lay.raw_offs[-2]) + nb_last * w_last, "entropy raw section")
    return plan, raw, buf[lay.rans_off:], ends


def decode(buf: np.ndarray, h: fmt.Header, kern=Reference, out=None) -> np.ndarray:
    """The words; the native kernel writes them into `out` (a flat word array) when given."""
    plan, raw, rans, ends = sections(buf, h)
    return kern.decode(raw, rans, ends, h.numel, h.dtype, plan, out)


@dataclasses.dataclass(frozen=True)
class EntropyInfo(_info.TableInfo):
    """The entropy codec: its symbol table, blocks, and what block independence costs."""
    independent_decode_bytes: int    # each block's lane states and index entry

    def details(self) -> list:
        return super().details() + [f"  blocks     {self.independent_decode_bytes:,} bytes for independent decoding"]


def inspect(buf: np.ndarray, h: fmt.Header) -> EntropyInfo:
    plan, raw, rans, ends = sections(buf, h)
    spans = [table_span(f) for f in plan.tables]
    lay = layout(h.numel, len(h.shape), h.dtype, plan.k, [s for _, s in spans], plan.shifts)
    first, nsym = spans[0]
    table = {"mantissa_bits_in_symbol": plan.k, "first_symbol": first,
             "freqs": plan.tables[0][first:first + nsym].tolist(), "prob_bits": PROB_BITS, "lanes": LANES,
             "layout": 1 if plan.p3 else 0, "tables": len(plan.tables)}
    if plan.p3:
        table["blocks_per_table"] = min(plan.seg_blocks, h.blocks)
        table["shifted_blocks"] = int(np.count_nonzero(plan.shifts))
    section_bytes = {"header": h.header_bytes, "table": sum(TABLE_FIXED + 2 * s for _, s in spans)}
    if plan.p3:
        section_bytes["shifts"] = lay.blocks
    section_bytes.update({"index": 8 * lay.blocks, "raw": lay.raw_bytes, "rans": h.total_bytes - lay.rans_off})
    return EntropyInfo(
        **_info.common_fields(buf, h),
        section_bytes=section_bytes, table=table,
        block_elems=h.block_elems, blocks=h.blocks,
        independent_decode_bytes=(STATE_BYTES + 8) * lay.blocks)
