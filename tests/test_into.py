"""compress / decompress into caller-provided buffers (out=, torch.ops.enec.*_into).

The oracle is the reference codec: a blob written into `out` must be byte-identical to the
reference's blob, and decompressing into `out` must restore the input's bits.
"""
import numpy as np
import pytest
import torch

import enec
from enec import codecs, cpu
from enec.errors import EnecError, HeaderMismatchError
from conftest import IMPL_NAMES, assert_bit_equal


def _reference_blob(x, **kw):
    return cpu.compress_tensor(x, impl=codecs.REFERENCE, **kw)


def _cases():
    g = torch.Generator().manual_seed(3)
    for dtype in (torch.bfloat16, torch.float16, torch.float32):
        for shape in ((0,), (1,), (1000,), (70, 300)):
            yield (torch.randn(shape, generator=g) * 0.02).to(dtype)
    z = torch.zeros(40_000, dtype=torch.bfloat16)
    z[::9] = 0.5                                    # "auto" picks the sparse codec
    yield z
    yield torch.randint(-7, 7, (5000,), dtype=torch.int8, generator=g)
    yield (torch.randn(3000, generator=g)).to(torch.float8_e4m3fn)


CASES = list(_cases())


@pytest.mark.parametrize("x", CASES, ids=lambda x: f"{x.dtype}-{tuple(x.shape)}")
@pytest.mark.parametrize("offset", [0, 1], ids=["aligned", "unaligned"])
def test_compress_into_equals_reference(impl, x, offset):
    want = _reference_blob(x)
    cap = enec.max_compressed_size(x.numel(), x.dtype, x.dim())
    backing = torch.full((cap + offset + 64,), 0xAB, dtype=torch.uint8)
    out = backing[offset:offset + cap]
    before = x.clone()
    got = enec.compress(x, out=out)
    assert got.data_ptr() == out.data_ptr()
    assert torch.equal(got, want)
    assert_bit_equal(x, before)                           # input untouched
    assert torch.all(backing[:offset] == 0xAB)            # nothing written before out
    assert torch.all(backing[offset + cap:] == 0xAB)      # nor after it


@pytest.mark.parametrize("x", CASES, ids=lambda x: f"{x.dtype}-{tuple(x.shape)}")
@pytest.mark.parametrize("offset", [0, 1], ids=["aligned", "unaligned"])
def test_decompress_into_restores_bits(impl, x, offset):
    blob = _reference_blob(x, checksum=True)
    backing = torch.empty(x.numel() + offset, dtype=x.dtype)
    out = backing[offset:].view(x.shape)
    res = enec.decompress(blob, out=out)
    assert res is out
    assert_bit_equal(out, x)


@pytest.mark.parametrize("offset", [0, 1], ids=["aligned", "unaligned"])
def test_into_stream_sized_native(offset):
    """5 Mi elements: the native codec streams (non-temporal stores) to 64-byte aligned buffers
    only; an unaligned out must take the ordinary stores and give the same bytes."""
    if "native" not in IMPL_NAMES:
        pytest.skip("the native implementation is not built")
    nat = codecs.get_impl("native")
    x = (torch.randn(5 << 20, generator=torch.Generator().manual_seed(5)) * 0.02).bfloat16()
    want = cpu.compress_tensor(x, impl=nat)
    # the native blob equals the reference's (tests/test_native.py); here out= must equal native
    cap = enec.max_compressed_size(x.numel(), x.dtype, 1)
    backing = torch.zeros(cap + 64 + offset, dtype=torch.uint8)
    out = backing[offset:offset + cap]
    size = cpu.compress_into(x, out, impl=nat)
    assert torch.equal(out[:size], want)
    dst = torch.empty(x.numel() + offset, dtype=x.dtype)[offset:]
    cpu.decompress_into(out[:size], dst, impl=nat)
    assert_bit_equal(dst, x)


def test_ops_into_match_plain_ops(impl):
    x = (torch.randn(3, 4000) * 0.02).bfloat16()
    out = torch.empty(enec.max_compressed_size(x.numel(), x.dtype, x.dim()), dtype=torch.uint8)
    size = torch.ops.enec.compress_into(x, out, True, "auto")
    assert size.dtype == torch.int64 and size.dim() == 0
    assert torch.equal(out[:int(size)], torch.ops.enec.compress(x, True, "auto"))
    y = torch.empty_like(x)
    torch.ops.enec.decompress_into(out[:int(size)], y)
    assert_bit_equal(y, x)


def test_opcheck_into():
    x = (torch.randn(2, 777) * 0.02).bfloat16()
    out = torch.empty(enec.max_compressed_size(x.numel(), x.dtype, x.dim()), dtype=torch.uint8)
    torch.library.opcheck(torch.ops.enec.compress_into.default, (x, out, False, "auto"))
    blob = enec.compress(x)
    torch.library.opcheck(torch.ops.enec.decompress_into.default, (blob, torch.empty_like(x)))


def test_compress_into_too_small_is_clear():
    x = torch.randn(10_000).bfloat16()
    with pytest.raises(EnecError, match="max_compressed_size"):
        enec.compress(x, out=torch.empty(100, dtype=torch.uint8))
    with pytest.raises(EnecError, match="1-D uint8"):
        enec.compress(x, out=torch.empty(10_000, dtype=torch.int16))
    with pytest.raises(EnecError, match="contiguous"):
        enec.compress(x, out=torch.empty(80_000, dtype=torch.uint8)[::2])


def test_compress_into_refuses_its_own_input():
    x = torch.randn(10_000).bfloat16()
    before = x.clone()
    with pytest.raises(EnecError, match="shares storage"):
        enec.compress(x, out=x.view(torch.uint8))
    assert_bit_equal(x, before)


def test_decompress_into_checks_shape_dtype_and_overlap():
    x = torch.randn(6, 500).bfloat16()
    blob = enec.compress(x)
    with pytest.raises(HeaderMismatchError, match="shape"):
        enec.decompress(blob, out=torch.empty(3000, dtype=torch.bfloat16))
    with pytest.raises(HeaderMismatchError):
        enec.decompress(blob, out=torch.empty(6, 500, dtype=torch.float16))
    with pytest.raises(EnecError, match="overlaps"):
        big = torch.zeros(blob.numel() + 4 * 6000, dtype=torch.uint8)
        big[:blob.numel()] = blob
        cpu.decompress_into(big[:blob.numel()], big[:6000].view(torch.bfloat16).view(6, 500))


def test_decompress_into_non_contiguous_out():
    x = torch.randn(40, 30).bfloat16()
    out = torch.empty(30, 40, dtype=torch.bfloat16).t()           # right shape, transposed strides
    enec.decompress(enec.compress(x), out=out)
    assert_bit_equal(out, x)


def test_decompress_into_corrupt_blob_raises():
    x = (torch.randn(50_000) * 0.02).bfloat16()
    blob = enec.compress(x, checksum=True).clone()
    blob[-1] ^= 0x5A
    with pytest.raises(enec.errors.EnecError):
        enec.decompress(blob, out=torch.empty_like(x))
