"""Many threads compressing and decompressing different tensors at once stay correct."""
from concurrent.futures import ThreadPoolExecutor

import torch

import enec
from conftest import assert_bit_equal


def test_threads_roundtrip_different_tensors(impl):
    dtypes = [torch.bfloat16, torch.float16, torch.float32]
    tensors = [(torch.randn(5000 + 977 * i, generator=torch.Generator().manual_seed(i)) * 0.02)
               .to(dtypes[i % 3]) for i in range(24)]

    def work(t):
        blob = enec.compress(t, checksum=True)
        return blob, enec.decompress(blob)

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(work, tensors))
    for t, (blob, out) in zip(tensors, results):
        assert_bit_equal(out, t)
        assert torch.equal(blob, enec.compress(t, checksum=True))   # same bytes as a lone call
