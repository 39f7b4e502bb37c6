"""Offloaded (compressed, decompress-just-in-time) forward equals the plain forward bit for bit."""
import copy

import pytest
import torch

from enec import minilm, offload
from conftest import assert_bit_equal


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
@pytest.mark.parametrize("prefetch", [True, False])
def test_minilm_offloaded_forward_is_bit_exact(minilm_fp32, minilm_bf16, dtype, prefetch):
    sd = minilm_fp32 if dtype == "float32" else minilm_bf16
    plain = minilm.from_state_dict(sd)
    model = copy.deepcopy(plain)
    ids = torch.randint(0, 30522, (3, 24), generator=torch.Generator().manual_seed(0))
    mask = torch.ones_like(ids)
    mask[1, 20:] = 0
    with torch.no_grad():
        want = plain(ids, mask)
        h = offload.offload(model, prefetch=prefetch)
        # weights are gone from the module between forwards
        assert model.encoder.layer[2].intermediate.dense.weight.numel() == 0
        for _ in range(2):
            assert_bit_equal(model(ids, mask), want)
    h.end_of_forward()
    assert h._live == 0                    # every materialised or prefetched byte was freed
    s = h.stats()
    sizes = sorted((u.bytes_full for u in h.units), reverse=True)
    assert s["peak_materialised_bytes"] <= sizes[0] + sizes[1]            # a unit and its successor
    assert s["peak_materialised_bytes"] < 0.6 * s["weights_bytes"]
    assert s["host_compressed_bytes"] < s["weights_bytes"] / (1.3 if dtype == "bfloat16" else 1.1)
    h.remove()
    with torch.no_grad():
        assert_bit_equal(model(ids, mask), want)
    assert_bit_equal(model.encoder.layer[2].intermediate.dense.weight,
                     plain.encoder.layer[2].intermediate.dense.weight)
