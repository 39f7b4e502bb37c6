"""Native sparse pattern coder (codec 4: bitmap, two-level bitmap, run length, CSR in
python/enec/csrc/codecs_native.cpp) against the numpy reference sparse.encode_pattern /
decode_pattern: byte-identical patterns, identical positions, and the same verdict on every
corrupt pattern (both raise CorruptStreamError, or both return the same positions).

When the library is not built these tests fail (not skip), like tests/test_codecs_native.py;
set ENEC_ALLOW_NO_CODECS_NATIVE=1 to run the suite on a machine without a compiler."""
import os

import numpy as np
import pytest
import torch

from enec import codecs, cpu
from enec.codecs import native, sparse
from enec.errors import CorruptStreamError

if not native.available() and os.environ.get("ENEC_ALLOW_NO_CODECS_NATIVE") == "1":
    pytest.skip(f"native codec library not built: {native.load_error()}", allow_module_level=True)


@pytest.fixture(autouse=True)
def _require_native():
    if not native.available():
        pytest.fail(f"the native codec library is not built: {native.load_error()}")


REF, NAT = sparse.Reference, native.SPARSE
FORMATS = ([(sparse.BITMAP, 0), (sparse.CSR, 0)] + [(sparse.BITMAP2, p) for p in sparse.BITMAP2_LOG2]
           + [(sparse.RLE, w) for w in sparse.RLE_WIDTHS])
SHAPES = [(), (1,), (0,), (3, 0), (0, 5), (2,), (7,), (8,), (9,), (63,), (64,), (65,), (511,), (513,),
          (1, 1000), (1000, 1), (13, 17), (64, 3), (5, 4, 33), (3, 1031)]


def _numel(shape):
    return int(np.prod(shape, dtype=np.int64)) if shape else 1


def _position_sets(numel, rng):
    """Random and structured sorted position sets of a tensor of numel elements."""
    out = [np.zeros(0, np.int64), np.arange(numel, dtype=np.int64)]
    if numel:
        out += [np.array([0]), np.array([numel - 1]), np.array([numel // 2])]
        out += [np.unique([0, numel - 1])]
        for d in (0.01, 0.2, 0.5, 0.9, 0.99):
            out.append(np.flatnonzero(rng.random(numel) < d))
        for s in (4, 32, 512):                       # block boundaries of the two-level bitmap
            b = np.arange(0, numel, s)
            out.append(np.unique(np.concatenate([b, np.maximum(b - 1, 0)])))
        if numel > 2:                                # runs longer than any small RLE filler
            out.append(np.array([1, numel - 2]))
    return [np.asarray(p, dtype=np.int64) for p in out]


def _verdict(k, *args):
    try:
        return "ok", np.asarray(k.decode_pattern(*args)).tolist()
    except CorruptStreamError:
        return "corrupt", None


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_encode_decode_identical(shape):
    numel = _numel(shape)
    rng = np.random.default_rng(numel)
    for pos in _position_sets(numel, rng):
        for f, p in FORMATS:
            ref = REF.encode_pattern(f, p, numel, shape, pos)
            nat = NAT.encode_pattern(f, p, numel, shape, pos)
            assert nat.dtype == np.uint8 and np.array_equal(ref, nat), (f, p, pos.size)
            assert nat.size * 8 >= sparse.pattern_bits(f, p, numel, shape, pos)
            got = NAT.decode_pattern(f, p, numel, shape, pos.size, nat)
            assert got.dtype == np.int64 and np.array_equal(got, pos), (f, p)
            assert np.array_equal(REF.decode_pattern(f, p, numel, shape, pos.size, nat), got)


@pytest.mark.parametrize("cols", [1, 2, 3, 7, 64, 257, 5000])
def test_csr_row_lengths(cols):
    rng = np.random.default_rng(cols)
    for rows in (1, 2, 5, 40):
        shape = (rows, cols)
        numel = rows * cols
        for d in (0.0, 0.05, 0.5, 1.0):
            mask = rng.random(numel) < d
            mask[rng.integers(0, rows) * cols: rng.integers(0, rows) * cols] = False   # empty rows
            pos = np.flatnonzero(mask)
            ref = REF.encode_pattern(sparse.CSR, 0, numel, shape, pos)
            assert np.array_equal(NAT.encode_pattern(sparse.CSR, 0, numel, shape, pos), ref)
            assert np.array_equal(NAT.decode_pattern(sparse.CSR, 0, numel, shape, pos.size, ref), pos)


def test_large_random_identical():
    rng = np.random.default_rng(7)
    numel = 1_000_003
    shape = (1, numel) if numel % 2 else (2, numel // 2)
    for d in (0.001, 0.5, 0.97):
        pos = np.flatnonzero(rng.random(numel) < d)
        for f, p in [(sparse.BITMAP, 0), (sparse.BITMAP2, 2), (sparse.BITMAP2, 9), (sparse.RLE, 1),
                     (sparse.RLE, 4), (sparse.RLE, 13), (sparse.RLE, 24), (sparse.CSR, 0)]:
            ref = REF.encode_pattern(f, p, numel, shape, pos)
            nat = NAT.encode_pattern(f, p, numel, shape, pos)
            assert np.array_equal(ref, nat), (d, f, p)
            assert np.array_equal(NAT.decode_pattern(f, p, numel, shape, pos.size, nat), pos)


def _corruptions(pat, rng):
    """Flips, truncations, extensions and padding bits of a valid pattern."""
    out = []
    for _ in range(6):
        if pat.size:
            bad = pat.copy()
            for j in rng.integers(0, bad.size, 1 + rng.integers(0, 3)):
                bad[j] ^= np.uint8(1 << rng.integers(0, 8))
            out.append(bad)
    if pat.size:
        out += [pat[:-1], pat[:rng.integers(0, pat.size)], pat[1:]]
        bad = pat.copy()
        bad[-1] |= np.uint8(0x80)                    # the highest padding bit (if any)
        out.append(bad)
        bad = pat.copy()
        bad[-1] = np.uint8(0xFF)
        out.append(bad)
    out += [np.concatenate([pat, [0]]).astype(np.uint8), np.concatenate([pat, [1]]).astype(np.uint8),
            np.concatenate([pat, [0xFF] * 3]).astype(np.uint8), np.zeros(pat.size, np.uint8),
            np.full(pat.size, 0xFF, np.uint8), rng.integers(0, 256, pat.size, dtype=np.uint8)]
    return out


@pytest.mark.parametrize("shape", [(), (1,), (9,), (64,), (13, 17), (5, 4, 33), (3, 0)], ids=str)
def test_corrupt_verdicts_agree(shape):
    numel = _numel(shape)
    rng = np.random.default_rng(100 + numel)
    checked = rejected = 0
    for pos in _position_sets(numel, rng)[:8]:
        for f, p in FORMATS:
            pat = REF.encode_pattern(f, p, numel, shape, pos)
            cases = [(pat, pos.size + dn) for dn in (-1, 1, 2) if 0 <= pos.size + dn <= numel]
            cases += [(bad, pos.size) for bad in _corruptions(pat, rng)]
            for bad, nnz in cases:
                r = _verdict(REF, f, p, numel, shape, nnz, bad)
                n = _verdict(NAT, f, p, numel, shape, nnz, bad)
                assert r == n, (f, p, nnz, bad.tobytes().hex())
                checked += 1
                rejected += r[0] == "corrupt"
    assert rejected > checked // 4


def test_random_bytes_verdicts_agree():
    """Hostile patterns of every size near the expected one, for every format."""
    rng = np.random.default_rng(5)
    accepted = 0
    for shape in [(1,), (6,), (17,), (4, 9), (2, 40)]:
        numel = _numel(shape)
        for f, p in FORMATS:
            for _ in range(12):
                nnz = int(rng.integers(0, numel + 1))
                size = int(rng.integers(0, numel // 2 + 4))
                density = rng.choice([0.05, 0.5, 0.95])
                bits = (rng.random(size * 8) < density).astype(np.uint8)
                pat = np.packbits(bits, bitorder="little")
                r = _verdict(REF, f, p, numel, shape, nnz, pat)
                assert r == _verdict(NAT, f, p, numel, shape, nnz, pat), (f, p, nnz, pat.tobytes().hex())
                accepted += r[0] == "ok"
    assert accepted > 0


def test_specific_rejections():
    """Each structural check, in both decoders."""
    def both_reject(f, p, numel, shape, nnz, pat):
        pat = np.asarray(pat, np.uint8)
        for k in (REF, NAT):
            with pytest.raises(CorruptStreamError):
                k.decode_pattern(f, p, numel, shape, nnz, pat)

    both_reject(sparse.BITMAP, 0, 5, (5,), 1, [0b100001])           # padding bit
    both_reject(sparse.BITMAP, 0, 5, (5,), 3, [0b00011])            # count
    both_reject(sparse.BITMAP, 0, 5, (5,), 1, [1, 0])               # size
    both_reject(sparse.BITMAP2, 2, 16, (16,), 1, [])                # shorter than block bitmap
    both_reject(sparse.BITMAP2, 2, 16, (16,), 1, [0b0000_0001])     # marked block 0 is empty
    both_reject(sparse.BITMAP2, 2, 6, (6,), 1, [0b0010_0010])       # block 1, element 3 = 7 >= 6
    both_reject(sparse.RLE, 3, 10, (10,), 3, [0b000_000])           # 2 non-zeros, header says 3
    both_reject(sparse.RLE, 4, 10, (10,), 1, [0x0F])                # filler, then non-zero 15 >= 10
    both_reject(sparse.RLE, 4, 40, (40,), 1, [0x21])                # a field after the last non-zero
    # CSR (2, 3), nnz 2: three 2-bit row pointers (bits 0-5), then two 2-bit columns (bits 6-9)
    ok = REF.encode_pattern(sparse.CSR, 0, 6, (2, 3), np.array([0, 2]))
    assert ok.tolist() == [0b00_10_10_00, 0b10]
    assert np.array_equal(NAT.decode_pattern(sparse.CSR, 0, 6, (2, 3), 2, ok), [0, 2])
    both_reject(sparse.CSR, 0, 6, (2, 3), 2, [0b00_01_10_00, 0b10])  # pointers 0, 2, 1
    both_reject(sparse.CSR, 0, 6, (2, 3), 2, [0b00_10_10_01, 0b10])  # pointers 1, 2, 2
    both_reject(sparse.CSR, 0, 6, (2, 3), 2, [0b00_01_01_00, 0b10])  # pointers 0, 1, 1: end at 1, not 2
    both_reject(sparse.CSR, 0, 6, (2, 3), 2, [0b11_10_10_00, 0b10])  # column 3 >= row length 3
    both_reject(sparse.CSR, 0, 6, (2, 3), 2, [0b01_10_10_00, 0b01])  # columns 1, 1 in one row
    both_reject(sparse.CSR, 0, 6, (2, 3), 2, [0b10_10_10_00, 0b00])  # columns 2, 0 in one row


def test_encode_rejects_bad_positions():
    for pos in ([3, 2], [1, 1], [-1], [10]):
        with pytest.raises(ValueError):
            NAT.encode_pattern(sparse.RLE, 3, 10, (10,), np.array(pos, np.int64))


def test_dispatch_uses_native(monkeypatch):
    assert codecs.sparse_kernels(codecs.get_impl()) is (NAT if codecs.get_impl().name == "native" else REF)
    monkeypatch.setenv("ENEC_CODECS_IMPL", "native")
    assert codecs.sparse_kernels(None) is NAT
    monkeypatch.setenv("ENEC_CODECS_IMPL", "reference")
    assert codecs.sparse_kernels(None) is REF


@pytest.mark.parametrize("fmt_id, param", [(sparse.BITMAP, 0), (sparse.BITMAP2, 3), (sparse.RLE, 5), (sparse.CSR, 0)])
def test_blobs_identical_through_the_codec(monkeypatch, fmt_id, param):
    """A whole sparse blob (header, pattern, values) is the same with either pattern coder, and
    each decodes the other's."""
    g = torch.Generator().manual_seed(fmt_id)
    x = torch.randn(37, 29, generator=g).to(torch.bfloat16)
    x[torch.rand(37, 29, generator=g) < 0.7] = 0
    spec = cpu.dtype_spec_of(x.dtype)
    words = cpu.tensor_words(x, spec)
    blobs = {}
    for name in ("reference", "native"):
        monkeypatch.setenv("ENEC_CODECS_IMPL", name)
        blobs[name] = codecs.encode_words(words, spec, tuple(x.shape), "sparse", codecs.get_impl(),
                                          sparse_force=(fmt_id, param))
    assert np.array_equal(blobs["reference"], blobs["native"])
    h = codecs.read_header(blobs["native"])              # the common header and the codec's fields, checked
    for name in ("reference", "native"):
        monkeypatch.setenv("ENEC_CODECS_IMPL", name)
        assert np.array_equal(codecs.decode_words(blobs["native"], h, codecs.get_impl()), words)


# --------------------------------------------------------------------------- one-pass scan

@pytest.fixture(params=["avx512", "portable"])
def scan_path(request):
    """The scan's compaction with AVX-512 (where the CPU has it) and the portable loop."""
    has = native.set_scan_simd(request.param == "avx512")
    if request.param == "avx512" and not has:
        pytest.skip("this CPU has no AVX-512 VBMI2")
    yield request.param
    native.set_scan_simd(True)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.uint32])
def test_scan_equals_numpy(shape, dtype, scan_path):
    """native.SPARSE.scan (one pass: the non-zero words, the bitmap, the candidate counts)
    equals sparse.scan, which derives them from np.flatnonzero; gaps longer than the native
    binned range (4096) are among the position sets."""
    numel = _numel(shape)
    rng = np.random.default_rng(numel + dtype().itemsize)
    sets = _position_sets(numel, rng)
    if numel:
        sets.append(np.unique(rng.integers(0, numel, 3)))
    for pos in sets:
        words = np.zeros(numel, dtype)
        words[pos] = rng.integers(1, np.iinfo(dtype).max, pos.size, dtype=dtype, endpoint=True)
        a, b = REF.scan(words), NAT.scan(words)
        assert b.nnz == a.nnz == pos.size
        assert np.array_equal(a.values, b.values) and b.values.dtype == dtype
        assert np.array_equal(a.bitmap, b.bitmap)
        assert a.nonempty == b.nonempty and a.fillers == b.fillers
        assert b.candidates(shape) == sparse.candidates(numel, shape, pos)


def test_scan_long_gaps(scan_path):
    numel = 300_000
    pos = np.array([5, 4100, 4101, 70_000, 299_999])
    words = np.zeros(numel, np.uint16)
    words[pos] = 7
    sc = NAT.scan(words)
    gaps = np.diff(pos, prepend=-1) - 1
    for w in sparse.RLE_WIDTHS:
        assert sc.fillers[w] == int(np.sum(gaps // ((1 << w) - 1)))
    assert sc.nonempty[9] == len(np.unique(pos >> 9))


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_scan_threads_agree(threads, scan_path):
    """Above 1 Mi elements per thread the scan splits into ranges of whole 512-element blocks:
    runs of zeros across range boundaries and every word size give the numpy scan's numbers."""
    old = torch.get_num_threads()
    rng = np.random.default_rng(threads)
    n = (3 << 20) + 777
    try:
        torch.set_num_threads(threads)
        for dens, dtype in ((0.97, np.uint16), (0.5, np.uint8), (0.0005, np.uint32)):
            words = (rng.integers(1, 200, n) * (rng.random(n) < dens)).astype(dtype)
            words[1_000_000:2_500_000] = 0
            a, b = REF.scan(words), NAT.scan(words)
            assert a.nnz == b.nnz and np.array_equal(a.values, b.values) and np.array_equal(a.bitmap, b.bitmap)
            assert a.nonempty == b.nonempty and a.fillers == b.fillers, (dens, threads)
    finally:
        torch.set_num_threads(old)


# --------------------------------------------------------------------------- "auto" without extraction
# With the native libraries, "auto" on a BF16/FP16/FP32 tensor with zeros takes the zero bitmap
# from the histogram's pass (enec_analyze_bitmap), counts the pattern sizes from it
# (SPARSE.count), bounds the dense size from it (size_lower_bound) and encodes the non-zeros
# straight from the words (enec_encode_nonzeros). Oracles: the extracted values through the
# ordinary encoder, np.packbits, the numpy scan, and the reference implementation's "auto".

from enec import format as fmt  # noqa: E402
from enec import native as enec_native  # noqa: E402
from enec.codecs import enec as enec_codec  # noqa: E402
from enec.params import Params  # noqa: E402

FLOAT_WORDS = [("bfloat16", np.uint16), ("float16", np.uint16), ("float32", np.uint32)]


def _float_words(numel, zero_frac, name, rng, zero_runs=False):
    """Bit patterns of N(0, 0.02²) values of dtype `name`, no accidental zero, then zeros at a
    random `zero_frac` of the positions (or in runs)."""
    v = (rng.standard_normal(numel) * 0.02).astype(np.float32)
    if name == "bfloat16":
        w = (v.view(np.uint32) >> 16).astype(np.uint16)
    elif name == "float16":
        w = v.astype(np.float16).view(np.uint16)
    else:
        w = v.view(np.uint32).copy()
    w[w == 0] = 1
    if zero_runs:
        for s in rng.integers(0, max(numel, 1), int(numel * zero_frac / 50) + 1):
            w[s:s + 50] = 0
    else:
        w[rng.random(numel) < zero_frac] = 0
    return w


@pytest.fixture(params=[2, 1, 0], ids=["avx512", "avx2", "portable"])
def enec_level(request):
    if request.param > enec_native.simd_detected():
        pytest.skip("this CPU lacks the kernel level")
    enec_native.set_simd(request.param)
    yield request.param
    enec_native.set_simd(2)


@pytest.mark.parametrize("name,word", FLOAT_WORDS)
@pytest.mark.parametrize("numel", [0, 1, 63, 64, 65, 16383, 16384, 16385, 100_003])
def test_encode_nonzeros_equals_the_extracted_values(name, word, numel, enec_level):
    spec = fmt.dtype_spec(name)
    rng = np.random.default_rng(numel)
    for frac in (0.0, 0.03, 0.5, 0.999, 1.0):
        w = _float_words(numel, frac, name, rng)
        values = w[w != 0]
        bitmap = np.packbits(w != 0, bitorder="little")
        params = enec_codec.analyze(values, spec, enec_native)[1] if values.size else Params(0, 1, 0)
        want = enec_native.encode(values, spec, (values.size,), params)
        got = enec_native.encode_nonzeros(w, bitmap, values.size, spec, params)
        assert np.array_equal(got, want), (frac, enec_level)


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_encode_nonzeros_threads(threads):
    old = torch.get_num_threads()
    rng = np.random.default_rng(threads)
    w = _float_words((1 << 21) + 4099, 0.2, "bfloat16", rng, zero_runs=True)
    spec = fmt.dtype_spec("bfloat16")
    values = w[w != 0]
    params = enec_codec.analyze(values, spec, enec_native)[1]
    try:
        torch.set_num_threads(threads)
        got = enec_native.encode_nonzeros(w, np.packbits(w != 0, bitorder="little"), values.size, spec, params)
    finally:
        torch.set_num_threads(old)
    assert np.array_equal(got, enec_native.encode(values, spec, (values.size,), params))


def test_encode_nonzeros_rejects_a_bitmap_that_disagrees():
    spec = fmt.dtype_spec("float16")
    w = _float_words(5000, 0.1, "float16", np.random.default_rng(0))
    bitmap = np.packbits(w != 0, bitorder="little")
    nnz = int(np.count_nonzero(w))
    params = Params(15, 5, 2)
    for bad_nnz in (nnz - 1, nnz + 1):
        with pytest.raises(ValueError, match="non-zeros"):
            enec_native.encode_nonzeros(w, bitmap, bad_nnz, spec, params)
    with pytest.raises(ValueError, match="bitmap of"):
        enec_native.encode_nonzeros(w, bitmap[:-1], nnz, spec, params)


@pytest.mark.parametrize("name,word", FLOAT_WORDS)
@pytest.mark.parametrize("numel", [1, 64, 4097, 300_001])
def test_analyze_bitmap_is_analyze_plus_the_bitmap(name, word, numel, enec_level):
    spec = fmt.dtype_spec(name)
    w = _float_words(numel, 0.05, name, np.random.default_rng(numel))
    hist, params, bitmap = enec_native.analyze_bitmap(w, spec)
    h2, p2 = enec_native.analyze(w, spec)
    assert np.array_equal(hist, h2) and params == p2
    assert np.array_equal(bitmap, np.packbits(w != 0, bitorder="little"))


@pytest.mark.parametrize("shape", SHAPES + [(3 << 20,)], ids=str)
def test_count_from_the_bitmap_equals_the_scan(shape, scan_path):
    numel = _numel(shape)
    rng = np.random.default_rng(numel + 11)
    for pos in _position_sets(numel, rng):
        words = np.zeros(numel, np.uint16)
        words[pos] = rng.integers(1, 65535, pos.size, dtype=np.uint16)
        a, b = REF.scan(words), NAT.count(words, np.packbits(words != 0, bitorder="little"))
        assert b.nnz == a.nnz and b.values is None
        assert a.nonempty == b.nonempty and a.fillers == b.fillers
        assert b.candidates(shape) == sparse.candidates(numel, shape, pos)


@pytest.mark.parametrize("name,word", FLOAT_WORDS)
def test_dense_size_lower_bound_holds(name, word):
    spec = fmt.dtype_spec(name)
    rng = np.random.default_rng(7)
    for numel, frac, runs in ((1, 1.0, False), (70_000, 0.03, False), (70_000, 0.3, True), (16384 * 3 + 17, 0.5, False),
                              (100_000, 0.0, False)):
        w = _float_words(numel, frac, name, rng, zero_runs=runs)
        params = enec_native.analyze(w, spec)[1]
        bitmap = np.packbits(w != 0, bitorder="little")
        for shape in ((numel,), (1, numel)):
            bound = enec_native.size_lower_bound(bitmap, numel, spec, len(shape), params)
            exact = enec_native.encode(w, spec, shape, params).size
            assert bound <= exact
            assert bound >= fmt.layout(spec, numel, len(shape), params.m).outlier_offset


@pytest.mark.parametrize("name,word", FLOAT_WORDS)
@pytest.mark.parametrize("frac,runs", [(0.0, False), (0.01, False), (0.03, False), (0.3, False), (0.9, False),
                                       (0.05, True), (1.0, False)])
def test_auto_without_extraction_gives_the_reference_blob(name, word, frac, runs, monkeypatch):
    spec = fmt.dtype_spec(name)
    w = _float_words(200_003, frac, name, np.random.default_rng(int(frac * 100)), zero_runs=runs)
    monkeypatch.delenv("ENEC_CODECS_IMPL", raising=False)
    for shape in ((200_003,), (1, 200_003)):
        want = codecs.encode_words(w, spec, shape, "auto", codecs.get_impl("reference"))
        got = codecs.encode_words(w, spec, shape, "auto", codecs.get_impl("native"))
        assert np.array_equal(got, want), shape


def test_auto_zeros_the_sample_misses(monkeypatch):
    """Zeros only between the 16 sampled spans: the histogram's pass writes no bitmap, the scan
    finds it (values not extracted); same blob as the reference."""
    spec = fmt.dtype_spec("bfloat16")
    n = 1 << 20
    w = _float_words(n, 0.0, "bfloat16", np.random.default_rng(3))
    w[n // 15 + 512: 2 * n // 15 - 512] = 0           # 6.6 %, between the second and third spans
    assert not codecs._likely_sparse(w)
    monkeypatch.setattr(enec_native, "analyze_bitmap", lambda *a: pytest.fail("bitmap pass although no zero sampled"))
    got = codecs.encode_words(w, spec, (n,), "auto", codecs.get_impl("native"))
    assert np.array_equal(got, codecs.encode_words(w, spec, (n,), "auto", codecs.get_impl("reference")))
    assert codecs.read_header(got).codec == fmt.CODEC_SPARSE


def test_auto_skips_the_dense_size_pass_when_the_bound_decides(monkeypatch):
    """BF16 with 3 % scattered zeros: a zero sits in ~40 % of the dense blob's groups, so the
    bitmap's bound of the dense size already exceeds the sparse blob; neither the dense blob
    nor its exact size is computed, and nothing is extracted."""
    spec = fmt.dtype_spec("bfloat16")
    w = _float_words(300_000, 0.03, "bfloat16", np.random.default_rng(5))
    want = codecs.encode_words(w, spec, (300_000,), "auto", codecs.get_impl("reference"))
    monkeypatch.setattr(enec_native, "encoded_size", lambda *a: pytest.fail("exact dense size computed"))
    monkeypatch.setattr(enec_native, "encode", lambda *a, **k: pytest.fail("an extracted tensor encoded"))
    got = codecs.encode_words(w, spec, (300_000,), "auto", codecs.get_impl("native"))
    assert np.array_equal(got, want) and codecs.read_header(got).codec == fmt.CODEC_SPARSE


def test_auto_moves_the_in_place_bitmap_when_another_pattern_wins():
    """The histogram's pass writes the bitmap at its place in the sparse blob; when a run-length
    or two-level pattern is smaller, the values start where the bitmap lies: it is moved out
    before they are encoded. Same blob as the reference."""
    spec = fmt.dtype_spec("bfloat16")
    n = 1 << 20
    w = _float_words(n, 0.0, "bfloat16", np.random.default_rng(9))
    w[: n // 2] = 0                                    # half the tensor: one run of zeros
    w[n // 2::97] = 0
    assert codecs._likely_sparse(w)
    got = codecs.encode_words(w, spec, (n,), "auto", codecs.get_impl("native"))
    want = codecs.encode_words(w, spec, (n,), "auto", codecs.get_impl("reference"))
    assert np.array_equal(got, want)
    fmt_id = codecs.read_header(got).params[0]
    assert codecs.read_header(got).codec == fmt.CODEC_SPARSE and fmt_id != sparse.BITMAP
