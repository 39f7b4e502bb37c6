"""Property-based fuzzing of every CPU decoder with mutated valid blobs (hypothesis).

Each case must end in an EnecError or a tensor of the declared shape; with a checksum in the
blob, a tensor must also be bit-exact. Peak memory of a decode is bounded by the blob's size.
A fixed number of derandomized examples runs in the test suite; scripts/fuzz.py runs longer.
"""
import struct
import tracemalloc

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import enec
from enec import format as fmt

DTYPES = [torch.bfloat16, torch.float16, torch.float32]
FUZZ = settings(max_examples=150, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@st.composite
def valid_blobs(draw):
    dtype = draw(st.sampled_from(DTYPES))
    n = draw(st.sampled_from([0, 1, 17, 300, 16384, 16384 + 300, 40000]))
    seed = draw(st.integers(0, 2**16))
    g = torch.Generator().manual_seed(seed)
    kind = draw(st.sampled_from(["normal", "bits", "wide"]))
    if kind == "bits":
        lim = 2**15 if dtype != torch.float32 else 2**31
        ints = torch.randint(-lim, lim, (n,), generator=g, dtype=torch.int64)
        x = ints.to(torch.int16 if dtype != torch.float32 else torch.int32).view(dtype)
    else:
        x = torch.randn(n, generator=g) * (0.02 if kind == "normal" else 1e4)
        x = x.to(dtype)
    checksum = draw(st.booleans())
    return x, enec.compress(x, checksum=checksum).numpy().copy(), checksum


@st.composite
def mutations(draw):
    kind = draw(st.sampled_from(["flip", "truncate", "extend", "header_field", "splice"]))
    return kind, draw(st.integers(0, 2**31)), draw(st.integers(1, 255)), draw(st.integers(0, 2**64 - 1))


_FIELDS_U64 = [24, 32, 40, 48, 56, 64, 72, 80, 88, 96]
_FIELDS_U8 = [4, 5, 6, 7, 8, 9, 10, 11, 12, 13]


def mutate(blob: np.ndarray, kind, pos, byte, big):
    b = blob.copy()
    if kind == "flip":
        b[pos % max(b.size, 1)] ^= byte if b.size else 0
    elif kind == "truncate":
        b = b[:pos % max(b.size, 1)]
    elif kind == "extend":
        b = np.concatenate([b, np.full(byte, byte, np.uint8)])
    elif kind == "header_field":
        if pos % 2:
            off = _FIELDS_U64[pos % len(_FIELDS_U64)]
            val = [big, big & 0xFFFFFFFF, big >> 40, 2**63, 2**32 + 5][byte % 5]
            if off + 8 <= b.size:
                b[off:off + 8] = np.frombuffer(struct.pack("<Q", val), np.uint8)
        else:
            off = _FIELDS_U8[pos % len(_FIELDS_U8)]
            if off < b.size:
                b[off] = byte
    else:   # splice: copy a chunk of the blob over another place
        if b.size > 64:
            src, dst = pos % (b.size - 32), (pos // 7) % (b.size - 32)
            b[dst:dst + 32] = blob[src:src + 32]
    return b


@FUZZ
@given(valid_blobs(), st.lists(mutations(), min_size=1, max_size=3))
def test_mutated_blobs(impl, case, muts):
    x, blob, checksum = case
    bad = blob
    for m in muts:
        bad = mutate(bad, *m)
    tracemalloc.start()
    try:
        y = enec.decompress(bad)
    except enec.EnecError:
        return
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert peak < 16 * bad.size + (4 << 20), f"decode of a {bad.size}-byte blob peaked at {peak} bytes"
    h = enec.header_of(bad)
    assert tuple(y.shape) == h.shape
    if checksum and h.checksum_kind == fmt.CHECKSUM_XXH64 and np.array_equal(bad[:fmt.HEADER_FIXED_BYTES], blob[:fmt.HEADER_FIXED_BYTES]):
        assert y.shape == x.shape and torch.equal(y.view(torch.uint8), x.view(torch.uint8))


@FUZZ
@given(st.binary(min_size=0, max_size=600))
def test_arbitrary_bytes(impl, data):
    try:
        enec.decompress(data)
    except enec.EnecError:
        pass


@FUZZ
@given(valid_blobs())
def test_valid_blobs_roundtrip(impl, case):
    x, blob, _ = case
    assert torch.equal(enec.decompress(blob).view(torch.uint8), x.view(torch.uint8))
