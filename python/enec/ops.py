"""torch custom ops `torch.ops.enec.compress` / `torch.ops.enec.decompress`.

Schemas:
    enec::compress(Tensor x, bool checksum=False, str codec="auto", int[]? params=None) -> Tensor  # uint8 blob
    enec::decompress(Tensor blob, SymInt[] shape, ScalarType dtype) -> Tensor
    enec::compress_into(Tensor x, Tensor(a!) out, bool checksum=False, str codec="auto", int[]? params=None) -> Tensor
        # the blob is out[:size]; returns size as a 0-dim int64 tensor
    enec::decompress_into(Tensor blob, Tensor(a!) out) -> ()
    enec::decompress_with_status(Tensor blob, SymInt[] shape, ScalarType dtype) -> (Tensor, Tensor)
        # (tensor, int32 status): on an NPU nothing is read back; enec.kernel_status.check(status)
`params` = [b, n, m], a plan made once by enec.plan(x) and reused: no exponent histogram, so an
NPU compress_into makes no blocking host read at all.
The *_into forms write into a caller's buffer (reused or pinned memory: no allocation, no
first-touch page faults), like DietGPU's caller-provided outputs.

The CPU kernels run the CPU codec (native when built, else the reference); the fake (meta)
kernels let the ops trace under torch.compile. The compressed size depends on the data, so the
fake compress returns an unbacked size. NPU (PrivateUse1) kernels are registered from C++ by the
optional torch_npu extension (see enec.npu).
"""
from __future__ import annotations

from typing import Optional, Sequence

import torch

from . import codecs, cpu, kernel_status
from .params import check_plan

__all__ = ["compress", "decompress", "compress_into", "decompress_into", "decompress_with_status"]


# int[] (not SymInt[]) for params: host integers the NPU binding reads as at::OptionalIntArrayRef
@torch.library.custom_op("enec::compress", mutates_args=(), device_types="cpu",
                         schema='(Tensor x, bool checksum=False, str codec="auto", int[]? params=None) -> Tensor')
def compress(x: torch.Tensor, checksum: bool = False, codec: str = "auto",
             params: Optional[Sequence[int]] = None) -> torch.Tensor:
    """Compress a BF16/FP16/FP32/FP8/INT8/UINT8 tensor into a self-describing uint8 blob; with
    checksum=True the blob carries an XXH64 of the data, verified on decompress. `codec`:
    "auto" (by dtype, sparse when smaller), "enec", "qlc", "apack", "sparse", "entropy" or "max"
    (the smallest of all). `params`: a plan [b, n, m] from enec.plan (ENEC dtypes only)."""
    return cpu.compress_tensor(x, checksum=checksum, codec=codec, params=params)


def _check_fake(x, codec, params):
    """The argument errors of the real kernels, raised while tracing too."""
    spec = cpu.dtype_spec_of(x.dtype)
    codecs.check_codec(codec, spec)
    if params is not None:
        check_plan(params, spec)


@compress.register_fake
def _(x, checksum=False, codec="auto", params=None):
    _check_fake(x, codec, params)
    ctx = torch.library.get_ctx()
    size = ctx.new_dynamic_size()
    return x.new_empty((size,), dtype=torch.uint8)


@torch.library.custom_op("enec::decompress", mutates_args=(), device_types="cpu")
def decompress(blob: torch.Tensor, shape: Sequence[int], dtype: torch.dtype) -> torch.Tensor:
    """Decompress a blob; its header must agree with `shape` and `dtype`."""
    return cpu.decompress_tensor(blob, shape, dtype)


@decompress.register_fake
def _(blob, shape, dtype):
    torch._check(blob.dtype == torch.uint8, lambda: "a compressed blob must be a uint8 tensor")
    torch._check(blob.dim() == 1, lambda: "a compressed blob must be 1-D")
    cpu.dtype_spec_of(dtype)
    return blob.new_empty(tuple(shape), dtype=dtype)


@torch.library.custom_op("enec::compress_into", mutates_args=("out",), device_types="cpu",
                         schema='(Tensor x, Tensor(a!) out, bool checksum=False, str codec="auto", '
                                'int[]? params=None) -> Tensor')
def compress_into(x: torch.Tensor, out: torch.Tensor, checksum: bool = False, codec: str = "auto",
                  params: Optional[Sequence[int]] = None) -> torch.Tensor:
    """Compress into the 1-D uint8 tensor `out`; returns the blob's size (0-dim int64 tensor)."""
    return torch.tensor(cpu.compress_into(x, out, checksum=checksum, codec=codec, params=params), dtype=torch.int64)


@compress_into.register_fake
def _(x, out, checksum=False, codec="auto", params=None):
    _check_fake(x, codec, params)
    torch._check(out.dtype == torch.uint8, lambda: "compress: out must be a uint8 tensor")
    torch._check(out.dim() == 1, lambda: "compress: out must be 1-D")
    return x.new_empty((), dtype=torch.int64)


@torch.library.custom_op("enec::decompress_into", mutates_args=("out",), device_types="cpu")
def decompress_into(blob: torch.Tensor, out: torch.Tensor) -> None:
    """Decompress into `out` (the blob's shape and dtype)."""
    cpu.decompress_into(blob, out)


@decompress_into.register_fake
def _(blob, out):
    torch._check(blob.dtype == torch.uint8, lambda: "a compressed blob must be a uint8 tensor")
    torch._check(blob.dim() == 1, lambda: "a compressed blob must be 1-D")
    cpu.dtype_spec_of(out.dtype)
    return None


@torch.library.custom_op("enec::decompress_with_status", mutates_args=(), device_types="cpu")
def decompress_with_status(blob: torch.Tensor, shape: Sequence[int],
                           dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """Decompress and return (tensor, status): on an NPU the kernel's verdict stays on the device
    (enec.kernel_status.check reads it and raises); on the CPU errors raise at once and the status
    is all OK."""
    return cpu.decompress_tensor(blob, shape, dtype), torch.zeros(kernel_status.SLOT_INTS, dtype=torch.int32)


@decompress_with_status.register_fake
def _(blob, shape, dtype):
    torch._check(blob.dtype == torch.uint8, lambda: "a compressed blob must be a uint8 tensor")
    torch._check(blob.dim() == 1, lambda: "a compressed blob must be 1-D")
    cpu.dtype_spec_of(dtype)
    return blob.new_empty(tuple(shape), dtype=dtype), blob.new_empty((kernel_status.SLOT_INTS,), dtype=torch.int32)
