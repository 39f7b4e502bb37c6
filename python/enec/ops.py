"""torch custom ops `torch.ops.enec.compress` / `torch.ops.enec.decompress`.

Schemas:
    enec::compress(Tensor x, bool checksum=False, str codec="auto") -> Tensor   # uint8 blob
    enec::decompress(Tensor blob, SymInt[] shape, ScalarType dtype) -> Tensor
    enec::compress_into(Tensor x, Tensor(a!) out, bool checksum=False, str codec="auto") -> Tensor
        # the blob is out[:size]; returns size as a 0-dim int64 tensor
    enec::decompress_into(Tensor blob, Tensor(a!) out) -> ()
The *_into forms write into a caller's buffer (reused or pinned memory: no allocation, no
first-touch page faults), like DietGPU's caller-provided outputs.

The CPU kernels run the CPU codec (native when built, else the reference); the fake (meta)
kernels let the ops trace under torch.compile. The compressed size depends on the data, so the
fake compress returns an unbacked size. NPU (PrivateUse1) kernels are registered from C++ by the
optional torch_npu extension (see enec.npu).
"""
from __future__ import annotations

from typing import Sequence

import torch

from . import cpu

__all__ = ["compress", "decompress", "compress_into", "decompress_into"]


@torch.library.custom_op("enec::compress", mutates_args=(), device_types="cpu")
def compress(x: torch.Tensor, checksum: bool = False, codec: str = "auto") -> torch.Tensor:
    """Compress a BF16/FP16/FP32/FP8/INT8/UINT8 tensor into a self-describing uint8 blob; with
    checksum=True the blob carries an XXH64 of the data, verified on decompress. `codec`:
    "auto" (by dtype, sparse when smaller), "enec", "qlc", "apack", "sparse", "entropy" or "max"
    (the smallest of all)."""
    return cpu.compress_tensor(x, checksum=checksum, codec=codec)


@compress.register_fake
def _(x, checksum=False, codec="auto"):
    from . import codecs
    codecs.check_codec(codec, cpu.any_spec_of(x.dtype))   # the same errors as the real kernel
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
    cpu.any_spec_of(dtype)
    return blob.new_empty(tuple(shape), dtype=dtype)


@torch.library.custom_op("enec::compress_into", mutates_args=("out",), device_types="cpu")
def compress_into(x: torch.Tensor, out: torch.Tensor, checksum: bool = False, codec: str = "auto") -> torch.Tensor:
    """Compress into the 1-D uint8 tensor `out`; returns the blob's size (0-dim int64 tensor)."""
    return torch.tensor(cpu.compress_into(x, out, checksum=checksum, codec=codec), dtype=torch.int64)


@compress_into.register_fake
def _(x, out, checksum=False, codec="auto"):
    from . import codecs
    codecs.check_codec(codec, cpu.any_spec_of(x.dtype))
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
    cpu.any_spec_of(out.dtype)
    return None
