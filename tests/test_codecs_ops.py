"""The torch ops with the 8-bit dtypes and the codec argument: opcheck, fake kernels, compile,
inspect and max_compressed_size."""
import pytest
import torch

import enec
from codec_oracles import bits_equal


def samples():
    g = torch.Generator().manual_seed(0)
    for dtype in [torch.float8_e4m3fn, torch.float8_e5m2, torch.int8, torch.uint8]:
        for shape in [(0,), (33,), (3, 70)]:
            x = torch.randn(shape, generator=g) * 20
            yield (x.round().clamp(-128, 127) if dtype != torch.uint8 else x.abs().round().clamp(0, 255)).to(dtype), "auto"
    sp = torch.randn(16, 40, generator=g)
    sp[sp.abs() < 1.2] = 0
    yield sp.bfloat16(), "sparse"
    yield sp.bfloat16(), "auto"
    yield (sp * 10).to(torch.float8_e4m3fn), "apack"
    yield (sp * 10).to(torch.int8), "qlc"


@pytest.mark.parametrize("x,codec", list(samples()), ids=lambda v: str(v) if isinstance(v, str) else f"{v.dtype}-{tuple(v.shape)}")
def test_opcheck(impl, x, codec):
    utils = torch.library._OPCHECK_DEFAULT_UTILS if hasattr(torch.library, "_OPCHECK_DEFAULT_UTILS") else \
        ("test_schema", "test_autograd_registration", "test_faketensor", "test_aot_dispatch_dynamic")
    if x.dtype in (torch.float8_e4m3fn, torch.float8_e5m2):
        # opcheck's own test_schema multiplies the inputs, which torch does not implement for FP8
        utils = tuple(u for u in utils if u != "test_schema")
    torch.library.opcheck(torch.ops.enec.compress.default, (x,), {"codec": codec}, test_utils=utils)
    blob = torch.ops.enec.compress(x, codec=codec)
    torch.library.opcheck(torch.ops.enec.decompress.default, (blob, list(x.shape), x.dtype))
    assert bits_equal(torch.ops.enec.decompress(blob, list(x.shape), x.dtype), x)


def test_fake_kernel_checks_codec_and_dtype():
    from torch._subclasses.fake_tensor import FakeTensorMode
    from torch.fx.experimental.symbolic_shapes import ShapeEnv
    with FakeTensorMode(shape_env=ShapeEnv()) as mode:
        fx = mode.from_tensor(torch.zeros(10, dtype=torch.int8))
        out = torch.ops.enec.compress(fx, codec="apack")
        assert out.dtype == torch.uint8 and out.dim() == 1
        with pytest.raises(enec.UnsupportedDTypeError):
            torch.ops.enec.compress(fx, codec="enec")
        fb = mode.from_tensor(torch.zeros(100, dtype=torch.uint8))
        y = torch.ops.enec.decompress(fb, [4, 5], torch.float8_e5m2)
        assert y.shape == (4, 5) and y.dtype == torch.float8_e5m2


def test_torch_compile_int8_and_fp8(impl):
    torch._dynamo.reset()

    @torch.compile(fullgraph=True, backend="aot_eager")
    def f(x):
        blob = torch.ops.enec.compress(x, codec="auto")
        return torch.ops.enec.decompress(blob, x.shape, x.dtype)

    for x in [torch.randint(-50, 50, (1000,), dtype=torch.int8), (torch.randn(7, 33) * 9).to(torch.float8_e4m3fn)]:
        assert bits_equal(f(x), x)


def test_checksum_with_every_codec(impl):
    x8 = torch.randint(-50, 50, (5000,), dtype=torch.int8)
    for x, codec in [(x8, "apack"), (x8, "qlc"), (x8, "sparse"), (x8.view(torch.float8_e4m3fn), "qlc")]:
        blob = enec.compress(x, checksum=True, codec=codec)
        assert enec.inspect(blob).checksum == "xxh64"
        assert bits_equal(enec.decompress(blob), x)


@pytest.mark.parametrize("dtype,codec", [(torch.int8, "auto"), (torch.int8, "qlc"), (torch.uint8, "apack"),
                                         (torch.float8_e4m3fn, "auto"), (torch.bfloat16, "sparse"),
                                         (torch.float32, "auto"), (torch.int8, "sparse")])
def test_max_compressed_size_bounds_worst_cases(impl, dtype, codec):
    g = torch.Generator().manual_seed(1)
    n = 70_001
    worst = [torch.randint(0, 256, (n,), generator=g, dtype=torch.int32)]
    worst.append(torch.where(torch.rand(n, generator=g) < 0.5, 0, worst[0]))
    for w in worst:
        if dtype.itemsize == 1:
            x = w.to(torch.uint8).view(dtype)
        else:
            x = (w.to(torch.int32) * 0x01010101).view(torch.float32).to(dtype) if dtype != torch.float32 \
                else (w * 0x01010101).view(torch.float32)
        blob = enec.compress(x, codec=codec)
        assert blob.numel() <= enec.max_compressed_size(n, dtype, ndim=1, codec=codec)


def test_inspect_reports_codec_and_table(impl):
    x = torch.randint(-20, 20, (3, 1000), dtype=torch.int8)
    info = enec.inspect(enec.compress(x))
    assert info.codec == "apack" and info.dtype == torch.int8 and info.shape == (3, 1000)
    assert sum(info.table["freqs"]) == 4096 and info.table["range_starts"][0] == 0
    assert sum(info.section_bytes.values()) <= info.compressed_bytes
    info = enec.inspect(enec.compress(x.view(torch.float8_e5m2)))
    assert info.codec == "qlc" and len(info.table["area_sizes"]) == 8
    assert sorted(info.table["symbols"]) == sorted(set(x.view(torch.uint8).reshape(-1).tolist()))


def test_inspect_prints_a_readable_summary(impl):
    """print(enec.inspect(blob)): a few lines with the ratio; each codec's info object has its
    own fields (ENEC's parameters only for ENEC), and a sparse blob's non-zero count is named as
    such (not as blocks)."""
    g = torch.Generator().manual_seed(1)
    w = (torch.randn(300, 200, generator=g) * 0.02).bfloat16()
    info = enec.inspect(enec.compress(w))
    text = str(info)
    assert 4 <= len(text.splitlines()) <= 8 and max(map(len, text.splitlines())) < 140
    assert f"ratio {w.numel() * 2 / info.compressed_bytes:.4f}" in text
    assert f"b={info.b} n={info.n} m={info.m}" in text and "groups flagged" in text
    q = torch.randint(-20, 20, (3, 1000), dtype=torch.int8, generator=g)
    info = enec.inspect(enec.compress(q))
    assert isinstance(info, enec.BlobInfo) and isinstance(enec.inspect(enec.compress(w)), enec.BlobInfo)
    assert not any(hasattr(info, f) for f in ("b", "n", "m", "group_len", "flagged_groups", "total_groups"))
    assert info.blocks == 1 and info.block_elems == 65536        # APack chunks
    assert "b=" not in str(info) and "ratio" in str(info) and "range_starts" in str(info)
    sp = w.clone()
    sp[sp.abs() < 0.02] = 0
    info = enec.inspect(enec.compress(sp))
    nnz = int((sp.view(torch.int16) != 0).sum())
    assert info.codec == "sparse" and not hasattr(info, "blocks") and info.table["nnz"] == nnz
    assert f"nnz={nnz}" in str(info) and "blocks" not in str(info)
