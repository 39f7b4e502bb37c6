"""torch custom ops `torch.ops.enec.compress` / `torch.ops.enec.decompress`.

Schemas:
    enec::compress(Tensor x, bool checksum=False, str codec="auto") -> Tensor   # uint8 blob
    enec::decompress(Tensor blob, SymInt[] shape, ScalarType dtype) -> Tensor

The CPU kernels run the CPU codec (native when built, else the reference); the fake (meta)
kernels let the ops trace under torch.compile. The compressed size depends on the data, so the
fake compress returns an unbacked size. NPU (PrivateUse1) kernels are registered from C++ by the
optional torch_npu extension (see enec.npu).
"""
from __future__ import annotations

from typing import Sequence

import torch

from . import cpu

__all__ = ["compress", "decompress"]


@torch.library.custom_op("enec::compress", mutates_args=(), device_types="cpu")
def compress(x: torch.Tensor, checksum: bool = False, codec: str = "auto") -> torch.Tensor:
    """Compress a BF16/FP16/FP32/FP8/INT8/UINT8 tensor into a self-describing uint8 blob; with
    checksum=True the blob carries an XXH64 of the data, verified on decompress. `codec`:
    "auto" (by dtype, sparse when smaller), "enec", "qlc", "apack" or "sparse"."""
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
