"""Real weights: all-MiniLM-L6-v2, FP32 as shipped and BF16 derived by round-to-nearest-even."""
import pytest
import torch

import enec
from conftest import assert_bit_equal


def _whole_model(sd, impl_name):
    orig = comp = 0
    for name, t in sd.items():
        if t.dtype not in (torch.float32, torch.bfloat16):
            continue
        blob = enec.compress(t)
        assert_bit_equal(enec.decompress(blob), t)
        orig += t.numel() * t.element_size()
        comp += blob.numel()
    return orig / comp


def test_minilm_fp32_every_tensor_and_ratio(impl, minilm_fp32):
    ratio = _whole_model(minilm_fp32, impl.name)
    assert ratio >= 1.14, ratio


def test_minilm_bf16_every_tensor_and_ratio(impl, minilm_bf16):
    ratio = _whole_model(minilm_bf16, impl.name)
    assert ratio >= 1.335, ratio


def test_minilm_parameters_are_typical(minilm_bf16):
    """Most BF16 tensors choose ENEC's typical code: n = 6, m = 3, b near 123 (paper Table IV)."""
    infos = [enec.inspect(enec.compress(t)) for t in minilm_bf16.values()
             if t.dtype == torch.bfloat16 and t.numel() > 100_000]
    typical = [i for i in infos if i.n in (6, 7) and i.m in (3, 4) and 115 <= i.b <= 127]
    assert len(typical) >= 0.8 * len(infos), [(i.b, i.n, i.m) for i in infos]
