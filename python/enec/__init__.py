"""enec: lossless compression of AI model weights (ENEC, ISCA'26) as torch custom ops.

    blob = enec.compress(w)          # uint8 tensor, self-describing
    w2 = enec.decompress(blob)       # bit-identical to w
"""
from __future__ import annotations

from . import format, ops  # noqa: F401  (importing ops registers torch.ops.enec.*)
from . import npu as _npu

_npu.load()   # registers the NPU kernels when torch_npu, a device and libenec_npu.so exist; never raises
from .api import (BlobInfo, check_status, compress, decompress, decompress_with_status, header_of, inspect,
                  max_compressed_size, plan)
from .params import Params
from .errors import (ChecksumMismatchError, CorruptStreamError, EnecError, HeaderMismatchError,
                     UnsupportedDTypeError)

__version__ = "0.1.0"

from . import hf_register as _hf_register

_hf_register.install()   # transformers' from_pretrained loads enec folders (enec.hf); never imports it


def cpu_implementation() -> str:
    """Name of the CPU implementation the ops use: 'native' (compiled) or 'reference'."""
    from . import codecs      # imported already (api imports it): a lookup, not a load
    return codecs.get_impl().name


__all__ = ["compress", "decompress", "inspect", "max_compressed_size", "header_of", "BlobInfo",
           "plan", "Params", "decompress_with_status", "check_status",
           "EnecError", "CorruptStreamError", "ChecksumMismatchError", "HeaderMismatchError",
           "UnsupportedDTypeError", "cpu_implementation"]


def __getattr__(name):
    """`enec.checkpoint`, `enec.offload`, `enec.cli`, `enec.hf` on first use (not imported up front)."""
    if name in ("checkpoint", "offload", "cli", "hf"):
        import importlib
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
