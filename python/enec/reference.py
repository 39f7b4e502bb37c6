"""The reference ENEC codec in numpy: the executable specification of docs/FORMAT.md.

Written for clarity, one function per ENEC technique:
  * `transform` / `inverse_transform`: the branch-free integer transform y = (b - x) mod 2^n,
  * `group_flags`: bit-width quantization, OR-folding each group of 16 codes into one flag,
  * `halving_pack` / `halving_unpack`: hierarchical halving bit-packing,
  * `outlier_slots_of`: the prefix scan over group flags that places outliers on decode.
Blocks of equal lane count are processed together as rows of a 2-D array.
"""
from __future__ import annotations

import numpy as np

from . import format as fmt
from .errors import CorruptStreamError
from .params import Params, choose_params

U16 = np.uint16


# ----------------------------------------------------------------------------- field split

def exponent_histogram(words: np.ndarray, spec: fmt.DTypeSpec) -> np.ndarray:
    x, _ = split_fields(words, spec)
    return np.bincount(x, minlength=1 << spec.exp_bits).astype(np.int64)


def split_fields(words: np.ndarray, spec: fmt.DTypeSpec):
    """Words -> (exponent x, list of raw fields with their bit widths), all uint16 lanes.

    The raw field moves the sign below the mantissa: (mantissa << 1) | sign.
    FP32 keeps its low 16 mantissa bits as a separate 16-bit raw field and treats the high half
    word like a BF16 value.
    """
    if spec is fmt.FP32:
        lo = (words & 0xFFFF).astype(U16)
        hi = (words >> 16).astype(U16)
        x, (rhi, _), = _split16(hi, 7, 8)
        return x, [(lo, 16), (rhi, 8)]
    if spec is fmt.BF16:
        x, raw = _split16(words, 7, 8)
        return x, [raw]
    x, raw = _split16(words, 10, 5)
    return x, [raw]


def _split16(w: np.ndarray, mant_bits: int, exp_bits: int):
    w = w.astype(U16)
    x = (w >> mant_bits) & ((1 << exp_bits) - 1)
    raw = ((w & ((1 << mant_bits) - 1)) << 1) | (w >> 15)
    return x.astype(U16), (raw.astype(U16), mant_bits + 1)


def join_fields(x: np.ndarray, raws: list, spec: fmt.DTypeSpec) -> np.ndarray:
    if spec is fmt.FP32:
        lo, rhi = raws
        hi = _join16(x, rhi, 7)
        return (hi.astype(np.uint32) << 16) | lo.astype(np.uint32)
    return _join16(x, raws[0], 7 if spec is fmt.BF16 else 10)


def _join16(x, raw, mant_bits):
    raw = raw.astype(U16)
    sign = raw & 1
    mant = raw >> 1
    return ((sign << 15) | (x.astype(U16) << mant_bits) | mant).astype(U16)


# ----------------------------------------------------------------------------- transform

def transform(x: np.ndarray, b: int, n: int) -> np.ndarray:
    """Branch-free integer transform: y = (b - x) mod 2^n."""
    return ((b - x.astype(np.int32)) & ((1 << n) - 1)).astype(U16)


def inverse_transform(y: np.ndarray, b: int, n: int, w: int) -> np.ndarray:
    """x = (b - signext_n(y)) mod 2^W."""
    y = y.astype(np.int32)
    s = np.where(y >= (1 << (n - 1)), y - (1 << n), y)
    return ((b - s) & ((1 << w) - 1)).astype(U16)


# ----------------------------------------------------------------------------- quantization

def group_flags(y: np.ndarray, m: int) -> np.ndarray:
    """Flags of the groups of rows of y (shape [blocks, lanes]); group j holds lanes j + k*G.

    The OR of a group is found by folding the row's upper half onto its lower half four times
    (16 -> 1 member per group): OR <= 2^m - 1 exactly when max <= 2^m - 1.
    """
    acc = y
    while acc.shape[-1] > y.shape[-1] // fmt.GROUP_LEN:
        h = acc.shape[-1] // 2
        acc = acc[..., :h] | acc[..., h:]
    return (acc >> m) != 0


# ----------------------------------------------------------------------------- packing

def _schedule(width: int):
    """The hierarchical halving steps for `width`-bit lanes: a list of ('fold', w) / ('emit',)."""
    steps = []
    while width > 0:
        while width < 8:
            steps.append(("fold", width))
            width *= 2
        steps.append(("emit",))
        width -= 8
    return steps


def halving_pack(lanes: np.ndarray, width: int) -> np.ndarray:
    """Hierarchical halving bit-packing along the last axis (count a multiple of 256).

    Fold the upper half of the lanes onto the lower half, shifted by the current width, until
    lanes hold >= 8 bits; emit each lane's low byte and keep the rest; repeat. The emitted bytes
    Z are finally stored as 16-bit words Z[i] | Z[i + H] << 8 (H = len(Z)/2), little-endian.
    """
    if width == 0:
        return np.zeros(lanes.shape[:-1] + (0,), dtype=np.uint8)
    d = lanes.astype(U16)
    chunks = []
    for step in _schedule(width):
        if step[0] == "fold":
            h = d.shape[-1] // 2
            d = d[..., :h] | (d[..., h:] << step[1])
        else:
            chunks.append(d & 0xFF)
            d = d >> 8
    z = np.concatenate(chunks, axis=-1)
    h = z.shape[-1] // 2
    words = (z[..., :h] | (z[..., h:] << 8)).astype("<u2")
    return words.view(np.uint8)


def halving_unpack(data: np.ndarray, count: int, width: int) -> np.ndarray:
    """Inverse of halving_pack: bytes (last axis) -> `count` lanes of `width` bits."""
    shape = data.shape[:-1]
    if width == 0:
        return np.zeros(shape + (count,), dtype=U16)
    words = np.ascontiguousarray(data).view("<u2").astype(U16)
    z = np.concatenate([words & 0xFF, words >> 8], axis=-1)
    # replay the schedule forward to learn each emit's lane count, then undo it backwards
    steps, lens, n = _schedule(width), [], count
    for s in steps:
        if s[0] == "fold":
            n //= 2
        lens.append(n)
    pos = z.shape[-1]
    d = np.zeros(shape + (lens[-1],), dtype=U16)
    for s, n in zip(reversed(steps), reversed(lens)):
        if s[0] == "emit":
            pos -= n
            d = (d << 8) | z[..., pos:pos + n]
        else:
            lo = d & ((1 << s[1]) - 1)
            hi = d >> s[1]
            d = np.concatenate([lo, hi], axis=-1)
    assert pos == 0 and d.shape[-1] == count
    return d


# ----------------------------------------------------------------------------- scan

def outlier_slots_of(flags: np.ndarray) -> tuple[np.ndarray, int]:
    """Intra-block prefix scan over one block's group flags.

    Returns, for every lane i = k*G + j of the block, its slot + 1 in the block's outlier list
    (slot = k*F + rank of group j among the flagged groups), or 0 for lanes of unflagged groups,
    so that a gather from [0, outliers...] needs no branch; and F, the flagged group count.
    """
    incl = np.cumsum(flags, dtype=np.int64)        # inclusive prefix count
    f = int(incl[-1]) if incl.size else 0
    rank = incl - 1
    k = np.arange(fmt.GROUP_LEN, dtype=np.int64)[:, None]
    slot = np.where(flags[None, :], k * f + rank[None, :] + 1, 0)
    return slot.reshape(-1), f


# ----------------------------------------------------------------------------- blocks

def _block_rows(values: np.ndarray, geo: fmt.Geometry):
    """Split a per-element array into (full blocks [B, N], last block [1, lanes] or None),
    padding the short last block with zeros."""
    nfull = geo.full_blocks * fmt.BLOCK_ELEMS
    full = values[:nfull].reshape(geo.full_blocks, fmt.BLOCK_ELEMS)
    last = None
    if geo.blocks > geo.full_blocks:
        last = np.zeros((1, geo.last_lanes), dtype=values.dtype)
        last[0, :geo.last_real] = values[nfull:]
    return full, last


def compress_words(words: np.ndarray, spec: fmt.DTypeSpec, shape: tuple,
                   params: Params | None = None) -> np.ndarray:
    """Compress a flat array of uint16 (BF16/FP16) or uint32 (FP32) words into one blob
    (a uint8 array)."""
    words = np.ascontiguousarray(words).reshape(-1)
    numel = words.size
    if params is None:
        params = choose_params(exponent_histogram(words, spec), spec)
    b, n, m = params.b, params.n, params.m
    geo = fmt.geometry(numel)
    x, raws = split_fields(words, spec)
    y = transform(x, b, n)

    raw_parts, low_parts, flag_parts, outliers = [], [], [], []
    rows_y = _block_rows(y, geo)
    rows_raw = [_block_rows(r, geo) for r, _ in raws]
    for i, ys in enumerate(rows_y):
        if ys is None or ys.shape[0] == 0:
            continue
        # raw section: per block, each raw field packed in turn
        per_block_raw = [halving_pack(rr[i], wdt) for rr, (_, wdt) in zip(rows_raw, raws)]
        raw_parts.append(np.concatenate(per_block_raw, axis=-1))
        low_parts.append(halving_pack(ys & ((1 << m) - 1), m))
        flags = group_flags(ys, m)
        flag_parts.append(np.packbits(flags, axis=-1, bitorder="little"))
        for t in range(ys.shape[0]):
            outliers.append(_block_outliers(ys[t], flags[t], n, m))
    hdr_wo = fmt.EnecHeader(spec, tuple(shape), numel, b, n, m)
    lay = hdr_wo.layout
    index = np.zeros(geo.blocks, dtype="<u8")
    if outliers:
        index[1:] = np.cumsum([o.size for o in outliers[:-1]])
    out_bytes = int(sum(o.size for o in outliers))
    hdr = fmt.EnecHeader(spec, tuple(shape), numel, b, n, m, outlier_bytes=out_bytes)
    blob = np.zeros(hdr.total_bytes, dtype=np.uint8)
    blob[:lay.header_bytes] = np.frombuffer(hdr.pack(), dtype=np.uint8)
    _put(blob, lay.raw_offset, raw_parts)
    _put(blob, lay.low_offset, low_parts)
    _put(blob, lay.flags_offset, flag_parts)
    _put(blob, lay.index_offset, [index.view(np.uint8)])
    _put(blob, lay.outlier_offset, outliers)
    return blob


def _block_outliers(y: np.ndarray, flags: np.ndarray, n: int, m: int) -> np.ndarray:
    """High bits of a block's flagged groups, in lane order (k-major), padded and packed."""
    f = int(flags.sum())
    if f == 0 or n == m:
        return np.zeros(0, dtype=np.uint8)
    lane_flag = np.tile(flags, fmt.GROUP_LEN)          # lane i = k*G + j -> flag of group j
    hi = y[lane_flag] >> m
    slots = np.zeros(fmt.outlier_slots(f), dtype=U16)
    slots[:hi.size] = hi
    return halving_pack(slots, n - m)


def _check_outliers(hi: np.ndarray, f: int, t: int) -> None:
    """Structural checks: padding slots are zero and every flagged group has a non-zero high
    part (the encoder flags a group exactly when one of its codes needs high bits)."""
    if f == 0:
        return
    if np.any(hi[fmt.GROUP_LEN * f:]):
        raise CorruptStreamError(f"block {t}: non-zero outlier padding")
    if not np.all(np.bitwise_or.reduce(hi[:fmt.GROUP_LEN * f].reshape(fmt.GROUP_LEN, f), axis=0)):
        raise CorruptStreamError(f"block {t}: a flagged group has no high bits")


def _put(blob: np.ndarray, offset: int, parts) -> None:
    for p in parts:
        p = p.reshape(-1)
        blob[offset:offset + p.size] = p
        offset += p.size


def decompress_words(blob, hdr: fmt.EnecHeader) -> np.ndarray:
    """Decode a blob, whose header codecs/enec.py has read, into a flat array of words (uint16
    or uint32)."""
    buf = np.frombuffer(memoryview(blob).cast("B"), dtype=np.uint8)
    spec, b, n, m = hdr.dtype, hdr.b, hdr.n, hdr.m
    lay = hdr.layout
    geo = fmt.geometry(hdr.numel)
    index = buf[lay.index_offset:lay.index_offset + lay.index_bytes].view("<u8")
    raw_widths = [16, 8] if spec is fmt.FP32 else [spec.raw_bits]
    out_x = np.empty(hdr.numel, dtype=U16)
    out_raw = [np.empty(hdr.numel, dtype=U16) for _ in raw_widths]
    raw_off, low_off, flags_off = lay.raw_offset, lay.low_offset, lay.flags_offset
    out_base = lay.outlier_offset
    expect = 0
    for t in range(geo.blocks):
        lanes, real = geo.lanes(t), geo.real(t)
        g = fmt.block_groups(lanes)
        # flags and the prefix scan that places the outliers
        fb = fmt.flag_block_bytes(lanes)
        flags = np.unpackbits(buf[flags_off:flags_off + fb], bitorder="little").astype(bool)
        flags_off += fb
        slot, f = outlier_slots_of(flags)
        ob = fmt.outlier_block_bytes(f, n, m) if n > m else 0
        if n == m and f:
            raise CorruptStreamError(f"block {t}: flagged groups although n == m")
        if int(index[t]) != expect or out_base + expect + ob > buf.size:
            raise CorruptStreamError(f"block {t}: outlier index {int(index[t])} disagrees with the "
                                     f"flags (expected {expect}) or runs past the blob end")
        hi = halving_unpack(buf[out_base + expect:out_base + expect + ob],
                            fmt.outlier_slots(f), n - m) if ob else np.zeros(0, U16)
        expect += ob
        _check_outliers(hi, f, t)
        gathered = np.concatenate([np.zeros(1, U16), hi])[slot]      # slot 0 reads the zero
        # low bits
        lb = fmt.low_block_bytes(lanes, m)
        low = halving_unpack(buf[low_off:low_off + lb], lanes, m)
        low_off += lb
        y = low | (gathered << m)
        x = inverse_transform(y, b, n, spec.exp_bits)
        # raw fields
        s = t * fmt.BLOCK_ELEMS
        for r, wdt in zip(out_raw, raw_widths):
            nb = fmt.packed_bytes(lanes, wdt)
            r[s:s + real] = halving_unpack(buf[raw_off:raw_off + nb], lanes, wdt)[:real]
            raw_off += nb
        out_x[s:s + real] = x[:real]
        del g
    if expect != hdr.outlier_bytes:
        raise CorruptStreamError(f"outlier section holds {hdr.outlier_bytes} bytes, the flags "
                                 f"account for {expect}")
    return join_fields(out_x, out_raw, spec)
