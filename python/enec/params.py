"""Per-tensor ENEC parameter search (paper Eqs. 1-4) on the exponent histogram: the specification.

Its one C++ implementation, EnecChooseParams in op_host/enec_host.cpp, serves the native CPU
library (enec_choose_params / enec_analyze), the emulation and the NPU binding; from the same
histogram (exact integers) and with the same rounding (see choose_params) it picks the same
(b, n, m), so every implementation writes byte-identical blobs (tests/test_native.py and
tests/test_ascendc_kernels.py hold it equal to this one).
"""
from __future__ import annotations

import dataclasses

import numpy as np

from .errors import EnecError
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


def choose_params(hist: np.ndarray, spec: DTypeSpec) -> Params:
    """Exhaustive search over b (and m); n = the minimal lossless width for each b.

    Vectorised over all 2^W pivots at once. Ties go to the smaller n, then b, then m, so the
    choice is deterministic.
    """
    return _search(hist, spec, full_width=False)


def _search(hist: np.ndarray, spec: DTypeSpec, full_width: bool) -> Params:
    """The search of choose_params; full_width=True fixes n = W for every pivot (plan_params)."""
    w = spec.exp_bits
    hist = np.asarray(hist, dtype=np.int64)
    assert hist.shape == (1 << w,)
    present = np.nonzero(hist)[0]
    if present.size == 0:                      # empty tensor: any valid parameters
        return Params(0, 1, 0)
    if present.size == 1:                      # all exponents equal: zero-width codes
        return Params(int(present[0]), w if full_width else 1, 0)
    total = float(hist.sum())
    size = 1 << w
    bs = np.arange(size)[:, None]
    xs = np.arange(size)[None, :]
    # Eq. 1 per pivot: the signed distance of every present exponent must fit n bits
    s = signed_distance(bs, present[None, :], w)
    need = np.where(s >= 0, s, -s - 1).max(axis=1)
    n = np.minimum(w, _bit_length(need) + 1)                     # [b]
    if full_width:
        n = np.full_like(n, w)
    y = (bs - xs) % (1 << n)[:, None]                            # codes of every exponent value
    cell = (bs * (w + 1) + _bit_length(y)).reshape(-1)         # (pivot, code bit length)
    by_len = np.bincount(cell, weights=np.tile(hist, size).astype(np.float64),
                         minlength=size * (w + 1)).reshape(size, w + 1)
    below = np.cumsum(by_len, axis=1)                            # [b, m]: codes < 2^m
    m = np.arange(w + 1)[None, :]
    # Eq. 4: a group keeps m bits when all 16 codes fit (probability p^16 for independent
    # codes), else its codes carry n bits; the flag's 1/16 bit is the same for every choice.
    # p^16 as four squarings, not pow(): each step is one correctly rounded IEEE multiply, so
    # every implementation (numpy, C++, host code of the NPU) gets the same bits; libm/SVML pow
    # may differ in the last bit, which could flip a near-tie.
    assert GROUP_LEN == 16
    p16 = below / total
    for _ in range(4):
        p16 = p16 * p16
    cost = m + (n[:, None] - m) * (1.0 - p16)
    cost = np.where(m <= n[:, None], cost, np.inf)
    bb, mm = np.meshgrid(np.arange(size), np.arange(w + 1), indexing="ij")
    nn = np.broadcast_to(n[:, None], cost.shape)
    order = np.lexsort((mm.ravel(), bb.ravel(), nn.ravel(), cost.ravel()))
    best = order[0]
    return Params(int(bb.ravel()[best]), int(nn.ravel()[best]), int(mm.ravel()[best]))


def plan_params(hist: np.ndarray, spec: DTypeSpec) -> Params:
    """Parameters to reuse for later tensors (enec.plan): the same search with n fixed to the
    exponent width W. With n = W every exponent of any tensor survives the transform (the signed
    distance always fits W bits), so a reused plan needs no check of the new data; the price is
    W - m high bits per flagged group's code instead of n - m."""
    if not np.any(hist):
        return Params(0, spec.exp_bits, 0)
    return _search(hist, spec, full_width=True)


def check_plan(params, spec: DTypeSpec) -> Params:
    """Validate caller-given parameters (b, n, m): n must be the exponent width (see plan_params),
    so that they are lossless for whatever tensor they are used on."""
    if spec.exp_bits == 0 or spec.word_bits not in (16, 32):
        raise EnecError(f"params apply to the enec codec of BF16/FP16/FP32 tensors, not to {spec.name}")
    if isinstance(params, Params):
        params = (params.b, params.n, params.m)
    try:
        b, n, m = (int(v) for v in params)
    except (TypeError, ValueError):
        raise EnecError(f"params must be three integers (b, n, m), got {params!r}") from None
    w = spec.exp_bits
    if not 0 <= b < (1 << w):
        raise EnecError(f"params: b={b} is outside 0..{(1 << w) - 1} for {spec.name}")
    if n != w:
        raise EnecError(f"params: n={n}, but a reused plan must have n = {w} (the exponent width of "
                        f"{spec.name}), which covers every tensor; make one with enec.plan(x)")
    if not 0 <= m <= n:
        raise EnecError(f"params: m={m} is outside 0..{n}")
    return Params(b, n, m)


_BITLEN = np.array([int(v).bit_length() for v in range(1 << 16)], dtype=np.int64)


def _bit_length(v: np.ndarray) -> np.ndarray:
    return _BITLEN[np.asarray(v, dtype=np.int64)]
