"""Shared pieces of QLC, APack and sparse: LSB-first bit packing, section placement, header checks.

Bit order (docs/FORMAT.md §7.1): a bit stream is a byte array; bit i of the stream is bit (i % 8)
of byte i // 8 (bit 0 = least significant), and a w-bit field v written at bit position p puts
bit j of v at stream bit p + j. Every packing below is a vectorised form of that one rule.
"""
from __future__ import annotations

import numpy as np

from .. import format as fmt
from ..errors import CorruptStreamError

ALIGN = fmt.SECTION_ALIGN


def round_up(x: int, k: int = ALIGN) -> int:
    return (x + k - 1) // k * k


def pack_fields(values: np.ndarray, widths, positions: np.ndarray, nbytes: int) -> np.ndarray:
    """Write fields `values` (widths <= 56 bits) at bit `positions` into a zeroed `nbytes` array.

    Fields must not overlap; since every byte then receives disjoint bits, adding the byte
    contributions equals OR-ing them, and bincount adds exactly (sums stay below 256).
    """
    out = np.zeros(nbytes, dtype=np.uint8)
    if values.size == 0:
        return out
    v = values.astype(np.uint64)
    pos = positions.astype(np.int64)
    w = np.broadcast_to(np.asarray(widths, dtype=np.int64), v.shape)
    wmax = int(w.max())
    if wmax == 0:
        return out
    if wmax > 56:
        raise ValueError("field widths above 56 bits are not supported")
    v = v & ((np.uint64(1) << w.astype(np.uint64)) - np.uint64(1))
    sh = (pos & 7).astype(np.uint64)
    shifted = v << sh
    byte0 = pos >> 3
    nspan = (wmax + 7 + 7) // 8
    acc = np.zeros(nbytes, dtype=np.float64)
    for j in range(nspan):
        part = ((shifted >> np.uint64(8 * j)) & np.uint64(0xFF))
        idx = byte0 + j
        keep = (part != 0)
        if not keep.any():
            continue
        acc += np.bincount(idx[keep], weights=part[keep].astype(np.float64), minlength=nbytes)[:nbytes]
    out[:] = acc.astype(np.uint8)
    return out


def unpack_fields(buf: np.ndarray, positions: np.ndarray, widths) -> np.ndarray:
    """Read fields of `widths` (<= 56) bits at bit `positions` of `buf` (uint64 result).

    The caller guarantees every field lies inside `buf`."""
    pos = positions.astype(np.int64)
    w = np.broadcast_to(np.asarray(widths, dtype=np.int64), pos.shape)
    if pos.size == 0:
        return np.zeros(0, dtype=np.uint64)
    wmax = int(w.max())
    padded = np.concatenate([buf, np.zeros(8, dtype=np.uint8)])
    byte0 = pos >> 3
    sh = (pos & 7).astype(np.uint64)
    nspan = (wmax + 7 + 7) // 8
    acc = np.zeros(pos.shape, dtype=np.uint64)
    for j in range(nspan):
        acc |= padded[byte0 + j].astype(np.uint64) << np.uint64(8 * j)
    return (acc >> sh) & ((np.uint64(1) << w.astype(np.uint64)) - np.uint64(1))


def pack_fixed(values: np.ndarray, width: int) -> np.ndarray:
    """Fields of one width, back to back from bit 0."""
    n = values.size
    return pack_fields(values, width, np.arange(n, dtype=np.int64) * width, (n * width + 7) // 8)


def unpack_fixed(buf: np.ndarray, count: int, width: int) -> np.ndarray:
    return unpack_fields(buf, np.arange(count, dtype=np.int64) * width, width)


def check_tail_zero(buf: np.ndarray, nbits: int, what: str) -> None:
    """Bits from `nbits` to the end of `buf` must be zero."""
    nb = (nbits + 7) // 8
    if nb != buf.size:
        raise CorruptStreamError(f"{what}: {buf.size} bytes where {nb} are needed")
    if nbits % 8 and int(buf[-1]) >> (nbits % 8):
        raise CorruptStreamError(f"{what}: non-zero padding bits")


def chunk_bit_positions(widths: np.ndarray, chunk: int):
    """Per-field bit positions when the fields are cut into chunks of `chunk` fields and each
    chunk's fields start on a byte boundary. Returns (positions, chunk byte lengths)."""
    n = widths.size
    nchunks = (n + chunk - 1) // chunk
    w = widths.astype(np.int64)
    csum = np.cumsum(w)
    excl = csum - w
    starts = np.arange(nchunks, dtype=np.int64) * chunk
    base_bits = excl[starts] if n else np.zeros(0, np.int64)
    ends = np.minimum(starts + chunk, n)
    chunk_bits = (csum[ends - 1] - base_bits) if n else np.zeros(0, np.int64)
    chunk_bytes = (chunk_bits + 7) // 8
    byte_start = np.concatenate([[0], np.cumsum(chunk_bytes)[:-1]]).astype(np.int64) if nchunks else chunk_bytes
    cid = np.arange(n, dtype=np.int64) // chunk
    pos = excl - base_bits[cid] + 8 * byte_start[cid]
    return pos, chunk_bytes, chunk_bits


def put(blob: np.ndarray, offset: int, data: np.ndarray) -> None:
    data = np.asarray(data, dtype=np.uint8).reshape(-1)
    blob[offset:offset + data.size] = data


def section(buf: np.ndarray, start: int, size: int, what: str) -> np.ndarray:
    if start < 0 or size < 0 or start + size > buf.size:
        raise CorruptStreamError(f"{what} ({size} bytes at {start}) runs past the blob end ({buf.size} bytes)")
    return buf[start:start + size]


def ends_index(buf: np.ndarray, offset: int, count: int, limit: int, what: str) -> np.ndarray:
    """A u64 array of `count` cumulative end offsets; must be non-decreasing and <= limit."""
    raw = section(buf, offset, 8 * count, what)
    ends = raw.view("<u8").astype(np.int64) if count else np.zeros(0, np.int64)
    check_ends(ends, limit, what)
    return ends


def check_ends(ends: np.ndarray, limit: int, what: str) -> None:
    """Cumulative end offsets (int64) must be non-negative, non-decreasing and <= limit."""
    if ends.size == 1:                      # (a small tensor: no array passes for one value)
        bad = not 0 <= int(ends[0]) <= limit
    else:
        bad = ends.size > 1 and (np.any(ends < 0) or np.any(np.diff(ends) < 0) or ends[-1] > limit)
    if bad:
        raise CorruptStreamError(f"{what}: offsets not increasing or past the section end")
