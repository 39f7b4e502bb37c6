"""Real weights: all-MiniLM-L6-v2, FP32 as shipped and BF16 derived by round-to-nearest-even."""
import pytest
import torch

import enec
from codec_oracles import enec_size
from conftest import assert_bit_equal


def _whole_model(sd):
    """(ratio of the whole model, the ratio floor the spec implies). The floor is not taken from
    the code's output: codec_oracles.enec_size computes each tensor's ENEC blob size from
    docs/FORMAT.md alone (§6 parameters, §3 sections and alignment, flagged groups by the group
    rule), without encoding; "auto" may only do better (it keeps a smaller sparse blob)."""
    orig = comp = bound = 0
    for name, t in sd.items():
        if t.dtype not in (torch.float32, torch.bfloat16):
            continue
        blob = enec.compress(t)
        assert_bit_equal(enec.decompress(blob), t)
        orig += t.numel() * t.element_size()
        comp += blob.numel()
        size = enec_size(t)
        assert blob.numel() <= size, (name, blob.numel(), size)    # every tensor, not only the sum
        bound += size
    return orig / comp, orig / bound


def test_minilm_fp32_every_tensor_and_ratio(impl, minilm_fp32):
    ratio, floor = _whole_model(minilm_fp32)
    assert ratio >= floor > 1.0, (ratio, floor)


def test_minilm_bf16_every_tensor_and_ratio(impl, minilm_bf16):
    ratio, floor = _whole_model(minilm_bf16)
    assert ratio >= floor > 1.0, (ratio, floor)


def test_minilm_parameters_are_typical(minilm_bf16):
    """Most BF16 tensors choose ENEC's typical code: n = 6, m = 3, b near 123 (paper Table IV)."""
    infos = [enec.inspect(enec.compress(t)) for t in minilm_bf16.values()
             if t.dtype == torch.bfloat16 and t.numel() > 100_000]
    typical = [i for i in infos if i.n in (6, 7) and i.m in (3, 4) and 115 <= i.b <= 127]
    assert len(typical) >= 0.8 * len(infos), [(i.b, i.n, i.m) for i in infos]
