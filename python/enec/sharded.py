"""Parallel compression and decompression of sharded checkpoints.

A Hugging Face style folder holds several safetensors files and `model.safetensors.index.json`
(whose "weight_map" names the file of every tensor). `compress_folder` writes an equally sharded
folder: every shard compressed by `enec.checkpoint.compress_file` under the same file name, the
index with the same weight map plus an "enec" entry in its metadata, every other top-level file
(config.json, tokenizer files, ...) copied, config.json with a `quantization_config` naming enec
(enec.hf_folder: transformers' from_pretrained then loads the folder). `decompress_folder` is the inverse; `load_folder`
opens a compressed folder lazily (a tensor is read and decompressed when it is asked for).

The work is split by file, largest files first:
  * locally over `workers` processes (spawned, so each has its own interpreter), or
  * across a torchrun job (`distributed=True`, or automatically when torch.distributed is
    initialised / WORLD_SIZE > 1): every rank takes a disjoint share of the files, chosen by a
    deterministic size-balanced assignment, the ranks exchange what they did, and rank 0 writes
    the index and copies the other files once every shard is done. A failure on any rank
    (a bad shard, a dead peer) raises on every rank.

    torchrun --nproc-per-node 4 -m enec.sharded compress ckpt/ ckpt-enec/
    python -m enec.sharded compress ckpt/ ckpt-enec/ --workers 4
"""
from __future__ import annotations

import argparse
import concurrent.futures as cf
import dataclasses
import json
import multiprocessing
import os
import shutil
import sys
import time
from collections.abc import Mapping

from .errors import EnecError

__all__ = ["INDEX_NAME", "ShardedError", "FolderReport", "compress_folder", "decompress_folder",
           "load_folder", "list_shards", "assign_files", "main"]

INDEX_NAME = "model.safetensors.index.json"
ENEC_KEY = "enec"


class ShardedError(EnecError, RuntimeError):
    """Some shard of a sharded checkpoint could not be processed (on any worker or rank)."""


@dataclasses.dataclass
class FolderReport:
    """What compress_folder/decompress_folder did. `files`: one entry per shard
    {"file", "in_bytes", "out_bytes", "seconds", "worker"}; bytes are file sizes on disk."""
    mode: str
    files: list
    workers: int
    seconds: float

    @property
    def in_bytes(self) -> int:
        return sum(f["in_bytes"] for f in self.files)

    @property
    def out_bytes(self) -> int:
        return sum(f["out_bytes"] for f in self.files)

    @property
    def ratio(self) -> float:
        """Plain size over compressed size (whichever direction the work went)."""
        plain, packed = (self.in_bytes, self.out_bytes) if self.mode == "compress" else \
            (self.out_bytes, self.in_bytes)
        return plain / packed if packed else float("nan")


# --------------------------------------------------------------------------------------------
# Folder layout
# --------------------------------------------------------------------------------------------

def _read_index(folder: str):
    path = os.path.join(folder, INDEX_NAME)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        index = json.load(f)
    if not isinstance(index, dict) or not isinstance(index.get("weight_map"), dict):
        raise ShardedError(f"{path} has no 'weight_map' object")
    return index


def list_shards(folder: str) -> list:
    """The shard file names of a checkpoint folder: those its index names, or, without an index,
    every *.safetensors file in it."""
    folder = os.fspath(folder)
    if not os.path.isdir(folder):
        raise ShardedError(f"{folder} is not a directory")
    index = _read_index(folder)
    if index is not None:
        names = sorted(set(index["weight_map"].values()))
        for n in names:
            if os.path.basename(n) != n:
                raise ShardedError(f"index names a shard outside the folder: {n!r}")
            if not os.path.isfile(os.path.join(folder, n)):
                raise ShardedError(f"index names {n!r}, which is missing from {folder}")
    else:
        names = sorted(n for n in os.listdir(folder) if n.endswith(".safetensors")
                       and os.path.isfile(os.path.join(folder, n)))
    if not names:
        raise ShardedError(f"{folder} holds no safetensors shards")
    return names


def assign_files(sizes: dict, parts: int) -> list:
    """Split files into `parts` disjoint lists of about equal total size (largest file first to
    the least loaded part; ties broken by name), the same on every rank."""
    loads = [[0, i, []] for i in range(max(1, parts))]
    for name in sorted(sizes, key=lambda n: (-sizes[n], n)):
        part = min(loads, key=lambda p: (p[0], p[1]))
        part[0] += sizes[name]
        part[2].append(name)
    return [p[2] for p in loads]


# --------------------------------------------------------------------------------------------
# One file (runs in a worker process, a rank, or in-process)
# --------------------------------------------------------------------------------------------

def _process_file(mode: str, src: str, dst: str, options: dict) -> dict:
    from . import checkpoint                      # writes dst all at once or not at all (atomic_write)
    t0 = time.perf_counter()
    if mode == "compress":
        checkpoint.compress_file(src, dst, **options)
    else:
        checkpoint.decompress_file(src, dst, **options)
    return {"file": os.path.basename(src), "in_bytes": os.path.getsize(src),
            "out_bytes": os.path.getsize(dst), "seconds": time.perf_counter() - t0}


def _init_worker(threads: int):
    """Worker processes share the cores: each codec call uses torch.get_num_threads() threads of
    the native library's pool."""
    import torch
    torch.set_num_threads(threads)


def _run_share(mode, src_dir, dst_dir, names, options, worker):
    if worker is None:
        worker = f"pid {os.getpid()}"
    done, errors = [], []
    for n in names:
        try:
            r = _process_file(mode, os.path.join(src_dir, n), os.path.join(dst_dir, n), options)
            r["worker"] = worker
            done.append(r)
        except Exception as e:                   # reported, then raised on every rank
            errors.append({"file": n, "worker": worker, "error": f"{type(e).__name__}: {e}"})
    return done, errors


def _raise_errors(mode, errors):
    if errors:
        lines = "; ".join(f"{e['file']} (worker {e['worker']}): {e['error']}" for e in errors)
        raise ShardedError(f"{mode} failed for {len(errors)} shard(s): {lines}")


# --------------------------------------------------------------------------------------------
# Index and the other files (written once: by the caller, or by rank 0)
# --------------------------------------------------------------------------------------------

def _finish_folder(mode, src_dir, dst_dir, names, files):
    index = _read_index(src_dir)
    if index is not None:
        index = json.loads(json.dumps(index))
        meta = dict(index.get("metadata") or {})
        if mode == "compress":
            meta[ENEC_KEY] = {"format": "enec.checkpoint", "compressed_size": sum(f["out_bytes"] for f in files),
                              "shard_file_bytes": sum(f["in_bytes"] for f in files)}
        else:
            meta.pop(ENEC_KEY, None)
        index["metadata"] = meta
        tmp = os.path.join(dst_dir, f".{INDEX_NAME}.part")
        with open(tmp, "w") as f:
            json.dump(index, f, indent=2, sort_keys=True)
            f.write("\n")
        os.replace(tmp, os.path.join(dst_dir, INDEX_NAME))
    skip = set(names) | {INDEX_NAME}
    for n in sorted(os.listdir(src_dir)):
        p = os.path.join(src_dir, n)
        if n not in skip and os.path.isfile(p) and not n.startswith("."):
            shutil.copy2(p, os.path.join(dst_dir, n))
    from . import hf_folder                 # config.json: transformers' from_pretrained loads it
    if mode == "compress":
        hf_folder.mark_compressed(dst_dir)
    else:
        hf_folder.unmark(dst_dir)


def _use_distributed(distributed) -> bool:
    if distributed is not None:
        return bool(distributed)
    try:
        import torch.distributed as dist
        if dist.is_available() and dist.is_initialized():
            return dist.get_world_size() > 1
    except Exception:
        pass
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def _ensure_process_group():
    import torch.distributed as dist
    if not dist.is_initialized():
        # torchrun provides MASTER_ADDR/PORT, RANK, WORLD_SIZE; gloo needs no accelerator
        dist.init_process_group("gloo")
    return dist


def _run(mode, src_dir, dst_dir, workers, distributed, timeout, options):
    t0 = time.perf_counter()
    src_dir, dst_dir = os.fspath(src_dir), os.fspath(dst_dir)
    if os.path.abspath(src_dir) == os.path.abspath(dst_dir):
        raise ShardedError("source and destination folders must differ")
    names = list_shards(src_dir)
    sizes = {n: os.path.getsize(os.path.join(src_dir, n)) for n in names}
    os.makedirs(dst_dir, exist_ok=True)

    if _use_distributed(distributed):
        from .distributed import all_gather_json
        dist = _ensure_process_group()
        rank, world = dist.get_rank(), dist.get_world_size()
        share = assign_files(sizes, world)[rank]
        done, errors = _run_share(mode, src_dir, dst_dir, share, options, rank)
        try:
            reports = all_gather_json({"done": done, "errors": errors}, timeout=timeout)
        except RuntimeError as e:                # TransferError: a rank died or timed out
            raise ShardedError(f"{mode} of {src_dir}: ranks could not agree: {e}") from e
        files = [f for r in reports for f in r["done"]]
        _raise_errors(mode, [e for r in reports for e in r["errors"]])
        status = "ok"
        if rank == 0:
            try:
                _finish_folder(mode, src_dir, dst_dir, names, files)
            except Exception as e:
                status = f"rank 0 could not write the index: {type(e).__name__}: {e}"
        try:
            statuses = all_gather_json(status, timeout=timeout)
        except RuntimeError as e:
            raise ShardedError(f"{mode} of {src_dir}: ranks could not agree: {e}") from e
        if statuses[0] != "ok":
            raise ShardedError(statuses[0])
        workers_used = world
    else:
        if not options.get("force"):             # fail before starting any work
            there = [n for n in names if os.path.exists(os.path.join(dst_dir, n))]
            if there:
                raise ShardedError(f"{dst_dir} already holds {', '.join(there)} "
                                   "(force=True / --force to overwrite)")
        workers = max(1, int(workers or 1))
        order = sorted(names, key=lambda n: (-sizes[n], n))
        files, errors = [], []
        if workers == 1 or len(names) == 1:
            done, errors = _run_share(mode, src_dir, dst_dir, order, options, 0)
            files = done
            workers_used = 1
        else:
            workers_used = min(workers, len(names))
            ctx = multiprocessing.get_context("spawn")
            threads = max(1, (os.cpu_count() or 1) // workers_used)   # no oversubscription
            with cf.ProcessPoolExecutor(max_workers=workers_used, mp_context=ctx,
                                        initializer=_init_worker, initargs=(threads,)) as pool:
                futs = {pool.submit(_run_share, mode, src_dir, dst_dir, [n], options, None): n
                        for n in order}
                for fut in cf.as_completed(futs):
                    try:
                        done, errs = fut.result()
                    except Exception as e:       # a worker process died
                        done, errs = [], [{"file": futs[fut], "worker": "a worker process",
                                           "error": f"{type(e).__name__}: {e}"}]
                    files += done
                    errors += errs
        _raise_errors(mode, errors)
        _finish_folder(mode, src_dir, dst_dir, names, files)
    files.sort(key=lambda f: f["file"])
    return FolderReport(mode=mode, files=files, workers=workers_used, seconds=time.perf_counter() - t0)


def compress_folder(src_dir, dst_dir, workers: int = 1, *, distributed: bool | None = None,
                    timeout: float | None = None, **options) -> FolderReport:
    """Compress every shard of a checkpoint folder into `dst_dir` (same file names, same index).

    workers: local processes (1 = in this process). distributed: split across the ranks of a
    torch.distributed job instead (default: when one is running). timeout bounds the waits
    between ranks. Extra keyword options go to enec.checkpoint.compress_file (force=True to
    overwrite existing shards, checksum=True).
    """
    return _run("compress", src_dir, dst_dir, workers, distributed, timeout, options)


def decompress_folder(src_dir, dst_dir, workers: int = 1, *, distributed: bool | None = None,
                      timeout: float | None = None, **options) -> FolderReport:
    """Inverse of compress_folder: plain safetensors shards, bit-exact, and the original index."""
    return _run("decompress", src_dir, dst_dir, workers, distributed, timeout, options)


# --------------------------------------------------------------------------------------------
# Lazy loading
# --------------------------------------------------------------------------------------------

class ShardedCheckpoint(Mapping):
    """A read-only mapping name -> tensor over a (compressed or plain) sharded folder; each
    shard is opened on first use through enec.checkpoint, each tensor read when asked for."""

    def __init__(self, folder, device=None):
        self.folder = os.fspath(folder)
        self.device = device
        index = _read_index(self.folder)
        if index is not None:
            self.weight_map = dict(index["weight_map"])
        else:
            self.weight_map = {}
            for n in list_shards(self.folder):
                for k in self._open(n).keys():   # no index: every shard's names
                    self.weight_map[k] = n
        self._files: dict = {}

    def _open(self, name):
        from . import checkpoint
        if not hasattr(self, "_files"):
            self._files = {}
        if name not in self._files:
            self._files[name] = checkpoint.safe_open(os.path.join(self.folder, name), device=self.device)
        return self._files[name]

    def __getitem__(self, key):
        return self._open(self.weight_map[key]).get_tensor(key)

    def get_slice(self, key):
        """Rows of the first dimension, decoding only the blocks that hold them: x.get_slice(k)[a:b]."""
        return self._open(self.weight_map[key]).get_slice(key)

    def __iter__(self):
        return iter(self.weight_map)

    def __len__(self):
        return len(self.weight_map)

    def shard_of(self, key) -> str:
        return self.weight_map[key]


def load_folder(folder, device=None) -> ShardedCheckpoint:
    """Open a sharded checkpoint folder lazily."""
    return ShardedCheckpoint(folder, device=device)


# --------------------------------------------------------------------------------------------
# Command line (also reached through `enec compress/decompress` on a folder)
# --------------------------------------------------------------------------------------------

def add_arguments(p: argparse.ArgumentParser):
    p.add_argument("--workers", type=int, default=1,
                   help="local processes for a sharded folder (default 1)")
    p.add_argument("--distributed", action="store_true", default=None,
                   help="split the shards across a torchrun job (automatic under torchrun)")
    p.add_argument("--timeout", type=float, default=None,
                   help="seconds to wait for the other ranks (torchrun mode)")


def run_cli(mode: str, src: str, dst: str, workers=1, distributed=None, timeout=None, out=None,
            **options) -> int:
    """The command line's work: used by `python -m enec.sharded` and by `enec compress/decompress`
    when the input is a folder. Under torchrun it joins (and afterwards leaves) the job's process
    group; every rank prints errors, rank 0 the summary."""
    out = out or sys.stdout
    fn = compress_folder if mode == "compress" else decompress_folder
    use_dist = _use_distributed(distributed)
    started_here = False
    if use_dist:
        import torch.distributed as dist
        started_here = not dist.is_initialized()
        _ensure_process_group()
    ok = False
    try:
        rep = fn(src, dst, workers=workers, distributed=use_dist, timeout=timeout, **options)
        ok = True
    finally:
        if use_dist and started_here:
            import torch.distributed as dist
            if ok:
                dist.barrier()                     # rank 0 hosts the store: leave together
            dist.destroy_process_group()
    rank = int(os.environ.get("RANK", "0")) if use_dist else 0
    if rank == 0:
        print(f"{mode}ed {len(rep.files)} shard(s) of {src} -> {dst} with {rep.workers} "
              f"{'rank(s)' if use_dist else 'worker(s)'}: "
              f"{rep.in_bytes / 1e6:.2f} MB -> {rep.out_bytes / 1e6:.2f} MB "
              f"(ratio {rep.ratio:.4f}) in {rep.seconds:.2f} s", file=out)
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m enec.sharded",
                                description="compress or decompress a sharded safetensors checkpoint folder")
    p.add_argument("mode", choices=["compress", "decompress"])
    p.add_argument("src")
    p.add_argument("dst")
    p.add_argument("--force", action="store_true", help="overwrite existing shards")
    add_arguments(p)
    a = p.parse_args(argv)
    try:
        return run_cli(a.mode, a.src, a.dst, a.workers, a.distributed, a.timeout, force=a.force)
    except (EnecError, OSError, RuntimeError) as e:   # RuntimeError: TransferError between ranks
        print(f"error: {e}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
