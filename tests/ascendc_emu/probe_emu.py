"""The hardware probes (op_kernel/enec_probe.cpp) under the project's AscendC emulation.

Builds op_kernel/enec_probe.cpp + tests/ascendc_emu/probe_launcher.cpp with g++ against
tests/ascendc_emu/include/kernel_operator.h (cached by the sources' hash in $ENEC_EMU_BUILD or a
temporary folder, like the kernels' emulated build) and runs one probe kernel on emulated cores.
Self-contained (no import of enec.emulated) so that it stays where the emulation sources are.
"""
from __future__ import annotations

import ctypes
import hashlib
import os
import pathlib
import subprocess
import tempfile
import threading

import numpy as np

ROOT = pathlib.Path(__file__).resolve().parents[2]
SOURCES = ["op_kernel/enec_probe.cpp", "tests/ascendc_emu/probe_launcher.cpp"]
HEADERS = ["op_kernel/enec_common.h", "op_kernel/enec_tiling.h", "tests/ascendc_emu/include/kernel_operator.h",
           "tests/ascendc_emu/include/emu_model.h"]
CXXFLAGS = ["-std=c++17", "-O2", "-shared", "-fPIC"]

_lock = threading.Lock()
_run_lock = threading.Lock()   # the emulation's GM registry is process-wide: one launch at a time
_lib = None


class ProbeError(RuntimeError):
    """The probe kernel broke a rule the emulation enforces (the message names it)."""


def build(kernel_dir: pathlib.Path | None = None, build_dir: pathlib.Path | None = None,
          extra_flags: tuple = ()) -> pathlib.Path:
    """Compile the probes (from `kernel_dir`, default op_kernel/: a mutated copy for the sync
    checks) with the emulation into a shared library, cached by the sources' and flags' hash."""
    flags = [*CXXFLAGS, *extra_flags]          # later flags win (-O0 over -O2)
    kdir = pathlib.Path(kernel_dir) if kernel_dir else ROOT / "op_kernel"

    def src(p: str) -> pathlib.Path:
        return kdir / p[len("op_kernel/"):] if p.startswith("op_kernel/") else ROOT / p

    h = hashlib.sha256()
    for p in SOURCES + HEADERS:
        h.update(p.encode())
        h.update(src(p).read_bytes())
    h.update(" ".join(flags).encode())
    d = build_dir or os.environ.get("ENEC_EMU_BUILD")
    d = pathlib.Path(d) if d else pathlib.Path(tempfile.gettempdir()) / f"enec-emu-{os.getuid()}"
    d.mkdir(parents=True, exist_ok=True)
    out = d / f"libenec_probe_emu-{h.hexdigest()[:16]}.so"
    if out.exists():
        return out
    tmp = out.with_suffix(f".{os.getpid()}.tmp")
    cmd = ["g++", *flags, f"-I{ROOT / 'tests/ascendc_emu/include'}", f"-I{kdir}",
           *[str(src(p)) for p in SOURCES], "-o", str(tmp)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError(f"building the emulated probes failed:\n{' '.join(cmd)}\n{r.stderr[-4000:]}")
    os.replace(tmp, out)
    return out


def _load(path: pathlib.Path):
    L = ctypes.CDLL(str(path))
    P, U64, I32 = ctypes.c_void_p, ctypes.c_uint64, ctypes.c_int
    L.enec_emu_probe.argtypes = [ctypes.c_char_p, I32, P, U64, P, U64, P, U64, ctypes.c_char_p, I32]
    return L


def lib():
    global _lib
    with _lock:
        if _lib is None:
            _lib = _load(build())
    return _lib


def runner(kernel_dir: pathlib.Path | None = None, build_dir: pathlib.Path | None = None, extra_flags: tuple = ()):
    """run() over probes built from `kernel_dir` (default: op_kernel/, the cached library)."""
    if kernel_dir is None and not extra_flags:
        return run
    L = _load(build(kernel_dir, build_dir, extra_flags))
    return lambda kernel, blocks, inp, out, args: _run(L, kernel, blocks, inp, out, args)


def run(kernel: str, blocks: int, inp: np.ndarray, out: np.ndarray, args: np.ndarray) -> np.ndarray:
    """Run enec_probe_<kernel> on `blocks` emulated cores; returns the bytes it left in `out`."""
    return _run(lib(), kernel, blocks, inp, out, args)


def _run(L, kernel, blocks, inp, out, args) -> np.ndarray:
    inp = np.ascontiguousarray(inp, dtype=np.uint8)
    res = np.array(out, dtype=np.uint8, copy=True)
    a = np.ascontiguousarray(args, dtype=np.uint32)
    err = ctypes.create_string_buffer(2048)
    with _run_lock:
        rc = L.enec_emu_probe(kernel.encode(), blocks, inp.ctypes.data, inp.nbytes, res.ctypes.data, res.nbytes,
                              a.ctypes.data, a.nbytes, err, len(err))
    if rc:
        raise ProbeError(f"enec_probe_{kernel}: {err.value.decode(errors='replace')}")
    return res
