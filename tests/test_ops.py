"""The torch custom ops: schemas, fake kernels, opcheck and torch.compile."""
import pytest
import torch

import enec
from conftest import assert_bit_equal


def samples():
    g = torch.Generator().manual_seed(0)
    for dtype in [torch.bfloat16, torch.float16, torch.float32]:
        for shape in [(0,), (1,), (33,), (128, 300)]:
            yield (torch.randn(shape, generator=g) * 0.02).to(dtype)


def test_schemas():
    assert str(torch.ops.enec.compress.default._schema) == \
        'enec::compress(Tensor x, bool checksum=False, str codec="auto", int[]? params=None) -> Tensor'
    assert str(torch.ops.enec.decompress.default._schema) == \
        "enec::decompress(Tensor blob, SymInt[] shape, ScalarType dtype) -> Tensor"
    assert str(torch.ops.enec.decompress_with_status.default._schema) == \
        "enec::decompress_with_status(Tensor blob, SymInt[] shape, ScalarType dtype) -> (Tensor, Tensor)"


@pytest.mark.parametrize("x", list(samples()), ids=lambda x: f"{x.dtype}-{tuple(x.shape)}")
def test_opcheck(impl, x):
    torch.library.opcheck(torch.ops.enec.compress.default, (x,))
    blob = torch.ops.enec.compress(x)
    torch.library.opcheck(torch.ops.enec.decompress.default, (blob, list(x.shape), x.dtype))


def test_fake_kernels_shapes():
    from torch._subclasses.fake_tensor import FakeTensorMode
    x = torch.randn(10, 20).bfloat16()
    blob = enec.compress(x)
    with FakeTensorMode() as mode:
        fb = mode.from_tensor(blob)
        y = torch.ops.enec.decompress(fb, [10, 20], torch.bfloat16)
        assert y.shape == (10, 20) and y.dtype == torch.bfloat16


def test_torch_compile_roundtrip(impl):
    torch._dynamo.reset()

    @torch.compile(fullgraph=True, backend="aot_eager")
    def f(x):
        blob = torch.ops.enec.compress(x * 2)
        return torch.ops.enec.decompress(blob, x.shape, x.dtype) + 1

    for x in [torch.randn(1000).bfloat16(), torch.randn(7, 33)]:
        assert_bit_equal(f(x), x * 2 + 1)


def test_torch_compile_inductor():
    torch._dynamo.reset()

    @torch.compile(fullgraph=True)
    def f(x):
        return torch.ops.enec.decompress(torch.ops.enec.compress(x), x.shape, x.dtype)

    x = torch.randn(4096).half()
    assert_bit_equal(f(x), x)


def test_usable_in_training_code():
    """Weights compressed between steps of a tiny training loop restore exactly."""
    model = torch.nn.Linear(64, 64).to(torch.bfloat16)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(3):
        loss = model(torch.randn(8, 64).bfloat16()).float().pow(2).mean()
        loss.backward()
        opt.step()
        opt.zero_grad()
        blobs = {k: enec.compress(v) for k, v in model.state_dict().items()}
        for k, v in model.state_dict().items():
            assert_bit_equal(enec.decompress(blobs[k]), v)


def test_eager_api_matches_the_op_without_importing_dynamo():
    """enec.compress/decompress on plain CPU tensors (and Parameters) call the CPU kernel
    directly: same bytes as the op, and no torch._dynamo import (2-3 s on a first call)."""
    import subprocess
    import sys
    code = (
        "import sys, torch, enec\n"
        "x = torch.randn(3, 5000).bfloat16()\n"
        "p = torch.nn.Parameter(torch.randn(777))\n"
        "b = enec.compress(x); y = enec.decompress(b)\n"
        "bp = enec.compress(p); yp = enec.decompress(bp)\n"
        "ok = torch.equal(y.view(torch.int16), x.view(torch.int16)) and torch.equal(yp, p.detach())\n"
        "print(ok, 'torch._dynamo' in sys.modules)\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["True", "False"], r.stdout
    x = (torch.randn(3, 5000) * 0.02).bfloat16()
    assert torch.equal(enec.compress(x), torch.ops.enec.compress(x))
    assert torch.equal(enec.compress(x, checksum=True), torch.ops.enec.compress(x, True))


def test_friendly_api_under_torch_compile():
    """enec.compress compiles; enec.decompress compiles when given shape= and dtype= (it is then
    the op), and without them fails naming the op to use (fullgraph) or breaks the graph."""
    torch._dynamo.reset()
    x = (torch.randn(40, 50) * 0.02).bfloat16()

    @torch.compile(fullgraph=True, backend="aot_eager")
    def roundtrip(t):
        blob = enec.compress(t * 2)
        return enec.decompress(blob, shape=t.shape, dtype=t.dtype) + 1

    assert_bit_equal(roundtrip(x), x * 2 + 1)
    blob = enec.compress(x)

    @torch.compile(fullgraph=True, backend="aot_eager")
    def no_shape(b):
        return enec.decompress(b)

    with pytest.raises(Exception, match=r"torch\.ops\.enec\.decompress\(blob, shape, dtype\)"):
        no_shape(blob)

    @torch.compile(backend="aot_eager")             # not fullgraph: a graph break, then eager
    def with_break(b):
        return enec.decompress(b) * 2

    assert_bit_equal(with_break(blob), x * 2)


def test_decompress_shape_and_dtype_are_checked():
    from enec.errors import EnecError, HeaderMismatchError
    x = torch.randn(6, 7).half()
    blob = enec.compress(x)
    assert_bit_equal(enec.decompress(blob, shape=(6, 7), dtype=torch.float16), x)
    with pytest.raises(HeaderMismatchError, match=r"torch.float16 of shape \(6, 7\)"):
        enec.decompress(blob, shape=(7, 6), dtype=torch.float16)
    with pytest.raises(HeaderMismatchError):
        enec.decompress(blob, shape=(6, 7), dtype=torch.bfloat16)
    with pytest.raises(EnecError, match="both shape= and dtype="):
        enec.decompress(blob, shape=(6, 7))
