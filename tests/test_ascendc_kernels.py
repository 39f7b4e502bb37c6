"""The AscendC kernels (op_kernel/) under the rule-enforcing emulation, against the reference.

The kernel sources are compiled with g++ against tests/ascendc_emu/include/kernel_operator.h and
run on all cores (48 unless a test says otherwise); every block of every core runs. Blobs must
equal the numpy reference byte for byte, and the decompress kernel must restore reference-made
blobs bit for bit.
"""
import ctypes

import numpy as np
import pytest
import torch

import emulated as E
import hist_cases
from enec import codecs
from enec import format as fmt
from enec import reference as R
from enec.params import Params, choose_params

N = fmt.BLOCK_ELEMS


@pytest.fixture(scope="session", autouse=True)
def emu_lib():
    assert E.available(), "kernel sources missing from the checkout"
    return E.lib()          # compiles once per source hash (cached)


def _words(t: torch.Tensor) -> tuple[np.ndarray, fmt.DTypeSpec]:
    spec = fmt.dtype_spec(str(t.dtype).replace("torch.", ""))
    view = torch.int32 if spec is fmt.FP32 else torch.int16
    npv = np.uint32 if spec is fmt.FP32 else np.uint16
    return t.contiguous().view(view).numpy().view(npv).reshape(-1), spec


def _check_both_ways(words, spec, shape, params=None, cores=E.DEFAULT_CORES):
    ref = R.compress_words(words, spec, shape, params)
    got = E.compress_words(words, spec, shape, params, cores=cores)
    assert got.size == ref.size, (got.size, ref.size)
    if not np.array_equal(got, ref):
        bad = np.nonzero(got != ref)[0]
        lay = codecs.read_header(ref).layout
        raise AssertionError(f"{bad.size} bytes differ, first at {bad[:8]}; layout {lay}")
    out = E.decompress_words(ref, cores=cores)
    assert out.dtype == words.dtype and np.array_equal(out, words)
    return ref


def _random_words(spec, numel, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(numel).astype(np.float32) * np.float32(0.05)
    if spec is fmt.FP32:
        return x.view(np.uint32)
    if spec is fmt.FP16:
        return x.astype(np.float16).view(np.uint16)
    return (x.view(np.uint32) >> 16).astype(np.uint16)


# ------------------------------------------------------------------------------ real weights

@pytest.mark.parametrize("which", ["float32", "bfloat16"])
def test_minilm_byte_identical(which, minilm_fp32, minilm_bf16):
    sd = minilm_fp32 if which == "float32" else minilm_bf16
    E.lib().enec_emu_reset_stats()
    tensors = 0
    elems = 0
    for name, t in sd.items():
        if not t.is_floating_point():
            continue
        words, spec = _words(t)
        _check_both_ways(words, spec, tuple(t.shape))
        tensors += 1
        elems += t.numel()
    assert tensors >= 100 and elems > 22_000_000
    st = E.stats()
    assert st["ub_above_184k"] == 0 and st["ub_high_water"] <= 184 * 1024, st


# ------------------------------------------------------------------------------ bit-pattern sweeps

def test_bf16_all_patterns_every_m():
    """All 65,536 BF16 patterns (NaNs, infinities, subnormals, -0): every exponent occurs, so
    n = 8; every m from 0 to 8 exercises every packing width of the low bits and outliers."""
    words = np.arange(1 << 16, dtype=np.uint16)
    _check_both_ways(words, fmt.BF16, (256, 256))
    chosen = choose_params(R.exponent_histogram(words, fmt.BF16), fmt.BF16)
    assert chosen.n == 8
    perm = np.random.default_rng(1).permutation(words)
    for m in range(0, 9):
        _check_both_ways(perm, fmt.BF16, (1 << 16,), Params(127, 8, m))


def test_fp16_all_patterns_every_m():
    words = np.arange(1 << 16, dtype=np.uint16)
    _check_both_ways(words, fmt.FP16, (1 << 16,))
    perm = np.random.default_rng(2).permutation(words)
    for m in range(0, 6):
        _check_both_ways(perm, fmt.FP16, (1 << 16,), Params(15, 5, m))


def test_fp32_special_values():
    specials = np.array([0, 0x80000000, 0x7F800000, 0xFF800000, 0x7FC00001, 0xFFFFFFFF, 1, 0x807FFFFF,
                         0x3F800000, 0x00800000], dtype=np.uint32)
    rng = np.random.default_rng(3)
    words = np.concatenate([np.tile(specials, 3000), rng.integers(0, 1 << 32, 20000, dtype=np.uint64).astype(np.uint32)])
    _check_both_ways(words, fmt.FP32, (words.size,))


# ------------------------------------------------------------------------------ sizes and cores

SIZES = [1, 15, 16, 17, 255, 256, 257, 4095, N - 1, N, N + 1, 2 * N - 256, 2 * N + 255, 3 * N + 4097]


@pytest.mark.parametrize("spec", [fmt.BF16, fmt.FP16, fmt.FP32], ids=lambda s: s.name)
def test_sizes_around_block_boundaries(spec):
    for i, numel in enumerate(SIZES):
        _check_both_ways(_random_words(spec, numel, i), spec, (numel,))


@pytest.mark.parametrize("spec", [fmt.BF16, fmt.FP32], ids=lambda s: s.name)
def test_sizes_around_core_boundaries(spec):
    """48 cores: 47, 48 and 49 blocks (the 49th wraps to core 0); with 5 cores several blocks
    per core, in cyclic order; the result does not depend on the core count."""
    for blocks in (47, 48):
        numel = blocks * N
        _check_both_ways(_random_words(spec, numel, blocks), spec, (numel,))
    numel = 48 * N + 1000
    words = _random_words(spec, numel, 49)
    ref = _check_both_ways(words, spec, (numel,))
    for cores in (1, 5):
        assert np.array_equal(E.compress_words(words, spec, (numel,), cores=cores), ref)
        assert np.array_equal(E.decompress_words(ref, cores=cores), words)


def test_empty_and_scalar():
    for spec in (fmt.BF16, fmt.FP16, fmt.FP32):
        dt = np.uint32 if spec is fmt.FP32 else np.uint16
        _check_both_ways(np.zeros(0, dtype=dt), spec, (0, 7))
        _check_both_ways(np.array([0x3F80], dtype=dt), spec, ())


def test_extreme_flag_densities():
    """No flagged group, every group flagged, and single flagged groups at the first/last
    position of a block (the scan's edges)."""
    base = np.full(3 * N, 0x3F80, dtype=np.uint16)                 # one exponent: n = 1, m = 0
    _check_both_ways(base, fmt.BF16, (base.size,))
    two = base.copy()
    two[::2] = 0x4000                                              # two exponents
    _check_both_ways(two, fmt.BF16, (two.size,), Params(127, 2, 0))
    _check_both_ways(two, fmt.BF16, (two.size,), Params(127, 2, 1))
    edge = base.copy()
    for t in range(3):                                              # group 0, group 1023, lane 16383
        edge[t * N + 0] = 0x4100
        edge[t * N + 1023] = 0x3000
        edge[t * N + N - 1] = 0x4100
    _check_both_ways(edge, fmt.BF16, (edge.size,), Params(127, 6, 2))


# ------------------------------------------------------------------------------ host code

def test_cpp_format_constants_match_format_py():
    """The constants op_host/op_kernel were written for are format.py's (the one specification)."""
    total_offset = fmt._HEADER.size - 8            # total_bytes is the fixed header's last u64
    assert E.format_constants() == {
        "version": fmt.VERSION, "codec_enec": fmt.CODEC_ENEC, "block_elems": fmt.BLOCK_ELEMS,
        "group_len": fmt.GROUP_LEN, "block_round": fmt.BLOCK_ROUND, "section_align": fmt.SECTION_ALIGN,
        "header_fixed_bytes": fmt.HEADER_FIXED_BYTES, "header_max_bytes": fmt.HEADER_FIXED_BYTES + 8 * fmt.MAX_NDIM,
        "index_entry_bytes": fmt.INDEX_ENTRY_BYTES, "checksum_kind_offset": fmt.CHECKSUM_KIND_OFFSET,
        "checksum_offset": fmt.CHECKSUM_OFFSET, "total_offset": total_offset}
    assert fmt._HEADER.size == fmt.HEADER_FIXED_BYTES


def test_cpp_kernel_status_codes_match_python():
    """The decompress kernel's status codes (enec_tiling.h) are the ones enec.kernel_status maps to errors."""
    from enec import kernel_status as ks
    assert E.kernel_status_codes() == {
        "OK": ks.OK, "NOT_ENEC": ks.NOT_ENEC, "HOST_PATH": ks.HOST_PATH, "MISMATCH": ks.MISMATCH,
        "CORRUPT_HEADER": ks.CORRUPT_HEADER, "CORRUPT_INDEX": ks.CORRUPT_INDEX, "SLOT_INTS": ks.SLOT_INTS}


def test_tiling_matches_format_layout():
    for numel in [0, 1, 255, 256, 257, N, N + 1, 5 * N + 300]:
        for spec in (fmt.BF16, fmt.FP16, fmt.FP32):
            for ndim, m in ((1, 3), (0 if numel == 1 else 2, 0), (5, spec.exp_bits)):
                n = spec.exp_bits
                t = E.tiling(spec, numel, ndim, Params(1, n, m), 48)
                lay = fmt.layout(spec, numel, ndim, m)
                geo = fmt.geometry(numel)
                assert (t.rawOffset, t.lowOffset, t.flagsOffset, t.indexOffset, t.outlierOffset) == (
                    lay.raw_offset, lay.low_offset, lay.flags_offset, lay.index_offset, lay.outlier_offset)
                assert (t.blocks, t.fullBlocks, t.lastReal, t.lastLanes) == (
                    geo.blocks, geo.full_blocks, geo.last_real, geo.last_lanes)


def test_header_and_index_match_format():
    L = E.lib()
    shape = (3, 5, 4111)
    numel = int(np.prod(shape))
    p = Params(120, 6, 3)
    t = E.tiling(fmt.BF16, numel, len(shape), p, 48)
    counts = np.array([0, 1, 15, 16, 17, 1024], dtype=np.int32)[:t.blocks]
    index = np.zeros(t.blocks, dtype=np.uint64)
    total_out = L.EnecOutlierIndex(counts.ctypes.data, t.blocks, p.n, p.m, index.ctypes.data)
    sizes = [fmt.outlier_block_bytes(int(c), p.n, p.m) for c in counts]
    assert list(index) == list(np.concatenate([[0], np.cumsum(sizes)[:-1]]))
    assert total_out == sum(sizes)
    hb = np.zeros(L.EnecHeaderBytes(len(shape)), dtype=np.uint8)
    dims = np.array(shape, dtype=np.uint64)
    total = L.EnecPackHeader(ctypes.byref(t), len(shape), dims.ctypes.data, total_out, hb.ctypes.data)
    want = fmt.EnecHeader(fmt.BF16, shape, numel, p.b, p.n, p.m, outlier_bytes=total_out)
    assert bytes(hb) == want.pack() and total == want.total_bytes


def _minilm_hists(*state_dicts):
    """(spec, exponent histogram) of every floating tensor of the state dicts."""
    for sd in state_dicts:
        for t in sd.values():
            if t.is_floating_point():
                words, spec = _words(t)
                yield spec, R.exponent_histogram(words, spec)


def test_native_param_search_matches_python(minilm_fp32, minilm_bf16):
    """The C++ search used by the NPU binding picks the same (b, n, m) as params.py."""
    checked = 0
    for spec, hist in _minilm_hists(minilm_fp32, minilm_bf16):
        assert E.choose_params_native(hist, spec) == choose_params(hist, spec)
        checked += 1
    rng = np.random.default_rng(5)
    for i in range(300):
        spec = (fmt.BF16, fmt.FP16, fmt.FP32)[i % 3]
        size = 1 << spec.exp_bits
        hist = np.zeros(size, dtype=np.int64)
        k = int(rng.integers(1, 8))
        idx = rng.integers(0, size, k)
        hist[idx] = rng.integers(1, 10 ** int(rng.integers(1, 7)), k)
        assert E.choose_params_native(hist, spec) == choose_params(hist, spec), hist.nonzero()
        checked += 1
    assert checked > 400


# ------------------------------------------------------------------------------ parameters on the device

def test_soft_double_ops_match_cpu():
    """The device's exact integer doubles (op_kernel/enec_search.h EnecSoftOps) give the CPU's
    IEEE results bit for bit: int64 -> double, quotients of integers, products (p^2 .. p^16),
    1 - x, differences, sums, comparisons; random operands with ties and long carries."""
    for seed in (1, 2, 3):
        bad, first = E.softdouble_check(seed, 200_000)
        assert bad == 0, first


def _random_hists(rng, count):
    for i in range(count):
        spec = (fmt.BF16, fmt.FP16, fmt.FP32)[i % 3]
        size = 1 << spec.exp_bits
        hist = np.zeros(size, dtype=np.int64)
        kind = i % 5
        if kind == 0:                          # a few exponents, counts of every magnitude
            k = int(rng.integers(1, 8))
            hist[rng.integers(0, size, k)] = rng.integers(1, 10 ** int(rng.integers(1, 7)), k)
        elif kind == 1:                        # a smooth bump (weights), wrapping at the edges
            c = rng.integers(0, size)
            d = np.minimum((np.arange(size) - c) % size, (c - np.arange(size)) % size)
            hist[:] = (rng.integers(1, 1 << 20) * np.exp(-0.5 * (d / rng.uniform(0.5, 6)) ** 2)).astype(np.int64)
        elif kind == 2:                        # every exponent present
            hist[:] = rng.integers(1, 1 << int(rng.integers(1, 30)), size)
        elif kind == 3:                        # totals above 2^53 (the int64 -> double rounding)
            k = int(rng.integers(2, 6))
            hist[rng.integers(0, size, k)] = rng.integers(1 << 50, 1 << 58, k)
        else:                                  # near-ties: two exponents of almost equal mass
            a, b = rng.choice(size, 2, replace=False)
            hist[a] = int(rng.integers(1, 1 << 40))
            hist[b] = hist[a] + int(rng.integers(-2, 3)) or 1
        yield spec, hist


def test_device_param_search_matches_python(minilm_fp32, minilm_bf16):
    """The enec_params kernel (the search on the scalar unit with exact integer doubles, the
    per-core digit planes summed) picks the same (b, n, m) as params.py and the host's C++
    search: all floating tensors of MiniLM, and random histograms, near-ties and totals above
    2^53 included; the core count does not matter."""
    checked = 0
    for spec, hist in _minilm_hists(minilm_fp32, minilm_bf16):
        assert E.choose_params_device(hist, spec) == choose_params(hist, spec)
        checked += 1
    rng = np.random.default_rng(13)
    for i, (spec, hist) in enumerate(_random_hists(rng, 600)):
        want = choose_params(hist, spec)
        assert E.choose_params_native(hist, spec) == want, hist.nonzero()
        got = E.choose_params_device(hist, spec, cores=(48, 1, 7)[i % 3], kernel=i % 4 == 0)
        assert got == want, (spec.name, hist.nonzero(), hist[hist.nonzero()])
        checked += 1
    assert checked > 800


def _hostile_words(spec):
    """(name, words) of tensors built to break a histogram: empty, all equal, one exponent with
    random mantissas, all 2^W exponents, NaN/Inf/subnormal/zero mixtures, a bimodal and a
    heavy-tailed distribution, and a tensor whose exponents fill a single value but for one
    element in a short last block."""
    rng = np.random.default_rng(21)
    dt = np.uint32 if spec is fmt.FP32 else np.uint16
    wb = 32 if spec is fmt.FP32 else 16
    mant = wb - 1 - spec.exp_bits
    emax = (1 << spec.exp_bits) - 1
    def word(sign, e, m):
        return ((np.asarray(sign, np.uint64) << (wb - 1)) | (np.asarray(e, np.uint64) << mant) |
                np.asarray(m, np.uint64)).astype(dt)
    n = 3 * N + 777
    yield "empty", np.zeros(0, dtype=dt)
    yield "all_equal", np.full(n, word(0, 3, 5), dtype=dt)
    yield "one_exponent", word(rng.integers(0, 2, n), np.full(n, emax // 2), rng.integers(0, 1 << mant, n))
    yield "all_exponents", word(rng.integers(0, 2, n), rng.integers(0, emax + 1, n), rng.integers(0, 1 << mant, n))
    special = np.array([word(0, emax, 0), word(1, emax, 0), word(0, emax, 1), word(1, emax, (1 << mant) - 1),
                        word(0, 0, 0), word(1, 0, 0), word(0, 0, 1), word(1, 0, (1 << mant) - 1)], dtype=dt)
    mix = word(rng.integers(0, 2, n), np.clip(rng.normal(emax // 2, 3, n), 0, emax).astype(np.int64),
               rng.integers(0, 1 << mant, n))
    mix[rng.integers(0, n, n // 10)] = special[rng.integers(0, special.size, n // 10)]
    yield "nan_inf_subnormal", mix
    bimodal = np.where(rng.random(n) < 0.5, emax // 4, 3 * emax // 4) + rng.integers(-2, 3, n)
    yield "bimodal", word(rng.integers(0, 2, n), bimodal, rng.integers(0, 1 << mant, n))
    heavy = np.clip(emax // 2 - rng.geometric(0.3, n) + 1, 0, emax)
    yield "heavy_tail", word(0, heavy, rng.integers(0, 1 << mant, n))
    lone = np.full(n, word(0, 1, 0), dtype=dt)
    lone[-1] = word(0, emax, 0)
    yield "lone_outlier_in_short_block", lone


@pytest.mark.parametrize("spec", [fmt.BF16, fmt.FP16, fmt.FP32], ids=lambda s: s.name)
def test_histogram_kernel_counts_exactly(spec):
    """enec_histogram alone: every core's exponent counts equal numpy's over its units (unit u on
    core u mod cores), on tensors built against its walk (tests/support/hist_cases.py)."""
    for name, words, cores in hist_cases.cases(spec):
        got = E.histogram_device(words, spec, cores)
        assert np.array_equal(got, hist_cases.expected(words, spec, cores)), (name, np.argwhere(got != hist_cases.expected(words, spec, cores))[:8])


@pytest.mark.parametrize("spec", [fmt.BF16, fmt.FP16, fmt.FP32], ids=lambda s: s.name)
def test_no_plan_on_device_hostile(spec):
    """compress_into without a plan: histogram, search and compress all on the device, nothing
    read back (host_syncs 0), and the blob is the reference's byte for byte (parameters chosen by
    params.py on the host histogram); compress reads only the size."""
    for name, words in _hostile_words(spec):
        shape = (words.size,)
        ref = R.compress_words(words, spec, shape)
        for cores in (48, 3):
            got, rep = E.compress_op(words, spec, shape, cores=cores, into=True)
            assert np.array_equal(got, ref), (name, cores, got.size, ref.size)
            assert rep["host_syncs"] == 0, (name, rep["steps"])
            if words.size:
                assert [k["kernel"] for k in rep["kernels"]] == ["enec_histogram", "enec_params", "enec_compress",
                                                                 "enec_finish"], name
        got, rep = E.compress_op(words, spec, shape)
        assert np.array_equal(got, ref) and rep["host_syncs"] == (1 if words.size else 0), name
        assert np.array_equal(E.decompress_words(ref), words), name


@pytest.mark.parametrize("spec", [fmt.BF16, fmt.FP16, fmt.FP32], ids=lambda s: s.name)
def test_no_plan_on_device_distributions(spec):
    """Weight-like tensors (N(0, s^2) for several s, MiniLM-like widths) and uniform random bit
    patterns: the device's parameters and blob equal the reference's."""
    rng = np.random.default_rng(31)
    for i, scale in enumerate((0.02, 0.2, 3.0, 1e-3)):
        numel = int(rng.integers(1, 6)) * N + int(rng.integers(0, N))
        x = (rng.standard_normal(numel) * scale).astype(np.float32)
        if spec is fmt.FP32:
            words = x.view(np.uint32)
        elif spec is fmt.FP16:
            words = x.astype(np.float16).view(np.uint16)
        else:
            words = (x.view(np.uint32) >> 16).astype(np.uint16)
        got, rep = E.compress_op(words, spec, (numel,), into=True)
        assert np.array_equal(got, R.compress_words(words, spec, (numel,))), scale
        assert rep["host_syncs"] == 0
    dt = np.uint32 if spec is fmt.FP32 else np.uint16
    words = rng.integers(0, 1 << (32 if spec is fmt.FP32 else 16), 2 * N + 300, dtype=np.uint64).astype(dt)
    got, _ = E.compress_op(words, spec, (words.size,), into=True)
    assert np.array_equal(got, R.compress_words(words, spec, (words.size,)))
