"""Sparse formats (codec 4): the numpy reference, the executable spec of docs/FORMAT.md §7.4.

The zero pattern of the tensor (an element is zero when its bit pattern is all zeros; -0.0 is
not zero) is stored in one of five formats, chosen per tensor by exact size, and the non-zero
elements, in row-major order, are stored as a complete enec blob of the dense codec of their
dtype (ENEC for BF16/FP16/FP32, QLC for FP8, APack for INT8/UINT8):

  0 dense       no pattern; the values blob holds every element
  1 bitmap      one bit per element, 1 = non-zero
  2 bitmap2(s)  one bit per block of s = 2^p elements (1 = the block has a non-zero), then the
                s element bits of every non-empty block
  3 rle(w)      per non-zero, the zeros before it as a w-bit field; a field equal to 2^w - 1
                stands for 2^w - 1 zeros and no non-zero (a filler)
  4 csr         rows = numel / shape[-1]: (rows + 1) row pointers of bitlen(nnz) bits, then one
                column index of bitlen(shape[-1] - 1) bits per non-zero
"""
from __future__ import annotations

import numpy as np

from .. import format as fmt
from ..errors import CorruptStreamError
from . import _bits, _info

ID = fmt.CODEC_SPARSE
NAME = "sparse"
DTYPES = tuple(fmt.ALL_DTYPE_NAMES)

DENSE, BITMAP, BITMAP2, RLE, CSR = range(5)
FORMAT_NAMES = {DENSE: "dense", BITMAP: "bitmap", BITMAP2: "bitmap2", RLE: "rle", CSR: "csr"}
BITMAP2_LOG2 = range(2, 10)          # block sizes 4 .. 512
RLE_WIDTHS = range(1, 25)
MAX_ELEMS_PER_BYTE = 4096            # a sparse blob of T bytes may hold at most 4096·T elements


def _bitlen(x: int) -> int:
    return int(x).bit_length()


def row_len(shape: tuple) -> int:
    return int(shape[-1]) if len(shape) else 1


# ----------------------------------------------------------------------------- exact sizes

def pattern_bits(fmt_id: int, param: int, numel: int, shape: tuple, pos: np.ndarray) -> int:
    """Exact pattern size in bits of a format for non-zero positions `pos` (sorted)."""
    nnz = pos.size
    if fmt_id == DENSE:
        return 0
    if fmt_id == BITMAP:
        return numel
    if fmt_id == BITMAP2:
        s = 1 << param
        nb = (numel + s - 1) // s
        ne = np.unique(pos // s).size
        return nb + ne * s
    if fmt_id == RLE:
        m = (1 << param) - 1
        gaps = np.diff(pos, prepend=-1) - 1
        return (nnz + int(np.sum(gaps // m))) * param
    if fmt_id == CSR:
        c = row_len(shape)
        rows = numel // c if c else 0
        return (rows + 1) * _bitlen(nnz) + nnz * _bitlen(max(c - 1, 0))
    raise ValueError(fmt_id)


def candidate_sizes(numel: int, shape: tuple, nnz: int, nonempty, fillers):
    """(pattern bytes, format, param) of every non-dense format, smallest first, from counts:
    nonempty[p] = blocks of 2^p elements holding a non-zero (p in BITMAP2_LOG2), fillers[w] =
    sum over the gaps g (zeros before each non-zero) of g // (2^w - 1) (w in RLE_WIDTHS)."""
    out = [((numel + 7) // 8, BITMAP, 0)]
    if numel:
        for p in BITMAP2_LOG2:
            s = 1 << p
            out.append((((numel + s - 1) // s + nonempty[p] * s + 7) // 8, BITMAP2, p))
    for w in RLE_WIDTHS:
        out.append((((nnz + fillers[w]) * w + 7) // 8, RLE, w))
    c = row_len(shape)
    rows = numel // c if c else 0
    out.append((((rows + 1) * _bitlen(nnz) + nnz * _bitlen(max(c - 1, 0)) + 7) // 8, CSR, 0))
    out.sort()
    return out


def pattern_lower_bound(numel: int, shape: tuple, nnz: int) -> int:
    """Bytes of the smallest pattern any non-zero layout with `nnz` non-zeros can have: a
    bitmap2 holds at least nnz element bits, a run-length pattern at least one field per
    non-zero, CSR's size depends on nnz alone."""
    c = row_len(shape)
    rows = numel // c if c else 0
    bits = min(numel, nnz + (numel >> max(BITMAP2_LOG2)), nnz * min(RLE_WIDTHS),
               (rows + 1) * _bitlen(nnz) + nnz * _bitlen(max(c - 1, 0)))
    return (bits + 7) // 8


def _counts(pos: np.ndarray):
    """(nonempty, fillers) of `candidate_sizes` for the sorted non-zero positions `pos`.

    Linear in nnz per parameter without nnz-sized temporaries per parameter: the two-level
    bitmap counts block changes of `pos >> p`, and the run-length sizes come from a histogram
    of the gaps (small gaps binned, the few large ones kept as they are)."""
    pos = np.asarray(pos, dtype=np.int64)
    nonempty = {}
    for p in BITMAP2_LOG2:
        blk = pos >> p
        nonempty[p] = int(np.count_nonzero(blk[1:] != blk[:-1])) + 1 if pos.size else 0
    gaps = np.diff(pos, prepend=-1) - 1
    small_cap = 1 << 16
    # bins only up to the largest small gap: a fixed 64 Ki-bin histogram costs ms per tiny tensor
    small = np.bincount(gaps[gaps < small_cap]) if gaps.size else np.zeros(0, np.int64)
    large = gaps[gaps >= small_cap]
    g = np.arange(small.size, dtype=np.int64)
    fillers = {w: int(np.dot(small, g // ((1 << w) - 1))) + int(np.sum(large // ((1 << w) - 1)))
               for w in RLE_WIDTHS}
    return nonempty, fillers


def candidates(numel: int, shape: tuple, pos: np.ndarray):
    """candidate_sizes for the sorted non-zero positions `pos`."""
    return candidate_sizes(numel, shape, np.asarray(pos).size, *_counts(pos))


class Scan:
    """What choosing and building a pattern needs from the words, found in one pass: the
    non-zero words, the bitmap pattern, the counts of `candidate_sizes`; the positions (for
    the other formats) only when asked for."""

    def __init__(self, words, values, bitmap, nonempty, fillers, nnz=None):
        self.words, self.values, self.bitmap = words, values, bitmap
        self.nnz = values.size if nnz is None else nnz
        self.nonempty, self.fillers = nonempty, fillers
        self._pos = None

    def positions(self) -> np.ndarray:
        if self._pos is None:
            self._pos = np.flatnonzero(self.words)
        return self._pos

    def candidates(self, shape: tuple):
        return candidate_sizes(self.words.size, shape, self.nnz, self.nonempty, self.fillers)


def scan(words: np.ndarray) -> Scan:
    """The numpy Scan of a flat word array (native.SPARSE.scan: the same in one native pass)."""
    pos = np.flatnonzero(words)
    sc = Scan(words, words[pos], encode_pattern(BITMAP, 0, words.size, (words.size,), pos), *_counts(pos))
    sc._pos = pos
    return sc


# ----------------------------------------------------------------------------- pattern coding

def encode_pattern(fmt_id, param, numel, shape, pos) -> np.ndarray:
    nnz = pos.size
    if fmt_id == DENSE:
        return np.zeros(0, np.uint8)
    if fmt_id == BITMAP:
        mask = np.zeros(numel, dtype=bool)
        mask[pos] = True
        return np.packbits(mask, bitorder="little")
    if fmt_id == BITMAP2:
        s = 1 << param
        nb = (numel + s - 1) // s
        mask = np.zeros(nb * s, dtype=bool)
        mask[pos] = True
        m2 = mask.reshape(nb, s)
        l1 = m2.any(axis=1)
        return np.packbits(np.concatenate([l1, m2[l1].reshape(-1)]), bitorder="little")
    if fmt_id == RLE:
        m = (1 << param) - 1
        gaps = np.diff(pos, prepend=-1) - 1
        q = gaps // m
        entries = np.full(nnz + int(q.sum()), m, dtype=np.int64)
        last = np.arange(nnz) + np.cumsum(q)             # entry index of each non-zero
        entries[last] = gaps % m
        return _bits.pack_fixed(entries, param)
    if fmt_id == CSR:
        c = row_len(shape)
        rows = numel // c if c else 0
        pw, cw = _bitlen(nnz), _bitlen(max(c - 1, 0))
        ptr = np.concatenate([[0], np.cumsum(np.bincount(pos // c, minlength=rows))]) if rows else np.zeros(1, np.int64)
        vals = np.concatenate([ptr, pos % c]).astype(np.int64)
        widths = np.concatenate([np.full(ptr.size, pw), np.full(nnz, cw)])
        bitpos = np.cumsum(widths) - widths
        nbits = int(widths.sum())
        return _bits.pack_fields(vals, widths, bitpos, (nbits + 7) // 8)
    raise ValueError(fmt_id)


def decode_pattern(fmt_id, param, numel, shape, nnz, pat: np.ndarray) -> np.ndarray:
    """Sorted non-zero positions; every structural inconsistency is a CorruptStreamError."""
    if fmt_id == BITMAP:
        _bits.check_tail_zero(pat, numel, "sparse bitmap")
        pos = np.flatnonzero(np.unpackbits(pat, count=numel, bitorder="little"))
    elif fmt_id == BITMAP2:
        s = 1 << param
        nb = (numel + s - 1) // s
        if pat.size * 8 < nb:
            raise CorruptStreamError("sparse bitmap2: pattern shorter than its block bitmap")
        bits = np.unpackbits(pat, bitorder="little")
        l1 = bits[:nb].astype(bool)
        ne = int(l1.sum())
        _bits.check_tail_zero(pat, nb + ne * s, "sparse bitmap2")
        m2 = bits[nb:nb + ne * s].reshape(ne, s).astype(bool)
        if ne and not np.all(m2.any(axis=1)):
            raise CorruptStreamError("sparse bitmap2: a block marked non-empty has no non-zero")
        blk = np.flatnonzero(l1)
        r, c = np.nonzero(m2)
        pos = blk[r] * s + c
        if pos.size and pos[-1] >= numel:
            raise CorruptStreamError("sparse bitmap2: a non-zero lies past the tensor's end")
    elif fmt_id == RLE:
        w = param
        m = (1 << w) - 1
        count = pat.size * 8 // w
        entries = _bits.unpack_fixed(pat, count, w).astype(np.int64)
        isnz = entries < m
        if nnz:
            hits = np.flatnonzero(isnz)
            if hits.size < nnz:
                raise CorruptStreamError("sparse rle: fewer non-zeros in the pattern than the header says")
            used = int(hits[nnz - 1]) + 1
        else:
            used = 0
        _bits.check_tail_zero(pat, used * w, "sparse rle")
        adv = entries[:used] + isnz[:used]
        pos = (np.cumsum(adv) - 1)[isnz[:used]]
        if pos.size and pos[-1] >= numel:
            raise CorruptStreamError("sparse rle: a non-zero lies past the tensor's end")
    elif fmt_id == CSR:
        c = row_len(shape)
        rows = numel // c if c else 0
        pw, cw = _bitlen(nnz), _bitlen(max(c - 1, 0))
        nbits = (rows + 1) * pw + nnz * cw
        _bits.check_tail_zero(pat, nbits, "sparse csr")
        ptr = _bits.unpack_fixed(pat, rows + 1, pw).astype(np.int64)
        cols = _bits.unpack_fields(pat, (rows + 1) * pw + np.arange(nnz, dtype=np.int64) * cw, cw).astype(np.int64)
        if ptr[0] != 0 or ptr[-1] != nnz or np.any(np.diff(ptr) < 0):
            raise CorruptStreamError("sparse csr: row pointers are not 0 .. nnz, non-decreasing")
        if nnz and np.any(cols >= c):
            raise CorruptStreamError("sparse csr: a column index is past the row length")
        pos = np.repeat(np.arange(rows, dtype=np.int64), np.diff(ptr)) * c + cols
        if pos.size > 1 and np.any(np.diff(pos) <= 0):
            raise CorruptStreamError("sparse csr: column indices not increasing within a row")
    else:
        raise CorruptStreamError(f"sparse: unknown pattern format {fmt_id}")
    if pos.size != nnz:
        raise CorruptStreamError(f"sparse: pattern holds {pos.size} non-zeros, header says {nnz}")
    return pos


class Reference:
    """The pattern coder kernels: these numpy functions, or `native.SPARSE` (same bytes, same
    verdicts, the same Scan); the format choice (`candidate_sizes`) always runs here."""
    name = "reference"
    encode_pattern = staticmethod(encode_pattern)
    decode_pattern = staticmethod(decode_pattern)
    scan = staticmethod(scan)


# ----------------------------------------------------------------------------- codec

def _put_head(blob, spec, shape, numel, fmt_id, param, inner_codec, nnz, pattern, vals_off, total):
    """Header, pattern and the zero gap before the values (at vals_off) into blob."""
    hb = fmt.header_bytes(len(shape))
    hdr = fmt.Header(ID, spec, tuple(shape), numel, (fmt_id, param, inner_codec, 0), 0, nnz,
                          (hb, vals_off, pattern.size, 0, 0), total)
    _bits.put(blob, 0, np.frombuffer(hdr.pack(), np.uint8))
    if not (pattern.size and pattern.ctypes.data == blob.ctypes.data + hb):   # unless written in place
        _bits.put(blob, hb, pattern)
    blob[hb + pattern.size:vals_off] = 0


def _assemble(spec, shape, numel, fmt_id, param, inner_codec, nnz, pattern, values_blob):
    vals_off = _bits.round_up(fmt.header_bytes(len(shape)) + pattern.size)
    total = vals_off + values_blob.size
    blob = np.empty(total, dtype=np.uint8)           # every byte is written: no zeroing pass
    _put_head(blob, spec, shape, numel, fmt_id, param, inner_codec, nnz, pattern, vals_off, total)
    _bits.put(blob, vals_off, values_blob)
    return blob


def _pattern(kernels, fmt_id, param, numel, shape, sc: Scan) -> np.ndarray:
    if fmt_id == BITMAP:
        return sc.bitmap
    return kernels.encode_pattern(fmt_id, param, numel, shape, sc.positions())


def encode_patterned(words: np.ndarray, spec: fmt.DTypeSpec, shape: tuple, dense_encode, below: int,
                     kernels=Reference, sc: Scan | None = None, values_room=None, alloc=None, buf=None):
    """The blob of the smallest pattern format (not dense) when it is smaller than `below`
    bytes, else None. `dense_encode(words, spec, shape, out=None) -> (blob, codec id)` codes the
    values; with `values_room(nnz)` (the most bytes the values blob can take) they are encoded
    straight into the blob's buffer (`buf` when it has the room, else `alloc(nbytes)`, default
    np.empty), after the smallest pattern, when the codec can (no copy of a values blob of tens
    of MB). The Scan's bitmap may already lie at its place in `buf` (then it is not copied)."""
    words = np.ascontiguousarray(words).reshape(-1)
    sc = sc if sc is not None else kernels.scan(words)
    numel = words.size
    hb = fmt.header_bytes(len(shape))
    cands = sc.candidates(shape)
    vals_off = _bits.round_up(hb + cands[0][0])
    if values_room is not None:
        nbytes = vals_off + values_room(sc.nnz)                 # untouched pages cost nothing
        if buf is None or buf.size < nbytes:
            buf = alloc(nbytes) if alloc is not None else np.empty(nbytes, dtype=np.uint8)
        elif np.may_share_memory(sc.bitmap, buf[vals_off:]):   # the values would overwrite it
            sc.bitmap = sc.bitmap.copy()
        vblob, vcodec = dense_encode(sc.values, spec, (sc.nnz,), out=buf[vals_off:])
    else:
        buf = None
        vblob, vcodec = dense_encode(sc.values, spec, (sc.nnz,))
    for nbytes, fmt_id, param in cands:
        total = _bits.round_up(hb + nbytes) + vblob.size
        if numel <= MAX_ELEMS_PER_BYTE * total:
            if total >= below:
                return None
            pat = _pattern(kernels, fmt_id, param, numel, shape, sc)
            if buf is not None and vblob.size and vblob.ctypes.data == buf.ctypes.data + vals_off \
                    and total == vals_off + vblob.size:        # the values are already in place
                _put_head(buf, spec, shape, numel, fmt_id, param, vcodec, sc.nnz, pat, vals_off, total)
                return buf[:total]
            return _assemble(spec, shape, numel, fmt_id, param, vcodec, sc.nnz, pat, vblob)
    return None


def encode(words: np.ndarray, spec: fmt.DTypeSpec, shape: tuple, dense_encode, force=None,
           dense_blob=None, kernels=Reference) -> np.ndarray:
    """`dense_encode(words, spec, shape) -> (blob, codec id)` codes the values; `force`
    = (format, param) fixes the pattern format instead of choosing the smallest; `dense_blob`
    (blob, codec id): the dense codec's blob of the whole tensor, when the caller has it;
    `kernels`: the pattern coder (Reference or native.SPARSE)."""
    words = np.ascontiguousarray(words).reshape(-1)
    numel = words.size
    hb = fmt.header_bytes(len(shape))
    if force is not None and force[0] != DENSE:
        sc = kernels.scan(words)
        vblob, vcodec = dense_encode(sc.values, spec, (sc.nnz,))
        pat = _pattern(kernels, force[0], force[1], numel, shape, sc)
        return _assemble(spec, shape, numel, force[0], force[1], vcodec, sc.nnz, pat, vblob)
    if dense_blob is None or tuple(fmt.parse_header(dense_blob[0]).shape) != (numel,):
        dense_blob = dense_encode(words, spec, (numel,))
    dense_blob, dcodec = dense_blob
    if force is None:
        alt = encode_patterned(words, spec, shape, dense_encode, _bits.round_up(hb) + dense_blob.size, kernels)
        if alt is not None:
            return alt
    return _assemble(spec, shape, numel, DENSE, 0, dcodec, numel, np.zeros(0, np.uint8), dense_blob)


def read_header(h: fmt.Header) -> fmt.Header:
    """Check the header fields this codec defines; the header itself is its reading of them."""
    fmt_id, param, inner, p3 = h.params
    if fmt_id not in FORMAT_NAMES or p3 != 0 or h.block_elems != 0 or h.offsets[3:] != (0, 0):
        raise CorruptStreamError(f"sparse header: bad parameters {h.params}")
    if (fmt_id == BITMAP2 and param not in BITMAP2_LOG2) or (fmt_id == RLE and param not in RLE_WIDTHS) \
            or (fmt_id in (DENSE, BITMAP, CSR) and param != 0):
        raise CorruptStreamError(f"sparse header: parameter {param} invalid for format {fmt_id}")
    if inner not in (fmt.CODEC_ENEC, fmt.CODEC_QLC, fmt.CODEC_APACK):
        raise CorruptStreamError(f"sparse header: values codec {inner} is not a dense codec")
    hb = fmt.header_bytes(len(h.shape))
    pat_off, vals_off, pat_bytes = h.offsets[:3]
    if pat_off != hb or vals_off != _bits.round_up(hb + pat_bytes) or vals_off > h.total_bytes:
        raise CorruptStreamError("sparse header: section offsets do not match the format's layout")
    nnz = h.blocks
    if nnz > h.numel or (fmt_id == DENSE and nnz != h.numel):
        raise CorruptStreamError(f"sparse header: {nnz} values for {h.numel} elements")
    if fmt_id == DENSE and pat_bytes:
        raise CorruptStreamError("sparse header: dense format with a pattern")
    if h.numel > MAX_ELEMS_PER_BYTE * h.total_bytes:
        raise CorruptStreamError(f"sparse header: {h.numel} elements in a {h.total_bytes}-byte blob "
                                 f"exceed the format's limit of {MAX_ELEMS_PER_BYTE} per byte")
    return h


def decode(buf: np.ndarray, h: fmt.Header, dense_decode, kernels=Reference) -> np.ndarray:
    """`dense_decode(blob) -> (words, header)` decodes the values blob; `kernels`: the pattern
    decoder (Reference or native.SPARSE)."""
    fmt_id, param, inner, _ = h.params
    pat_off, vals_off, pat_bytes = h.offsets[:3]
    nnz = h.blocks
    vblob = buf[vals_off:]
    vwords, vh = dense_decode(vblob)
    if vh.codec != inner or vh.dtype is not h.dtype or tuple(vh.shape) != (nnz,) \
            or vh.checksum_kind != fmt.CHECKSUM_NONE:
        raise CorruptStreamError("sparse: the values blob disagrees with the sparse header")
    if fmt_id == DENSE:
        return vwords
    pat = _bits.section(buf, pat_off, pat_bytes, "sparse pattern")
    pos = kernels.decode_pattern(fmt_id, param, h.numel, h.shape, nnz, pat)
    if np.any(vwords == 0):
        raise CorruptStreamError("sparse: the non-zero values hold a zero")
    out = np.zeros(h.numel, dtype=vwords.dtype)
    out[pos] = vwords
    return out


def inspect(buf: np.ndarray, h: fmt.Header) -> _info.SparseInfo:
    fmt_id, param, inner, _ = h.params
    name = FORMAT_NAMES[fmt_id] + (f"({1 << param})" if fmt_id == BITMAP2 else f"({param})" if fmt_id == RLE else "")
    return _info.SparseInfo(
        **_info.common_fields(buf, h),
        section_bytes={"header": h.header_bytes, "pattern": h.offsets[2],
                       "values": h.total_bytes - h.offsets[1]},
        table={"format": name, "nnz": h.blocks, "values_codec": fmt.CODEC_NAMES[inner]})
