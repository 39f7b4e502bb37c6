"""Native kernels of the entropy codec (codec 5): python/enec/csrc/entropy_native.cpp through
ctypes (the library enec._enec_entropy). Optional: when it is not built, `available()` is False
and the numpy reference runs. ENEC_ENTROPY_LIB points at another build."""
from __future__ import annotations

_load_error = "the native entropy library is not built yet"


def available() -> bool:
    return False


def load_error():
    return _load_error
