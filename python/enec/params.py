"""Per-tensor ENEC parameter search (paper Eqs. 1-4) on the exponent histogram.

Shared by every implementation: implementations only compute the histogram (exact integers), so
they all pick the same (b, n, m) and produce byte-identical blobs.
"""
from __future__ import annotations

import dataclasses

import numpy as np

from .format import GROUP_LEN, DTypeSpec


@dataclasses.dataclass(frozen=True)
class Params:
    b: int   # pivot of the transform y = (b - x) mod 2^n
    n: int   # code width (two's complement, sign bit included)
    m: int   # low-bit width every element keeps; flagged groups add n - m high bits


def signed_distance(b: int, x: np.ndarray, w: int) -> np.ndarray:
    """(b - x) mod 2^W read as a signed W-bit integer."""
    d = (b - x) % (1 << w)
    return np.where(d >= (1 << (w - 1)), d - (1 << w), d)


def min_code_width(b: int, present: np.ndarray, w: int) -> int:
    """Smallest n (Eq. 1) such that every present exponent survives y = (b - x) mod 2^n.

    Decoding computes x = (b - signext_n(y)) mod 2^W, so x is recovered iff the signed distance
    b - x (mod 2^W) lies in [-2^(n-1), 2^(n-1)); n = W always qualifies.
    """
    if present.size == 0:
        return 1
    s = signed_distance(b, present, w)
    need = np.where(s >= 0, s, -s - 1)          # magnitude bits before the sign bit
    return min(w, int(need.max()).bit_length() + 1)


def expected_bits(p_fit: float, n: int, m: int) -> float:
    """Eq. 4: expected coded bits per element, less the constant flag cost 1/L.

    `p_fit` is the probability that one code is below 2^m. A group stays at m bits when all its
    L codes are (probability p^L under the paper's independence assumption), else its elements
    carry n bits.
    """
    return m + (n - m) * (1.0 - p_fit ** GROUP_LEN)


def choose_params(hist: np.ndarray, spec: DTypeSpec) -> Params:
    """Exhaustive search over b (and m); n = the minimal lossless width for each b.

    Ties go to the smaller n, then b, then m, so the choice is deterministic.
    """
    w = spec.exp_bits
    hist = np.asarray(hist, dtype=np.int64)
    assert hist.shape == (1 << w,)
    present = np.nonzero(hist)[0]
    if present.size == 0:                      # empty tensor: any valid parameters
        return Params(0, 1, 0)
    if present.size == 1:                      # all exponents equal: zero-width codes
        return Params(int(present[0]), 1, 0)
    total = int(hist.sum())
    x = np.arange(1 << w)
    best = None
    for b in range(1 << w):
        n = min_code_width(b, present, w)
        y = (b - x) % (1 << n)
        # count of codes by bit length, then cumulative: below[m] = #codes < 2^m
        by_len = np.bincount(_bit_length(y), weights=hist, minlength=n + 1)
        below = np.cumsum(by_len)
        for m in range(n + 1):
            cost = expected_bits(float(below[m]) / total, n, m)
            key = (cost, n, b, m)
            if best is None or key < best:
                best = key
    _, n, b, m = best
    return Params(b, n, m)


def _bit_length(v: np.ndarray) -> np.ndarray:
    out = np.zeros(v.shape, dtype=np.int64)
    v = v.copy()
    while np.any(v):
        nz = v != 0
        out[nz] += 1
        v >>= 1
    return out
