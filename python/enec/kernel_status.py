"""The status codes the NPU decompress kernel leaves on the device, and the errors they stand for.

A kernel cannot raise: it validates the blob as it reads it (header against the expected dtype and
shape, every outlier index entry against its flags and the blob's size) and writes a verdict per
core into an int32 device tensor of `cores x SLOT_INTS` (op_kernel/enec_tiling.h, ENEC_STATUS_*;
a test asserts the C++ values equal these); the ops return the per-slot maximum over the cores
(SLOT_INTS values, the code first: any failing core's code, still on the device). `check` turns it into the same typed
exceptions the CPU decoder raises; reading it is the one blocking host read of a checked
decompress, which a pipeline may do later (enec.decompress_with_status).
"""
from __future__ import annotations

import numpy as np

from .errors import CorruptStreamError, EnecError, HeaderMismatchError

OK = 0
NOT_ENEC = 1          # bad magic, version or codec, or too short for a header
HOST_PATH = 2         # a blob the device does not decode (a checksum, or another codec)
MISMATCH = 3          # the blob's dtype or shape differs from the expected ones
CORRUPT_HEADER = 4    # parameters, offsets or sizes inconsistent with the format or the blob's size
CORRUPT_INDEX = 5     # an outlier index entry disagrees with the flags or the blob's size
SLOT_INTS = 8         # int32 per core in the status tensor (one 32-byte slot; code first)

_MESSAGES = {
    NOT_ENEC: (CorruptStreamError, "not an enec blob (bad magic or version, or too short)"),
    HOST_PATH: (EnecError, "the blob is decoded on the host (a checksum, or a codec without an NPU "
                           "kernel): decompress it with enec.decompress"),
    MISMATCH: (HeaderMismatchError, "the blob's dtype or shape differs from the expected ones"),
    CORRUPT_HEADER: (CorruptStreamError, "header inconsistent with the format or the blob's size"),
    CORRUPT_INDEX: (CorruptStreamError, "outlier index disagrees with the flags or the blob's size"),
}


def error_for(code: int) -> EnecError | None:
    """The exception a status code stands for (None for OK)."""
    if code == OK:
        return None
    cls, text = _MESSAGES.get(int(code), (CorruptStreamError, f"unknown kernel status {int(code)}"))
    return cls(f"enec: corrupt blob: {text}" if cls is CorruptStreamError else f"enec: {text}")


def first_code(status) -> int:
    """The first non-zero core status (a torch tensor on any device, or a numpy array), else OK.
    For a device tensor this is one blocking read."""
    arr = np.asarray(status.cpu() if hasattr(status, "cpu") else status, dtype=np.int32).reshape(-1)
    codes = arr[::SLOT_INTS]
    bad = codes[codes != OK]
    return int(bad[0]) if bad.size else OK


def check(status) -> None:
    """Raise the error a status tensor reports (CorruptStreamError, HeaderMismatchError, ...)."""
    err = error_for(first_code(status))
    if err is not None:
        raise err
