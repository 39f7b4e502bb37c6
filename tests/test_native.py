"""The native CPU implementation is byte-identical to the reference, and each decodes the other.

Every test runs once per kernel level the CPU has: AVX-512, AVX2 (`native.set_simd(1)` caps the
level) and the portable C++ code (`native.set_simd(False)`), so every path is held to the reference.
"""
import os

import numpy as np
import pytest
import torch

from enec import codecs, cpu
from enec import format as fmt
from enec.errors import CorruptStreamError

NATIVE = codecs.get_impl("native") if "native" in codecs.implementations() else None
REF = codecs.get_impl("reference")


def _native():
    if NATIVE is None:   # a failure, not a skip: the native path is part of the package
        pytest.fail("the native CPU implementation is not built")
    return NATIVE


_LEVELS = {"avx512": 2, "avx2": 1, "portable": 0}


@pytest.fixture(autouse=True, params=list(_LEVELS))
def simd_mode(request):
    nat = _native()
    level = _LEVELS[request.param]
    if level > nat.simd_detected():
        pytest.skip(f"this CPU has no {request.param} kernels")
    nat.set_simd(level)
    assert nat.simd_level() == level
    yield request.param
    nat.set_simd(True)


def check(x):
    nat = _native()
    words = cpu.tensor_words(x, cpu.dtype_spec_of(x.dtype))
    spec = cpu.dtype_spec_of(x.dtype)
    assert np.array_equal(nat.histogram(words, spec), REF.histogram(words, spec)), "histogram differs"
    a = cpu.compress_tensor(x, REF)
    b = cpu.compress_tensor(x, nat)
    assert torch.equal(a, b), f"native blob differs from the reference for {x.dtype} {tuple(x.shape)}"
    for enc in (a, b):
        for dec in (REF, nat):
            y = cpu.decompress_tensor(enc, impl=dec)
            assert torch.equal(y.view(torch.uint8), x.contiguous().view(torch.uint8))


def test_simd_level_reported(simd_mode):
    nat = _native()
    assert nat.simd_level() == _LEVELS[simd_mode]
    nat.set_simd(True)
    assert nat.simd_level() == nat.simd_detected()


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_every_16bit_pattern(dtype):
    x = torch.arange(-32768, 32768, dtype=torch.int32).to(torch.int16).view(dtype)
    check(x)
    check(x[torch.from_numpy(np.random.default_rng(3).permutation(65536))])


@pytest.mark.parametrize("n", [0, 1, 255, 256, 257, 16383, 16384, 16385, 16384 * 3 + 255, 100_003])
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32])
def test_sizes_and_data(n, dtype):
    g = torch.Generator().manual_seed(n)
    check((torch.randn(n, generator=g) * 0.02).to(dtype))
    check(torch.full((n,), 3.0, dtype=dtype))
    lim = 2**15 if dtype != torch.float32 else 2**31
    bits = torch.randint(-lim, lim, (n,), generator=g, dtype=torch.int64)
    check(bits.to(torch.int16 if dtype != torch.float32 else torch.int32).view(dtype))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32])
def test_every_parameter_width(dtype):
    """Exponent spreads that make the parameter search pick every code width n and low width m
    (each width has its own specialised pack/unpack kernel), several blocks each."""
    g = torch.Generator().manual_seed(7)
    seen = set()
    for spread in [0.0, 0.5, 1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128]:
        e = (torch.randn(16384 * 3 + 512, generator=g) * spread).round().clamp(-60, 60)
        x = (torch.randn(e.numel(), generator=g).sign() * torch.exp2(e)).to(dtype)
        check(x)
        # codec="enec": FP16 overflow/underflow makes zeros, and "auto" could pick the sparse codec
        hdr = codecs.read_header(cpu.compress_tensor(x, _native(), codec="enec").numpy())
        seen.add((hdr.n, hdr.m))
    assert len({m for _, m in seen}) >= 4 and len({n for n, _ in seen}) >= 3, seen


@pytest.mark.parametrize("spec", [fmt.BF16, fmt.FP16, fmt.FP32])
def test_forced_parameters_every_width(spec):
    """With n = W every pivot b is lossless, so forcing (b, W, m) drives the low-bit packer at
    every width m and the outlier packer at every width W - m, byte for byte against the reference."""
    from enec.params import Params
    nat = _native()
    g = torch.Generator().manual_seed(17)
    x = (torch.randn(16384 * 2 + 300, generator=g) * 0.05).to(getattr(torch, spec.name))
    words = cpu.tensor_words(x, spec)
    w = spec.exp_bits
    for m in range(0, w + 1):
        for b in (0, (1 << w) // 2 - 5, (1 << w) - 1):
            p = Params(b, w, m)
            a = REF.encode(words, spec, tuple(x.shape), p)
            c = nat.encode(words, spec, tuple(x.shape), p)
            assert np.array_equal(a, c), (m, b)
            hdr = codecs.read_header(a)
            assert np.array_equal(nat.decode(a, hdr), words)
            assert np.array_equal(REF.decode(c, hdr), words)


def test_histogram_window_misses():
    """The SIMD histogram counts a 16-value window in vector registers and the rest one by one:
    exponents far outside the window, a heavy second mode, and all 256 exponent values."""
    nat = _native()
    rng = np.random.default_rng(5)
    for spec, wt in ((fmt.BF16, np.uint16), (fmt.FP16, np.uint16), (fmt.FP32, np.uint32)):
        shift = {0: 7, 1: 10, 2: 23}[spec.code]
        for exps in (rng.integers(0, 1 << spec.exp_bits, 300_001),                    # uniform
                     np.where(rng.random(300_001) < 0.3, 0, 120 % (1 << spec.exp_bits)
                              + rng.integers(-3, 4, 300_001)),                            # zeros + mode
                     np.concatenate([np.full(200_000, 3), rng.integers(0, 1 << spec.exp_bits, 1000)])):
            words = (exps.astype(np.int64) << shift).astype(wt)
            words ^= rng.integers(0, 1 << shift, words.size).astype(wt)
            assert np.array_equal(nat.histogram(words, spec), REF.histogram(words, spec))


def test_minilm(minilm_fp32, minilm_bf16):
    for sd in (minilm_fp32, minilm_bf16):
        for t in sd.values():
            if t.is_floating_point():
                check(t)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32, torch.float16])
def test_corruption_agrees_with_reference(dtype):
    """Random byte changes in the body: the native decoder rejects exactly the blobs the reference
    rejects (structural checks), and decodes the rest to the same words."""
    nat = _native()
    g = torch.Generator().manual_seed(11)
    x = (torch.randn(16384 * 3 + 700, generator=g) * 0.02).to(dtype)
    blob = cpu.compress_tensor(x, REF).numpy()
    hdr = codecs.read_header(blob)
    lay = hdr.layout
    rng = np.random.default_rng(13)
    regions = [(lay.low_offset, lay.flags_offset), (lay.flags_offset, lay.index_offset),
               (lay.index_offset, lay.outlier_offset), (lay.outlier_offset, blob.size)]
    rejected = 0
    for trial in range(240):
        lo, hi = regions[trial % len(regions)]
        if hi <= lo:
            continue
        bad = blob.copy()
        for _ in range(1 + trial % 3):
            bad[rng.integers(lo, hi)] ^= np.uint8(1 << rng.integers(0, 8))
        outcomes = []
        for impl in (REF, nat):
            try:
                outcomes.append(impl.decode(bad, hdr))
            except CorruptStreamError:
                outcomes.append(None)
        if outcomes[0] is None or outcomes[1] is None:
            assert outcomes[0] is None and outcomes[1] is None, f"trial {trial}: only one decoder rejected"
            rejected += 1
        else:
            assert np.array_equal(outcomes[0], outcomes[1]), f"trial {trial}: decoders disagree"
    assert rejected > 20


def test_zeroed_outliers_and_padding_rejected():
    """The two per-block structural checks, on a full block (the SIMD path) and the short last one."""
    nat = _native()
    x = (torch.randn(16384 + 4000, generator=torch.Generator().manual_seed(2)) * 0.02).to(torch.bfloat16)
    blob = cpu.compress_tensor(x, REF).numpy()
    hdr = codecs.read_header(blob)
    lay = hdr.layout
    index = blob[lay.index_offset:lay.index_offset + 8 * hdr.blocks].view("<u8")
    ends = list(index[1:]) + [hdr.outlier_bytes]
    for t in range(hdr.blocks):
        s, e = lay.outlier_offset + int(index[t]), lay.outlier_offset + int(ends[t])
        assert e > s
        zeroed = blob.copy()
        zeroed[s:e] = 0
        with pytest.raises(CorruptStreamError, match="no high bits"):
            nat.decode(zeroed, hdr)
        with pytest.raises(CorruptStreamError):
            REF.decode(zeroed, hdr)
        padded = blob.copy()
        padded[s:e] = 0xFF        # every slot non-zero, padding slots included (f is not a multiple of 16)
        fb = fmt.flag_block_bytes(fmt.geometry(x.numel()).lanes(t))
        f = int(np.unpackbits(blob[lay.flags_offset + 128 * t:lay.flags_offset + 128 * t + fb]).sum())
        if f % 16:
            with pytest.raises(CorruptStreamError, match="padding"):
                nat.decode(padded, hdr)


@pytest.mark.parametrize("threads", [2, 7])
def test_more_threads_than_cores(threads):
    """Oversubscribed threads get preempted mid-chunk, so finished chunks wait for their
    predecessors' outlier offsets: the blob is still byte-identical, and decodes the same."""
    nat = _native()
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        g = torch.Generator().manual_seed(threads)
        for dtype in (torch.bfloat16, torch.float32, torch.float16):
            x = (torch.randn(16384 * 150 + 999, generator=g) * 0.02).to(dtype)
            a = cpu.compress_tensor(x, REF)
            for _ in range(3):
                b = cpu.compress_tensor(x, nat)
                assert torch.equal(a, b)
                y = cpu.decompress_tensor(b, impl=nat)
                assert torch.equal(y.view(torch.uint8), x.view(torch.uint8))
    finally:
        torch.set_num_threads(old)


def test_native_library_is_built_on_the_one_cpp_layout():
    """The native library compiles op_host/enec_host.cpp, the C++ layout, header and parameter
    search of the emulation and the NPU binding: the format constants it carries are format.py's."""
    import ctypes
    from enec import native
    lib = native._load()
    got = np.zeros(12, dtype=np.uint64)
    lib.EnecFormatConstants(ctypes.c_void_p(got.ctypes.data))
    assert [int(v) for v in got] == [
        fmt.VERSION, fmt.CODEC_ENEC, fmt.BLOCK_ELEMS, fmt.GROUP_LEN, fmt.BLOCK_ROUND, fmt.SECTION_ALIGN,
        fmt.HEADER_FIXED_BYTES, fmt.HEADER_FIXED_BYTES + 8 * fmt.MAX_NDIM, fmt.INDEX_ENTRY_BYTES,
        fmt.CHECKSUM_KIND_OFFSET, fmt.CHECKSUM_OFFSET, fmt._HEADER.size - 8]


@pytest.mark.parametrize("spec", [fmt.BF16, fmt.FP16, fmt.FP32])
def test_native_parameter_choice_equals_params_py(spec):
    """compress takes (b, n, m) from the native search (enec_analyze); python/enec/params.py is
    the spec, and the two must agree on every histogram, ties included."""
    from enec.params import choose_params
    nat = _native()
    rng = np.random.default_rng(23)
    size = 1 << spec.exp_bits
    hists = [np.zeros(size, np.int64), np.eye(size, dtype=np.int64)[3] * 7,
             np.ones(size, np.int64), np.full(size, 1000, np.int64)]
    for _ in range(300):
        h = np.zeros(size, np.int64)
        kind = rng.integers(0, 4)
        if kind == 0:      # a bell of exponents, like weights
            c, w = rng.integers(0, size), rng.uniform(0.3, size / 6)
            h[:] = np.round(rng.integers(10, 10**7) * np.exp(-0.5 * ((np.arange(size) - c) / w) ** 2))
        elif kind == 1:    # a few spikes, often equal (ties)
            k = rng.integers(2, 6)
            h[rng.choice(size, k, replace=False)] = rng.choice([5, 5, 64, rng.integers(1, 10**9)], k)
        elif kind == 2:    # sparse random
            idx = rng.choice(size, rng.integers(1, size), replace=False)
            h[idx] = rng.integers(1, 10**6, idx.size)
        else:              # symmetric around a centre (equal-cost pivots on both sides)
            c, r = rng.integers(0, size), rng.integers(1, 8)
            for d in range(r + 1):
                h[(c + d) % size] = h[(c - d) % size] = 10**(r - d + 1)
        hists.append(h)
    for x in (torch.randn(50_000) * s for s in (0.02, 1.0, 1e-3)):
        words = cpu.tensor_words(x.to(getattr(torch, spec.name)), spec)
        hists.append(REF.histogram(words, spec))
    for h in hists:
        assert nat.choose_params(h, spec) == choose_params(h, spec), h
    words = cpu.tensor_words((torch.randn(300_000) * 0.02).to(getattr(torch, spec.name)), spec)
    hist, params = nat.analyze(words, spec)
    assert np.array_equal(hist, REF.histogram(words, spec))
    assert params == choose_params(hist, spec)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32])
def test_large_output_paths(dtype):
    """Outputs of 4 Mi elements or more take other paths: non-temporal stores, a 2 MB aligned
    buffer, each encoding thread first touching its own share of the blob, decoding threads
    taking whole 2 MB pages. The blob must not depend on the thread count; every level agrees."""
    nat = _native()
    old = torch.get_num_threads()
    g = torch.Generator().manual_seed(29)
    x = (torch.randn((1 << 22) + 16384 * 3 + 77, generator=g) * 0.02).to(dtype)
    x[12345] = float("inf")       # a wide exponent spread: outliers in some blocks
    try:
        blobs = []
        for threads in (1, 2, 3):
            torch.set_num_threads(threads)
            blobs.append(cpu.compress_tensor(x, nat))
            y = cpu.decompress_tensor(blobs[-1], impl=nat)
            assert torch.equal(y.view(torch.uint8), x.view(torch.uint8))
        assert all(torch.equal(blobs[0], b) for b in blobs[1:])
        nat.set_simd(False)
        torch.set_num_threads(1)
        assert torch.equal(cpu.compress_tensor(x, nat), blobs[0])
    finally:
        torch.set_num_threads(old)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32])
def test_encoded_size_without_encoding(dtype):
    """native.encoded_size (a read-only pass, used by codec="auto") is the size encode writes,
    for every low width m, short last blocks and blocks without outliers included."""
    nat = _native()
    spec = cpu.dtype_spec_of(dtype)
    g = torch.Generator().manual_seed(41)
    for n in (0, 1, 300, 16384, 16384 * 2 + 4097):
        x = (torch.randn(n, generator=g) * torch.exp2(torch.randn(n, generator=g) * 3)).to(dtype)
        words = cpu.tensor_words(x, spec)
        hist = nat.histogram(words, spec)
        best = nat.choose_params(hist, spec)
        for m in sorted({0, best.m, best.n}):
            p = type(best)(best.b, best.n, m)
            for shape in ((n,), (1, n)):
                assert nat.encoded_size(words, spec, shape, p) == nat.encode(words, spec, shape, p).size, (n, m)


@pytest.mark.parametrize("module, symbol, env", [("enec.native", "enec_native_version", "ENEC_NATIVE_LIB"),
                                                 ("enec.codecs.native", "codecs_abi_version", "ENEC_CODECS_LIB")])
def test_a_library_of_another_abi_version_is_refused(tmp_path, module, symbol, env):
    """Both native libraries go through one loader (enec/_native_lib.py) that checks the ABI
    version: a stale build is refused with a message saying so, never called with wrong
    signatures, and the reference runs instead."""
    import subprocess
    import sys
    src = tmp_path / "stale.cpp"
    src.write_text(f'extern "C" int {symbol}() {{ return 999; }}\n')
    lib = tmp_path / "stale.so"
    subprocess.run(["g++", "-shared", "-fPIC", str(src), "-o", str(lib)], check=True)
    code = (f"import importlib; m = importlib.import_module({module!r}); "
            "print(m.available()); print(m.load_error())")
    r = subprocess.run([sys.executable, "-c", code], env=dict(os.environ, **{env: str(lib)}),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    available, error = r.stdout.splitlines()
    assert available == "False"
    assert "ABI version 999" in error and str(lib) in error and "rebuild" in error
