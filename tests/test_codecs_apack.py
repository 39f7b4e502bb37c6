"""APack (codec 3): round trips on every bit pattern, the exact range DP against brute force,
frequency quantisation, the rANS lanes and chunks, and the entropy bound on the real INT8
all-MiniLM-L6-v2."""
import itertools
import math

import numpy as np
import pytest
import torch

import enec
from enec import format as fmt
import testdata
from enec.codecs import apack
from codec_oracles import BYTE_DTYPES, all_bytes, bits_equal, byte_hist, entropy_bits


@pytest.mark.parametrize("dtype", BYTE_DTYPES, ids=str)
def test_every_bit_pattern_round_trips(impl, dtype):
    x = all_bytes(dtype)
    blob = enec.compress(x, codec="apack")
    assert enec.inspect(blob).codec == "apack"
    assert bits_equal(enec.decompress(blob), x)


@pytest.mark.parametrize("dtype", [torch.int8, torch.uint8], ids=str)
def test_auto_picks_apack_for_integers(impl, dtype):
    x = torch.randint(-20 if dtype == torch.int8 else 0, 20, (5000,)).to(dtype)
    blob = enec.compress(x)
    assert enec.inspect(blob).codec == "apack"
    assert bits_equal(enec.decompress(blob), x)


@pytest.mark.parametrize("shape", [(0,), (), (1,), (31,), (33,), (3, 5, 7), (65536,), (65537,), (3, 70001)])
def test_shapes_lanes_and_chunks(impl, shape):
    g = torch.Generator().manual_seed(2)
    x = (torch.randn(shape, generator=g) * 25).round().clamp(-127, 127).to(torch.int8)
    y = enec.decompress(enec.compress(x))
    assert bits_equal(y, x)


@pytest.mark.parametrize("value", [0, 1, 127, 255])
def test_constant_tensor(impl, value):
    """One range of one value: frequency 4096, zero-width offsets, lanes emit no words."""
    x = torch.full((200_000,), value, dtype=torch.uint8)
    blob = enec.compress(x, codec="apack")
    info = enec.inspect(blob)
    assert max(info.table["freqs"]) == 4096
    assert info.section_bytes["offsets"] == 0
    assert info.section_bytes["symbols"] == 4 * 32 * 4      # only the lane states of 4 chunks
    assert bits_equal(enec.decompress(blob), x)


def _brute_force_cost(h, max_ranges):
    """Every partition of the value space into at most `max_ranges` contiguous ranges."""
    D, N = len(h), sum(h)
    best = math.inf
    for r in range(1, max_ranges + 1):
        for cuts in itertools.combinations(range(1, D), r - 1):
            b = (0,) + cuts + (D,)
            cost = 0.0
            for lo, hi in zip(b, b[1:]):
                c = sum(h[lo:hi])
                if c:
                    cost += c * (math.log2(N / c) + math.ceil(math.log2(hi - lo)))
            best = min(best, cost)
    return best


@pytest.mark.parametrize("seed", range(6))
def test_range_dp_is_optimal_against_brute_force(seed):
    rng = np.random.default_rng(seed)
    h = (rng.geometric(0.3, 12) * (rng.random(12) < 0.8)).tolist()
    if not any(h):
        h[0] = 1
    starts = apack.build_ranges(np.array(h), max_ranges=4)
    b = list(starts) + [len(h)]
    got = sum(apack.range_cost(sum(h[lo:hi]), sum(h), hi - lo) for lo, hi in zip(b, b[1:]))
    assert got == pytest.approx(_brute_force_cost(h, 4), rel=1e-12, abs=1e-9)


def test_quantize():
    rng = np.random.default_rng(3)
    for _ in range(200):
        c = rng.integers(0, 10 ** rng.integers(1, 7), rng.integers(1, 17)) * (rng.random() < 0.9)
        f = apack.quantize(c)
        if c.sum() == 0:
            assert not f.any()
            continue
        assert f.sum() == 4096
        assert np.all((f > 0) == (c > 0))


def test_value_order_maps():
    for spec in (fmt.INT8, fmt.UINT8, fmt.FP8_E4M3, fmt.FP8_E5M2):
        v = apack.value_map(spec)
        assert sorted(v.tolist()) == list(range(256))
    b = np.arange(256, dtype=np.uint8)
    v = apack.value_map(fmt.INT8)
    assert np.all(np.argsort(v) == np.argsort(b.view(np.int8), kind="stable"))
    f = torch.from_numpy(b.copy()).view(torch.float8_e4m3fn).float().numpy()
    v = apack.value_map(fmt.FP8_E4M3).astype(int)
    finite = ~np.isnan(f)
    order = np.argsort(v[finite])
    assert np.all(np.diff(f[finite][order]) >= 0)          # value order is numeric order


@pytest.fixture(scope="module")
def minilm_int8():
    return testdata.minilm_int8_tensors()


def test_int8_minilm_within_2_percent_of_entropy(impl, minilm_int8):
    """APack within 2% of the order-0 entropy bound of INT8 all-MiniLM-L6-v2 (the
    entropy of all its INT8 values together, 7.28 bits); every tensor round-trips."""
    n = blob_bytes = 0
    hist = np.zeros(256, dtype=np.int64)
    for name, x in minilm_int8.items():
        blob = enec.compress(x)
        assert enec.inspect(blob).codec == "apack"
        assert bits_equal(enec.decompress(blob), x), name
        n += x.numel()
        blob_bytes += blob.numel()
        hist += byte_hist(x)
    assert n == 22_533_888
    h = entropy_bits(hist) / n
    bits = 8 * blob_bytes / n
    print(f"APack {bits:.4f} bits/value, entropy {h:.4f}")
    assert h == pytest.approx(7.28, abs=0.01)
    assert bits <= 1.02 * h
