"""The native CPU implementation is byte-identical to the reference, and each decodes the other."""
import numpy as np
import pytest
import torch

from enec import cpu

NATIVE = cpu.get_impl("native") if "native" in cpu.implementations() else None
REF = cpu.get_impl("reference")


def _native():
    if NATIVE is None:   # a failure, not a skip: the native path is part of the package
        pytest.fail("the native CPU implementation is not built")
    return NATIVE


def check(x):
    nat = _native()
    a = cpu.compress_tensor(x, REF)
    b = cpu.compress_tensor(x, nat)
    assert torch.equal(a, b), f"native blob differs from the reference for {x.dtype} {tuple(x.shape)}"
    for enc in (a, b):
        for dec in (REF, nat):
            y = cpu.decompress_tensor(enc, impl=dec)
            assert torch.equal(y.view(torch.uint8), x.contiguous().view(torch.uint8))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_every_16bit_pattern(dtype):
    x = torch.arange(-32768, 32768, dtype=torch.int32).to(torch.int16).view(dtype)
    check(x)
    check(x[torch.from_numpy(np.random.default_rng(3).permutation(65536))])


@pytest.mark.parametrize("n", [0, 1, 255, 256, 257, 16383, 16384, 16385, 16384 * 3 + 255, 100_003])
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32])
def test_sizes_and_data(n, dtype):
    g = torch.Generator().manual_seed(n)
    check((torch.randn(n, generator=g) * 0.02).to(dtype))
    check(torch.full((n,), 3.0, dtype=dtype))
    lim = 2**15 if dtype != torch.float32 else 2**31
    bits = torch.randint(-lim, lim, (n,), generator=g, dtype=torch.int64)
    check(bits.to(torch.int16 if dtype != torch.float32 else torch.int32).view(dtype))


def test_minilm(minilm_fp32, minilm_bf16):
    for sd in (minilm_fp32, minilm_bf16):
        for t in sd.values():
            if t.is_floating_point():
                check(t)
