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


class _Reused(torch.nn.Module):
    """A module run twice per forward, a parameter of a dtype without a codec, an int buffer."""

    def __init__(self):
        super().__init__()
        g = torch.Generator().manual_seed(3)
        self.a = torch.nn.Linear(64, 64).bfloat16()
        self.b = torch.nn.Linear(64, 64).bfloat16()
        self.scale = torch.nn.Parameter(torch.rand(64, dtype=torch.float64, generator=g))
        self.register_buffer("perm", torch.randperm(64, generator=g))

    def forward(self, x):
        h = self.b(self.a(x))
        h = self.a(h)[:, self.perm]                     # `a` again, after `b`
        return (h.double() * self.scale).float()


@pytest.mark.parametrize("prefetch", [True, False])
def test_reused_module_and_uncompressible_tensors(prefetch):
    plain = _Reused()
    model = copy.deepcopy(plain)
    x = torch.randn(5, 64, generator=torch.Generator().manual_seed(4)).bfloat16()
    with torch.no_grad():
        want = plain(x)
        h = offload.offload(model, prefetch=prefetch)
        kinds = {(u.name, a): e[0] for u in h.units for a, e in u.entries.items()}
        assert kinds[("", "scale")] == "raw" and kinds[("", "perm")] == "raw"
        assert kinds[("a", "weight")] == "enec"
        for _ in range(3):
            assert_bit_equal(model(x), want)
        h.end_of_forward()
        assert h._live == 0 and model.a.weight.numel() == 0
        h.remove()
        assert_bit_equal(model(x), want)
        assert_bit_equal(model.a.weight, plain.a.weight)
