"""Offloaded (compressed, decompress-just-in-time) forward equals the plain forward bit for bit."""
import copy

import pytest
import torch

import enec
from enec import offload
import testdata
from conftest import assert_bit_equal


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
@pytest.mark.parametrize("prefetch", [True, False])
def test_minilm_offloaded_forward_is_bit_exact(dtype, prefetch):
    plain = testdata.minilm_model(dtype)            # transformers.BertModel with the real weights
    model = copy.deepcopy(plain)
    ids = torch.randint(0, 30522, (3, 24), generator=torch.Generator().manual_seed(0))
    mask = torch.ones_like(ids)
    mask[1, 20:] = 0
    with torch.no_grad():
        want = plain(ids, mask).last_hidden_state
        h = offload.offload(model, prefetch=prefetch)
        # weights are gone from the module between forwards
        assert model.encoder.layer[2].intermediate.dense.weight.numel() == 0
        for _ in range(2):
            assert_bit_equal(model(ids, mask).last_hidden_state, want)
    h.end_of_forward()
    assert h._live == 0                    # every materialised or prefetched byte was freed
    s = h.stats()
    sizes = sorted((u.bytes_full for u in h.units), reverse=True)
    assert s["peak_materialised_bytes"] <= sizes[0] + sizes[1]            # a unit and its successor
    assert s["peak_materialised_bytes"] < 0.6 * s["weights_bytes"]
    assert s["host_compressed_bytes"] < s["weights_bytes"] / (1.3 if dtype == "bfloat16" else 1.1)
    h.remove()
    with torch.no_grad():
        assert_bit_equal(model(ids, mask).last_hidden_state, want)
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


class _Tied(torch.nn.Module):
    """An embedding and an output projection sharing one weight (tied weights)."""

    def __init__(self):
        super().__init__()
        self.emb = torch.nn.Embedding(300, 32).bfloat16()
        self.mid = torch.nn.Linear(32, 32).bfloat16()
        self.out = torch.nn.Linear(32, 300, bias=False).bfloat16()
        self.out.weight = self.emb.weight

    def forward(self, ids):
        return self.out(self.mid(self.emb(ids)))


def test_tied_weight_is_stored_once_and_restored_tied():
    torch.manual_seed(5)
    plain = _Tied()
    model = copy.deepcopy(plain)
    assert model.out.weight is model.emb.weight
    ids = torch.randint(0, 300, (2, 7), generator=torch.Generator().manual_seed(6))
    with torch.no_grad():
        want = plain(ids)
        h = offload.offload(model)
        for _ in range(2):
            assert_bit_equal(model(ids), want)
        h.end_of_forward()
    # the shared tensor counts (and is kept) once
    s = h.stats()
    plain_bytes = sum(p.numel() * p.element_size() for p in plain.parameters())   # dedups ties
    assert s["weights_bytes"] == plain_bytes
    assert h.units[0].entries["weight"][1] is h.units[2].entries["weight"][1]
    sd = h.state_dict()
    assert set(sd) == {"emb.weight", "mid.weight", "mid.bias", "out.weight"}
    for k, v in sd.items():
        assert_bit_equal(v, plain.state_dict()[k])
    h.remove()
    assert model.out.weight is model.emb.weight
    assert_bit_equal(model.emb.weight, plain.emb.weight)


def test_given_blobs_are_kept_when_they_match_and_ignored_otherwise():
    torch.manual_seed(7)
    model = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.Linear(64, 64)).bfloat16()
    plain = copy.deepcopy(model)
    good = enec.compress(model[0].weight.detach())
    wrong = enec.compress(model[1].weight.detach().float())       # another dtype: not used
    h = offload.offload(model, blobs={"0.weight": good, "1.weight": wrong})
    assert h.units[0].entries["weight"][1] is good                 # kept as given, not re-encoded
    kind, stored, dtype, shape = h.units[1].entries["weight"]
    assert stored is not wrong and dtype == torch.bfloat16
    x = torch.randn(3, 64).bfloat16()
    with torch.no_grad():
        assert_bit_equal(model(x), plain(x))


def test_keep_on_device_needs_a_kernel_there():
    model = torch.nn.Linear(8, 8)
    with pytest.raises(ValueError, match="keep_on"):
        offload.offload(model, keep_on="disk")
    with pytest.raises(enec.EnecError, match="kernel"):
        offload.offload(torch.nn.Linear(8, 8, device="meta"), device="meta", keep_on="device")
    h = offload.offload(model, keep_on="device")                   # CPU: the host is the device
    assert h.keep_on == "device"
