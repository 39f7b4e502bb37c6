"""Property-based fuzzing of every decoder with mutated valid blobs (hypothesis).

Decoders: the CPU implementations (reference, native) and the AscendC decompress kernel under the
emulation, driven like the torch_npu binding (host checks of op_host, then the kernel on all
cores). Each case must end in an EnecError or a tensor of the declared shape; with a checksum in
the blob, a tensor must also be bit-exact. Peak memory of a decode is bounded by the blob's size.
For the emulated kernel a KernelError (the emulation's GM bounds or another hardware rule firing)
is a failure: the host checks must have rejected the blob. A fixed number of derandomized
examples runs in the test suite; scripts/fuzz.py runs longer.
"""
import struct
import tracemalloc

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import enec
import emulated as E
from enec import codecs
from enec import format as fmt

DTYPES = [torch.bfloat16, torch.float16, torch.float32]
FUZZ = settings(max_examples=150, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


@st.composite
def valid_blobs(draw):
    dtype = draw(st.sampled_from(DTYPES))
    n = draw(st.sampled_from([0, 1, 17, 300, 16384, 16384 + 300, 40000]))
    # a few multi-dim and 0-dim shapes: dimension fields to forge, a zero dimension beside others
    shape = draw(st.sampled_from({0: [(0,), (0, 7), (3, 0, 5)], 1: [(1,), ()], 300: [(300,), (3, 4, 25)]}.get(n, [(n,)])))
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
    x = x.reshape(shape)
    checksum = draw(st.booleans())
    return x, enec.compress(x, checksum=checksum).numpy().copy(), checksum


def _bytes(t: torch.Tensor) -> torch.Tensor:
    return t.reshape(-1).view(torch.uint8)


@st.composite
def mutations(draw):
    kind = draw(st.sampled_from(["flip", "truncate", "extend", "header_field", "splice", "flag_bit", "index_entry"]))
    return kind, draw(st.integers(0, 2**31)), draw(st.integers(1, 255)), draw(st.integers(0, 2**64 - 1))


_FIELDS_U64 = [24, 32, 40, 48, 56, 64, 72, 80, 88, 96]
_FIELDS_U8 = [4, 5, 6, 7, 8, 9, 10, 11, 12, 13]


def mutate(blob: np.ndarray, kind, pos, byte, big):
    b = blob.copy()
    if kind == "flip":
        if b.size:                                   # (an earlier truncation may have left nothing)
            b[pos % b.size] ^= byte
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
    elif kind in ("flag_bit", "index_entry"):
        # aimed at the small sections that steer the outlier reads (random flips rarely land there)
        try:
            h = codecs.read_header(b)
        except enec.EnecError:
            return b
        lay = h.layout
        if h.blocks == 0:
            return b
        if kind == "flag_bit":
            if lay.flags_bytes:
                b[lay.flags_offset + pos % lay.flags_bytes] ^= 1 << (byte % 8)
        else:
            off = lay.index_offset + 8 * (pos % h.blocks)
            old = int(b[off:off + 8].view(np.uint64)[0])
            val = [big, old + 32 * (byte - 128), old ^ (1 << (byte % 64)), h.outlier_bytes, 2**64 - 32][pos % 5]
            b[off:off + 8] = np.frombuffer(struct.pack("<Q", val % 2**64), np.uint8)
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
        # the checksum vouches for the data (the dimensions may differ: a zero-size shape)
        assert torch.equal(_bytes(y), _bytes(x))


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
    assert torch.equal(_bytes(enec.decompress(blob)), _bytes(x))


# ------------------------------------------------------------------------------ entropy codec (codec 5)

@st.composite
def entropy_blobs(draw):
    dtype = draw(st.sampled_from(DTYPES))
    n = draw(st.sampled_from([0, 1, 17, 300, 16384, 16384 + 300, 40000]))
    g = torch.Generator().manual_seed(draw(st.integers(0, 2**16)))
    kind = draw(st.sampled_from(["normal", "bits", "constant", "lowered", "segments"]))
    if kind == "segments":                   # layout 1 with two tables: 16 constant blocks, then weights
        x = (torch.randn(17 * 16384 + 5, generator=g) * 0.02).to(dtype)
        x[:16 * 16384] = 0.75
    elif kind == "lowered":                  # layout 1: every other block has zero low mantissa bits
        w = (torch.randn(n, generator=g) * 0.02).to(dtype)
        iv = torch.int16 if dtype != torch.float32 else torch.int32
        bits = w.view(iv).clone()
        sel = (torch.arange(n) // 16384) % 2 == 0
        bits[sel] &= -(1 << (2 if dtype != torch.float32 else 11))
        x = bits.view(dtype)
    elif kind == "bits":
        lim = 2**15 if dtype != torch.float32 else 2**31
        x = torch.randint(-lim, lim, (n,), generator=g, dtype=torch.int64).to(
            torch.int16 if dtype != torch.float32 else torch.int32).view(dtype)
    elif kind == "constant":
        x = torch.full((n,), 0.75, dtype=dtype)
    else:
        x = (torch.randn(n, generator=g) * 0.02).to(dtype)
    checksum = draw(st.booleans())
    return x, enec.compress(x, checksum=checksum, codec="entropy").numpy().copy(), checksum


def _entropy_mutate(b: np.ndarray, kind, pos, byte, big):
    """Aimed at the tables, the block index, the lane states and (layout 1) the blocks' shifts:
    the fields that steer reads."""
    try:
        h = fmt.parse_header(b)
    except enec.EnecError:
        return b
    b = b.copy()
    o = h.offsets                 # (earlier mutations may have moved them anywhere: bounds-check)
    if kind == "table":
        span = max(1, o[1] - o[0])
        if o[0] + pos % span < b.size:
            b[o[0] + pos % span] ^= byte
    elif kind == "index" and h.blocks:
        off = o[1] + 8 * (pos % h.blocks)
        if off + 8 > b.size:
            return b
        old = int(b[off:off + 8].view(np.uint64)[0])
        val = [big, old + 2 * (byte - 128), old ^ (1 << (byte % 64)), 0, 2**64 - 2][pos % 5]
        b[off:off + 8] = np.frombuffer(struct.pack("<Q", val % 2**64), np.uint8)
    elif kind == "states" and o[3] < b.size:
        b[o[3] + pos % (b.size - o[3])] ^= byte
    elif kind == "shifts" and o[4] and h.blocks and o[4] + pos % h.blocks < b.size:
        b[o[4] + pos % h.blocks] = byte % 32
    return b


@FUZZ
@given(entropy_blobs(), st.lists(st.one_of(mutations(), st.tuples(st.sampled_from(["table", "index", "states", "shifts"]),
                                                                   st.integers(0, 2**31), st.integers(1, 255),
                                                                   st.integers(0, 2**64 - 1))),
                                 min_size=1, max_size=3))
def test_mutated_entropy_blobs(impl, case, muts):
    x, blob, checksum = case
    bad = blob
    for m in muts:
        if m[0] in ("flag_bit", "index_entry"):          # ENEC's sections: aim at this codec's index
            m = ("index",) + tuple(m[1:])
        bad = _entropy_mutate(bad, *m) if m[0] in ("table", "index", "states", "shifts") else mutate(bad, *m)
    tracemalloc.start()
    try:
        y = enec.decompress(bad)
    except enec.EnecError:
        return
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    # a decode that succeeds allocates at most what the original tensor's takes (the numpy
    # reference keeps ~100 bytes an element in temporaries; a highly compressible tensor is
    # many times its blob) beside a multiple of the blob: nothing steered by corrupt sizes
    assert peak < 16 * bad.size + 160 * x.numel() + (4 << 20), f"decode of a {bad.size}-byte blob peaked at {peak} bytes"
    h = enec.header_of(bad)
    assert tuple(y.shape) == h.shape
    if checksum and h.checksum_kind == fmt.CHECKSUM_XXH64 and np.array_equal(bad[:fmt.HEADER_FIXED_BYTES], blob[:fmt.HEADER_FIXED_BYTES]):
        assert torch.equal(_bytes(y), _bytes(x))


# ------------------------------------------------------------------------------ emulated kernels

@pytest.fixture(scope="module")
def emu():
    if not E.available():
        pytest.skip("kernel sources are not in this checkout")
    E.lib()                 # compiles once per source hash and flags (cached)
    return E


def _emu_decode(bad: np.ndarray, cores: int):
    """Decode with the emulated kernel; a KernelError propagates (a missed host check)."""
    tracemalloc.start()
    try:
        return E.decompress(bad, cores=cores)
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        assert peak < 16 * bad.size + (4 << 20), f"decode of a {bad.size}-byte blob peaked at {peak} bytes"


def _header_ok(check, buf) -> bool:
    try:
        check(buf)
        return True
    except enec.EnecError:
        return False


# more examples: the kernel decoder is the one whose reads follow the blob's index and flags
@settings(FUZZ, max_examples=400)
@given(valid_blobs(), st.lists(mutations(), min_size=1, max_size=3), st.sampled_from([48, 48, 5, 1]))
def test_emulated_mutated_blobs(emu, case, muts, cores):
    x, blob, checksum = case
    bad = blob
    for m in muts:
        bad = mutate(bad, *m)
    # the binding's C header checks accept exactly what format.py accepts
    py_ok = _header_ok(codecs.read_header, bad)
    assert py_ok == _header_ok(lambda b: E.parse_header(b, cores, check_index=False), bad)
    try:
        ref = enec.decompress(bad)
    except enec.EnecError:
        ref = None
    try:
        y = _emu_decode(bad, cores)
    except enec.EnecError:
        # the reference checks more (outlier padding, all-zero flagged groups); never less
        assert ref is None, "the emulated path rejected a blob the CPU decoder accepts"
        return
    h = codecs.read_header(bad)
    assert tuple(y.shape) == h.shape and y.dtype == getattr(torch, h.dtype.name)
    if ref is not None:
        assert torch.equal(_bytes(y), _bytes(ref)), "emulated and CPU decoders differ"
    if checksum and h.checksum_kind == fmt.CHECKSUM_XXH64 and np.array_equal(bad[:fmt.HEADER_FIXED_BYTES], blob[:fmt.HEADER_FIXED_BYTES]):
        # the checksum vouches for the data (the dimensions may differ: a zero-size shape)
        assert torch.equal(_bytes(y), _bytes(x))


# the device-side checks alone: the caller knows the shape and dtype, nothing is validated on the
# host, the kernel must reject (status) or decode exactly what the CPU decoder decodes, and never
# touch memory outside the blob and the output (the emulation's GM bounds)
@settings(FUZZ, max_examples=300)
@given(valid_blobs(), st.lists(mutations(), min_size=1, max_size=3), st.sampled_from([48, 3]))
def test_emulated_device_checks_mutated_blobs(emu, case, muts, cores):
    x, blob, checksum = case
    bad = blob
    for m in muts:
        bad = mutate(bad, *m)
    spec = fmt.dtype_spec(str(x.dtype).replace("torch.", ""))
    try:
        ref = enec.decompress(bad)
    except enec.EnecError:
        ref = None
    try:
        words, _ = E.decompress_op(bad, tuple(x.shape), spec, cores=cores)
    except E.HostPath:
        return
    except enec.EnecError:
        return                      # rejected: the status said so
    h = codecs.read_header(bad)       # accepted: the header must be a valid one for this shape and dtype
    assert h.shape == tuple(x.shape) and h.dtype is spec
    if ref is not None:
        view = torch.int32 if spec is fmt.FP32 else torch.int16
        assert np.array_equal(words, ref.contiguous().view(view).numpy().reshape(-1).view(words.dtype)), \
            "device-checked and CPU decoders differ"


@FUZZ
@given(st.binary(min_size=0, max_size=600))
def test_emulated_arbitrary_bytes(emu, data):
    buf = np.frombuffer(data, np.uint8)
    assert _header_ok(codecs.read_header, buf) == _header_ok(lambda b: E.parse_header(b, check_index=False), buf)
    try:
        _emu_decode(buf, 48)
    except enec.EnecError:
        pass


@settings(max_examples=40, deadline=None, derandomize=True)
@given(valid_blobs())
def test_emulated_valid_blobs_roundtrip(emu, case):
    x, blob, _ = case
    assert torch.equal(_bytes(E.decompress(blob)), _bytes(x))


def _forge(spec, shape, numel, m=0, n=None, tail=0):
    """A header with every field consistent under u64 arithmetic (offsets mod 2^64), followed by
    `tail` zero bytes; total_bytes says the blob's real size."""
    n = spec.exp_bits if n is None else n
    lay = fmt.layout(spec, numel, len(shape), m)
    hb = lay.header_bytes
    fixed = struct.pack("<4sBBBBBBBBB3sIIQQQQQQQQQ", b"ENEC", 1, 1, spec.code, len(shape), 0, n, m, 16, 0,
                        b"\0\0\0", fmt.BLOCK_ELEMS, hb, numel % 2**64, fmt.num_blocks(numel) % 2**64, 0,
                        *(v % 2**64 for v in (lay.raw_offset, lay.low_offset, lay.flags_offset,
                                              lay.index_offset, lay.outlier_offset)), hb + tail)
    dims = struct.pack(f"<{len(shape)}Q", *(d % 2**64 for d in shape))
    return np.frombuffer((fixed + dims).ljust(hb, b"\0") + bytes(tail), np.uint8)


@pytest.mark.parametrize("spec", [fmt.BF16, fmt.FP32], ids=lambda s: s.name)
@pytest.mark.parametrize("shape,numel", [
    ((2**32, 2**32 + 1), 2**32),          # the u64 product wraps to numel
    ((0, 2**64 - 1), 0),                  # zero dimension beside one that is no tensor size
    ((2**62,), 2**62),                    # section sizes beyond 2^64 for FP32 (offsets wrap)
    ((2**58 + 1,), 2**58 + 1),            # above the tiling's element cap
    ((16384 * 3,), 16384 * 3),            # a real size, but the blob ends after its header
])
def test_emulated_forged_headers(emu, spec, shape, numel):
    blob = _forge(spec, shape, numel, tail=64)
    with pytest.raises(enec.CorruptStreamError):
        codecs.read_header(blob)
    with pytest.raises(enec.CorruptStreamError):
        E.decompress(blob)
