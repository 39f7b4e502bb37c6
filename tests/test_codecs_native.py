"""Native QLC/APack kernels (python/enec/csrc/codecs_native.cpp) against the numpy references:
byte-identical blobs, identical decodes, and the same verdict on corrupt streams.

When the library is not built these tests fail (not skip), like tests/test_native.py; set
ENEC_ALLOW_NO_CODECS_NATIVE=1 to run the suite on a machine without a compiler."""
import os

import numpy as np
import pytest
import torch

from enec import cpu
import testdata
from enec import codecs
from enec import format as fmt
from enec.codecs import apack, native, qlc
from codec_oracles import FP8, all_bytes, fp8_of

if not native.available() and os.environ.get("ENEC_ALLOW_NO_CODECS_NATIVE") == "1":
    pytest.skip(f"native codec library not built: {native.load_error()}", allow_module_level=True)


@pytest.fixture(autouse=True)
def _require_native():
    if not native.available():
        pytest.fail(f"the native codec library is not built: {native.load_error()}")


def _inputs():
    g = torch.Generator().manual_seed(9)
    out = []
    for dt in FP8 + [torch.int8, torch.uint8]:
        out.append(all_bytes(dt))
        out.append(torch.zeros(0, dtype=torch.uint8).view(dt))
        out.append(torch.full((70_000,), 7, dtype=torch.uint8).view(dt))
    for n in (1, 31, 32, 33, 65535, 65536, 65537, 200_001):
        x = torch.randn(n, generator=g)
        out.append((x * 60).to(torch.float8_e4m3fn))
        out.append((x * 25).round().clamp(-127, 127).to(torch.int8))
    rnd = torch.randint(0, 256, (150_000,), generator=g, dtype=torch.int32).to(torch.uint8)
    out += [rnd, rnd.view(torch.int8)]
    return out


INPUTS = _inputs()


def _words(x):
    spec = cpu.dtype_spec_of(x.dtype)
    return cpu.tensor_words(x, spec), spec


@pytest.mark.parametrize("i", range(len(INPUTS)))
def test_qlc_byte_identical(i):
    words, spec = _words(INPUTS[i])
    ref = qlc.encode(words, spec, tuple(INPUTS[i].shape), qlc.Reference)
    nat = qlc.encode(words, spec, tuple(INPUTS[i].shape), native.QLC)
    assert np.array_equal(ref, nat)
    h = codecs.read_header(nat)
    assert np.array_equal(qlc.decode(nat, h, native.QLC), words)


@pytest.mark.parametrize("i", range(len(INPUTS)))
def test_apack_byte_identical(i):
    words, spec = _words(INPUTS[i])
    ref = apack.encode(words, spec, tuple(INPUTS[i].shape), apack.Reference)
    nat = apack.encode(words, spec, tuple(INPUTS[i].shape), native.APACK)
    assert np.array_equal(ref, nat)
    h = codecs.read_header(nat)
    assert np.array_equal(apack.decode(nat, h, native.APACK), words)


def test_real_data_byte_identical(minilm_fp32):
    int8 = testdata.minilm_int8_tensors()
    for name in ["val_49_q", "inner.embeddings.position_embeddings.weight_q"]:
        words, spec = _words(int8[name])
        ref = apack.encode(words, spec, tuple(int8[name].shape), apack.Reference)
        assert np.array_equal(ref, apack.encode(words, spec, tuple(int8[name].shape), native.APACK))
    w = minilm_fp32["encoder.layer.1.intermediate.dense.weight"]
    for dt in FP8:
        x = fp8_of(w, dt)
        words, spec = _words(x)
        ref = qlc.encode(words, spec, tuple(x.shape), qlc.Reference)
        assert np.array_equal(ref, qlc.encode(words, spec, tuple(x.shape), native.QLC))


@pytest.mark.parametrize("codec", ["qlc", "apack"])
def test_corruption_verdicts_agree(codec):
    """Both decoders reject the same corrupted blobs, or decode them to the same bytes."""
    mod, ref_k, nat_k = (qlc, qlc.Reference, native.QLC) if codec == "qlc" else (apack, apack.Reference, native.APACK)
    x = (torch.randn(70_000, generator=torch.Generator().manual_seed(4)) * 30)
    x = x.to(torch.float8_e4m3fn) if codec == "qlc" else x.round().clamp(-127, 127).to(torch.int8)
    words, spec = _words(x)
    blob = mod.encode(words, spec, tuple(x.shape), ref_k)
    rng = np.random.default_rng(1)
    hb = fmt.header_bytes(1)
    for trial in range(25):
        bad = blob.copy()
        for j in rng.integers(hb, bad.size, 1 + trial % 3):
            bad[j] ^= np.uint8(1 << rng.integers(0, 8))
        results = []
        for k in (ref_k, nat_k):
            try:
                h = codecs.read_header(bad)
                results.append(("ok", mod.decode(bad, h, k).tobytes()))
            except fmt.CorruptStreamError:
                results.append(("corrupt", None))
        assert results[0] == results[1], trial
