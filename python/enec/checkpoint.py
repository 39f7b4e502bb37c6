"""Compressed checkpoints as ordinary safetensors files.

A compressed file is a valid safetensors file: every tensor enec compresses is stored under its own
name as a 1-D U8 tensor holding the enec blob; every other tensor (other dtypes, or data that does
not shrink) is stored as it is. The file's `__metadata__` holds
    "enec": JSON {"version": 1, "tensors": {name: {"codec": "enec", "dtype": ..., "shape": [...]}}}
next to the caller's own metadata. Any safetensors reader can open the file; `safe_open` here
reads one tensor, or rows of its first dimension, through a memory map without decoding the rest.
"""
from __future__ import annotations

import contextlib
import json
import os
import tempfile

import torch
from safetensors import safe_open as _st_open
from safetensors.torch import load_file as _st_load
from safetensors.torch import save as _st_bytes

from . import cpu
from .api import compress, decompress
from .errors import CorruptStreamError, EnecError

META_KEY = "enec"
META_VERSION = 1


def _compressible(t: torch.Tensor) -> bool:
    return t.dtype in (torch.bfloat16, torch.float16, torch.float32)


def compress_state_dict(state_dict: dict, checksum: bool = False, progress=None):
    """(tensors to store, enec metadata). Tensors that do not shrink are stored raw."""
    out, meta = {}, {}
    for name, t in state_dict.items():
        if not isinstance(t, torch.Tensor):
            raise EnecError(f"state_dict entry {name!r} is not a tensor")
        t = t.detach().cpu()
        blob = compress(t, checksum=checksum) if _compressible(t) else None
        if blob is not None and blob.numel() < t.numel() * t.element_size():
            out[name] = blob
            meta[name] = {"codec": "enec", "dtype": str(t.dtype).replace("torch.", ""),
                          "shape": list(t.shape)}
        else:
            out[name] = t.contiguous()
        if progress:
            progress(name)
    return out, meta


def atomic_write(path, data, force: bool = False) -> None:
    """Write `data` to `path` all at once or not at all, even if the process is killed.

    On Linux the bytes go to an unnamed file (O_TMPFILE) in the target directory that gets a name
    only when complete; elsewhere to a temporary name that is renamed over `path` (removed again
    on failure).
    """
    path = os.path.abspath(os.fspath(path))
    if os.path.exists(path) and not force:
        raise FileExistsError(f"{path} exists (use force=True / --force to overwrite)")
    d = os.path.dirname(path)
    linkat = _linkat()
    if hasattr(os, "O_TMPFILE") and linkat is not None:
        try:
            fd = os.open(d, os.O_TMPFILE | os.O_WRONLY, 0o644)
        except OSError:
            fd = None
        if fd is not None:
            tmp = os.path.join(d, f".enec-{os.getpid()}-{id(data)}.tmp")
            try:
                _write_all(fd, data)
                os.fsync(fd)
                # named only now that it is complete (linkat with AT_SYMLINK_FOLLOW)
                ok = linkat(-100, f"/proc/self/fd/{fd}".encode(), -100, tmp.encode(), 0x400) == 0
            finally:
                os.close(fd)
            if ok:
                os.replace(tmp, path)
                return
    fd, tmp = tempfile.mkstemp(prefix=".enec-", suffix=".tmp", dir=d)
    try:
        _write_all(fd, data)
        os.close(fd)
        fd = None
        os.replace(tmp, path)
    except BaseException:
        if fd is not None:
            os.close(fd)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


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


def _write_all(fd, data) -> None:
    mv = memoryview(data)
    while mv:
        n = os.write(fd, mv[: 1 << 30])
        mv = mv[n:]


def _refuse_existing(path, force: bool) -> None:
    if not force and os.path.exists(path):
        raise FileExistsError(f"{os.fspath(path)} exists (use force=True / --force to overwrite)")


def save_file(state_dict: dict, path, metadata: dict | None = None, force: bool = True,
              checksum: bool = False, progress=None) -> dict:
    """Write a compressed safetensors file; returns the per-tensor enec metadata."""
    _refuse_existing(path, force)              # fail before doing the work
    tensors, meta = compress_state_dict(state_dict, checksum, progress)
    md = dict(metadata or {})
    md[META_KEY] = json.dumps({"version": META_VERSION, "tensors": meta})
    atomic_write(path, _st_bytes(tensors, metadata=md), force)
    return meta


def _read_meta(path) -> tuple[dict, dict]:
    with _st_open(os.fspath(path), framework="pt") as f:
        md = f.metadata() or {}
    if META_KEY not in md:
        return {}, md
    try:
        info = json.loads(md[META_KEY])
        if info.get("version") != META_VERSION:
            raise CorruptStreamError(f"unsupported enec checkpoint metadata version {info.get('version')}")
        return info["tensors"], md
    except (ValueError, KeyError, TypeError) as e:
        raise CorruptStreamError(f"{path}: malformed enec metadata ({e})") from None


def _restore(name, stored: torch.Tensor, info: dict | None) -> torch.Tensor:
    if info is None:
        return stored
    out = decompress(stored)
    if str(out.dtype).replace("torch.", "") != info["dtype"] or list(out.shape) != info["shape"]:
        raise CorruptStreamError(f"tensor {name!r}: blob holds {out.dtype} {tuple(out.shape)}, "
                                 f"metadata says {info['dtype']} {tuple(info['shape'])}")
    return out


def load_file(path, device: str = "cpu") -> dict:
    """Load a compressed (or plain) safetensors file into the original state_dict."""
    meta, _ = _read_meta(path)
    stored = _st_load(os.fspath(path))
    return {k: _restore(k, v, meta.get(k)).to(device) for k, v in stored.items()}


def compress_file(src, dst, force: bool = False, checksum: bool = False, progress=None) -> dict:
    """Compress a safetensors file (keeps its metadata)."""
    _refuse_existing(dst, force)
    with _st_open(os.fspath(src), framework="pt") as f:
        md = f.metadata() or {}
    if META_KEY in md:
        raise EnecError(f"{src} is already an enec-compressed checkpoint")
    return save_file(_st_load(os.fspath(src)), dst, md, force, checksum, progress)


def decompress_file(src, dst, force: bool = False) -> None:
    """Write the plain safetensors file back (the original tensors, bit for bit)."""
    _refuse_existing(dst, force)
    _, md = _read_meta(src)
    md = {k: v for k, v in md.items() if k != META_KEY}
    sd = load_file(src)
    atomic_write(dst, _st_bytes(sd, metadata=md or None), force)


class safe_open:
    """Lazy reader: `with enec.checkpoint.safe_open(path) as f: f.get_tensor(name)`.

    The file is memory-mapped by safetensors; a tensor is decoded only when asked for, and
    `get_slice(name)[a:b]` decodes only the blocks holding rows a..b of the first dimension.
    """

    def __init__(self, path, device: str = "cpu"):
        self.path, self.device = os.fspath(path), device
        self._meta, self._md = _read_meta(self.path)
        self._f = _st_open(self.path, framework="pt")

    def __enter__(self):
        self._f.__enter__()
        return self

    def __exit__(self, *exc):
        return self._f.__exit__(*exc)

    def keys(self):
        return list(self._f.keys())

    def metadata(self) -> dict:
        return {k: v for k, v in self._md.items() if k != META_KEY}

    def is_compressed(self, name) -> bool:
        return name in self._meta

    def get_tensor(self, name) -> torch.Tensor:
        return _restore(name, self._f.get_tensor(name), self._meta.get(name)).to(self.device)

    def get_slice(self, name):
        return _RowSlice(self, name)


class _RowSlice:
    def __init__(self, owner: safe_open, name: str):
        self.owner, self.name = owner, name

    def __getitem__(self, idx):
        info = self.owner._meta.get(self.name)
        if info is None:
            return self.owner._f.get_slice(self.name)[idx]
        if not isinstance(idx, slice) or idx.step not in (None, 1):
            raise EnecError("compressed tensors support contiguous first-dimension slices x[a:b]")
        blob = self.owner._f.get_tensor(self.name)
        rows = cpu.decompress_rows(blob, *slice(idx.start, idx.stop).indices(info["shape"][0])[:2])
        return rows.to(self.owner.device)

    def get_shape(self):
        info = self.owner._meta.get(self.name)
        return info["shape"] if info else self.owner._f.get_slice(self.name).get_shape()


def inspect_file(path) -> list[dict]:
    """Per-tensor rows: name, stored/original dtype, shape, parameters, sizes, ratio."""
    from .api import inspect as inspect_blob
    meta, _ = _read_meta(path)
    rows = []
    with _st_open(os.fspath(path), framework="pt") as f:
        for name in f.keys():
            t = f.get_tensor(name)
            if name in meta:
                i = inspect_blob(t)
                rows.append(dict(name=name, codec="enec", dtype=meta[name]["dtype"], shape=tuple(i.shape),
                                 b=i.b, n=i.n, m=i.m, original=i.original_bytes, stored=i.compressed_bytes))
            else:
                nb = t.numel() * t.element_size()
                rows.append(dict(name=name, codec="raw", dtype=str(t.dtype).replace("torch.", ""),
                                 shape=tuple(t.shape), b=None, n=None, m=None, original=nb, stored=nb))
    return rows


__all__ = ["save_file", "load_file", "compress_file", "decompress_file", "safe_open", "inspect_file",
           "compress_state_dict", "atomic_write"]
