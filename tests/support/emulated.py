"""The AscendC kernels (op_kernel/) run on the CPU under the project's AscendC emulation.

For tests and development without an NPU: the kernel sources are compiled with g++ against
tests/ascendc_emu/include/kernel_operator.h (which enforces the Atlas A2 rules) together with
the host code of op_host/enec_host.cpp, and driven by the torch_npu binding's own orchestration
(op_host/enec_orchestrate.h, one code path for both) on an emulated device
(tests/ascendc_emu/launcher.cpp) that prices every launch, copy and blocking host read:

    compress:   parameters from the exponent histogram -> tiling -> enec_compress on all cores
                (fixed sections + per-block outliers in a workspace + flagged-group counts)
                -> enec_finish on all cores (outlier index by a device scan, outliers moved,
                total size into the header the host wrote without waiting)
    decompress: header and outlier index checked on the host -> enec_decompress on all cores

compress_op / decompress_op return the projected cost with the result (scripts/npu_projection.py).

Only available from a source checkout (the kernel sources are not installed with the package).
The build is cached in $ENEC_EMU_BUILD or a temporary folder, keyed by the sources' and flags'
hash. $ENEC_EMU_CXXFLAGS adds compiler flags (e.g. -fsanitize=address,undefined for
scripts/sanitize.sh; the process must then preload the sanitizer runtimes).

Decoding runs the binding's path: the decompress kernel validates the blob's header (against the
expected shape and dtype) and every outlier index entry on the device and reports a status; a
corrupt blob raises CorruptStreamError, never a kernel fault (the emulation's GM bounds would
show one). Checksummed blobs, which the NPU binding decodes on the host, run the kernel here on a
host-validated blob (EnecParseHeader, EnecCheckOutlierIndex), and the checksum is verified after.
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

from enec import format as fmt
from enec import kernel_status, reference
from enec.errors import ChecksumMismatchError, CorruptStreamError, HeaderMismatchError
from enec.params import Params, choose_params

ROOT = pathlib.Path(__file__).resolve().parents[2]
KERNEL_SOURCES = ["op_kernel/enec_compress.cpp", "op_kernel/enec_decompress.cpp", "op_kernel/enec_params.cpp"]
HOST_SOURCES = ["op_host/enec_host.cpp", "tests/ascendc_emu/launcher.cpp"]
HEADERS = ["op_kernel/enec_common.h", "op_kernel/enec_tiling.h", "op_kernel/enec_search.h", "op_host/enec_host.h", "op_host/enec_orchestrate.h",
           "tests/ascendc_emu/include/kernel_operator.h",
           "tests/ascendc_emu/include/emu_model.h"]
DEFAULT_CORES = 48            # vector cores of an Ascend 910B2
CXXFLAGS = ["-std=c++17", "-O2", "-shared", "-fPIC"]
_HEAD = fmt.HEADER_FIXED_BYTES + 8 * fmt.MAX_NDIM     # ENEC_HEADER_MAX_BYTES: header bytes read first

_lock = threading.Lock()
_run_lock = threading.Lock()      # the emulation's GM registry is process-wide: one launch at a time
_lib = None


class EnecTilingData(ctypes.Structure):
    _fields_ = [(name, ctypes.c_uint64) for name in (
        "numel", "blocks", "fullBlocks", "lastReal", "lastLanes", "rawOffset", "lowOffset",
        "flagsOffset", "indexOffset", "outlierOffset", "wsSlotBytes", "dtype", "b", "n", "m",
        "coreNum", "totalBytes", "checkHeader", "ndim")]


class KernelError(RuntimeError):
    """A kernel broke a hardware rule enforced by the emulation (message names the rule)."""


def available() -> bool:
    return all((ROOT / p).exists() for p in KERNEL_SOURCES + HOST_SOURCES + HEADERS)


def build_dir() -> pathlib.Path:
    d = os.environ.get("ENEC_EMU_BUILD")
    d = pathlib.Path(d) if d else pathlib.Path(tempfile.gettempdir()) / f"enec-emu-{os.getuid()}"
    d.mkdir(parents=True, exist_ok=True)
    return d


def env_flags() -> list:
    return os.environ.get("ENEC_EMU_CXXFLAGS", "").split()


def _src(p: str) -> pathlib.Path:
    """A source file; $ENEC_EMU_KERNEL_DIR replaces op_kernel/ (the sync-mutation test builds
    mutated copies of the kernels this way)."""
    kdir = os.environ.get("ENEC_EMU_KERNEL_DIR")
    if kdir and p.startswith("op_kernel/"):
        return pathlib.Path(kdir) / p[len("op_kernel/"):]
    return ROOT / p


def build(extra_flags: tuple = ()) -> pathlib.Path:
    """Compile the kernels + emulation + host code into a shared library (cached)."""
    extra_flags = (*env_flags(), *extra_flags)     # after CXXFLAGS, so e.g. -O1 wins over -O2
    h = hashlib.sha256()
    for p in KERNEL_SOURCES + HOST_SOURCES + HEADERS:
        h.update(p.encode())
        h.update(_src(p).read_bytes())
    h.update(" ".join(CXXFLAGS + list(extra_flags)).encode())
    out = build_dir() / f"libenec_emu-{h.hexdigest()[:16]}.so"
    if out.exists():
        return out
    tmp = out.with_suffix(f".{os.getpid()}.tmp")
    cmd = ["g++", *CXXFLAGS, *extra_flags, f"-I{ROOT / 'tests/ascendc_emu/include'}",
           f"-I{_src('op_kernel/enec_common.h').parent}", f"-I{ROOT / 'op_kernel'}",
           *[str(_src(p)) for p in KERNEL_SOURCES + HOST_SOURCES], "-o", str(tmp)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode:
        raise RuntimeError(f"building the emulated kernels failed:\n{' '.join(cmd)}\n{r.stderr[-4000:]}")
    os.replace(tmp, out)
    return out


def lib():
    global _lib
    with _lock:
        if _lib is None:
            L = ctypes.CDLL(str(build()))
            P, U64, I32 = ctypes.c_void_p, ctypes.c_uint64, ctypes.c_int
            T = ctypes.POINTER(EnecTilingData)
            L.enec_emu_decompress.argtypes = [P, U64, P, U64, T, ctypes.c_char_p, I32]
            L.EnecComputeTiling.argtypes = [ctypes.c_uint32, U64, ctypes.c_uint32, ctypes.c_uint32,
                                            ctypes.c_uint32, ctypes.c_uint32, ctypes.c_uint32, T]
            L.EnecWorkspaceBytes.argtypes = [T]
            L.EnecWorkspaceBytes.restype = U64
            L.EnecOutlierIndex.argtypes = [P, U64, ctypes.c_uint32, ctypes.c_uint32, P]
            L.EnecOutlierIndex.restype = U64
            L.EnecChooseParams.argtypes = [P, ctypes.c_uint32, P, P, P]
            L.EnecPackHeader.argtypes = [T, ctypes.c_uint32, P, U64, P]
            L.EnecPackHeader.restype = U64
            L.EnecHeaderBytes.argtypes = [ctypes.c_uint32]
            L.EnecHeaderBytes.restype = ctypes.c_uint32
            L.EnecParseHeader.argtypes = [P, U64, U64, ctypes.c_uint32, T, P, P, P, P, ctypes.c_char_p,
                                          ctypes.c_uint32]
            L.EnecCheckOutlierIndex.argtypes = [P, U64, T, ctypes.c_char_p, ctypes.c_uint32]
            L.enec_emu_stats.argtypes = [P]
            L.EnecFormatConstants.argtypes = [P]
            L.EnecKernelStatusCodes.argtypes = [P]
            L.enec_emu_tiling_bytes.restype = U64
            if L.enec_emu_tiling_bytes() != ctypes.sizeof(EnecTilingData):
                raise RuntimeError(f"EnecTilingData is {L.enec_emu_tiling_bytes()} bytes in C++ but "
                                   f"{ctypes.sizeof(EnecTilingData)} in emulated.py: update the field list")
            L.enec_emu_last_report.argtypes = [P]
            L.enec_emu_compress_op.argtypes = [I32, P, U64, ctypes.c_uint32, U64, ctypes.c_uint32, P, ctypes.c_uint32,
                                               P, P, U64, P, ctypes.c_char_p, I32, ctypes.c_char_p, I32]
            L.enec_emu_decompress_op.argtypes = [P, U64, ctypes.c_uint32, ctypes.c_uint32, P, P, U64, ctypes.c_uint32,
                                                 I32, P, ctypes.c_char_p, I32, ctypes.c_char_p, I32]
            L.enec_emu_device_params.argtypes = [P, ctypes.c_uint32, ctypes.c_uint32, P, ctypes.c_char_p, I32]
            L.enec_emu_soft_search.argtypes = [P, ctypes.c_uint32, P]
            L.enec_emu_histogram.argtypes = [P, U64, ctypes.c_uint32, U64, ctypes.c_uint32, P, ctypes.c_char_p, I32]
            L.enec_emu_softdouble_check.argtypes = [U64, U64, ctypes.c_char_p, I32]
            L.enec_emu_softdouble_check.restype = U64
            L.enec_emu_model_set.argtypes = [ctypes.c_char_p, ctypes.c_double]
            L.enec_emu_profile.argtypes = [I32]
            L.enec_emu_profile_dump.argtypes = [ctypes.c_char_p, I32]
            L.enec_emu_model_json.argtypes = [ctypes.c_char_p, I32]
            _lib = L
    return _lib


def _ptr(a: np.ndarray) -> int:
    return a.ctypes.data


def tiling(spec: fmt.DTypeSpec, numel: int, ndim: int, params: Params, cores: int) -> EnecTilingData:
    t = EnecTilingData()
    rc = lib().EnecComputeTiling(spec.code, numel, ndim, params.b, params.n, params.m, cores, ctypes.byref(t))
    if rc != 0:
        raise ValueError(f"invalid tiling arguments {spec.name} {numel} {params}")
    return t


def choose_params_device(hist: np.ndarray, spec: fmt.DTypeSpec, cores: int = DEFAULT_CORES,
                         kernel: bool = True) -> Params:
    """The device's parameter search (op_kernel/enec_search.h with exact integer doubles):
    kernel=True runs the enec_params kernel under the emulation on `hist` split over `cores`
    partial histograms; kernel=False calls the same search directly (fast)."""
    h = np.ascontiguousarray(hist, dtype=np.int64)
    out = (ctypes.c_uint32 * 3)()
    if kernel:
        err = ctypes.create_string_buffer(2048)
        with _run_lock:
            rc = lib().enec_emu_device_params(_ptr(h), spec.code, cores, ctypes.addressof(out), err, len(err))
        _check(rc, err, "enec_params")
    elif lib().enec_emu_soft_search(_ptr(h), spec.code, ctypes.addressof(out)) != 0:
        raise ValueError(f"no search for {spec.name}")
    return Params(int(out[0]), int(out[1]), int(out[2]))


def histogram_device(words: np.ndarray, spec: fmt.DTypeSpec, cores: int = DEFAULT_CORES) -> np.ndarray:
    """The enec_histogram kernel alone: (cores, 256) int64, core c's exponent counts."""
    w = np.ascontiguousarray(words)
    out = np.zeros((cores, 256), dtype=np.int64)
    err = ctypes.create_string_buffer(2048)
    with _run_lock:
        rc = lib().enec_emu_histogram(_ptr(w) if w.size else None, w.nbytes, spec.code, w.size, cores, _ptr(out),
                                      err, len(err))
    _check(rc, err, "enec_histogram")
    return out


def softdouble_check(seed: int, iters: int) -> tuple[int, str]:
    """EnecSoftOps against the CPU's doubles: (mismatches, the first one described)."""
    err = ctypes.create_string_buffer(512)
    bad = lib().enec_emu_softdouble_check(seed, iters, err, len(err))
    return int(bad), err.value.decode()


def choose_params_native(hist: np.ndarray, spec: fmt.DTypeSpec) -> Params:
    """The C++ parameter search of op_host (used by the NPU binding)."""
    h = np.ascontiguousarray(hist, dtype=np.int64)
    out = (ctypes.c_uint32 * 3)()
    lib().EnecChooseParams(_ptr(h), spec.code, ctypes.addressof(out), ctypes.addressof(out) + 4,
                           ctypes.addressof(out) + 8)
    return Params(out[0], out[1], out[2])


def stats() -> dict:
    a = np.zeros(6, dtype=np.uint64)
    lib().enec_emu_stats(_ptr(a))
    keys = ("ub_high_water", "ub_above_184k", "vector_instr", "dma_instr", "scalar_access", "core_runs")
    return dict(zip(keys, (int(v) for v in a)))


PIPES = ("S", "V", "MTE2", "MTE3")


def last_report(kernel: str) -> dict:
    """Projected timing of the last kernel launch (the emulation's timing model, emu_model.h)."""
    a = np.zeros(10, dtype=np.float64)
    lib().enec_emu_last_report(_ptr(a))
    return {"kernel": kernel, "us": float(a[0]), "core_cycles": float(a[1]),
            "busy_cycles": dict(zip(PIPES, (float(v) for v in a[2:6]))), "critical_pipe": PIPES[int(a[6])],
            "gm_bytes": float(a[7]), "cores": int(a[8]), "active_cores": int(a[9])}


def format_constants() -> dict:
    """The format constants the C++ host code and kernels were written for (EnecFormatConstants)."""
    a = np.zeros(12, dtype=np.uint64)
    lib().EnecFormatConstants(_ptr(a))
    keys = ("version", "codec_enec", "block_elems", "group_len", "block_round", "section_align",
            "header_fixed_bytes", "header_max_bytes", "index_entry_bytes", "checksum_kind_offset",
            "checksum_offset", "total_offset")
    return dict(zip(keys, (int(v) for v in a)))


def kernel_status_codes() -> dict:
    """The decompress kernel's status codes as the C++ code defines them (EnecKernelStatusCodes)."""
    a = np.zeros(7, dtype=np.int32)
    lib().EnecKernelStatusCodes(_ptr(a))
    keys = ("OK", "NOT_ENEC", "HOST_PATH", "MISMATCH", "CORRUPT_HEADER", "CORRUPT_INDEX", "SLOT_INTS")
    return dict(zip(keys, (int(v) for v in a)))


def profile(on: bool) -> None:
    """Start (clearing) or stop the per-call-site profile of busy cycles."""
    lib().enec_emu_profile(int(on))


def profile_lines(top: int = 30) -> list[tuple[int, int, str]]:
    """(cycles, count, "pipe instruction @ file:line"), most cycles first."""
    n = lib().enec_emu_profile_dump(None, 0)
    buf = ctypes.create_string_buffer(n + 1)
    lib().enec_emu_profile_dump(buf, n + 1)
    rows = []
    for line in buf.value.decode().splitlines()[:top]:
        c, k, site = line.split("\t", 2)
        rows.append((int(c), int(k), site))
    return rows


def model_constants() -> dict:
    import json
    buf = ctypes.create_string_buffer(4096)
    lib().enec_emu_model_json(buf, 4096)
    return json.loads(buf.value.decode())


def set_model_constant(name: str, value: float) -> None:
    if lib().enec_emu_model_set(name.encode(), float(value)):
        raise KeyError(f"no timing-model constant {name!r}; known: {sorted(model_constants())}")


def _check(rc: int, err, what: str) -> None:
    if rc:
        raise KernelError(f"{what}: {err.value.decode(errors='replace')}")


def _op_report(buf) -> dict:
    import json
    return json.loads(buf.value.decode())


def compress_op(words: np.ndarray, spec: fmt.DTypeSpec, shape: tuple, params: Params | None = None,
                cores: int = DEFAULT_CORES, into: bool = False) -> tuple[np.ndarray, dict]:
    """torch.ops.enec.compress (into=False) or compress_into (into=True, an `out` of the worst-case
    size) on an NPU tensor, as the binding runs it (op_host/enec_orchestrate.h), on the emulated
    device. Returns the blob and the projected cost: {"op_us", "device_us", "host_us", "host_syncs",
    "steps": [...], "kernels": [...]}. params (b, n, m) skips the histogram (a reused plan)."""
    words = np.ascontiguousarray(words).reshape(-1)
    numel, ndim = words.size, len(shape)
    cap = fmt.max_compressed_bytes(spec, numel, ndim)
    out = np.zeros(cap, dtype=np.uint8)
    dims = np.array(shape, dtype=np.uint64) if ndim else np.zeros(1, dtype=np.uint64)
    par = (ctypes.c_uint32 * 3)(params.b, params.n, params.m) if params is not None else None
    total = ctypes.c_uint64()
    rep = ctypes.create_string_buffer(1 << 20)
    err = ctypes.create_string_buffer(2048)
    xb = words if numel else np.zeros(16, dtype=words.dtype)
    with _run_lock:
        rc = lib().enec_emu_compress_op(1 if into else 0, _ptr(xb), words.nbytes, spec.code, numel, ndim, _ptr(dims),
                                        cores, par, _ptr(out), cap, ctypes.byref(total), rep, len(rep), err, len(err))
    _check(rc, err, "compress")
    return out[:total.value].copy(), _op_report(rep)


def compress_words(words: np.ndarray, spec: fmt.DTypeSpec, shape: tuple, params: Params | None = None,
                   cores: int = DEFAULT_CORES, timing: list | None = None) -> np.ndarray:
    """Compress like the NPU binding does, with the kernels running under the emulation.
    `timing`, if given, receives the projected timing of each kernel launch."""
    blob, report = compress_op(words, spec, shape, params, cores)
    if timing is not None:
        timing.extend(report["kernels"])
    return blob


# kernel status codes (op_kernel/enec_tiling.h ENEC_STATUS_*, python/enec/kernel_status.py)
STATUS_OK, STATUS_NOT_ENEC, STATUS_OTHER_PATH = kernel_status.OK, kernel_status.NOT_ENEC, kernel_status.HOST_PATH
STATUS_MISMATCH, STATUS_CORRUPT_HEADER = kernel_status.MISMATCH, kernel_status.CORRUPT_HEADER
STATUS_CORRUPT_INDEX = kernel_status.CORRUPT_INDEX


class HostPath(Exception):
    """The blob is one the NPU binding decodes on the host (the other codecs (QLC, APack, sparse,
    entropy) or a checksum)."""


def decompress_op(blob, shape: tuple | None = None, spec: fmt.DTypeSpec | None = None, cores: int = DEFAULT_CORES,
                  check: bool = True) -> tuple[np.ndarray, dict]:
    """torch.ops.enec.decompress(blob, shape, dtype) on an NPU tensor (op_host/enec_orchestrate.h) on
    the emulated device: nothing is read before the kernel, which validates the header against
    `shape`/`spec` (default: the blob's own, as a caller that knows them) and every outlier index
    entry, then reports a status. check=True reads it back (one blocking read, as the op does) and
    raises CorruptStreamError / HeaderMismatchError; check=False leaves it in report["status"].
    Raises HostPath for blobs the binding decodes on the host."""
    buf = np.ascontiguousarray(np.frombuffer(memoryview(blob).cast("B"), dtype=np.uint8))
    if shape is None or spec is None:
        _, shape, spec, _, _ = parse_header(buf, cores, check_index=False)
    shape = tuple(int(d) for d in shape)
    numel = int(np.prod(shape, dtype=np.uint64)) if shape else 1
    out = np.zeros(max(numel, 1), dtype=np.uint32 if spec is fmt.FP32 else np.uint16)
    dims = np.array(shape, dtype=np.uint64) if shape else np.zeros(1, dtype=np.uint64)
    status = ctypes.c_int32()
    rep = ctypes.create_string_buffer(1 << 20)
    err = ctypes.create_string_buffer(2048)
    src = buf if buf.size else np.zeros(1, np.uint8)
    with _run_lock:
        rc = lib().enec_emu_decompress_op(_ptr(src), buf.size, spec.code, len(shape), _ptr(dims), _ptr(out),
                                          numel * (4 if spec is fmt.FP32 else 2), cores, int(check),
                                          ctypes.byref(status), rep, len(rep), err, len(err))
    _check(rc, err, "decompress")
    report = _op_report(rep)
    report["status"] = status.value
    if check:
        if status.value == STATUS_OTHER_PATH:
            raise HostPath("this blob is decoded on the host by the NPU binding (checksum or a codec other than ENEC)")
        kernel_status.check(np.array([status.value], dtype=np.int32))
    return out[:numel], report


def parse_header(buf: np.ndarray, cores: int = DEFAULT_CORES, check_index: bool = True):
    """The NPU binding's host checks of a blob (op_host EnecParseHeader + EnecCheckOutlierIndex):
    returns (tiling, shape, dtype spec, checksum kind, checksum) or raises CorruptStreamError."""
    L = lib()
    t = EnecTilingData()
    ndim = ctypes.c_uint32()
    dims = (ctypes.c_uint64 * fmt.MAX_NDIM)()
    ck_kind, ck = ctypes.c_uint32(), ctypes.c_uint64()
    err = ctypes.create_string_buffer(512)
    head = np.ascontiguousarray(buf[:_HEAD]) if buf.size else np.zeros(1, np.uint8)
    if L.EnecParseHeader(_ptr(head), min(buf.size, _HEAD), buf.size, cores, ctypes.byref(t), ctypes.byref(ndim),
                         ctypes.addressof(dims), ctypes.byref(ck_kind), ctypes.byref(ck), err, 512):
        raise CorruptStreamError(err.value.decode(errors="replace"))
    if t.blocks and check_index:
        # only the flags, gap and index travel to the host (on the NPU: one small device-to-host copy)
        sect = np.ascontiguousarray(buf[t.flagsOffset:t.outlierOffset])
        if L.EnecCheckOutlierIndex(_ptr(sect), sect.size, ctypes.byref(t), err, 512):
            raise CorruptStreamError(err.value.decode(errors="replace"))
    return t, tuple(dims[:ndim.value]), fmt.ENEC_DTYPES[t.dtype], ck_kind.value, ck.value


def _decode(blob, cores: int, timing: list | None = None):
    buf = np.ascontiguousarray(np.frombuffer(memoryview(blob).cast("B"), dtype=np.uint8))
    t, shape, spec, ck_kind, ck = parse_header(buf, cores, check_index=False)
    if ck_kind != fmt.CHECKSUM_XXH64:
        # the binding's path: the kernel validates the blob (header and outlier index) itself
        words, report = decompress_op(buf, shape, spec, cores)
        if timing is not None:
            timing.extend(report["kernels"])
        return words, shape, spec
    # checksummed: the binding decodes these on the host; here the kernel runs on the host-validated
    # blob (EnecCheckOutlierIndex) and the checksum is verified after
    parse_header(buf, cores, check_index=True)
    out = np.zeros(max(t.numel, 1), dtype=np.uint32 if spec is fmt.FP32 else np.uint16)
    if t.numel:
        err = ctypes.create_string_buffer(1024)
        with _run_lock:
            rc = lib().enec_emu_decompress(_ptr(buf), buf.nbytes, _ptr(out), out.nbytes, ctypes.byref(t), err, 1024)
        _check(rc, err, "enec_decompress")
        if timing is not None:
            timing.append(last_report("enec_decompress"))
    words = out[:t.numel]
    from enec.format import checksum_of
    if checksum_of(words) != ck:
        raise ChecksumMismatchError("decompressed data does not match the blob's XXH64 checksum: the blob is corrupt")
    return words, shape, spec


def decompress_words(blob, cores: int = DEFAULT_CORES, timing: list | None = None) -> np.ndarray:
    """Decode a blob with the decompress kernel under the emulation: flat uint16/uint32 words."""
    return _decode(blob, cores, timing)[0]


def decompress(blob, cores: int = DEFAULT_CORES):
    """Decode a blob like the NPU binding does, as a CPU torch tensor of the header's shape and dtype."""
    import torch
    words, shape, spec = _decode(blob, cores)
    signed = np.int32 if spec is fmt.FP32 else np.int16      # torch lacks uint views
    return torch.from_numpy(words.view(signed)).view(getattr(torch, spec.name)).reshape(shape)
