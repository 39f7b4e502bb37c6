"""The private torch APIs enec uses (python/enec/_torch_private.py) still exist and still do what
enec needs: a torch upgrade that changes one fails here, by name, instead of quietly turning a
fast path or a cross-rank error report off (their callers fall back on exceptions)."""
import torch
import torch.distributed as dist
from torch._subclasses.fake_tensor import FakeTensorMode

import enec  # noqa: F401  (registers torch.ops.enec.*)
from enec import _torch_private as P


def test_dispatch_mode_active_sees_fake_tensor_mode():
    assert P.dispatch_mode_active() is False
    with FakeTensorMode():
        assert P.dispatch_mode_active() is True
    assert P.dispatch_mode_active() is False


def test_has_kernel_answers_per_dispatch_key():
    assert P.has_kernel("enec::decompress", "CPU") is True
    assert P.has_kernel("aten::add.Tensor", "CPU") is True
    assert P.has_kernel("enec::decompress", "CUDA") is False      # enec registers no CUDA kernel


def test_default_store_is_the_process_groups_store(tmp_path):
    dist.init_process_group("gloo", init_method=f"file://{tmp_path / 'rendezvous'}", rank=0, world_size=1)
    try:
        store = P.default_store()
        store.set("enec/test", "value")
        assert store.get("enec/test") == b"value"
    finally:
        dist.destroy_process_group()
