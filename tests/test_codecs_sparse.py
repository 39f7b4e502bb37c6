"""Sparse formats (codec 4): every format round-trips on every dtype and odd shapes, pattern
sizes match sizes computed independently from the format definitions, the chooser is never
worse than any single fixed format, and 90%-pruned BF16 MiniLM shrinks at least 8x."""
import numpy as np
import pytest
import torch

import enec
from enec import codecs, cpu
from enec import format as fmt
from enec.codecs import sparse
from codec_oracles import bits_equal

FORMATS = ([(sparse.DENSE, 0), (sparse.BITMAP, 0), (sparse.CSR, 0)]
           + [(sparse.BITMAP2, p) for p in sparse.BITMAP2_LOG2]
           + [(sparse.RLE, w) for w in sparse.RLE_WIDTHS])
DTYPES = [torch.bfloat16, torch.float16, torch.float32, torch.float8_e4m3fn, torch.float8_e5m2,
          torch.int8, torch.uint8]


def sparse_tensor(shape, density, dtype, seed=0):
    """Non-zero values (never an all-zero bit pattern) where a random mask is set, zeros elsewhere."""
    g = torch.Generator().manual_seed(seed)
    if dtype in (torch.int8, torch.uint8):
        x = torch.randint(1, 100, shape, generator=g).to(dtype)
    else:
        x = (torch.randn(shape, generator=g) * 8 + 0.5).to(dtype)
    view = {1: torch.uint8, 2: torch.int16, 4: torch.int32}[x.element_size()]
    bits = x.view(view) if x.dim() else x.reshape(1).view(view).reshape(())
    bits = torch.where(bits == 0, torch.ones_like(bits), bits)
    keep = torch.rand(shape, generator=g) < density
    bits = torch.where(keep, bits, torch.zeros_like(bits))
    return bits.view(dtype) if x.dim() else bits.reshape(1).view(dtype).reshape(())


def force(x, fmt_id, param):
    spec = cpu.dtype_spec_of(x.dtype)
    words = cpu.tensor_words(x, spec)
    blob = codecs.encode_words(words, spec, tuple(x.shape), "sparse", codecs.get_impl(), sparse_force=(fmt_id, param))
    return torch.from_numpy(blob)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_every_format_round_trips(impl, dtype):
    x = sparse_tensor((37, 29), 0.15, dtype, seed=3)
    for fmt_id, param in FORMATS:
        blob = force(x, fmt_id, param)
        info = enec.inspect(blob)
        assert info.codec == "sparse"
        assert bits_equal(enec.decompress(blob), x), (fmt_id, param)


@pytest.mark.parametrize("shape", [(0,), (), (1,), (3, 0), (7,), (1, 1000), (64, 3), (5, 4, 33)])
@pytest.mark.parametrize("density", [0.0, 0.03, 0.5, 1.0])
def test_odd_shapes_and_densities(impl, shape, density):
    x = sparse_tensor(shape, density, torch.bfloat16, seed=len(shape))
    for fmt_id, param in [(sparse.BITMAP, 0), (sparse.BITMAP2, 2), (sparse.RLE, 1), (sparse.RLE, 7),
                          (sparse.CSR, 0), (sparse.DENSE, 0)]:
        assert bits_equal(enec.decompress(force(x, fmt_id, param)), x), (fmt_id, param)
    assert bits_equal(enec.decompress(enec.compress(x, codec="sparse")), x)


def test_negative_zero_and_nan_are_values(impl):
    x = torch.zeros(1000, dtype=torch.bfloat16)
    x[::7] = -0.0
    x[3::11] = float("nan")
    x.view(torch.int16)[5] = 0x7FC1           # a NaN payload
    for fmt_id, param in [(sparse.BITMAP, 0), (sparse.RLE, 3), (sparse.CSR, 0)]:
        blob = force(x, fmt_id, param)
        assert enec.inspect(blob).table["nnz"] == int((x.view(torch.int16) != 0).sum())
        assert bits_equal(enec.decompress(blob), x)


# --------------------------------------------------------------------------- exact sizes

def oracle_pattern_bits(mask: np.ndarray, shape, fmt_id, param):
    """Pattern sizes from the definitions in docs/FORMAT.md §7.4, written independently."""
    numel = mask.size
    nnz = int(mask.sum())
    if fmt_id == sparse.BITMAP:
        return numel
    if fmt_id == sparse.BITMAP2:
        s = 2 ** param
        nblocks = -(-numel // s)
        padded = np.zeros(nblocks * s, dtype=bool)
        padded[:numel] = mask
        return nblocks + s * int(padded.reshape(nblocks, s).any(axis=1).sum())
    if fmt_id == sparse.RLE:
        cap = 2 ** param - 1
        fields, run = 0, 0
        for bit in mask.tolist():
            if bit:
                fields += run // cap + 1
                run = 0
            else:
                run += 1
        return fields * param
    if fmt_id == sparse.CSR:
        cols = shape[-1] if shape else 1
        rows = numel // cols if cols else 0
        return (rows + 1) * len(bin(nnz)) - 2 * (rows + 1) + nnz * (len(bin(cols - 1)) - 2 if cols > 1 else 0) \
            if nnz else (rows + 1) * 0
    raise ValueError


@pytest.mark.parametrize("density", [0.02, 0.2, 0.7])
def test_pattern_sizes_match_independent_formulas(density):
    x = sparse_tensor((48, 40), density, torch.float16, seed=int(density * 100))
    mask = (x.view(torch.int16) != 0).numpy().ravel()
    for fmt_id, param in FORMATS[1:]:
        blob = force(x, fmt_id, param)
        got = enec.inspect(blob).section_bytes["pattern"]
        assert got == -(-oracle_pattern_bits(mask, tuple(x.shape), fmt_id, param) // 8), (fmt_id, param)


def test_chooser_never_worse_than_any_fixed_format(impl):
    for seed, density in enumerate([0.001, 0.01, 0.05, 0.2, 0.5, 0.8, 0.97, 0.995]):
        x = sparse_tensor((64, 200), density, torch.bfloat16, seed=seed)
        chosen = enec.compress(x, codec="sparse").numel()
        assert chosen <= min(force(x, f, p).numel() for f, p in FORMATS)
        auto = enec.compress(x).numel()
        dense = enec.compress(x, codec="enec").numel()
        zeros = int((x.view(torch.int16) == 0).sum())
        if zeros >= codecs.SPARSE_TRY_FRACTION * x.numel():
            assert auto == min(chosen, dense)
        else:
            assert auto == dense


def test_auto_chooses_sparse_only_when_smaller(impl):
    dense = sparse_tensor((100, 100), 0.998, torch.bfloat16)      # 0.2% zeros: not even tried
    assert enec.inspect(enec.compress(dense)).codec == "enec"
    very = sparse_tensor((100, 100), 0.05, torch.bfloat16)
    assert enec.inspect(enec.compress(very)).codec == "sparse"
    for dtype, dense_codec in [(torch.int8, "apack"), (torch.uint8, "apack"),
                               (torch.float8_e4m3fn, "qlc"), (torch.float8_e5m2, "qlc"),
                               (torch.float16, "enec"), (torch.float32, "enec")]:
        x = sparse_tensor((100, 100), 0.05, dtype)
        assert enec.inspect(enec.compress(x, codec="sparse")).table["values_codec"] == dense_codec
        auto = enec.compress(x)
        assert auto.numel() == min(enec.compress(x, codec="sparse").numel(),
                                   enec.compress(x, codec=dense_codec).numel())


# --------------------------------------------------------------------------- MiniLM, pruned

def prune_magnitude(w, frac):
    """Zero the `frac` smallest-magnitude elements of every 2-D tensor (1-D ones stay dense)."""
    if w.dim() < 2:
        return w
    a = w.float().abs().reshape(-1)
    k = int(frac * a.numel())
    thr = a.kthvalue(k).values
    return torch.where(w.float().abs() <= thr, torch.zeros_like(w), w)


def prune_2_4(w):
    if w.dim() < 2:
        return w
    g = w.float().abs().reshape(-1, 4)
    drop = g.argsort(dim=1)[:, :2]
    keep = torch.ones_like(g, dtype=torch.bool).scatter_(1, drop, False)
    return torch.where(keep.reshape(w.shape), w, torch.zeros_like(w))


def _fixed_format_totals(x):
    """Exact blob size of every single fixed format family (parameter tuned per tensor, as the
    chooser may), from independently computed pattern sizes and the real values blob."""
    words = x.view(torch.int16).numpy().ravel()
    mask = words != 0
    values = enec.compress(x.reshape(-1)[torch.from_numpy(mask)], codec="enec").numel()
    hb = fmt.header_bytes(x.dim())
    sizes = {"dense(enec)": enec.compress(x, codec="enec").numel()}

    def total(bits):
        return -(-(hb + -(-bits // 8)) // 32) * 32 + values

    sizes["bitmap"] = total(oracle_pattern_bits(mask, tuple(x.shape), sparse.BITMAP, 0))
    sizes["bitmap2"] = min(total(oracle_pattern_bits(mask, tuple(x.shape), sparse.BITMAP2, p))
                           for p in sparse.BITMAP2_LOG2)
    pos = np.flatnonzero(mask)
    gaps = np.diff(pos, prepend=-1) - 1
    sizes["rle"] = min(total((pos.size + int((gaps // (2 ** w - 1)).sum())) * w) for w in sparse.RLE_WIDTHS)
    sizes["csr"] = total(oracle_pattern_bits(mask, tuple(x.shape), sparse.CSR, 0))
    return sizes


@pytest.mark.parametrize("level", ["50%", "90%"])   # 70% and 2:4: scripts/bench_codecs.py
def test_minilm_pruned_chooser_and_ratio(level, minilm_bf16):
    tot = {"auto": 0}
    raw = 0
    for name, w in minilm_bf16.items():
        if not w.is_floating_point():
            continue
        x = prune_2_4(w) if level == "2:4" else prune_magnitude(w, float(level[:-1]) / 100)
        blob = enec.compress(x)
        if x.numel() <= 1536:                      # spot-check round trips on the small ones
            assert bits_equal(enec.decompress(blob), x)
        tot["auto"] += blob.numel()
        for k, v in _fixed_format_totals(x).items():
            tot[k] = tot.get(k, 0) + v
        raw += 2 * x.numel()
    best_fixed = min(v for k, v in tot.items() if k != "auto")
    print(level, {k: round(raw / v, 3) for k, v in tot.items()})
    assert tot["auto"] <= 1.01 * best_fixed
    if level == "90%":
        assert raw / tot["auto"] >= 8.0


def test_minilm_pruned_round_trip(impl, minilm_bf16):
    for name in ["encoder.layer.0.attention.output.dense.weight", "encoder.layer.5.output.dense.weight"]:
        x = prune_magnitude(minilm_bf16[name], 0.7)
        blob = enec.compress(x)
        assert enec.inspect(blob).codec == "sparse"
        assert bits_equal(enec.decompress(blob), x)


# --------------------------------------------------------------------------- "auto" with zeros

def scattered_zeros(n, frac, dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    if dtype in (torch.int8, torch.uint8):
        x = (torch.randn(n, generator=g) * 20).round().clamp(1, 100).to(dtype)
    else:
        x = (torch.randn(n, generator=g) * 0.02).clamp(min=1e-3).to(dtype)
    x[torch.randperm(n, generator=g)[:int(n * frac)]] = 0
    return x


CASES = [(0.03, torch.bfloat16), (0.016, torch.int8), (0.03, torch.float8_e4m3fn), (0.1, torch.float16),
         (0.5, torch.float32), (0.02, torch.uint8), (0.9, torch.int8)]


@pytest.mark.parametrize("frac,dtype", CASES, ids=str)
def test_auto_equals_the_smaller_of_both_blobs(impl, frac, dtype):
    """The fast decision gives the blob of the exhaustive one: the dense blob, or the sparse blob
    when strictly smaller."""
    x = scattered_zeros(70_000, frac, dtype).reshape(-1, 100)
    dense = enec.compress(x, codec=codecs.dense_codec(cpu.dtype_spec_of(dtype)))
    alt = enec.compress(x, codec="sparse")
    want = alt if alt.numel() < dense.numel() else dense
    assert torch.equal(enec.compress(x), want)


@pytest.mark.parametrize("frac,dtype", CASES, ids=str)
def test_sparse_lower_bound_holds(impl, frac, dtype):
    """The bound that spares building the sparse candidate never exceeds a patterned blob."""
    x = scattered_zeros(70_000, frac, dtype, seed=3).reshape(-1, 100)
    spec = cpu.dtype_spec_of(dtype)
    words = cpu.tensor_words(x, spec)
    dense = codecs.dense_codec(spec)
    imp = codecs.get_impl()
    hist = (codecs.enec.analyze(words, spec, imp)[0] if dense == "enec" else np.bincount(words, minlength=256))
    zeros = int((words == 0).sum())
    nnz = words.size - zeros
    nz = codecs._nonzero_params(hist, zeros, spec, imp) if dense == "enec" else None
    bound = codecs._values_lower_bound(words, spec, dense, hist, zeros, nz)
    values = codecs._dense(words[words != 0], spec, (nnz,), dense, imp)
    assert bound <= values.size
    for nbytes, fmt_id, param in sparse.candidates(words.size, tuple(x.shape), np.flatnonzero(words)):
        assert sparse.pattern_lower_bound(words.size, tuple(x.shape), nnz) <= nbytes, (fmt_id, param)


def test_auto_encodes_once_when_dense_surely_wins(impl, monkeypatch):
    """INT8 with 1.6 % zeros: the bound rules the sparse blob out; the dense blob is encoded once,
    with the tensor's shape, and no sparse candidate is built."""
    x = scattered_zeros(100_000, 0.016, torch.int8).reshape(100, 1000)
    want = enec.compress(x, codec="apack")
    calls = []
    real = codecs._dense
    monkeypatch.setattr(codecs, "_dense", lambda w, sp, shp, *a, **k: calls.append(shp) or real(w, sp, shp, *a, **k))
    monkeypatch.setattr(sparse, "encode_patterned", lambda *a, **k: pytest.fail("sparse candidate built"))
    blob = enec.compress(x)
    assert calls == [(100, 1000)]
    assert torch.equal(blob, want)


def test_auto_never_encodes_the_dense_blob_twice(impl, monkeypatch):
    """BF16 with 3 % zeros: the sparse blob wins. The reference encodes the dense blob once to
    learn its size, then the extracted values; the native library encodes neither the dense blob
    nor an extracted values tensor (it encodes the non-zeros straight from the words)."""
    x = scattered_zeros(100_000, 0.03, torch.bfloat16).reshape(100, 1000)
    calls = []
    real = codecs._dense
    monkeypatch.setattr(codecs, "_dense", lambda w, sp, shp, *a, **k: calls.append(shp) or real(w, sp, shp, *a, **k))
    nonzeros = []
    real_nz = codecs.enec.encode_nonzeros
    monkeypatch.setattr(codecs.enec, "encode_nonzeros",
                        lambda w, bm, nnz, *a, **k: nonzeros.append(nnz) or real_nz(w, bm, nnz, *a, **k))
    blob = enec.compress(x)
    assert enec.inspect(blob).codec == "sparse"
    nnz = int((x.view(torch.int16) != 0).sum())
    if impl.name == "reference":
        assert sorted(calls) == sorted([(nnz,), (100, 1000)]) and nonzeros == []
    else:
        assert calls == [] and nonzeros == [nnz]
