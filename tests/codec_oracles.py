"""Independent oracles for the codec tests: entropy, Huffman code lengths, FP8 test data.

Nothing here imports enec's codec code."""
import heapq

import numpy as np
import torch

FP8 = [torch.float8_e4m3fn, torch.float8_e5m2]
BYTE_DTYPES = FP8 + [torch.int8, torch.uint8]
FP8_MAX = {torch.float8_e4m3fn: 448.0, torch.float8_e5m2: 57344.0}


def entropy_bits(hist) -> float:
    """Order-0 entropy, total bits: sum c·log2(N/c)."""
    h = np.asarray(hist, dtype=np.float64)
    h = h[h > 0]
    return float(np.sum(h * np.log2(h.sum() / h))) if h.size else 0.0


def huffman_bits(hist) -> int:
    """Total bits of an optimal (Huffman) prefix code: the sum of all merge weights."""
    heap = [int(c) for c in hist if c > 0]
    if len(heap) == 1:
        return heap[0]          # one symbol still needs one bit per element
    heapq.heapify(heap)
    total = 0
    while len(heap) > 1:
        a, b = heapq.heappop(heap), heapq.heappop(heap)
        total += a + b
        heapq.heappush(heap, a + b)
    return total


def byte_hist(t: torch.Tensor) -> np.ndarray:
    return np.bincount(t.contiguous().view(torch.uint8).numpy().ravel(), minlength=256)


def fp8_of(w: torch.Tensor, dtype) -> torch.Tensor:
    """Per-tensor scaled cast: the tensor's max magnitude maps to the dtype's max finite value."""
    amax = w.abs().max().clamp_min(1e-30)
    return (w * (FP8_MAX[dtype] / amax)).to(dtype)


def all_bytes(dtype, repeats=1, seed=0) -> torch.Tensor:
    """Every bit pattern of an 8-bit dtype, each a different number of times, shuffled."""
    g = np.random.default_rng(seed)
    counts = 1 + (np.arange(256) * 7919 % 61) * repeats
    vals = np.repeat(np.arange(256, dtype=np.uint8), counts)
    g.shuffle(vals)
    return torch.from_numpy(vals).view(dtype)


def bits_equal(a: torch.Tensor, b: torch.Tensor) -> bool:
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    view = {1: torch.uint8, 2: torch.int16, 4: torch.int32}[a.element_size()]
    return torch.equal(a.contiguous().view(view), b.contiguous().view(view))


# ----------------------------------------------------------------------------- ENEC size bound
# docs/FORMAT.md §2-§4, written out here rather than taken from enec.format: the bound must not
# move when the code's layout does. dtype: (word integer view, exponent width W, exponent shift,
# raw bits R per element).
_ENEC_FIELDS = {torch.bfloat16: (torch.int16, 8, 7, 8), torch.float16: (torch.int16, 5, 10, 11),
                torch.float32: (torch.int32, 8, 23, 24)}
_BLOCK, _ROUND, _ALIGN = 16384, 256, 32        # block elements N, last-block lane rounding, alignment


def _round_up(v, k):
    return (v + k - 1) // k * k


def _block_exponent_hist(x: torch.Tensor):
    """(blocks x 2^W) exponent histogram of each 16384-element block, and each block's lanes."""
    view, W, shift, _ = _ENEC_FIELDS[x.dtype]
    w = x.contiguous().reshape(-1).view(view).numpy().astype(np.int64)
    if x.dtype == torch.float32:
        w = w >> 16                                # the high half splits like a bfloat16 (§4.1)
        shift = 7
    e = (w >> shift) & ((1 << W) - 1)
    blocks = -(-e.size // _BLOCK)
    t = np.arange(e.size) // _BLOCK
    hist = np.bincount(t * (1 << W) + e, minlength=blocks << W).reshape(blocks, 1 << W)
    real = np.full(blocks, _BLOCK)
    real[-1] = e.size - (blocks - 1) * _BLOCK
    lanes = np.where(real == _BLOCK, _BLOCK, (real + _ROUND - 1) // _ROUND * _ROUND)
    return hist, lanes


def _signed(d, W):
    """(d mod 2^W) read as a signed W-bit number."""
    d = d % (1 << W)
    return np.where(d >= 1 << (W - 1), d - (1 << W), d)


def enec_params_by_spec(hist: np.ndarray, W: int):
    """(b, n, m) as docs/FORMAT.md §6 describes the choice, written from the text: for every b the
    smallest lossless n (every exponent's signed distance b - x in [-2^(n-1), 2^(n-1))), and the m
    minimising m + (n - m)(1 - p^16), p = share of codes below 2^m, p^16 by four squarings in
    double; ties to the smaller n, then b, then m."""
    present = np.flatnonzero(hist)
    total = float(hist.sum())
    best = None
    for b in range(1 << W):
        d = _signed(b - present, W)
        n = max(int(v).bit_length() for v in np.where(d >= 0, d, -d - 1)) + 1
        codes = d % (1 << n)
        for m in range(n + 1):
            p = float(hist[present[codes < (1 << m)]].sum()) / total
            for _ in range(4):
                p = p * p
            cost = m + (n - m) * (1.0 - p)
            key = (cost, n, b, m)
            best = key if best is None or key < best else best
    return best[2], best[1], best[3]


def enec_size(x: torch.Tensor) -> int:
    """The size of x's ENEC blob computed from the spec alone, without encoding: the parameters of
    §6 (enec_params_by_spec), the section sizes of §3 and their 32-byte alignment, and the flagged
    groups counted with §3's group rule (lane i of a block of G groups is in group i mod G; §4.3:
    flagged when a code is >= 2^m). A correct encoder's blob is exactly this long; "auto" may pick
    a smaller sparse blob instead. Nothing here calls enec."""
    if x.numel() == 0:
        raise ValueError("an empty tensor has no blocks")
    view, W, shift, R = _ENEC_FIELDS[x.dtype]
    w = x.contiguous().reshape(-1).view(view).numpy().astype(np.int64)
    if x.dtype == torch.float32:
        w = w >> 16                                # the high half splits like a bfloat16 (§4.1)
        shift = 7
    e = (w >> shift) & ((1 << W) - 1)
    b, n, m = enec_params_by_spec(np.bincount(e, minlength=1 << W), W)
    big = (_signed(b - e, W) % (1 << n)) >= (1 << m)           # codes needing more than m bits
    raw = low = flags = index = outliers = 0
    for start in range(0, e.size, _BLOCK):
        real = min(_BLOCK, e.size - start)
        lanes = _BLOCK if real == _BLOCK else _round_up(real, _ROUND)
        G = lanes // 16
        blk = np.zeros(lanes, dtype=bool)                       # padding lanes hold code 0
        blk[:real] = big[start:start + real]
        F = int(np.count_nonzero(blk.reshape(16, G).any(axis=0)))
        raw += lanes * R // 8
        low += lanes * m // 8
        flags += G // 8
        index += 8
        outliers += 2 * _round_up(F, 16) * (n - m)
    off = _round_up(96 + 8 * x.dim(), _ALIGN)                   # header_bytes, §2
    for sec in (raw, low, flags, index):
        off = _round_up(off + sec, _ALIGN)
    return off + outliers
