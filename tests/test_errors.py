"""Bad input gets a clear exception: wrong dtype, corrupt, truncated or mismatched blobs."""
import numpy as np
import pytest
import torch

import enec
from enec import format as fmt


@pytest.mark.parametrize("dtype", [torch.int32, torch.int64, torch.float64, torch.bool,
                                   torch.complex64])
def test_unsupported_dtype(impl, dtype):
    x = torch.zeros(10, dtype=dtype)
    with pytest.raises(enec.UnsupportedDTypeError, match="bfloat16, torch.float16, torch.float32"):
        enec.compress(x)
    with pytest.raises(enec.UnsupportedDTypeError):
        torch.ops.enec.compress(x)


def test_not_a_tensor():
    with pytest.raises(TypeError):
        enec.compress(np.zeros(3, dtype=np.float32))


def _blob(n=40_000, dtype=torch.bfloat16, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = (torch.randn(n, generator=g) * 0.02).to(dtype)
    return x, enec.compress(x)


def test_truncated_blob(impl):
    x, blob = _blob()
    for cut in [0, 1, 3, 50, 95, 96, 100, 200, blob.numel() // 2, blob.numel() - 1]:
        with pytest.raises(enec.CorruptStreamError):
            enec.decompress(blob[:cut].clone())


def test_trailing_bytes(impl):
    x, blob = _blob()
    with pytest.raises(enec.CorruptStreamError, match="trailing"):
        enec.decompress(torch.cat([blob, torch.zeros(7, dtype=torch.uint8)]))


def test_header_bit_flips_are_detected(impl):
    """Every single-bit flip in the header raises, except in the pivot b (needs a checksum)."""
    x, blob = _blob(n=20_000)
    hb = enec.inspect(blob).section_bytes["header"]
    for byte in range(hb):
        for bit in range(8):
            bad = blob.clone()
            bad[byte] ^= 1 << bit
            try:
                y = enec.decompress(bad)
            except enec.EnecError:
                continue
            assert byte == 8, f"flip at header byte {byte} bit {bit} was not detected"


def test_index_corruption_is_detected(impl):
    x, blob = _blob(n=16384 * 4 + 100)
    lay = enec.header_of(blob).layout
    for off in range(lay.index_offset + 8, lay.index_offset + lay.index_bytes, 3):
        bad = blob.clone()
        bad[off] ^= 0x01
        with pytest.raises(enec.CorruptStreamError):
            enec.decompress(bad)


def test_flag_corruption_is_detected(impl):
    """Every single flag-bit flip is caught: by the structure (outlier sizes, zero padding,
    flagged groups need high bits) or, for the rare flip that keeps the structure, the checksum."""
    x = (torch.randn(16384 * 2 + 100) * 0.02).bfloat16()
    blob = enec.compress(x, checksum=True)
    lay = enec.header_of(blob).layout
    structural = 0
    for byte in range(lay.flags_offset, lay.flags_offset + lay.flags_bytes, 7):
        bad = blob.clone()
        bad[byte] ^= 1 << (byte % 8)
        with pytest.raises(enec.CorruptStreamError) as e:
            enec.decompress(bad)
        structural += not isinstance(e.value, enec.ChecksumMismatchError)
    assert structural > 0


def test_random_corruption_never_crashes(impl):
    """Flips anywhere: either a clear error or a tensor of the declared shape (no checksum)."""
    x, blob = _blob(n=30_000, dtype=torch.float32)
    rng = np.random.default_rng(7)
    for _ in range(200):
        bad = blob.clone()
        for pos in rng.integers(0, blob.numel(), size=rng.integers(1, 4)):
            bad[int(pos)] ^= int(rng.integers(1, 256))
        try:
            y = enec.decompress(bad)
        except enec.EnecError:
            continue
        assert y.shape == x.shape and y.dtype == x.dtype


def test_header_disagrees_with_caller(impl):
    x, blob = _blob(n=1000)
    with pytest.raises(enec.HeaderMismatchError, match="shape"):
        torch.ops.enec.decompress(blob, [999], torch.bfloat16)
    with pytest.raises(enec.HeaderMismatchError, match="float16"):
        torch.ops.enec.decompress(blob, [1000], torch.float16)


def test_wrong_blob_type(impl):
    x, blob = _blob(n=100)
    with pytest.raises(enec.EnecError, match="uint8"):
        torch.ops.enec.decompress(blob.to(torch.int16), [100], torch.bfloat16)
    with pytest.raises(enec.CorruptStreamError, match="not an enec blob"):
        enec.decompress(b"x" * 200)


def test_forged_huge_size_does_not_allocate(impl):
    """A header claiming 2^60 elements is rejected from the blob size alone."""
    x, blob = _blob(n=100)
    bad = blob.clone().numpy()
    hdr = enec.header_of(blob)
    forged = fmt.EnecHeader(hdr.dtype, (2**60,), 2**60, hdr.b, hdr.n, hdr.m).pack()
    bad = np.concatenate([np.frombuffer(forged, np.uint8), bad[len(forged):]])
    with pytest.raises(enec.CorruptStreamError):
        enec.decompress(bad)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32])
def test_checksum_detects_payload_corruption(impl, dtype):
    x = (torch.randn(50_000) * 0.02).to(dtype)
    blob = enec.compress(x, checksum=True)
    assert enec.inspect(blob).checksum == "xxh64"
    assert torch.equal(enec.decompress(blob).view(torch.uint8), x.view(torch.uint8))
    lay = enec.header_of(blob).layout
    for off in [lay.raw_offset + 5, lay.low_offset + 1000]:     # sections that no structure checks
        bad = blob.clone()
        bad[off] ^= 0x10
        with pytest.raises(enec.ChecksumMismatchError):
            enec.decompress(bad)
        # without the checksum the same flip decodes to a different tensor: why the option exists
    plain = enec.compress(x)
    bad = plain.clone()
    bad[enec.header_of(plain).layout.raw_offset + 5] ^= 0x10
    assert not torch.equal(enec.decompress(bad).view(torch.uint8), x.view(torch.uint8))


def test_huge_dimension_beside_zero_dimension(impl):
    """Shape (0, 2^64 - 1) has product 0 = numel; a dimension >= 2^63 is no tensor size."""
    b = enec.compress(torch.zeros(0, 4, dtype=torch.bfloat16)).numpy().copy()
    b[fmt.HEADER_FIXED_BYTES + 8:fmt.HEADER_FIXED_BYTES + 16] = 0xFF
    with pytest.raises(enec.CorruptStreamError, match="not a valid tensor size"):
        enec.decompress(b)


def test_device_kernel_status_becomes_typed_errors(monkeypatch):
    """On a device, enec.decompress reads the kernel's status code (no error text is parsed) and
    raises the typed error; a blob for the host path goes through the plain op."""
    from enec import api, kernel_status
    x, blob = _blob(300)
    monkeypatch.setattr(api, "_eager_cpu", lambda *t: False)        # as for an NPU tensor
    monkeypatch.setattr(api, "_device_kernel", lambda *a: True)
    for code, cls, text in ((kernel_status.CORRUPT_INDEX, enec.CorruptStreamError, "outlier index"),
                            (kernel_status.MISMATCH, enec.HeaderMismatchError, "differs")):
        def with_status(b, shape, dtype, code=code):
            status = torch.zeros(kernel_status.SLOT_INTS, dtype=torch.int32)
            status[0] = code
            return torch.empty(shape, dtype=dtype), status
        monkeypatch.setattr(api, "_decompress_with_status_op", with_status)
        with pytest.raises(cls, match=text):
            enec.decompress(blob)
    calls = []

    def host_path(b, shape, dtype):
        status = torch.zeros(kernel_status.SLOT_INTS, dtype=torch.int32)
        status[0] = kernel_status.HOST_PATH
        return torch.empty(shape, dtype=dtype), status
    monkeypatch.setattr(api, "_decompress_with_status_op", host_path)
    monkeypatch.setattr(api, "_decompress_op", lambda *a: calls.append(a) or torch.ops.enec.decompress(*a))
    y = enec.decompress(blob)
    assert len(calls) == 1 and torch.equal(y.view(torch.int16), x.view(torch.int16))
