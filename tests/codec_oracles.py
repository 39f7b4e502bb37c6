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
