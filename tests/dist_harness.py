"""Launch a function on N local ranks (torch.distributed, gloo, spawn) and collect its results.

Each rank initialises a gloo process group on a free localhost port, wraps the torch.distributed
send paths to count the bytes it contributes, runs `fn(rank, world, *args)` and writes what it
returns (or the exception it raised) as JSON. The parent joins every rank against a deadline and
kills stragglers, so a hang fails the test instead of blocking the suite.
"""
from __future__ import annotations

import json
import multiprocessing as mp
import os
import socket
import time
import traceback
from datetime import timedelta

import torch

HANG_DEADLINE_S = 90


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Counter:
    """Bytes this rank puts into collectives, counted at the torch.distributed API."""

    def __init__(self):
        self.sent = 0
        self.calls = 0

    def install(self):
        import torch.distributed as dist
        orig_bcast, orig_gather, orig_reduce = dist.broadcast, dist.all_gather, dist.all_reduce

        def nbytes(t):
            return t.numel() * t.element_size()

        def broadcast(tensor, src=None, *a, **kw):
            self.calls += 1
            if dist.get_rank() == src:
                self.sent += nbytes(tensor)
            elif kw.get("async_op"):
                # strict async: the caller's buffer holds poison until it waits on the handle
                scratch = torch.empty_like(tensor)
                work = orig_bcast(scratch, src, *a, **kw)
                return _Deferred(work, [(scratch, tensor)])
            return orig_bcast(tensor, src, *a, **kw)

        def all_gather(tensor_list, tensor, *a, **kw):
            self.sent += nbytes(tensor)
            self.calls += 1
            if kw.get("async_op"):
                scratch = [torch.empty_like(t) for t in tensor_list]
                work = orig_gather(scratch, tensor, *a, **kw)
                return _Deferred(work, list(zip(scratch, tensor_list)))
            return orig_gather(tensor_list, tensor, *a, **kw)

        def all_reduce(tensor, *a, **kw):
            self.sent += nbytes(tensor)
            self.calls += 1
            return orig_reduce(tensor, *a, **kw)

        dist.broadcast, dist.all_gather, dist.all_reduce = broadcast, all_gather, all_reduce


class _Deferred:
    """A collective handle whose results reach the caller's tensors only in wait(); until then
    they hold a poison pattern, so code that reads a buffer before waiting on it fails."""

    def __init__(self, work, pairs):
        self.work, self.pairs = work, pairs
        for _, dst in pairs:
            if dst.numel():
                dst.view(-1).view(torch.uint8).fill_(0xA5)

    def is_completed(self):
        return self.work.is_completed()

    def wait(self, *a, **kw):
        out = self.work.wait(*a, **kw)
        for src, dst in self.pairs:
            dst.copy_(src)
        self.pairs = []
        return out


COUNTER = Counter()


def _entry(rank, world, port, fn, args, outdir, pg_timeout_s, env):
    os.environ.update(env)
    res = {"rank": rank}
    try:
        import torch
        import torch.distributed as dist
        torch.set_num_threads(1)
        dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                                world_size=world, timeout=timedelta(seconds=pg_timeout_s))
        COUNTER.install()
        t0 = time.monotonic()
        try:
            res["value"] = fn(rank, world, *args)
        except BaseException as e:               # noqa: BLE001 - reported to the parent
            res["error"] = type(e).__name__
            res["message"] = str(e)
            res["traceback"] = traceback.format_exc()
        res["seconds"] = time.monotonic() - t0
    except BaseException as e:                   # noqa: BLE001
        res["error"] = type(e).__name__
        res["message"] = f"harness: {e}"
        res["traceback"] = traceback.format_exc()
    with open(os.path.join(outdir, f"rank{rank}.json.part"), "w") as f:
        json.dump(res, f)
    os.replace(os.path.join(outdir, f"rank{rank}.json.part"), os.path.join(outdir, f"rank{rank}.json"))
    # Skip interpreter teardown: after a failed collective gloo may still hold pending work
    # whose destructor would wait for a peer that is gone.
    os._exit(0)


def launch(fn, world: int, outdir, args=(), pg_timeout_s: float = 60, env=None,
           deadline_s: float = HANG_DEADLINE_S):
    """Run fn on `world` ranks; returns (results by rank or None for a rank that wrote none,
    exit codes). Raises AssertionError if any rank is still running after deadline_s."""
    outdir = str(outdir)
    os.makedirs(outdir, exist_ok=True)
    ctx = mp.get_context("spawn")
    port = free_port()
    procs = [ctx.Process(target=_entry, args=(r, world, port, fn, tuple(args), outdir, pg_timeout_s,
                                              dict(env or {})), daemon=True)
             for r in range(world)]
    for p in procs:
        p.start()
    end = time.monotonic() + deadline_s
    hung = []
    for r, p in enumerate(procs):
        p.join(max(0.0, end - time.monotonic()))
        if p.is_alive():
            hung.append(r)
    for r in hung:
        procs[r].kill()
        procs[r].join(5)
    assert not hung, f"ranks {hung} still running after {deadline_s} s: a hang"
    results = []
    for r in range(world):
        path = os.path.join(outdir, f"rank{r}.json")
        results.append(json.load(open(path)) if os.path.exists(path) else None)
    return results, [p.exitcode for p in procs]


def values(results):
    """The per-rank return values, failing with the rank's traceback if one raised."""
    out = []
    for r, res in enumerate(results):
        assert res is not None, f"rank {r} wrote no result"
        assert "error" not in res, f"rank {r} raised {res['error']}: {res['message']}\n{res.get('traceback')}"
        out.append(res["value"])
    return out
