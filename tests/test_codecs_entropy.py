"""The entropy codec (codec 5): bit-exact round trips on every bit pattern, native == reference byte
for byte (every k, every SIMD level), sizes against an independent entropy oracle, hostile blobs,
codec="max"."""
import os
import struct

import numpy as np
import pytest
import torch

import enec
from enec import codecs, cpu
from enec import format as fmt
from enec.codecs import entropy, entropy_native
from codec_oracles import entropy_bits
from conftest import assert_bit_equal

FLOATS = [torch.bfloat16, torch.float16, torch.float32]
_INT = {torch.bfloat16: torch.int16, torch.float16: torch.int16, torch.float32: torch.int32}
# docs/FORMAT.md §7.5, written out: (exponent bits W, mantissa bits M) per dtype
_WM = {torch.bfloat16: (8, 7), torch.float16: (5, 10), torch.float32: (8, 23)}


def _from_bits(ints: np.ndarray, dtype) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(ints)).view(dtype)


def _all_patterns_16(dtype, seed=0):
    """Every 16-bit pattern (NaN payloads, ±0, ±Inf, subnormals), 1-3 times each, shuffled."""
    g = np.random.default_rng(seed)
    w = np.repeat(np.arange(65536, dtype=np.uint16), 1 + np.arange(65536) % 3)
    g.shuffle(w)
    return _from_bits(w.view(np.int16), dtype)


def _fp32_specials(n=70_000, seed=1):
    g = np.random.default_rng(seed)
    pats = np.array([0x00000000, 0x80000000, 0x7F800000, 0xFF800000, 0x7FC00001, 0xFFC12345, 0x7F800001,
                     0x00000001, 0x807FFFFF, 0x7F7FFFFF, 0x3F800000], dtype=np.uint32)
    w = g.integers(0, 2**32, n, dtype=np.uint64).astype(np.uint32)
    w[::3] = pats[g.integers(0, pats.size, w[::3].size)]
    return _from_bits(w.view(np.int32), torch.float32)


def _weights(n, dtype, seed=2, std=0.02):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n, generator=g) * std).to(dtype)


def _rt(x, codec="entropy"):
    blob = enec.compress(x, codec=codec)
    assert enec.inspect(blob).codec == ("entropy" if codec == "entropy" else enec.inspect(blob).codec)
    y = enec.decompress(blob)
    assert_bit_equal(y, x.contiguous())
    return blob


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=str)
def test_every_16_bit_pattern_round_trips(impl, dtype):
    _rt(_all_patterns_16(dtype))


def test_fp32_special_and_random_bits_round_trip(impl):
    _rt(_fp32_specials())


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("shape", [(0,), (), (1,), (3, 0, 2), (7,), (9,), (3, 5, 7), (16384,), (16385,),
                                   (2, 16384 + 9)])
def test_shapes(impl, dtype, shape):
    g = torch.Generator().manual_seed(3)
    _rt((torch.randn(shape, generator=g) * 0.02).to(dtype))


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
def test_non_contiguous_input(impl, dtype):
    x = _weights(600 * 70, dtype).reshape(600, 70)
    for v in (x.t(), x[1::3, ::2], x[:, 5].unsqueeze(0).expand(4, -1)):
        assert not v.is_contiguous()
        _rt(v)


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
def test_all_equal_tensor_has_one_symbol_and_no_rans_words(impl, dtype):
    x = torch.full((40_000,), -1.5, dtype=dtype)
    blob = _rt(x)
    info = enec.inspect(blob)
    assert info.table["freqs"] == [4096]                       # a one-symbol table
    blocks = -(-40_000 // 16384)
    assert info.section_bytes["rans"] == 32 * blocks           # lane states only: 0 bits a symbol


def _oracle_bits(x, k):
    """Bits of the symbols at their order-0 entropy plus the raw fields, for top-k symbols
    (docs/FORMAT.md §7.5; computed here from the bit patterns, not with enec's code)."""
    W, M = _WM[x.dtype]
    w = x.contiguous().reshape(-1).view(_INT[x.dtype]).numpy().astype(np.int64)
    w &= (1 << (1 + W + M)) - 1
    sym = (w >> (M - k)) & ((1 << (W + k)) - 1)
    return entropy_bits(np.bincount(sym)) + w.size * (M - k + 1)


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
def test_size_is_within_a_fraction_of_the_entropy_bound(impl, dtype):
    x = _weights(200_000, dtype)
    blob = enec.compress(x, codec="entropy")
    k = enec.inspect(blob).table["mantissa_bits_in_symbol"]
    best = min(_oracle_bits(x, j) for j in range(3))
    assert abs(_oracle_bits(x, k) - best) <= 0.002 * best     # the chosen k is (near) the best one
    bound = best / 8
    # 12-bit frequencies: a small loss against the entropy; blocks: 40 bytes each; header/table
    assert bound <= blob.numel() <= bound * 1.003 + 40 * 13 + 1024


def test_block_independence_costs_under_half_a_percent(impl):
    x = _weights(16384 * 5, torch.bfloat16)
    info = enec.inspect(enec.compress(x, codec="entropy"))
    assert info.independent_decode_bytes == 5 * (32 + 8)       # lane states + index entry a block
    assert info.independent_decode_bytes < 0.005 * info.compressed_bytes


def test_minilm_bf16_beats_enec_and_nears_the_bound(minilm_bf16):
    """On real weights (all-MiniLM-L6-v2, BF16), tensor by tensor: smaller than ENEC and within
    0.5 % of the per-tensor bound of symbols + raw bits."""
    tot_e = tot_h = tot_b = 0
    for name, t in minilm_bf16.items():
        if not t.is_floating_point():
            continue
        b = enec.compress(t, codec="entropy")
        tot_e += b.numel()
        tot_h += enec.compress(t, codec="enec").numel()
        k = enec.inspect(b).table["mantissa_bits_in_symbol"]
        tot_b += _oracle_bits(t, k) / 8
    assert tot_e < tot_h
    assert tot_e <= tot_b * 1.005


# ----------------------------------------------------------------------------- native == reference

needs_native = pytest.mark.skipif(not entropy_native.available() and os.environ.get("ENEC_ALLOW_NO_CODECS_NATIVE") == "1",
                                  reason="native entropy library not built")


@pytest.fixture(params=["portable", "avx2", "avx512"])
def simd(request):
    """Each kernel level this CPU has (a level it lacks is skipped, never counted as passing)."""
    if not entropy_native.available():
        pytest.fail(f"the native entropy library is not built: {entropy_native.load_error()}")
    level = {"portable": 0, "avx2": 1, "avx512": 2}[request.param]
    if entropy_native.simd_detected() < level:
        pytest.skip(f"this CPU lacks {request.param}")
    entropy_native.set_simd(level)
    assert entropy_native.simd_level() == level
    yield level
    entropy_native.set_simd(True)


def _native_inputs():
    out = [_all_patterns_16(torch.bfloat16), _all_patterns_16(torch.float16), _fp32_specials(40_000)]
    for dt in FLOATS:
        for n in (0, 1, 7, 8, 9, 31, 1000, 16383, 16384, 16385, 50_001):
            out.append(_weights(n, dt, seed=n))
        out.append(torch.full((20_000,), 0.25, dtype=dt))
        out.append(_weights(30_000, dt, std=1e4))
        # 10 blocks: the encoder's and the AVX2 decoder's groups of 4, the AVX-512 decoder's group
        # of 6, and blocks left alone after them; with zeros too
        # (a symbol far below the others: the decoder's table spans more than 256 symbols)
        big = _weights(16384 * 9 + 5, dt, seed=9)
        out.append(big)
        out.append(big.masked_fill(torch.arange(big.numel()) % 97 == 0, 0.0))
    return out


INPUTS = _native_inputs()


@needs_native
@pytest.mark.parametrize("i", range(len(INPUTS)))
def test_native_blob_is_byte_identical(simd, i):
    x = INPUTS[i]
    spec = cpu.dtype_spec_of(x.dtype)
    w = cpu.tensor_words(x, spec)
    ref = entropy.encode(w, spec, tuple(x.shape), entropy.Reference)
    nat = entropy.encode(w, spec, tuple(x.shape), entropy_native.ENTROPY)
    assert np.array_equal(ref, nat)
    h = fmt.parse_header(nat)
    assert np.array_equal(entropy.decode(nat, h, entropy_native.ENTROPY), w)


@needs_native
@pytest.mark.parametrize("k", [0, 1, 2])
@pytest.mark.parametrize("dtype", FLOATS, ids=str)
def test_native_kernels_match_the_reference_at_every_k(simd, dtype, k):
    x = _weights(16384 * 2 + 77, dtype, seed=k)
    spec = cpu.dtype_spec_of(dtype)
    w = cpu.tensor_words(x, spec)
    for a, b in zip(entropy_native.ENTROPY.histogram(w, spec), entropy.Reference.histogram(w, spec)):
        assert np.array_equal(a, b)
    plan = _layout0_plan(w, spec, k)
    r_raw, r_rans, r_ends = entropy.Reference.encode(w, spec, plan)
    n_raw, n_rans, n_ends = entropy_native.ENTROPY.encode(w, spec, plan)
    assert np.array_equal(r_raw, n_raw) and np.array_equal(r_rans, n_rans) and np.array_equal(r_ends, n_ends)
    out = entropy_native.ENTROPY.decode(n_raw, n_rans, n_ends, w.size, spec, plan)
    assert np.array_equal(out, w)


@needs_native
@pytest.mark.parametrize("dtype", FLOATS, ids=str)
def test_native_histogram_counts_every_pattern(dtype):
    """The native histogram (per segment of 16 blocks, the sign folded away, per block the OR
    of the mantissas) against numpy's bincount of the symbols, on every 16-bit pattern five times
    over (20 blocks: two segments, the second short) and on random FP32 words of every exponent."""
    spec = cpu.dtype_spec_of(dtype)
    if spec.word_bits == 16:
        w = np.tile(np.arange(1 << 16, dtype=np.uint16), 5)
        w[::7] = np.random.default_rng(3).permutation(w[::7])
    else:
        w = np.random.default_rng(3).integers(0, 1 << 32, 20 * entropy.BLOCK + 3, dtype=np.uint32)
    hist, mant_or = entropy_native.ENTROPY.histogram(w, spec)
    sym, _ = entropy.split(w, spec, entropy.MAX_TOP)
    seg = (np.arange(w.size) // entropy.BLOCK) // entropy.SEG_BLOCKS
    a = entropy.alphabet(spec, entropy.MAX_TOP)
    want = np.bincount(seg * a + sym, minlength=(seg[-1] + 1) * a).reshape(-1, a)
    assert np.array_equal(hist, want)
    M = entropy.fields(spec)[1]
    blocks = (w.size + entropy.BLOCK - 1) // entropy.BLOCK
    ors = [int(np.bitwise_or.reduce(w[b * entropy.BLOCK:(b + 1) * entropy.BLOCK].astype(np.int64) & ((1 << M) - 1)))
           for b in range(blocks)]
    assert list(mant_or) == ors


def _layout0_plan(w, spec, k):
    """One table at k for the whole tensor, raw fields of full width (layout 0)."""
    h = entropy.Reference.histogram(w, spec)[0].sum(axis=0).reshape(-1, 1 << (2 - k)).sum(axis=1)
    return entropy.Plan(k, 0, entropy.quantize(h)[None, :], None)


def _layout1_plan(w, spec, k, seg_log):
    """Layout 1 at k with a table per 2^seg_log blocks and every block's largest shift, whatever
    the encoder would choose: the kernels must code any plan the format allows."""
    blocks = (w.size + entropy.BLOCK - 1) // entropy.BLOCK
    sym, _ = entropy.split(w, spec, k)
    seg = (np.arange(w.size) // entropy.BLOCK) >> seg_log
    nt = (blocks + (1 << seg_log) - 1) >> seg_log
    a = entropy.alphabet(spec, k)
    h = np.bincount(seg * a + sym, minlength=nt * a).reshape(nt, a)
    _, mant_or = entropy.Reference.histogram(w, spec)
    shifts = entropy.trailing_zeros(mant_or, entropy.fields(spec)[1] - k).astype(np.uint8)
    return entropy.Plan(k, seg_log + 1, np.stack([entropy.quantize(r) for r in h]), shifts)


def _lowered(x, every, bits, dtype):
    """x with the blocks b % every == 0 holding values with `bits` low mantissa bits zero."""
    spec = cpu.dtype_spec_of(dtype)
    w = cpu.tensor_words(x.to(dtype), spec).copy()
    blk = np.arange(w.size) // entropy.BLOCK
    mask = np.array(~((1 << bits) - 1) & ((1 << spec.word_bits) - 1), dtype=w.dtype)
    w[blk % every == 0] &= mask
    return w


@needs_native
@pytest.mark.parametrize("seg_log", [0, 1, 2, 4])
@pytest.mark.parametrize("k", [0, 1, 2])
@pytest.mark.parametrize("dtype", FLOATS, ids=str)
def test_native_kernels_match_the_reference_in_layout_1(simd, dtype, k, seg_log):
    """Tables per 1, 2, 4, 16 blocks (decoder work units of every size, odd ones too) and shifted
    blocks between unshifted ones (every third block drops 3 or 13 mantissa bits)."""
    x = _weights(16384 * 13 + 77, torch.float32, seed=k)
    x[16384 * 7:] *= 50
    w = _lowered(x, 3, 3 if dtype != torch.float32 else 13, dtype)
    spec = cpu.dtype_spec_of(dtype)
    plan = _layout1_plan(w, spec, k, seg_log)
    assert np.count_nonzero(plan.shifts) >= 4 and len(plan.tables) == (14 + (1 << seg_log) - 1) >> seg_log
    r_raw, r_rans, r_ends = entropy.Reference.encode(w, spec, plan)
    n_raw, n_rans, n_ends = entropy_native.ENTROPY.encode(w, spec, plan)
    assert np.array_equal(r_raw, n_raw) and np.array_equal(r_rans, n_rans) and np.array_equal(r_ends, n_ends)
    assert np.array_equal(entropy_native.ENTROPY.decode(n_raw, n_rans, n_ends, w.size, spec, plan), w)
    assert np.array_equal(entropy.Reference.decode(r_raw, r_rans, r_ends, w.size, spec, plan), w)


def _words_with_symbols(present, spec, k, n, seed=0):
    """n words whose symbols (exponent and k top mantissa bits) take `present` distinct values,
    skewed like weights (the rANS table's ranks are limited to 256 in the AVX-512 decoder)."""
    g = np.random.default_rng(seed)
    W, M = spec.exp_bits, spec.raw_bits - 1
    syms = g.choice(1 << (W + k), present, replace=False)
    pick = np.minimum(g.geometric(0.02, n) - 1, present - 1)       # skewed: a few symbols dominate
    pick[:present] = np.arange(present)                             # every symbol at least once
    g.shuffle(pick)
    s = syms[pick].astype(np.uint64)
    low = g.integers(0, 1 << (M - k + 1), n, dtype=np.uint64)      # sign and the other mantissa bits
    w = ((low & 1) << (W + M)) | (s << (M - k)) | (low >> 1)
    return w.astype(np.uint16 if spec.word_bits == 16 else np.uint32)


@needs_native
@pytest.mark.parametrize("present", [1, 255, 256, 257, 600])
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float32], ids=str)
def test_native_kernels_at_the_ranked_table_limit(simd, dtype, present):
    """256 symbols of non-zero frequency is where the AVX-512 decoder's ranked table ends."""
    spec = cpu.dtype_spec_of(dtype)
    k = 2
    w = _words_with_symbols(present, spec, k, 16384 * 6 + 3)
    plan = _layout0_plan(w, spec, k)
    assert np.count_nonzero(plan.tables[0]) == present
    r_raw, r_rans, r_ends = entropy.Reference.encode(w, spec, plan)
    n_raw, n_rans, n_ends = entropy_native.ENTROPY.encode(w, spec, plan)
    assert np.array_equal(r_raw, n_raw) and np.array_equal(r_rans, n_rans) and np.array_equal(r_ends, n_ends)
    assert np.array_equal(entropy_native.ENTROPY.decode(n_raw, n_rans, n_ends, w.size, spec, plan), w)


@needs_native
def test_native_threads_give_the_same_bytes(simd):
    x = _weights(16384 * 40 + 5, torch.bfloat16)
    blobs = []
    prev = torch.get_num_threads()
    try:
        for t in (1, 2, 3):
            torch.set_num_threads(t)
            blobs.append(enec.compress(x, codec="entropy"))
            assert_bit_equal(enec.decompress(blobs[-1]), x)
    finally:
        torch.set_num_threads(prev)
    assert all(torch.equal(b, blobs[0]) for b in blobs)


# ----------------------------------------------------------------------------- hostile blobs

def _blob(dtype=torch.bfloat16, n=16384 + 501):
    return enec.compress(_weights(n, dtype), codec="entropy").numpy().copy()


def _offsets(b):
    h = fmt.parse_header(b)
    return h, h.offsets


def _u64(b, off, val):
    b[off:off + 8] = np.frombuffer(struct.pack("<Q", val % 2**64), np.uint8)


def _corrupt(kind):
    b = _blob()
    h, (t_off, i_off, r_off, s_off, _) = _offsets(b)
    if kind == "truncated":
        return b[:-3]
    if kind == "trailing":
        return np.concatenate([b, np.zeros(5, np.uint8)])
    if kind == "table sum":
        b[t_off + 4] ^= 1
    elif kind == "table range":
        b[t_off:t_off + 2] = np.frombuffer(struct.pack("<H", 1020), np.uint8)
    elif kind == "table zero edge":
        first, nsym = struct.unpack_from("<HH", b, t_off)
        b[t_off + 2:t_off + 4] = np.frombuffer(struct.pack("<H", nsym + 1), np.uint8)
    elif kind == "k":
        b[8] = 3
    elif kind == "prob bits":
        b[9] = 11
    elif kind == "lanes":
        b[10] = 4
    elif kind == "index past end":
        _u64(b, i_off, 2**63)
    elif kind == "index decreasing":
        _u64(b, i_off, int(b[i_off + 8:i_off + 16].view("<u8")[0]) + 2)
    elif kind == "index odd":
        _u64(b, i_off, int(b[i_off:i_off + 8].view("<u8")[0]) + 1)
    elif kind == "low state":
        b[s_off:s_off + 4] = 0
    elif kind == "words":
        b[s_off + 40] ^= 0x5A
    elif kind == "raw padding":
        bits = h.numel * (8 - h.params[0])              # BF16 raw fields: 8 - k bits each
        assert bits % 8, "the case needs padding bits in the raw section's last byte"
        b[r_off + (bits + 7) // 8 - 1] |= 0x80
    elif kind == "offset":
        _u64(b, 64, int(b[64:72].view("<u8")[0]) + 32)
    elif kind == "ndim":
        b[7] = 40
    return b


KINDS = ["truncated", "trailing", "table sum", "table range", "table zero edge", "k", "prob bits", "lanes",
         "index past end", "index decreasing", "index odd", "low state", "words", "raw padding", "offset", "ndim"]


@pytest.mark.parametrize("kind", KINDS)
def test_hostile_blob_raises_a_clear_error(impl, kind):
    bad = _corrupt(kind)
    with pytest.raises(enec.CorruptStreamError):
        y = enec.decompress(bad)
        # a flipped word may still decode to a tensor only if the stream ends exactly right
        raise AssertionError(f"decoded {y.shape} from a blob with a corrupt {kind}")


_L1_BLOB = []


def _layout1_blob():
    """A float16 blob in layout 1: 18 blocks, two tables (the last 2 blocks' values are 300 times
    larger), every fourth block with its 3 lowest mantissa bits zero (shifted)."""
    if not _L1_BLOB:
        x = _weights(16384 * 18 - 3, torch.float32, seed=5)
        x[16384 * 16:] *= 300
        w = _lowered(x, 4, 3, torch.float16)
        t = torch.from_numpy(w.view(np.int16).copy()).view(torch.float16)
        _L1_BLOB.append((enec.compress(t, codec="entropy").numpy().copy(), t))
    b, t = _L1_BLOB[0]
    return b.copy(), t


def test_layout_1_blob_is_what_the_hostile_cases_assume(impl):
    b, t = _layout1_blob()
    h = fmt.parse_header(b)
    assert h.params[3] == 5 and h.offsets[4] > 0           # tables of 16 blocks, a shift section
    info = enec.inspect(torch.from_numpy(b))
    assert info.table["tables"] == 2 and info.table["shifted_blocks"] == 5
    assert_bit_equal(enec.decompress(torch.from_numpy(b)), t)


def _corrupt_layout1(kind):
    b, _ = _layout1_blob()
    h = fmt.parse_header(b)
    t_off, _, r_off, _, sh_off = h.offsets
    k = h.params[0]
    first, nsym = struct.unpack_from("<HH", b, t_off)
    t2 = t_off + 4 + 2 * nsym                              # the second table
    if kind == "shift too large":
        b[sh_off + 1] = 10 - k + 1                         # float16: M - k mantissa bits at most
    elif kind == "shift changed":
        b[sh_off + 1] = 1                                  # the raw offsets move: the sections disagree
    elif kind == "second table sum":
        b[t2 + 4] ^= 1
    elif kind == "second table range":
        b[t2:t2 + 2] = np.frombuffer(struct.pack("<H", 200), np.uint8)
    elif kind == "layout 0 with a shift section":
        b[11] = 0
    elif kind == "segment size":
        b[11] = 4                                          # 8 blocks a table: 3 tables expected
    elif kind == "segment size too large":
        b[11] = 60
    elif kind == "shift offset":
        _u64(b, 80, int(b[80:88].view("<u8")[0]) + 32)
    elif kind == "raw padding":
        nb_last = h.numel - 17 * 16384
        w_last = 10 - k + 1 - int(b[sh_off + 17])
        assert (nb_last * w_last) % 8, "the case needs padding bits in the raw section's last byte"
        raw_bytes = h.offsets[3] - r_off                   # (rounded up to 32: find the last used byte)
        offs = entropy.raw_offsets(h.numel, h.dtype, k, b[sh_off:sh_off + 18])
        b[r_off + int(offs[-1]) - 1] |= 0x80
        assert raw_bytes >= offs[-1]
    return b


KINDS_L1 = ["shift too large", "shift changed", "second table sum", "second table range",
            "layout 0 with a shift section", "segment size", "segment size too large", "shift offset",
            "raw padding"]


@pytest.mark.parametrize("kind", KINDS_L1)
def test_hostile_layout_1_blob_raises_a_clear_error(impl, kind):
    bad = _corrupt_layout1(kind)
    with pytest.raises(enec.CorruptStreamError):
        y = enec.decompress(torch.from_numpy(bad))
        raise AssertionError(f"decoded {y.shape} from a layout-1 blob with a corrupt {kind}")


@pytest.mark.parametrize("p3", [0, 1])
def test_blob_claiming_more_elements_than_it_holds_is_rejected_before_its_tables(impl, monkeypatch, p3):
    """A 1 MB blob whose header claims 70,000 blocks (a table per block in layout 1, valid
    one-symbol tables, k = 2: 1,024-symbol alphabets) cannot hold their raw bits; the header check
    rejects it before one table is parsed (parsing them all would take seconds and a GB)."""
    blocks = 70_000
    numel = blocks * entropy.BLOCK
    spec = fmt.dtype_spec("bfloat16")
    ntab = blocks if p3 else 1
    table_off = fmt.header_bytes(1)
    tables = np.tile(np.array([0, 1, entropy.PROB_SCALE], "<u2").view(np.uint8), ntab)
    shift_off = _round32(table_off + tables.size) if p3 else 0
    index_off = _round32((shift_off + blocks) if p3 else table_off + tables.size)
    raw_off = _round32(index_off + 8 * blocks)
    total = raw_off + 64
    hdr = fmt.Header(entropy.ID, spec, (numel,), numel, (entropy.MAX_TOP, entropy.PROB_BITS, entropy.LANES, p3), entropy.BLOCK,
                     blocks, (table_off, index_off, raw_off, raw_off, shift_off), total)
    b = np.zeros(total, np.uint8)
    b[:table_off] = np.frombuffer(hdr.pack(), np.uint8)
    b[table_off:table_off + tables.size] = tables
    assert (total > 1_000_000) == bool(p3)

    def no_tables(*a, **kw):
        raise AssertionError("a table was parsed")
    monkeypatch.setattr(entropy, "_read_one_table", no_tables)
    with pytest.raises(enec.CorruptStreamError, match="cannot fit"):
        enec.decompress(torch.from_numpy(b))


def _round32(v):
    return -(-v // 32) * 32


def _big_blob_mutations():
    """Corruptions of a 13-block blob inside the blocks the SIMD decoders take in groups (4 for
    AVX2, 6 for AVX-512): flipped words early, in the middle and at the end of a block, a state,
    and a block whose words are cut short by moving one index entry."""
    x = _weights(16384 * 13 + 5, torch.bfloat16, seed=13)
    b = enec.compress(x, codec="entropy").numpy().copy()
    h, (t_off, i_off, r_off, s_off, _) = _offsets(b)
    ends = b[i_off:i_off + 8 * h.blocks].view("<u8").astype(np.int64)
    starts = np.concatenate([[0], ends[:-1]])
    out = []
    for blk, where in ((0, 40), (2, None), (4, -2), (7, 100), (11, None)):
        m = b.copy()
        a, e = s_off + int(starts[blk]), s_off + int(ends[blk])
        pos = (a + e) // 2 if where is None else (a + where if where >= 0 else e + where)
        m[pos] ^= 0x24
        out.append((f"word in block {blk}", m))
    m = b.copy()
    m[s_off + int(starts[5]) + 3] ^= 0x01                      # a lane state's top byte
    out.append(("state of block 5", m))
    m = b.copy()
    _u64(m, i_off + 8 * 3, int(ends[3]) - 2)                   # block 3 loses a word, block 4 gains it
    out.append(("index entry 3", m))
    return out


@needs_native
@pytest.mark.parametrize("case", range(7))
def test_simd_decoders_refuse_corrupt_words_like_the_reference(case):
    """Every kernel level gives the reference's verdict on words corrupted inside the block groups
    the SIMD decoders run together (the small blobs above never fill a group)."""
    name, bad = _big_blob_mutations()[case]
    verdicts = []
    try:
        cpu.decompress_tensor(torch.from_numpy(bad), impl=codecs.get_impl("reference"))
        verdicts.append(None)
    except enec.CorruptStreamError as e:
        verdicts.append(str(e))
    assert verdicts[0] is not None, f"the reference decoded a blob with a corrupt {name}"
    if not entropy_native.available():
        pytest.fail(f"the native entropy library is not built: {entropy_native.load_error()}")
    try:
        for level in range(entropy_native.simd_detected() + 1):
            entropy_native.set_simd(level)
            try:
                cpu.decompress_tensor(torch.from_numpy(bad), impl=codecs.get_impl("native"))
                verdicts.append(None)
            except enec.CorruptStreamError as e:
                verdicts.append(str(e))
    finally:
        entropy_native.set_simd(True)
    assert len(set(verdicts)) == 1, (name, verdicts)


def test_both_implementations_give_the_same_verdict():
    for kind in KINDS:
        if kind == "raw padding":
            continue
        bad = _corrupt(kind)
        msgs = []
        for name in codecs.implementations():
            try:
                cpu.decompress_tensor(bad, impl=codecs.get_impl(name))
                msgs.append(None)
            except enec.CorruptStreamError as e:
                msgs.append(str(e))
        assert len(set(msgs)) == 1, (kind, msgs)


# ----------------------------------------------------------------------------- max, sizes, API

@pytest.mark.parametrize("dtype", FLOATS + [torch.float8_e4m3fn, torch.int8], ids=str)
def test_max_picks_the_smallest_codec(impl, dtype):
    g = torch.Generator().manual_seed(4)
    x = (torch.randn(30_000, generator=g) * 20).to(dtype)
    x.view(torch.uint8)[: x.numel() * x.element_size() // 3] = 0       # zeros: sparse applies too
    blob = enec.compress(x, codec="max")
    assert_bit_equal(enec.decompress(blob), x)
    floats = x.dtype in FLOATS
    sizes = [enec.compress(x, codec=c).numel() for c in
             (["auto", "enec", "entropy", "sparse"] if floats else ["auto", "qlc", "apack", "sparse"])]
    assert blob.numel() == min(sizes)


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
def test_max_compressed_size_holds_for_random_bits_and_out(impl, dtype):
    n = 16384 + 33
    g = np.random.default_rng(5)
    w = g.integers(0, 2**32, n, dtype=np.uint64).astype(np.uint32 if dtype == torch.float32 else np.uint16)
    x = _from_bits(w.view(np.int32 if dtype == torch.float32 else np.int16), dtype)
    cap = enec.max_compressed_size(n, dtype, 1, codec="entropy")
    blob = enec.compress(x, codec="entropy")
    assert blob.numel() <= cap
    out = torch.empty(cap, dtype=torch.uint8)
    assert torch.equal(enec.compress(x, codec="entropy", out=out), blob)
    assert enec.max_compressed_size(n, dtype, 1, codec="max") >= cap


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
@pytest.mark.parametrize("layout1", [False, True], ids=["layout0", "layout1"])
def test_out_buffers_are_written_in_place(impl, dtype, layout1, monkeypatch):
    """compress(out=) and decompress(out=) give the bytes and values of the plain calls, also
    into views that start one byte (blob) or one word (values) off their allocation. The native
    kernels write into the caller's buffers themselves: with them, any allocation of an output
    array fails the test. A too-small `out` gets the clear error."""
    n = 3 * entropy.BLOCK + 77
    x = _weights(n, dtype, seed=9)
    if layout1:        # blocks with zero low mantissa bits: a shift section (layout 1)
        xi = x.view(_INT[dtype]).clone()
        xi[: 2 * entropy.BLOCK] &= -(1 << 4)
        x = xi.view(dtype)
    blob = enec.compress(x, codec="entropy")
    assert (entropy.read_header(fmt.parse_header(blob.numpy())).params[3] > 0) == layout1
    with pytest.raises(enec.EnecError, match="out holds"):
        enec.compress(x, codec="entropy", out=torch.empty(blob.numel() - 1, dtype=torch.uint8))
    cap = enec.max_compressed_size(n, dtype, 1, codec="entropy")
    out = torch.full((cap + 1,), 0xA5, dtype=torch.uint8)
    y = torch.empty(n + 1, dtype=dtype)[1:]
    y.view(_INT[dtype]).fill_(-1)
    if impl.name == "native":
        def no_alloc(*a):
            raise AssertionError("the native kernel allocated an output array instead of using out")
        monkeypatch.setattr(entropy_native, "_empty", no_alloc)
    got = enec.compress(x, codec="entropy", out=out[1:])
    assert torch.equal(got, blob)
    assert got.data_ptr() == out.data_ptr() + 1
    back = enec.decompress(blob, out=y)
    assert back.data_ptr() == y.data_ptr()
    assert_bit_equal(back, x)


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
def test_large_output_round_trips_at_any_alignment(impl, dtype):
    """From 2^22 elements the native decoder writes a 64-byte aligned output past the caches
    (non-temporal stores); a fresh output, an aligned out= and one a word off all get the bits."""
    n = (1 << 22) + 3 * entropy.BLOCK + 5
    x = _weights(n, dtype, seed=12)
    blob = enec.compress(x, codec="entropy")
    assert_bit_equal(enec.decompress(blob), x)
    base = torch.empty(n + 64, dtype=dtype)
    step = 64 // x.element_size()
    skip = (-base.data_ptr() % 64) // x.element_size()
    for off in (skip, skip + 1):                     # 64-byte aligned, then one word off
        y = base[off:off + n]
        y.view(_INT[dtype]).fill_(-1)
        assert (y.data_ptr() % 64 == 0) == (off == skip) and step > 1
        assert_bit_equal(enec.decompress(blob, out=y), x)


def test_entropy_rejects_8_bit_dtypes():
    with pytest.raises(enec.UnsupportedDTypeError):
        enec.compress(torch.zeros(4, dtype=torch.int8), codec="entropy")


def test_checksum_is_verified(impl):
    x = _weights(5000, torch.bfloat16)
    b = enec.compress(x, codec="entropy", checksum=True).numpy().copy()
    assert_bit_equal(enec.decompress(b), x)
    b[fmt.CHECKSUM_OFFSET] ^= 1
    with pytest.raises(enec.ChecksumMismatchError):
        enec.decompress(b)


def _greedy_table(c):
    """quantize's rule written plainly (an oracle): floor, then one unit at a time to the symbol
    whose cost changes most, found by a full scan (ties: the lower symbol)."""
    import math
    c = [int(v) for v in c]
    n = sum(c)
    f = [max(1, v * 4096 // n) if v else 0 for v in c]
    while sum(f) < 4096:
        gain = [(-v * math.log2((q + 1) / q), i) for i, (v, q) in enumerate(zip(c, f)) if v]
        f[min(gain)[1]] += 1
    while sum(f) > 4096:
        loss = [(v * math.log2(q / (q - 1)), i) for i, (v, q) in enumerate(zip(c, f)) if q > 1]
        f[min(loss)[1]] -= 1
    return np.array(f, dtype=np.int64)


def test_quantize_matches_the_plain_greedy_rule():
    """The heap over present symbols picks the same units as a full scan would, on histograms
    that need units added, removed, and ties broken."""
    g = np.random.default_rng(11)
    cases = [np.array([1, 1, 1]), np.array([0, 5, 0, 5, 0]), np.array([10**12, 1, 0, 1]),
             np.ones(300, np.int64), np.array([1] * 3000 + [10**6])]
    for _ in range(60):
        a = int(g.choice([4, 40, 300]))
        c = (g.pareto(1.0, a) * 50).astype(np.int64) * (g.random(a) < 0.5)
        c[g.integers(0, a)] += 1
        cases.append(c)
    for c in cases:
        np.testing.assert_array_equal(entropy.quantize(c), _greedy_table(c))


def test_layout0_choice_is_the_cheapest_candidate():
    """choose_plan's layout-0 k skips the k whose entropy bound cannot win; it must still pick
    table_candidates' cheapest (ties: the smaller k) and the same table, on every dtype."""
    g = np.random.default_rng(13)
    for name in ("bfloat16", "float16", "float32"):
        spec = fmt.dtype_spec(name)
        a = entropy.alphabet(spec, entropy.MAX_TOP)
        for n in (1, 7, 384, 5000, 300000):
            for scale in (0.02, 1.0, 1e-30):
                x = torch.from_numpy((g.standard_normal(n) * scale).astype(np.float32)).to(getattr(torch, name))
                h, _ = entropy.Reference.histogram(cpu.tensor_words(x, spec), spec)
                hist = h.sum(axis=0)
                cost, k, f = min(entropy.table_candidates(hist, spec, n), key=lambda c: (c[0], c[1]))
                k2, f2, table_at = entropy._layout0_choice(hist, spec, n)
                assert k2 == k and np.array_equal(f2, f), (name, n, scale)
                for q, (_, _, fq) in enumerate(entropy.table_candidates(hist, spec, n)):
                    np.testing.assert_array_equal(table_at(q), fq)
        flat = np.zeros(a, np.int64)
        flat[::4] = 1                                  # every k the same symbols: ties
        cost, k, f = min(entropy.table_candidates(flat, spec, int(flat.sum())), key=lambda c: (c[0], c[1]))
        assert entropy._layout0_choice(flat, spec, int(flat.sum()))[0] == k


def test_trailing_zeros_per_block():
    """The lowest-set-bit form against a bit-by-bit count, every width, zero and full ORs."""
    g = np.random.default_rng(12)
    v = np.concatenate([g.integers(0, 1 << 23, 400) << g.integers(0, 23, 400),
                        [0, 1, 1 << 22, (1 << 23) - 1]]).astype(np.int64) & ((1 << 23) - 1)
    for width in range(0, 24):
        masked = v & ((1 << width) - 1)
        want = [width if m == 0 else (int(m) & -int(m)).bit_length() - 1 for m in masked]
        np.testing.assert_array_equal(entropy.trailing_zeros(v, width), want)


def test_quantized_table_is_a_valid_12_bit_model():
    """Every present symbol gets >= 1 of 4096, absent ones 0, the sum is 4096; its cost is near
    the entropy (an independent oracle) on a peaked histogram."""
    g = np.random.default_rng(6)
    for _ in range(50):
        c = g.integers(0, 1000, size=int(g.integers(1, 300))) * (g.random(1) < 0.7)
        c[g.integers(0, c.size)] += 1 + int(g.integers(0, 10**6))           # never all zero
        f = entropy.quantize(c)
        assert f.sum() == 4096 and np.all((f > 0) == (c > 0))
    c = np.round(1e6 * np.exp(-0.5 * ((np.arange(40) - 20) / 3.0) ** 2)).astype(np.int64) + 1
    f = entropy.quantize(c)
    assert entropy.coded_bits(c, f) <= entropy_bits(c) * 1.002
    assert entropy.quantize(np.zeros(7, np.int64)).sum() == 0


@pytest.mark.parametrize("dtype", FLOATS, ids=str)
def test_plan_size_estimate_stays_under_the_blob(dtype):
    """choose_plan's est_bytes is within 0.2 % of the blob it chose, and the bytes the native
    encoder maps in a fresh blob before writing it (entropy_native.surely_written) never run past
    the blob: no page is mapped that the encoder does not write. Layout 0, layout 1 with shifts
    and with a table per segment, a one-block tensor."""
    spec = cpu.dtype_spec_of(dtype)
    cases = [cpu.tensor_words(_weights(16384 * 5 + 3, dtype), spec),
             cpu.tensor_words(_weights(300, dtype, seed=4), spec),
             _lowered(_weights(16384 * 6, torch.float32, seed=5), 2, 6, dtype),
             cpu.tensor_words(torch.cat([_weights(16384 * 20, dtype), _weights(16384 * 20, dtype, seed=6, std=3.0)]), spec)]
    for w in cases:
        plan = entropy.choose_plan(*entropy.Reference.histogram(w, spec), spec, w.size, 1)
        blob = entropy.encode(w, spec, (w.size,))
        lay = entropy.layout(w.size, 1, spec, plan.k, [entropy.table_span(f)[1] for f in plan.tables], plan.shifts)
        assert abs(plan.est_bytes - blob.size) <= 0.002 * blob.size + 64, (plan.est_bytes, blob.size)
        assert lay.rans_off <= entropy_native.surely_written(plan, lay) <= blob.size
