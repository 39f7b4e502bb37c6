"""Reused plans (enec.plan, params=) and the decompress status (decompress_with_status, kernel_status).

A plan is ENEC's (b, n, m) with n fixed to the exponent width W, so that it is lossless for any
tensor; these tests check that choice against a search written from docs/FORMAT.md §6, that
blobs made with a plan are the reference encoder's bytes for those parameters on every
implementation (CPU and the emulated NPU orchestration) and decode bit for bit whatever the data,
and that the device status codes become the typed errors.
"""
import numpy as np
import pytest
import torch

import enec
import emulated as E
from enec import codecs
from enec import format as fmt
from enec import kernel_status
from enec import reference as R
from enec.params import Params
from codec_oracles import _signed
from conftest import assert_bit_equal

SPECS = {torch.bfloat16: fmt.BF16, torch.float16: fmt.FP16, torch.float32: fmt.FP32}
FIELD = {torch.bfloat16: (torch.int16, 7, 8), torch.float16: (torch.int16, 10, 5), torch.float32: (torch.int32, 23, 8)}


def plan_by_spec(x: torch.Tensor) -> tuple:
    """§6's search with n = W for every pivot (lossless for any exponent), from the text."""
    view, shift, W = FIELD[x.dtype]
    e = (x.contiguous().reshape(-1).view(view).numpy().astype(np.int64) >> shift) & ((1 << W) - 1)
    hist = np.bincount(e, minlength=1 << W)
    present = np.flatnonzero(hist)
    if present.size == 1:
        return int(present[0]), W, 0
    best = None
    for b in range(1 << W):
        codes = _signed(b - present, W) % (1 << W)
        for m in range(W + 1):
            p = float(hist[present[codes < (1 << m)]].sum()) / hist.sum()
            for _ in range(4):
                p = p * p
            key = (m + (W - m) * (1.0 - p), b, m)
            best = key if best is None or key < best else best
    return best[1], W, best[2]


def words(x: torch.Tensor) -> np.ndarray:
    return x.contiguous().reshape(-1).view(FIELD[x.dtype][0]).numpy().view(
        np.uint32 if x.dtype == torch.float32 else np.uint16)


def weights(dtype, n=5000, scale=0.02, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(n, generator=g) * scale).to(dtype)


def every_pattern(dtype):
    """Every 16-bit pattern (NaN payloads, +-0, Inf, subnormals), or a spread of 32-bit ones."""
    if dtype == torch.float32:
        g = torch.Generator().manual_seed(1)
        return torch.randint(-2**31, 2**31 - 1, (70000,), generator=g, dtype=torch.int64).to(torch.int32).view(dtype)
    return torch.arange(-2**15, 2**15, dtype=torch.int32).to(torch.int16).view(dtype)


@pytest.mark.parametrize("dtype", list(SPECS), ids=str)
def test_plan_is_the_full_width_search(dtype):
    for x in (weights(dtype), weights(dtype, scale=3.0, seed=1), torch.full((100,), 1.5, dtype=dtype)):
        p = enec.plan(x)
        assert (p.b, p.n, p.m) == plan_by_spec(x)
        assert p.n == SPECS[dtype].exp_bits


@pytest.mark.parametrize("dtype", list(SPECS), ids=str)
def test_a_plan_is_lossless_for_any_tensor(impl, dtype):
    """A plan made on small weights, used on every bit pattern: the reference's bytes, bit-exact back."""
    plan = enec.plan(weights(dtype))
    spec = SPECS[dtype]
    for x in (every_pattern(dtype), weights(dtype, scale=1e4, seed=2), weights(dtype, n=0),
              every_pattern(dtype)[:21840].reshape(-1, 7)[:, 1:5]):
        blob = enec.compress(x, params=plan)
        ref = R.compress_words(words(x), spec, tuple(x.shape), Params(plan.b, plan.n, plan.m))
        assert np.array_equal(blob.numpy(), ref)
        assert_bit_equal(enec.decompress(blob), x)
        header = enec.header_of(blob)
        assert (header.b, header.n, header.m) == (plan.b, plan.n, plan.m)


def test_params_through_the_ops_and_into(impl):
    x = weights(torch.bfloat16, n=11 * (fmt.BLOCK_ELEMS // 4 + 3)).reshape(-1, 11)
    plan = enec.plan(x)
    blob = torch.ops.enec.compress(x, False, "auto", [plan.b, plan.n, plan.m])
    out = torch.full((enec.max_compressed_size(x.numel(), x.dtype, x.dim()),), 0xA5, dtype=torch.uint8)
    size = torch.ops.enec.compress_into(x, out, False, "enec", [plan.b, plan.n, plan.m])
    assert torch.equal(out[:int(size)], blob)
    assert torch.equal(enec.compress(x, params=plan, out=out.clone()), blob)
    torch.library.opcheck(torch.ops.enec.compress.default, (x, False, "auto", [plan.b, plan.n, plan.m]))


def test_params_under_torch_compile():
    x = weights(torch.float16, n=4096)
    plan = enec.plan(x)

    @torch.compile(fullgraph=True, backend="eager")
    def f(t):
        return torch.ops.enec.compress(t, False, "auto", [plan.b, plan.n, plan.m])

    assert torch.equal(f(x), enec.compress(x, params=plan))


def test_bad_params_are_refused():
    x = weights(torch.bfloat16)
    good = enec.plan(x)
    for bad, what in (((good.b, 5, 2), "n=5"), ((256, 8, 2), "b=256"), ((good.b, 8, 9), "m=9"),
                      ((1, 2), "three integers")):
        with pytest.raises(enec.EnecError, match=what):
            enec.compress(x, params=bad)
        with pytest.raises(enec.EnecError, match=what):
            torch.ops.enec.compress(x, False, "auto", list(bad))
    with pytest.raises(enec.EnecError, match="enec codec"):
        enec.compress(x, params=good, codec="sparse")
    with pytest.raises(enec.EnecError, match="enec codec"):
        enec.compress(torch.zeros(4, dtype=torch.int8), params=(0, 8, 0))
    with pytest.raises(enec.UnsupportedDTypeError):
        enec.plan(torch.zeros(4, dtype=torch.int8))


@pytest.mark.parametrize("dtype", list(SPECS), ids=str)
def test_emulated_npu_compress_with_a_plan_makes_the_cpu_bytes(dtype):
    """The binding's orchestration with a plan: no histogram, nothing read back, the CPU's blob."""
    x = weights(dtype, n=2 * fmt.BLOCK_ELEMS + 300, seed=4)
    plan = enec.plan(weights(dtype, seed=5))
    blob, rep = E.compress_op(words(x), SPECS[dtype], tuple(x.shape), plan, cores=3, into=True)
    assert rep["host_syncs"] == 0
    assert not any("histogram" in s["what"] for s in rep["steps"])
    assert np.array_equal(blob, enec.compress(x, params=plan).numpy())


def test_decompress_with_status_on_the_cpu():
    x = weights(torch.float32).reshape(50, 100)
    blob = enec.compress(x)
    y, status = enec.decompress_with_status(blob, x.shape, x.dtype)
    assert_bit_equal(y, x)
    assert status.dtype == torch.int32 and status.shape == (kernel_status.SLOT_INTS,) and not status.any()
    enec.check_status(status)
    bad = blob.clone()
    bad[-1] ^= 0xFF
    with pytest.raises(enec.CorruptStreamError):          # the CPU raises at once
        enec.decompress_with_status(bad, x.shape, x.dtype)
    torch.library.opcheck(torch.ops.enec.decompress_with_status.default, (blob, [50, 100], torch.float32))


def test_status_codes_become_typed_errors():
    per_core = np.zeros((4, kernel_status.SLOT_INTS), dtype=np.int32)
    enec.check_status(torch.from_numpy(per_core))
    expect = {kernel_status.NOT_ENEC: enec.CorruptStreamError, kernel_status.CORRUPT_HEADER: enec.CorruptStreamError,
              kernel_status.CORRUPT_INDEX: enec.CorruptStreamError, kernel_status.MISMATCH: enec.HeaderMismatchError,
              kernel_status.HOST_PATH: enec.EnecError, 99: enec.CorruptStreamError}
    for code, cls in expect.items():
        s = per_core.copy()
        s[2, 0] = code                                   # one core reports
        with pytest.raises(cls) as info:
            enec.check_status(torch.from_numpy(s))
        assert type(info.value) is cls
        s[2, 1] = 7                                      # only a slot's first int is its code
        assert kernel_status.first_code(s) == code


def test_emulated_kernel_status_for_a_corrupt_index_raises_corrupt_stream():
    x = weights(torch.float32, n=2 * fmt.BLOCK_ELEMS + 9, scale=0.5)
    blob = enec.compress(x, codec="enec").numpy().copy()
    blob[codecs.read_header(blob).layout.index_offset + 8] ^= 1        # block 1's index entry
    _, rep = E.decompress_op(blob, tuple(x.shape), fmt.FP32, check=False)
    assert rep["host_syncs"] == 0
    with pytest.raises(enec.CorruptStreamError, match="outlier index"):
        enec.check_status(np.array([rep["status"]] + [0] * (kernel_status.SLOT_INTS - 1), dtype=np.int32))
