"""Corrupt, truncated and forged streams of QLC, APack and sparse raise CorruptStreamError: never a crash,
a hang or an allocation the blob does not justify."""
import struct

import numpy as np
import pytest
import torch

import enec
from enec import format as fmt
from codec_oracles import bits_equal


def _samples():
    g = torch.Generator().manual_seed(5)
    w = torch.randn(2, 40_000, generator=g)
    pruned = torch.where(w.abs() < 1.6, torch.zeros_like(w), w)
    return {
        "qlc": (w * 40).to(torch.float8_e4m3fn),
        "apack": (w * 30).round().clamp(-127, 127).to(torch.int8),
        "sparse-rle": pruned.bfloat16(),
        "sparse-bitmap": torch.where(w.abs() < 0.3, torch.zeros_like(w), w).to(torch.float16),
        "sparse-int8": (pruned * 30).round().clamp(-127, 127).to(torch.int8),
    }


SAMPLES = _samples()
CODEC = {"qlc": "qlc", "apack": "apack"}


def _blob(name, checksum=False):
    x = SAMPLES[name]
    blob = enec.compress(x, codec=CODEC.get(name, "sparse"), checksum=checksum)
    return x, blob.numpy().copy()


def _decode(buf):
    return enec.decompress(torch.from_numpy(buf))


@pytest.mark.parametrize("name", list(SAMPLES))
def test_sample_uses_its_codec(impl, name):
    x, buf = _blob(name)
    info = enec.inspect(torch.from_numpy(buf))
    assert info.codec == CODEC.get(name, "sparse")
    if name == "sparse-rle":
        assert info.table["format"].startswith("rle")
    assert bits_equal(_decode(buf), x)


@pytest.mark.parametrize("name", list(SAMPLES))
def test_truncation_anywhere(impl, name):
    _, buf = _blob(name)
    cuts = sorted(set([0, 1, 50, 95, 96, 100, 127, 128, 160, 200, buf.size // 3, buf.size // 2,
                       buf.size - 33, buf.size - 2, buf.size - 1]))
    for n in cuts:
        with pytest.raises(enec.CorruptStreamError):
            _decode(buf[:n].copy())
    with pytest.raises(enec.CorruptStreamError):
        _decode(np.concatenate([buf, np.zeros(5, np.uint8)]))


@pytest.mark.parametrize("name", list(SAMPLES))
def test_random_byte_flips_never_crash(impl, name):
    """Flipped payload bytes either raise CorruptStreamError or decode to some tensor of the
    header's shape (no checksum to tell); with checksum=True every change is caught."""
    x, buf = _blob(name)
    _, cbuf = _blob(name, checksum=True)
    rng = np.random.default_rng(11)
    hb = fmt.header_bytes(x.dim())
    for trial in range(20):
        for src, checked in ((buf, False), (cbuf, True)):
            bad = src.copy()
            for i in rng.integers(hb, bad.size, rng.integers(1, 4)):
                bad[i] ^= np.uint8(1 << rng.integers(0, 8))
            if np.array_equal(bad, src):
                continue
            try:
                y = _decode(bad)
            except enec.CorruptStreamError:
                continue
            assert y.shape == x.shape and y.dtype == x.dtype
            if checked:
                assert bits_equal(y, x), "a checksummed blob decoded to different data"


@pytest.mark.parametrize("name", list(SAMPLES))
def test_every_header_byte_mutation(impl, name):
    """Each of the 96 fixed header bytes changed: a clear error, the same tensor, or (dtype
    byte only) the same bits read as another dtype the codec takes; never anything else."""
    x, buf = _blob(name)
    for i in range(fmt.HEADER_FIXED_BYTES):
        for delta in (1, 0x80):
            bad = buf.copy()
            bad[i] ^= np.uint8(delta)
            try:
                y = _decode(bad)
            except (enec.CorruptStreamError, enec.HeaderMismatchError):
                continue
            if y.dtype != x.dtype:       # the dtype byte now names another dtype the codec takes
                assert i == 6 and y.shape == x.shape
                continue
            assert bits_equal(y, x), f"header byte {i} ^ {delta:#x} decoded to different data"


@pytest.mark.parametrize("name", list(SAMPLES))
def test_table_and_index_corruption(impl, name):
    """Every byte of the first sections after the header (tables, chunk indexes, patterns)."""
    x, buf = _blob(name)
    hb = fmt.header_bytes(x.dim())
    rng = np.random.default_rng(3)
    first = np.arange(hb, min(buf.size, hb + 300))
    for i in np.concatenate([first[:40], rng.choice(first[40:], 40, replace=False)]):
        bad = buf.copy()
        bad[i] ^= np.uint8(0xFF)
        try:
            y = _decode(bad)
        except enec.CorruptStreamError:
            continue
        assert y.shape == x.shape


def _forge_numel(buf, numel, shape_dim0):
    bad = buf.copy()
    bad[24:32] = np.frombuffer(struct.pack("<Q", numel), np.uint8)
    bad[96:104] = np.frombuffer(struct.pack("<Q", shape_dim0), np.uint8)
    return bad


@pytest.mark.parametrize("codec,dtype", [("qlc", torch.float8_e5m2), ("apack", torch.uint8),
                                         ("sparse", torch.bfloat16)])
def test_forged_huge_tensor_is_refused_before_allocating(impl, codec, dtype):
    x = torch.zeros(1000, dtype=torch.uint8).view(dtype) if dtype.itemsize == 1 else torch.zeros(1000, dtype=dtype)
    buf = enec.compress(x, codec=codec).numpy().copy()
    bad = _forge_numel(buf, 2 ** 50, 2 ** 50)
    with pytest.raises(enec.CorruptStreamError):
        _decode(bad)


def test_unknown_codec_and_dtype_bytes(impl):
    _, buf = _blob("qlc")
    for off, val in [(5, 0), (5, 5), (5, 255), (6, 7), (6, 200)]:
        bad = buf.copy()
        bad[off] = val
        with pytest.raises(enec.CorruptStreamError):
            _decode(bad)


def test_enec_codec_refuses_8bit_dtype_in_header(impl):
    """An ENEC header naming an 8-bit dtype is corrupt (ENEC codes 16/32-bit floats only)."""
    buf = enec.compress(torch.randn(100).bfloat16()).numpy().copy()
    buf[6] = fmt.INT8.code
    with pytest.raises(enec.CorruptStreamError):
        _decode(buf)


def test_codec_argument_errors():
    with pytest.raises(enec.UnsupportedDTypeError):
        enec.compress(torch.zeros(4, dtype=torch.int8), codec="enec")
    with pytest.raises(enec.UnsupportedDTypeError):
        enec.compress(torch.zeros(4), codec="qlc")
    with pytest.raises(enec.UnsupportedDTypeError):
        enec.compress(torch.zeros(4).half(), codec="apack")
    with pytest.raises(enec.EnecError, match="unknown codec"):
        enec.compress(torch.zeros(4), codec="zstd")
