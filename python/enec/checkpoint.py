"""Compressed checkpoints as ordinary safetensors files.

A compressed file is a valid safetensors file: every tensor enec compresses is stored under its own
name as a 1-D U8 tensor holding the enec blob; every other tensor (dtypes without a codec, or data
that does not shrink) is stored as it is. The file's `__metadata__` holds
    "enec": JSON {"version": 1, "tensors": {name: {"codec": "enec", "dtype": ..., "shape": [...]}}}
next to the caller's own metadata. Any safetensors reader opens the file; `safe_open` here reads
one tensor, or rows of its first dimension, through safetensors' memory map without decoding the
rest.

Files are written by a streaming writer of the safetensors layout (8-byte little-endian header
length, JSON header padded with spaces to 8 bytes, data in safetensors' own order: dtype rank
descending, then name), so that neither the input nor the output is ever held twice in memory:
`compress_file` keeps only the blobs (raw tensors are re-read from the source's memory map while
writing), `decompress_file` holds one decoded tensor at a time. The bytes equal what
`safetensors.torch.save` writes for the same tensors (tests check this). Every write goes to an
unnamed file that gets its name only when complete, so a killed or failing write leaves nothing.
"""
from __future__ import annotations

import contextlib
import errno
import io
import json
import os
import re
import socket
import struct
import tempfile
import time

import torch
from safetensors import safe_open as _safetensors_open

from . import cpu
from . import format as fmt
from .api import compress, decompress, header_of
from .errors import CorruptStreamError, EnecError, InvalidCheckpointError, UnsupportedDTypeError

META_KEY = "enec"


def _st_open(path, framework="pt"):
    """safetensors.safe_open, with its errors on a file that is not safetensors (which name
    neither the file nor the problem's kind) as an InvalidCheckpointError naming the file."""
    try:
        return _safetensors_open(path, framework=framework)
    except (OSError, EnecError):
        raise
    except Exception as e:              # SafetensorError, HeaderTooLarge, ... (safetensors' own)
        raise InvalidCheckpointError(f"{path} is not a valid safetensors file ({e})") from None
META_VERSION = 1


class UnknownCodecError(EnecError):
    """The file names a codec this version of enec cannot decode."""


def _enec_decode(blob, device=None):
    return decompress(blob, device=device)


# codec name in the metadata -> decoder(blob U8 tensor, device) -> tensor. Every codec whose blobs
# enec.decompress reads (the blob header names its codec) decodes the same way.
DECODERS = {name: _enec_decode for name in getattr(fmt, "CODEC_NAMES", {1: "enec"}).values()}
DECODERS.setdefault("enec", _enec_decode)


def _codec_name(blob: torch.Tensor) -> str:
    code = getattr(header_of(blob, full=False), "codec", None)
    return getattr(fmt, "CODEC_NAMES", {}).get(code, "enec")

# safetensors dtype names, in the order of safetensors' own Dtype enum (its writer sorts the data
# by this rank, descending, then by name; a file written here is laid out the same way).
_ST_NAMES = [("bool", "BOOL"), ("uint8", "U8"), ("int8", "I8"), ("float8_e5m2", "F8_E5M2"),
             ("float8_e4m3fn", "F8_E4M3"), ("float8_e4m3fnuz", "F8_E4M3FNUZ"),
             ("float8_e5m2fnuz", "F8_E5M2FNUZ"), ("int16", "I16"), ("uint16", "U16"),
             ("float16", "F16"), ("bfloat16", "BF16"), ("int32", "I32"), ("uint32", "U32"),
             ("float32", "F32"), ("complex64", "C64"), ("float64", "F64"), ("int64", "I64"),
             ("uint64", "U64")]
_ST_DTYPE = {getattr(torch, t): s for t, s in _ST_NAMES if hasattr(torch, t)}
_ST_RANK = {s: i for i, (_, s) in enumerate(_ST_NAMES)}
_TORCH_OF_ST = {s: t for t, s in _ST_DTYPE.items()}


def _dtype_name(dt: torch.dtype) -> str:
    return str(dt).replace("torch.", "")


def _torch_dtype(name: str, where: str) -> torch.dtype:
    dt = getattr(torch, name, None) if isinstance(name, str) else None
    if not isinstance(dt, torch.dtype):
        raise CorruptStreamError(f"{where}: unknown dtype {name!r} in the enec metadata")
    return dt


def _st_dtype(dt: torch.dtype, name: str) -> str:
    try:
        return _ST_DTYPE[dt]
    except KeyError:
        raise UnsupportedDTypeError(f"tensor {name!r}: safetensors cannot store {dt}") from None


# ---------------------------------------------------------------------------------------------
# compression of single tensors
# ---------------------------------------------------------------------------------------------

def _encode(name: str, t: torch.Tensor, checksum: bool, codec: str = "auto"):
    """(stored tensor, metadata entry or None). Raw when no codec takes the dtype or it does not
    shrink the tensor. codec: as enec.compress takes it ("max": the smallest blob; a codec that
    does not take this tensor's dtype falls back to "auto" for it)."""
    if not isinstance(t, torch.Tensor):
        raise EnecError(f"state_dict entry {name!r} is not a tensor")
    t = t.detach()
    if t.device.type != "cpu":
        t = t.cpu()
    try:
        blob = compress(t, checksum=checksum) if codec == "auto" else compress(t, checksum=checksum, codec=codec)
    except UnsupportedDTypeError:
        try:                              # the codec takes other dtypes: this tensor gets "auto"
            blob = compress(t, checksum=checksum) if codec != "auto" else None
        except UnsupportedDTypeError:
            blob = None
    if blob is not None and blob.numel() < t.numel() * t.element_size():
        return blob, {"codec": _codec_name(blob), "dtype": _dtype_name(t.dtype), "shape": list(t.shape)}
    return t, None


def compress_state_dict(state_dict: dict, checksum: bool = False, progress=None, codec: str = "auto"):
    """(tensors to store, enec metadata). Tensors that do not shrink are stored raw."""
    out, meta = {}, {}
    for name, t in state_dict.items():
        out[name], info = _encode(name, t, checksum, codec)
        if info is not None:
            meta[name] = info
        if progress:
            progress(name)
    return out, meta


# ---------------------------------------------------------------------------------------------
# writing: streaming safetensors writer + atomic placement
# ---------------------------------------------------------------------------------------------

class _Entry:
    """One tensor to write: its safetensors dtype, shape, byte count and a producer of the
    tensor (called once, while writing)."""
    __slots__ = ("name", "dtype", "shape", "nbytes", "produce")

    def __init__(self, name, dtype, shape, nbytes, produce):
        self.name, self.dtype, self.shape, self.nbytes, self.produce = name, dtype, list(shape), nbytes, produce


def _entry_of(name: str, t: torch.Tensor) -> _Entry:
    return _Entry(name, _st_dtype(t.dtype, name), t.shape, t.numel() * t.element_size(), lambda: t)


def _header_bytes(entries: list, metadata: dict | None) -> tuple[bytes, list]:
    if any(e.name == "__metadata__" for e in entries):
        raise EnecError("'__metadata__' cannot be a tensor name in a safetensors file")
    order = sorted(entries, key=lambda e: (-_ST_RANK[e.dtype], e.name))
    head, off = {}, 0
    if metadata is not None:
        for k, v in metadata.items():
            if not isinstance(k, str) or not isinstance(v, str):
                raise EnecError("safetensors metadata must map str to str")
        head["__metadata__"] = {k: metadata[k] for k in sorted(metadata)}
    for e in order:
        head[e.name] = {"dtype": e.dtype, "shape": e.shape, "data_offsets": [off, off + e.nbytes]}
        off += e.nbytes
    text = json.dumps(head, ensure_ascii=False, separators=(",", ":")).encode()
    text += b" " * (-(8 + len(text)) % 8)
    return struct.pack("<Q", len(text)) + text, order


def _tensor_bytes(t: torch.Tensor):
    t = t.detach()
    if t.device.type != "cpu":
        t = t.cpu()
    t = t.contiguous().reshape(-1)
    if t.dtype != torch.uint8:
        t = t.view(torch.uint8)
    return memoryview(t.numpy())


def _write_safetensors(f, entries: list, metadata: dict | None) -> None:
    head, order = _header_bytes(entries, metadata)
    f.write(head)
    for e in order:
        t = e.produce()
        if t.numel() * t.element_size() != e.nbytes or _st_dtype(t.dtype, e.name) != e.dtype:
            raise CorruptStreamError(f"tensor {e.name!r}: got {t.dtype} {tuple(t.shape)}, "
                                     f"expected {e.dtype} {tuple(e.shape)}")
        f.write(_tensor_bytes(t))
        del t


def _linkat():
    try:
        import ctypes
        import ctypes.util
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        f = libc.linkat
        f.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
        return f
    except (OSError, AttributeError):
        return None


_AT_FDCWD, _AT_SYMLINK_FOLLOW = -100, 0x400


def _fsync_dir(d: str) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(d, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# Named temporaries: the fallback below writes under one, and a forced O_TMPFILE write links its
# finished file to one just before the rename. They are hidden files beside the output,
# `.enec-<pid>@<host>:<pid namespace>@<random>.tmp`, never a loadable name. A writer killed by
# SIGKILL cannot remove its own, so every atomic_write first removes the temporaries of writers
# that are gone (_remove_stale_temps): those of this machine (same host name and pid namespace)
# whose process no longer runs; those of other machines sharing the folder (or of unknown
# writers) once nobody has written to them for STALE_TEMP_SECONDS (a live writer writes every
# few seconds).
_TMP_PREFIX, _TMP_SUFFIX = ".enec-", ".tmp"
_TMP_NAME = re.compile(r"\.enec-(\d+)@([^@]*)@[^@]*\.tmp")
STALE_TEMP_SECONDS = 3600


def _machine() -> str:
    """This machine as a temporary's name records it: host name and pid namespace (containers
    on one host may share a host name but not their process ids)."""
    host = re.sub(r"[^A-Za-z0-9.-]", "_", socket.gethostname())
    try:
        ns = str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:
        ns = ""
    return f"{host}:{ns}"


def _temp_prefix() -> str:
    return f"{_TMP_PREFIX}{os.getpid()}@{_machine()}@"


def _process_gone(pid: int):
    """True when no process `pid` runs here, False when one does, None when this cannot be told."""
    if os.name != "posix":          # os.kill(pid, 0) would terminate the process on Windows
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:                 # EPERM: it runs, as another user
        return False
    return False


def _remove_stale_temps(folder: str) -> None:
    """Remove the temporaries of dead writers in `folder` (see _TMP_NAME); best effort."""
    here = _machine()
    with contextlib.suppress(OSError), os.scandir(folder) as it:
        for e in it:
            if not (e.name.startswith(_TMP_PREFIX) and e.name.endswith(_TMP_SUFFIX)):
                continue
            with contextlib.suppress(OSError):
                if not e.is_file(follow_symlinks=False):
                    continue
                m = _TMP_NAME.fullmatch(e.name)
                # a writer of this machine: its process decides (a live one may be slow)
                gone = _process_gone(int(m.group(1))) if m and m.group(2) == here else None
                if gone is None:
                    gone = time.time() - e.stat(follow_symlinks=False).st_mtime > STALE_TEMP_SECONDS
                if gone:
                    os.unlink(e.path)


def atomic_write(path, data, force: bool = False) -> None:
    """Write `path` all at once or not at all, even if the process is killed mid-way.

    `data` is bytes-like, or a callable that writes to the binary file object it is given.
    On Linux the bytes go to an unnamed file (O_TMPFILE) in the target directory that gets a name
    only when complete (linked straight to `path` when it must not be overwritten, so a file
    created meanwhile by someone else is not replaced either); elsewhere to a hidden temporary
    name that is renamed over `path` (removed again on failure; one left by a killed writer is
    removed by a later atomic_write into the same folder, see _TMP_NAME).
    """
    path = os.path.abspath(os.fspath(path))
    _check_output(path, force)
    write = data if callable(data) else (lambda f: f.write(memoryview(data)))
    d = os.path.dirname(path)
    _remove_stale_temps(d)
    linkat = _linkat() if hasattr(os, "O_TMPFILE") else None
    fd = None
    if linkat is not None:
        try:
            fd = os.open(d, os.O_TMPFILE | os.O_WRONLY, 0o644)
        except OSError:
            fd = None
    if fd is not None:
        import ctypes
        with io.open(fd, "wb", buffering=1 << 20) as f:       # closes fd; unnamed until linked
            write(f)
            f.flush()
            os.fsync(f.fileno())
            src = f"/proc/self/fd/{f.fileno()}".encode()
            if not force:       # link straight to path: fails if it exists (no race either)
                if linkat(_AT_FDCWD, src, _AT_FDCWD, path.encode(), _AT_SYMLINK_FOLLOW) == 0:
                    _fsync_dir(d)
                    return
                if ctypes.get_errno() == errno.EEXIST:
                    raise _exists_error(path)
                ok = False
            else:
                tmp = os.path.join(d, f"{_temp_prefix()}{os.urandom(6).hex()}{_TMP_SUFFIX}")
                ok = linkat(_AT_FDCWD, src, _AT_FDCWD, tmp.encode(), _AT_SYMLINK_FOLLOW) == 0
        if ok:
            try:
                os.replace(tmp, path)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
                raise
            _fsync_dir(d)
            return
        # linking failed (no /proc, a filesystem without links): write again under a temp name
    fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(), suffix=_TMP_SUFFIX, dir=d)
    try:
        with io.open(fd, "wb", buffering=1 << 20) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        if not force and os.path.exists(path):
            raise _exists_error(path)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _exists_error(path) -> FileExistsError:
    """The error for an output that exists; .output_path lets the CLI say it its own way (--force)."""
    e = FileExistsError(f"{path} exists (pass force=True to overwrite)")
    e.output_path = os.fspath(path)
    return e


def _check_output(path, force: bool) -> None:
    """Fail before doing the work: an existing output (unless force), or a missing folder."""
    folder = os.path.dirname(os.path.abspath(os.fspath(path)))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"the output folder {folder} does not exist")
    if not force and os.path.exists(path):
        raise _exists_error(os.fspath(path))


def _enec_metadata(user: dict | None, meta: dict) -> dict:
    md = dict(user or {})
    md[META_KEY] = json.dumps({"version": META_VERSION, "tensors": meta}, separators=(",", ":"))
    return md


def save_file(state_dict: dict, path, metadata: dict | None = None, force: bool = False,
              checksum: bool = False, progress=None) -> dict:
    """Write a compressed safetensors file; returns the per-tensor enec metadata.

    Refuses to replace an existing `path` unless force=True."""
    _check_output(path, force)              # fail before doing the work
    tensors, meta = compress_state_dict(state_dict, checksum, progress)
    entries = [_entry_of(k, t) for k, t in tensors.items()]
    atomic_write(path, lambda f: _write_safetensors(f, entries, _enec_metadata(metadata, meta)), force)
    return meta


# ---------------------------------------------------------------------------------------------
# reading
# ---------------------------------------------------------------------------------------------

def _read_meta(path) -> tuple[dict, dict]:
    with _st_open(os.fspath(path), framework="pt") as f:
        md = f.metadata() or {}
    return _parse_meta(path, md), md


def _parse_meta(path, md: dict) -> dict:
    if META_KEY not in md:
        return {}
    try:
        info = json.loads(md[META_KEY])
        if info.get("version") != META_VERSION:
            raise CorruptStreamError(f"{path}: unsupported enec checkpoint metadata version "
                                     f"{info.get('version')!r}")
        tensors = info["tensors"]
        for name, t in tensors.items():
            if not isinstance(t["shape"], list) or not all(isinstance(s, int) and s >= 0 for s in t["shape"]):
                raise CorruptStreamError(f"{path}: tensor {name!r}: bad shape {t['shape']!r}")
            _torch_dtype(t["dtype"], f"{path}: tensor {name!r}")
            t.setdefault("codec", "enec")
        return tensors
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        if isinstance(e, EnecError):
            raise
        raise CorruptStreamError(f"{path}: malformed enec metadata ({e!r})") from None


def _restore(name, stored: torch.Tensor, info: dict | None, device=None) -> torch.Tensor:
    if info is None:
        return stored if device is None else stored.to(device)
    codec = info.get("codec", "enec")
    if codec not in DECODERS:
        raise UnknownCodecError(f"tensor {name!r} is stored with codec {codec!r}, which this enec "
                                f"cannot decode (known: {', '.join(sorted(DECODERS))})")
    if stored.dtype != torch.uint8 or stored.dim() != 1:
        raise CorruptStreamError(f"tensor {name!r}: a compressed tensor must be stored as 1-D U8, "
                                 f"found {stored.dtype} {tuple(stored.shape)}")
    try:
        out = DECODERS[codec](stored, device)
    except CorruptStreamError as e:
        raise type(e)(f"tensor {name!r}: {e}") from None
    if _dtype_name(out.dtype) != info["dtype"] or list(out.shape) != info["shape"]:
        raise CorruptStreamError(f"tensor {name!r}: blob holds {out.dtype} {tuple(out.shape)}, "
                                 f"metadata says {info['dtype']} {tuple(info['shape'])}")
    return out


def is_enec_file(path) -> bool:
    """True when `path` was written by enec (compress_file / save_file: enec's metadata entry)."""
    with _st_open(os.fspath(path), framework="pt") as f:
        return META_KEY in (f.metadata() or {})


def load_file(path, device="cpu") -> dict:
    """Load a compressed (or plain) safetensors file into the original state_dict, in the file's
    tensor order; tensors are read one at a time from the memory map."""
    with safe_open(path, device=device) as f:
        return {k: f.get_tensor(k) for k in f.keys()}


def compress_file(src, dst, force: bool = False, checksum: bool = False, progress=None,
                  codec: str = "auto") -> dict:
    """Compress a safetensors file (keeps its metadata). Memory: the blobs, plus one tensor.
    codec: "auto" (ENEC for floats: fast), "max" (the smallest blob of every codec), or one codec."""
    _check_output(dst, force)
    src = os.fspath(src)
    with _st_open(src, framework="pt") as f:
        md = f.metadata() or {}
        if META_KEY in md:
            raise EnecError(f"{src} is already an enec-compressed checkpoint")
        entries, meta = [], {}
        for name in f.keys():
            t = f.get_tensor(name)
            stored, info = _encode(name, t, checksum, codec)
            if info is None:              # raw: re-read from the memory map while writing
                del stored, t
                sl = f.get_slice(name)
                dt = _TORCH_OF_ST.get(sl.get_dtype())
                if dt is None:
                    raise UnsupportedDTypeError(f"tensor {name!r}: unsupported safetensors dtype {sl.get_dtype()}")
                shape = sl.get_shape()
                n = 1
                for s in shape:
                    n *= s
                entries.append(_Entry(name, sl.get_dtype(), shape, n * dt.itemsize,
                                      lambda name=name: f.get_tensor(name)))
            else:
                del t
                meta[name] = info
                entries.append(_entry_of(name, stored))
            if progress:
                progress(name)
        atomic_write(dst, lambda out: _write_safetensors(out, entries, _enec_metadata(md, meta)), force)
    return meta


def decompress_file(src, dst, force: bool = False, progress=None) -> None:
    """Write the plain safetensors file back (the original tensors, bit for bit). Memory: one
    decoded tensor at a time."""
    _check_output(dst, force)
    with safe_open(src) as f:
        entries = []
        for name in f.keys():
            sl = f.get_slice(name)
            st = sl.get_dtype()
            if st not in _ST_RANK:
                raise UnsupportedDTypeError(f"tensor {name!r}: unsupported safetensors dtype {st}")
            dt = _TORCH_OF_ST[st]
            n = 1
            for s in sl.get_shape():
                n *= s

            def produce(name=name):
                t = f.get_tensor(name)
                if progress:
                    progress(name)
                return t
            entries.append(_Entry(name, st, sl.get_shape(), n * dt.itemsize, produce))
        md = f.metadata() or None        # (an empty metadata map is not restored as such)
        atomic_write(dst, lambda out: _write_safetensors(out, entries, md), force)


class safe_open:
    """Lazy reader: `with enec.checkpoint.safe_open(path) as f: f.get_tensor(name)`.

    The file is memory-mapped by safetensors; a tensor is decoded only when asked for, and
    `get_slice(name)[a:b]` decodes only the 16384-element blocks holding rows a..b-1 of the first
    dimension (the whole tensor when the blob carries a checksum, which covers all of it).
    """

    def __init__(self, path, device="cpu", framework: str = "pt"):
        if framework not in ("pt", "torch"):
            raise ValueError("enec.checkpoint.safe_open returns torch tensors (framework='pt')")
        self.path, self.device = os.fspath(path), device
        self._f = _st_open(self.path, framework="pt")
        md = self._f.metadata()
        self._has_metadata = md is not None
        self._md = md or {}
        self._meta = _parse_meta(self.path, self._md)

    def __enter__(self):
        self._f.__enter__()
        return self

    def __exit__(self, *exc):
        return self._f.__exit__(*exc)

    def keys(self):
        return list(self._f.keys())

    def metadata(self) -> dict:
        """The caller's metadata (without enec's own entry)."""
        return {k: v for k, v in self._md.items() if k != META_KEY}

    def is_compressed(self, name) -> bool:
        return name in self._meta

    def get_tensor(self, name) -> torch.Tensor:
        return _restore(name, self._f.get_tensor(name), self._meta.get(name), self.device)

    def get_slice(self, name):
        if name not in self._meta:
            return _PlainSlice(self, name)
        return _RowSlice(self, name)


def _dev(t: torch.Tensor, device):
    return t if device is None else t.to(device)


class _PlainSlice:
    """safetensors' own slice of a raw tensor, moved to the reader's device."""

    def __init__(self, owner: safe_open, name: str):
        self.owner, self._s = owner, owner._f.get_slice(name)

    def __getitem__(self, idx):
        return _dev(self._s[idx], self.owner.device)

    def get_shape(self):
        return self._s.get_shape()

    def get_dtype(self):
        return self._s.get_dtype()


class _RowSlice:
    """Slicing of a compressed tensor: the first index picks rows (int, or slice with a positive
    step) and only the blocks holding them are decoded; further indices apply to those rows."""

    def __init__(self, owner: safe_open, name: str):
        self.owner, self.name = owner, name
        self.info = owner._meta[name]

    def get_shape(self):
        return list(self.info["shape"])

    def get_dtype(self):
        return _ST_DTYPE[_torch_dtype(self.info["dtype"], self.name)]

    def _rows(self, start: int, stop: int) -> torch.Tensor:
        if self.info.get("codec", "enec") != "enec":        # other codecs: decode all, then slice
            return self.owner.get_tensor(self.name)[start:stop]
        blob = self.owner._f.get_tensor(self.name)
        rows = cpu.decompress_rows(blob, start, stop)
        if rows.dtype != _torch_dtype(self.info["dtype"], self.name) or \
                list(rows.shape[1:]) != self.info["shape"][1:]:
            raise CorruptStreamError(f"tensor {self.name!r}: blob disagrees with the metadata")
        return rows

    def __getitem__(self, idx):
        shape = self.info["shape"]
        if not shape:
            raise EnecError(f"tensor {self.name!r} is 0-dim: it has no rows to slice")
        if not isinstance(idx, tuple):
            idx = (idx,)
        if idx and idx[0] is Ellipsis:
            return _dev(self.owner.get_tensor(self.name)[idx], self.owner.device)
        first, rest = (idx[0] if idx else slice(None)), idx[1:]
        n = shape[0]
        if isinstance(first, slice):
            start, stop, step = first.indices(n)
            if step < 1:
                raise EnecError("compressed tensors support first-dimension slices with a positive step")
            stop = max(stop, start)
            out = self._rows(start, stop)[::step]
            out = out[(slice(None),) + rest] if rest else out
        else:
            try:
                i = int(first.__index__())
            except (AttributeError, TypeError):
                raise EnecError(f"unsupported index {first!r} on the first dimension of a compressed "
                                f"tensor (an int or a slice)") from None
            if not -n <= i < n:
                raise IndexError(f"index {i} is out of bounds for dimension 0 with size {n}")
            i %= n
            out = self._rows(i, i + 1)[0]
            out = out[rest] if rest else out
        return _dev(out, self.owner.device)


def inspect_file(path) -> list[dict]:
    """Per-tensor rows: name, stored/original dtype, shape, parameters, sizes, ratio."""
    from .api import inspect as inspect_blob
    rows = []
    with safe_open(path) as f:
        for name in f.keys():
            if f.is_compressed(name):
                t = f._f.get_tensor(name)
                try:
                    i = inspect_blob(t)
                except CorruptStreamError as e:
                    raise type(e)(f"tensor {name!r}: {e}") from None
                enec_codec = i.codec == "enec"
                rows.append(dict(name=name, codec=f._meta[name].get("codec", "enec"),
                                 dtype=f._meta[name]["dtype"], shape=tuple(i.shape),
                                 b=i.b if enec_codec else None, n=i.n if enec_codec else None,
                                 m=i.m if enec_codec else None, detail=_table_summary(getattr(i, "table", None)),
                                 original=i.original_bytes, stored=i.compressed_bytes))
            else:
                sl = f._f.get_slice(name)
                shape = tuple(sl.get_shape())
                dt = _TORCH_OF_ST.get(sl.get_dtype())
                n = 1
                for s in shape:
                    n *= s
                nb = n * (dt.itemsize if dt is not None else 1)
                rows.append(dict(name=name, codec="raw",
                                 dtype=_dtype_name(dt) if dt is not None else sl.get_dtype(),
                                 shape=shape, b=None, n=None, m=None, detail="", original=nb, stored=nb))
    return rows


def _table_summary(table) -> str:
    """One short line for a QLC, APack or sparse table (enec.inspect(blob).table has the whole of it)."""
    if not table:
        return ""
    if "area_sizes" in table:                                  # QLC
        return "areas " + "/".join(str(a) for a in table["area_sizes"])
    if "range_starts" in table:                                # APack
        return f"{len(table['range_starts'])} ranges"
    if "format" in table:                                      # sparse
        return f"{table['format']}, nnz {table['nnz']}, values {table['values_codec']}"
    if "mantissa_bits_in_symbol" in table:                     # entropy
        return f"{len(table['freqs'])} symbols, exponent + {table['mantissa_bits_in_symbol']} mantissa bits"
    return ""


__all__ = ["save_file", "load_file", "compress_file", "decompress_file", "safe_open", "inspect_file",
           "compress_state_dict", "atomic_write", "UnknownCodecError", "DECODERS"]
