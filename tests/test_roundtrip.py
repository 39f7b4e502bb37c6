"""Bit-exact round trips through the ops and the API, for every CPU implementation."""
import numpy as np
import pytest
import torch

import enec
from enec import format as fmt
from codec_oracles import enec_size
from conftest import assert_bit_equal, bits

FLOATS = [torch.bfloat16, torch.float16, torch.float32]


def roundtrip(x, codec="auto"):
    before = bits(x).clone()
    blob = enec.compress(x, codec=codec)
    assert blob.dtype == torch.uint8 and blob.dim() == 1
    assert blob.numel() <= enec.max_compressed_size(x.numel(), x.dtype, x.dim())
    y = enec.decompress(blob)
    assert_bit_equal(y, x.contiguous())
    assert torch.equal(bits(x), before), "compress modified its input"
    # the op form agrees with the API
    y2 = torch.ops.enec.decompress(blob, list(x.shape), x.dtype)
    assert_bit_equal(y2, x.contiguous())
    return blob


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_every_16bit_pattern(impl, dtype):
    x = torch.arange(-32768, 32768, dtype=torch.int32).to(torch.int16).view(dtype)
    roundtrip(x)
    # and shuffled, so blocks mix all exponents
    perm = torch.from_numpy(np.random.default_rng(1).permutation(x.numel()))
    roundtrip(x[perm])


def test_fp32_random_bit_patterns(impl):
    rng = np.random.default_rng(2)
    w = rng.integers(-2**31, 2**31, size=300_001, dtype=np.int64).astype(np.int32)
    roundtrip(torch.from_numpy(w).view(torch.float32))


@pytest.mark.parametrize("dtype", FLOATS)
def test_special_values(impl, dtype):
    info = torch.finfo(dtype)
    specials = [0.0, -0.0, float("inf"), float("-inf"), float("nan"), info.tiny, -info.tiny,
                info.max, -info.max, info.smallest_normal / 4, 1.0, -1.0]
    x = torch.tensor(specials, dtype=dtype)
    # NaN payloads and subnormals as raw bit patterns
    if dtype == torch.float32:
        raw = torch.tensor([0x7FC00001, 0xFFC12345 - 2**32, 0x7F800001, 0x00000001, 0x807FFFFF - 2**32],
                           dtype=torch.int64).to(torch.int32).view(dtype)
    else:
        pats = [0x7FC1, 0xFF81, 0x7C01, 0xFE00, 0x0001, 0x8001, 0x03FF] if dtype == torch.float16 else \
               [0x7FC1, 0xFF81, 0x7F81, 0xFFFF, 0x0001, 0x8001, 0x007F]
        raw = torch.tensor([p - 65536 if p > 32767 else p for p in pats], dtype=torch.int16).view(dtype)
    x = torch.cat([x, raw])
    roundtrip(x)
    # mixed into normal weights, in a tensor that spans several blocks
    w = (torch.randn(50_000) * 0.02).to(dtype)
    w[::997] = x.repeat(100)[: w[::997].numel()]
    roundtrip(w)


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape", [(0,), (3, 0, 5), (), (1,), (15,), (17,), (255,), (257,),
                                   (16384,), (16385,), (16383,), (3, 16384 + 7), (2, 3, 4, 5)])
def test_shapes(impl, dtype, shape):
    x = (torch.randn(shape) * 0.05).to(dtype)
    blob = roundtrip(x)
    assert enec.inspect(blob).shape == tuple(shape)


@pytest.mark.parametrize("dtype", FLOATS)
def test_all_equal_and_zero(impl, dtype):
    for v in [0.0, 1.5, -3.0]:
        x = torch.full((40_000,), v, dtype=dtype)
        blob = roundtrip(x, codec="enec")
        info = enec.inspect(blob)
        assert info.flagged_groups == 0
        spec = fmt.dtype_spec(str(dtype)[6:])
        ceiling = spec.word_bits / (spec.raw_bits + 1 / 16)      # raw bits + one flag bit per 16
        floor = x.numel() * x.element_size() / enec_size(x)      # the spec's size, as below
        assert floor <= info.ratio <= ceiling
        # "auto" stores an all-zero tensor as an empty sparse pattern: far below ENEC's ceiling
        auto = roundtrip(x)
        assert (enec.inspect(auto).codec == "sparse") == (v == 0.0)
        assert auto.numel() <= blob.numel()


@pytest.mark.parametrize("dtype", FLOATS)
def test_non_contiguous_views(impl, dtype):
    base = (torch.randn(300, 200) * 0.02).to(dtype)
    for view in [base.t(), base[::3, 1::2], base[:, 5], base.unsqueeze(0).expand(4, 300, 200)]:
        roundtrip(view)


@pytest.mark.parametrize("dtype", FLOATS)
def test_ratio_on_normal_weights(impl, dtype):
    """Weights-like data compresses at least as well as the spec says it must. The floor is not a
    number taken from the code's output: codec_oracles.enec_size computes, from docs/FORMAT.md
    alone and without encoding, the blob size of ENEC's §6 parameters (section sizes of §3,
    alignment, flagged groups counted by the group rule); "auto" may only do better."""
    x = (torch.randn(200_000) * 0.02).to(dtype)
    info = enec.inspect(roundtrip(x))
    floor = x.numel() * x.element_size() / enec_size(x)
    assert info.ratio >= floor, (info.ratio, floor)
    assert floor > 1.0                       # the bound itself says the data compresses


def test_size_oracle_by_hand():
    """The oracle behind the ratio floors, on a case small enough to add up by hand: 40,000 equal
    BF16 values are 3 blocks (16384, 16384, 7232 -> 7424 lanes), n = 1, m = 0, no outliers."""
    raw = 16384 + 16384 + 7424                       # 8 raw bits per lane
    flags = (16384 + 16384 + 7424) // 128            # one bit per 16-lane group
    size = 128 + raw                                 # header roundup32(96 + 8), raw section
    size = -(-(size + flags) // 32) * 32             # flags, then 32-byte alignment
    size = -(-(size + 3 * 8) // 32) * 32             # outlier index, aligned; no outliers
    assert enec_size(torch.full((40_000,), 1.5, dtype=torch.bfloat16)) == size == 40672


def test_compression_is_deterministic(impl):
    x = (torch.randn(100_000) * 0.02).bfloat16()
    assert torch.equal(enec.compress(x), enec.compress(x))


def test_decompress_accepts_bytes_and_numpy(impl):
    x = torch.randn(1000)
    blob = enec.compress(x)
    for form in [bytes(blob.numpy()), bytearray(blob.numpy()), blob.numpy(), memoryview(blob.numpy())]:
        assert_bit_equal(enec.decompress(form), x)


def test_max_compressed_size_is_a_bound(impl):
    rng = np.random.default_rng(5)
    for dtype, view in [(torch.bfloat16, torch.int16), (torch.float16, torch.int16), (torch.float32, torch.int32)]:
        for n in [0, 1, 300, 16384, 16384 * 3 + 11]:
            lim = 2**15 if view == torch.int16 else 2**31
            x = torch.from_numpy(rng.integers(-lim, lim, n).astype(np.int16 if view == torch.int16 else np.int32))
            x = x.view(dtype)
            blob = enec.compress(x)
            assert blob.numel() <= enec.max_compressed_size(n, dtype, 1)
            assert enec.max_compressed_size(n, dtype, 1) <= n * x.element_size() * 1.02 + 2048
