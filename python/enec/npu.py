"""Ascend NPU backend: detection and loading of the optional torch_npu extension.

`import enec` never fails because of this module. The NPU kernels of torch.ops.enec.compress /
decompress live in libenec_npu.so (built on an Ascend machine by scripts/build_npu.sh, which puts
it next to this file; ENEC_NPU_LIB overrides the path). They are used when all of these hold:
torch_npu is installed and imports (it needs CANN), an NPU device is visible, and the library
loads. Otherwise tensors on the CPU use the CPU codec and `status()` says why the NPU path is off.

    >>> import enec.npu
    >>> enec.npu.status()["backend"]      # 'npu' or 'cpu'
"""
from __future__ import annotations

import importlib.util
import os
import pathlib
import threading

_lock = threading.Lock()
_status: dict | None = None

LIB_NAME = "libenec_npu.so"


def library_path() -> pathlib.Path:
    env = os.environ.get("ENEC_NPU_LIB")
    return pathlib.Path(env) if env else pathlib.Path(__file__).resolve().parent / LIB_NAME


def _probe() -> dict:
    st = {"backend": "cpu", "torch_npu": False, "device": False, "library": None, "loaded": False, "reason": ""}
    if importlib.util.find_spec("torch_npu") is None:
        st["reason"] = "torch_npu is not installed (the NPU path needs CANN + torch_npu + scripts/build_npu.sh)"
        return st
    try:
        import torch
        import torch_npu  # noqa: F401
    except Exception as e:             # ImportError, OSError (libhccl.so ...), RuntimeError
        st["reason"] = f"torch_npu does not import ({type(e).__name__}: {e}); is CANN's set_env.sh sourced?"
        return st
    st["torch_npu"] = True
    try:
        st["device"] = bool(hasattr(torch, "npu") and torch.npu.is_available())
    except Exception as e:
        st["reason"] = f"NPU query failed ({type(e).__name__}: {e})"
        return st
    if not st["device"]:
        st["reason"] = "torch_npu imports but no NPU device is visible"
        return st
    lib = library_path()
    st["library"] = str(lib)
    if not lib.exists():
        st["reason"] = f"{lib} is not built: run scripts/build_npu.sh"
        return st
    try:
        torch.ops.load_library(str(lib))
    except Exception as e:
        st["reason"] = f"loading {lib} failed ({type(e).__name__}: {e})"
        return st
    st["loaded"] = True
    st["backend"] = "npu"
    st["reason"] = "NPU kernels registered for torch.ops.enec.* (PrivateUse1)"
    return st


def load() -> bool:
    """Detect and load the NPU extension once; True when the NPU kernels are registered."""
    global _status
    with _lock:
        if _status is None:
            try:
                _status = _probe()
            except Exception as e:     # never break the caller
                _status = {"backend": "cpu", "torch_npu": False, "device": False, "library": None,
                           "loaded": False, "reason": f"NPU detection failed: {type(e).__name__}: {e}"}
    return _status["loaded"]


def status() -> dict:
    """Which backend runs NPU tensors and why: keys backend ('npu'|'cpu'), torch_npu, device,
    library, loaded, reason."""
    load()
    return dict(_status)


def available() -> bool:
    return load()
