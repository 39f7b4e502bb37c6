"""APack (codec 3): the numpy reference, the executable spec of docs/FORMAT.md §7.3.

An 8-bit element is first mapped to its position v in value order (int8: byte ^ 0x80, so
-128..127 -> 0..255; uint8: the byte; FP8: sign-magnitude order, most negative first). The value
space 0..255 is cut into R <= 16 contiguous ranges [lo_r, lo_{r+1}); v is coded as its range r
(entropy-coded, rANS with a static per-tensor model of 12-bit frequencies) and its offset
v - lo_r, stored raw in w_r = ceil(log2(range size)) bits. The ranges come from an exact dynamic
program minimising (ideal symbol bits + offset bits) over the tensor's histogram.

Stream: the tensor is cut into chunks of 65536 elements, each decodable on its own. In a chunk,
element i belongs to rANS lane i mod 32; the 32 lanes share one stream of 16-bit words (a
decoder reads them in element order), after the 32 lanes' initial states. The offsets of a
chunk form a byte-aligned bit stream of their own.
"""
from __future__ import annotations

import math

import numpy as np

from .. import format as fmt
from ..errors import CorruptStreamError
from . import _bits, _info

ID = fmt.CODEC_APACK
NAME = "apack"
DTYPES = ("int8", "uint8", "float8_e4m3fn", "float8_e5m2")
MAX_RANGES = 16
PROB_BITS = 12
PROB_SCALE = 1 << PROB_BITS
LANES = 32
CHUNK = 65536
RANS_L = 1 << 16                 # lower bound of a lane state; states live in [2^16, 2^32)
STATE_BYTES = 4 * LANES


# ----------------------------------------------------------------------------- value order

def value_map(spec: fmt.DTypeSpec) -> np.ndarray:
    """byte -> position in value order (a permutation of 0..255)."""
    b = np.arange(256, dtype=np.int64)
    if spec.name == "int8":
        v = b ^ 0x80
    elif spec.name == "uint8":
        v = b
    else:   # FP8: sign-magnitude; negatives descending magnitude, then positives ascending
        v = np.where(b & 0x80, 0x7F - (b & 0x7F), 0x80 + b)
    return v.astype(np.uint8)


def width_of(size: int) -> int:
    return int(size - 1).bit_length() if size > 1 else 0


# ----------------------------------------------------------------------------- table

def range_cost(c: float, n: float, size: int) -> float:
    """Ideal bits of a range holding c of n elements over `size` values."""
    return c * (math.log2(n / c) + width_of(size)) if c > 0 else 0.0


def build_ranges(hist_v: np.ndarray, max_ranges: int = MAX_RANGES) -> list:
    """Range starts lo_0 = 0 < lo_1 < ... (R <= max_ranges) over the value-order histogram
    minimising sum_r range_cost(c_r, N, size_r), by an exact dynamic program:
    f[r][j] = min_i f[r-1][i] + cost(i, j) for the values [0, j) in r ranges. Ties: the fewest
    ranges, then numpy argmin's first minimum."""
    h = np.asarray(hist_v, dtype=np.float64)
    D = h.size
    N = h.sum()
    P = np.concatenate([[0.0], np.cumsum(h)])
    i = np.arange(D + 1)[:, None]
    j = np.arange(D + 1)[None, :]
    size = j - i
    c = P[None, :] - P[:, None]
    wt = np.array([width_of(s) for s in range(D + 1)], dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        sym = np.where(c > 0, c * (np.log2(N) - np.log2(np.where(c > 0, c, 1))), 0.0)
    cost = sym + c * wt[np.clip(size, 0, D)]
    cost = np.where(size >= 1, cost, np.inf)
    f = np.full(D + 1, np.inf)
    f[0] = 0.0
    choice = np.zeros((max_ranges, D + 1), dtype=np.int64)
    best = []
    for r in range(max_ranges):
        tot = f[:, None] + cost
        choice[r] = np.argmin(tot, axis=0)
        f = tot[choice[r], np.arange(D + 1)]
        best.append(f[D])
    R = int(np.argmin(np.array(best))) + 1
    starts, jj = [], D
    for r in range(R - 1, -1, -1):
        ii = int(choice[r, jj])
        starts.append(ii)
        jj = ii
    assert jj == 0
    return starts[::-1]


def quantize(counts: np.ndarray) -> np.ndarray:
    """12-bit frequencies summing to 4096: >= 1 for every present range, all 0 when empty.

    Start from floor(c·4096/N) (at least 1), then move single units greedily: add where
    c·log2((f+1)/f) is largest, remove where c·log2(f/(f-1)) is smallest (ties: lower index)."""
    counts = np.asarray(counts, dtype=np.int64)
    N = int(counts.sum())
    f = np.zeros(counts.size, dtype=np.int64)
    if N == 0:
        return f
    present = counts > 0
    f[present] = np.maximum(1, counts[present] * PROB_SCALE // N)
    while f.sum() < PROB_SCALE:
        gain = [counts[r] * math.log2((f[r] + 1) / f[r]) if present[r] else -1.0 for r in range(f.size)]
        f[int(np.argmax(gain))] += 1
    while f.sum() > PROB_SCALE:
        loss = [counts[r] * math.log2(f[r] / (f[r] - 1)) if f[r] > 1 else math.inf for r in range(f.size)]
        f[int(np.argmin(loss))] -= 1
    return f


def make_table(hist: np.ndarray, spec: fmt.DTypeSpec):
    """(starts [R], freqs [R]) for a byte histogram."""
    vmap = value_map(spec)
    hist_v = np.zeros(256, dtype=np.int64)
    hist_v[vmap] = hist
    starts = build_ranges(hist_v)
    bounds = list(starts) + [256]
    counts = np.array([hist_v[bounds[r]:bounds[r + 1]].sum() for r in range(len(starts))])
    return np.array(starts, dtype=np.int64), quantize(counts)


def table_luts(starts, spec):
    """byte -> (range, offset), range -> (lo, width, size), value -> byte."""
    starts = np.asarray(starts, dtype=np.int64)
    R = starts.size
    bounds = np.concatenate([starts, [256]])
    sizes = np.diff(bounds)
    widths = np.array([width_of(int(s)) for s in sizes], dtype=np.int64)
    vmap = value_map(spec).astype(np.int64)
    rng_of_v = np.repeat(np.arange(R), sizes)
    rng_of_byte = rng_of_v[vmap].astype(np.uint8)
    off_of_byte = (vmap - starts[rng_of_v[vmap]]).astype(np.uint8)
    inv = np.zeros(256, dtype=np.uint8)
    inv[vmap] = np.arange(256)
    return rng_of_byte, off_of_byte, widths, sizes, inv


def cumulative(freqs):
    return np.concatenate([[0], np.cumsum(freqs)[:-1]]).astype(np.int64)


# ----------------------------------------------------------------------------- layout

def layout(numel: int, ndim: int, R: int):
    chunks = (numel + CHUNK - 1) // CHUNK
    table_off = fmt.header_bytes(ndim)
    index_off = _bits.round_up(table_off + 3 * R)
    sym_off = _bits.round_up(index_off + 16 * chunks)
    return table_off, index_off, sym_off, chunks


def max_bytes(numel: int, ndim: int) -> int:
    """Largest blob for any data: per element at most one 16-bit word and 8 offset bits,
    per chunk the lane states, padding and alignment."""
    table_off, index_off, sym_off, chunks = layout(numel, ndim, MAX_RANGES)
    return sym_off + chunks * STATE_BYTES + 2 * numel + _bits.ALIGN + numel + chunks


# ----------------------------------------------------------------------------- kernels (reference)

def _grid(numel):
    """Chunk c, step t, lane l <-> element c·CHUNK + 32·t + l."""
    chunks = (numel + CHUNK - 1) // CHUNK
    steps = (min(numel, CHUNK) + LANES - 1) // LANES
    return chunks, steps


class Reference:
    name = "reference"

    @staticmethod
    def histogram(sym: np.ndarray) -> np.ndarray:
        return np.bincount(sym, minlength=256).astype(np.int64)

    @staticmethod
    def encode(sym, rng_of_byte, off_of_byte, widths, freqs):
        """-> (rANS bytes, chunk rANS ends, offset bytes, chunk offset ends)."""
        numel = sym.size
        chunks, steps = _grid(numel)
        rng = rng_of_byte[sym].astype(np.int64)
        # offsets: byte-aligned per chunk
        wl = widths[rng]
        pos, chunk_bytes, _ = _bits.chunk_bit_positions(wl, CHUNK)
        off_ends = np.cumsum(chunk_bytes).astype(np.int64)
        offs = _bits.pack_fields(off_of_byte[sym], wl, pos, int(off_ends[-1]) if chunks else 0)
        # rANS, all chunks and lanes at once, elements in reverse order
        grid = np.full((chunks, steps * LANES), -1, dtype=np.int16)
        flat = grid.reshape(-1)
        idx = np.arange(numel)
        flat[(idx // CHUNK) * steps * LANES + idx % CHUNK] = rng
        grid = grid.reshape(chunks, steps, LANES)
        freq = np.asarray(freqs, dtype=np.uint64)
        cum = cumulative(freqs).astype(np.uint64)
        x = np.full((chunks, LANES), RANS_L, dtype=np.uint64)
        words = np.zeros((chunks, steps, LANES), dtype=np.uint16)
        emit = np.zeros((chunks, steps, LANES), dtype=bool)
        for t in range(steps - 1, -1, -1):
            s = grid[:, t, :]
            act = s >= 0
            sc = np.where(act, s, 0)
            f = np.where(act, freq[sc], np.uint64(1))
            e = act & (x >= (f << np.uint64(20)))
            words[:, t, :] = (x & np.uint64(0xFFFF)).astype(np.uint16)
            emit[:, t, :] = e
            x = np.where(e, x >> np.uint64(16), x)
            xn = ((x // f) << np.uint64(PROB_BITS)) + (x % f) + cum[sc]
            x = np.where(act, xn, x)
        nwords = emit.reshape(chunks, steps * LANES).sum(axis=1)
        rans_ends = np.cumsum(STATE_BYTES + 2 * nwords).astype(np.int64)
        parts = []
        for c in range(chunks):
            parts.append(x[c].astype("<u4").view(np.uint8))
            parts.append(words[c][emit[c]].astype("<u2").view(np.uint8))
        rans = np.concatenate(parts) if parts else np.zeros(0, np.uint8)
        return rans, rans_ends, offs, off_ends

    @staticmethod
    def decode(rans, rans_ends, offs, off_ends, numel, freqs, widths, sizes, starts, inv):
        chunks, steps = _grid(numel)
        if numel == 0:
            return np.zeros(0, dtype=np.uint8)
        freq = np.asarray(freqs, dtype=np.uint64)
        cum = cumulative(freqs)
        slot2sym = np.repeat(np.arange(freq.size), freqs)
        cumu = cum.astype(np.uint64)
        rstart = np.concatenate([[0], rans_ends[:-1]]).astype(np.int64)
        if np.any(rans_ends - rstart < STATE_BYTES) or np.any((rans_ends - rstart) % 2):
            raise CorruptStreamError("apack: a chunk's rANS stream is shorter than its states or odd")
        st_idx = rstart[:, None] + 4 * np.arange(LANES)[None, :]
        x = np.zeros((chunks, LANES), dtype=np.uint64)
        for j in range(4):
            x |= rans[st_idx + j].astype(np.uint64) << np.uint64(8 * j)
        if np.any(x < RANS_L):
            raise CorruptStreamError("apack: a rANS lane state is below 2^16")
        wbase = rstart + STATE_BYTES                 # byte start of each chunk's words
        nwords = (rans_ends - wbase) // 2
        ptr = np.zeros(chunks, dtype=np.int64)
        n_c = np.minimum(CHUNK, numel - np.arange(chunks) * CHUNK)
        lane = np.arange(LANES)
        out = np.zeros((chunks, steps, LANES), dtype=np.uint8)
        padded = np.concatenate([rans, np.zeros(2, np.uint8)])
        mask12 = np.uint64(PROB_SCALE - 1)
        for t in range(steps):
            act = (t * LANES + lane)[None, :] < n_c[:, None]
            slot = (x & mask12).astype(np.int64)
            s = slot2sym[slot]
            xn = freq[s] * (x >> np.uint64(PROB_BITS)) + slot.astype(np.uint64) - cumu[s]
            x = np.where(act, xn, x)
            out[:, t, :] = s
            need = act & (x < RANS_L)
            k = np.cumsum(need, axis=1) - need
            at = ptr[:, None] + k
            if np.any(need & (at >= nwords[:, None])):
                raise CorruptStreamError("apack: a chunk's rANS stream ends early")
            b = wbase[:, None] + 2 * np.where(need, at, 0)
            w = padded[b].astype(np.uint64) | (padded[b + 1].astype(np.uint64) << np.uint64(8))
            x = np.where(need, (x << np.uint64(16)) | w, x)
            ptr += need.sum(axis=1)
        if np.any(ptr != nwords) or np.any(x != RANS_L):
            raise CorruptStreamError("apack: a rANS stream does not end where its chunk ends")
        rng = out.reshape(chunks, steps * LANES)
        keep = (np.arange(steps * LANES)[None, :] < n_c[:, None])
        rng = rng[keep].astype(np.int64)
        wl = widths[rng]
        pos, chunk_bytes, chunk_bits = _bits.chunk_bit_positions(wl, CHUNK)
        if not np.array_equal(np.cumsum(chunk_bytes), off_ends):
            raise CorruptStreamError("apack: offset chunk index disagrees with the decoded ranges")
        for c in range(chunks):
            b = chunk_bits[c] % 8
            if b and int(offs[off_ends[c] - 1]) >> b:
                raise CorruptStreamError(f"apack: chunk {c} has non-zero offset padding bits")
        off = _bits.unpack_fields(offs, pos, wl).astype(np.int64)
        if np.any(off >= sizes[rng]):
            raise CorruptStreamError("apack: an offset lies outside its range")
        return inv[starts[rng] + off]


# ----------------------------------------------------------------------------- codec

def encode(words: np.ndarray, spec: fmt.DTypeSpec, shape: tuple, kern=Reference) -> np.ndarray:
    sym = np.ascontiguousarray(words, dtype=np.uint8).reshape(-1)
    numel = sym.size
    starts, freqs = make_table(kern.histogram(sym), spec)
    R = starts.size
    rng_of_byte, off_of_byte, widths, sizes, inv = table_luts(starts, spec)
    rans, rans_ends, offs, off_ends = kern.encode(sym, rng_of_byte, off_of_byte, widths, freqs)
    table_off, index_off, sym_off, chunks = layout(numel, len(shape), R)
    rans_len = int(rans_ends[-1]) if chunks else 0
    off_off = _bits.round_up(sym_off + rans_len)
    total = off_off + (int(off_ends[-1]) if chunks else 0)
    hdr = fmt.Header(ID, spec, tuple(shape), numel, (R, PROB_BITS, LANES, 0), CHUNK, chunks,
                          (table_off, index_off, sym_off, off_off, 0), total)
    blob = np.zeros(total, dtype=np.uint8)
    _bits.put(blob, 0, np.frombuffer(hdr.pack(), np.uint8))
    _bits.put(blob, table_off, starts.astype(np.uint8))
    _bits.put(blob, table_off + R, freqs.astype("<u2").view(np.uint8))
    index = np.stack([rans_ends, off_ends], axis=1).astype("<u8") if chunks else np.zeros((0, 2), "<u8")
    _bits.put(blob, index_off, index.view(np.uint8))
    _bits.put(blob, sym_off, rans)
    _bits.put(blob, off_off, offs)
    return blob


def read_header(h: fmt.Header) -> fmt.Header:
    """Check the header fields this codec defines; the header itself is its reading of them."""
    R, pb, lanes, p3 = h.params
    if not (1 <= R <= MAX_RANGES) or pb != PROB_BITS or lanes != LANES or p3 != 0 or h.offsets[4] != 0:
        raise CorruptStreamError(f"apack header: bad parameters {h.params}")
    if h.block_elems != CHUNK or h.blocks != (h.numel + CHUNK - 1) // CHUNK:
        raise CorruptStreamError("apack header: chunk size or count inconsistent")
    table_off, index_off, sym_off, _ = layout(h.numel, len(h.shape), R)
    if tuple(h.offsets[:3]) != (table_off, index_off, sym_off):
        raise CorruptStreamError("apack header: section offsets do not match the format's layout")
    if not (sym_off <= h.offsets[3] <= h.total_bytes) or h.offsets[3] % _bits.ALIGN:
        raise CorruptStreamError("apack header: offset-section start inconsistent")
    return h


def read_table(buf: np.ndarray, h: fmt.Header):
    R = h.params[0]
    t = _bits.section(buf, h.offsets[0], 3 * R, "apack table")
    starts = t[:R].astype(np.int64)
    freqs = t[R:].view("<u2").astype(np.int64)
    if starts[0] != 0 or np.any(np.diff(starts) <= 0):
        raise CorruptStreamError("apack table: range starts must begin at 0 and increase")
    want = PROB_SCALE if h.numel else 0
    if freqs.sum() != want:
        raise CorruptStreamError(f"apack table: frequencies sum to {int(freqs.sum())}, expected {want}")
    return starts, freqs


def decode(buf: np.ndarray, h: fmt.Header, kern=Reference) -> np.ndarray:
    starts, freqs = read_table(buf, h)
    _, _, widths, sizes, inv = table_luts(starts, h.dtype)
    _, index_off, sym_off, chunks = layout(h.numel, len(h.shape), starts.size)
    off_off = h.offsets[3]
    index = _bits.section(buf, index_off, 16 * chunks, "apack chunk index")
    index = index.view("<u8").reshape(chunks, 2).astype(np.int64) if chunks else np.zeros((0, 2), np.int64)
    rans_ends, off_ends = index[:, 0], index[:, 1]
    rans_len = int(rans_ends[-1]) if chunks else 0
    off_len = int(off_ends[-1]) if chunks else 0
    if chunks and (np.any(np.diff(rans_ends) <= 0) or np.any(np.diff(off_ends) < 0)
                   or rans_ends[0] <= 0 or off_ends[0] < 0):
        raise CorruptStreamError("apack chunk index: ends not increasing")
    if off_off != _bits.round_up(sym_off + rans_len) or off_off + off_len != buf.size:
        raise CorruptStreamError("apack: sections do not add up to the blob size")
    rans = buf[sym_off:sym_off + rans_len]
    offs = buf[off_off:off_off + off_len]
    return kern.decode(rans, rans_ends, offs, off_ends, h.numel, freqs, widths, sizes, starts, inv)


def inspect(buf: np.ndarray, h: fmt.Header) -> _info.TableInfo:
    starts, freqs = read_table(buf, h)
    _, _, widths, sizes, _ = table_luts(starts, h.dtype)
    _, index_off, sym_off, chunks = layout(h.numel, len(h.shape), starts.size)
    return _info.TableInfo(
        **_info.common_fields(buf, h),
        section_bytes={"header": h.header_bytes, "table": 3 * starts.size,
                       "index": 16 * chunks, "symbols": h.offsets[3] - sym_off,
                       "offsets": h.total_bytes - h.offsets[3]},
        table={"range_starts": starts.tolist(), "offset_bits": widths.tolist(),
               "freqs": freqs.tolist(), "value_order": h.dtype.name},
        block_elems=h.block_elems, blocks=h.blocks)
