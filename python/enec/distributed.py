"""Compressed weight distribution over torch.distributed.

    import enec.distributed as ed
    sd = ed.broadcast_state_dict(sd if rank == 0 else None, src=0)     # every rank gets sd
    ed.broadcast_module(model, src=0)                                  # in place
    full = ed.all_gather_flat(my_flat_shard)                           # FSDP-style un-shard

Weights are compressed once (on the sending rank), the enec blobs are what travels, and every
receiving rank decompresses on its own device: BF16/FP16/FP32 through ENEC, FP8 through QLC,
INT8/UINT8 through APack (the codec "auto" picks, sparse included). Tensors enec cannot compress
(integer buffers such as position_ids) travel as raw bytes. Everything goes through ordinary torch.distributed
collectives (`broadcast`, `all_gather`, `all_reduce`), so any backend works: gloo on CPU, HCCL on
Ascend, NCCL, MPI.

Chunks and buckets. Tensors are compressed in chunks of at most `chunk_numel` elements (default
1 Mi; one blob per chunk adapts the code to local statistics), and chunks are grouped into
buckets (`bucket_bytes`, default 16 MiB of original data). The sender compresses bucket i+1 in a
worker thread while bucket i is on the wire; a receiver waits for bucket i-1's handle and
decompresses it while bucket i is on the wire (async collective handles).

Bytes on the wire. Per bucket the sender broadcasts one int64 per chunk (the blob sizes), then
the concatenated blobs. A transfer starts with one small metadata broadcast (names, dtypes, shapes
as JSON) and ends with one int32 all-reduce. `return_stats=True` reports payload and control bytes.

Failures. A rank whose part fails (an exception while compressing, decompressing, loading) posts
the error to the process group's rendezvous store and raises `TransferError`; the other ranks poll
that store while they wait on a collective and raise `TransferError` naming the failed rank
instead of blocking. A rank that dies outright is seen as a collective error by its peers (gloo
closes the connection), which the first rank to notice posts for the others. Every wait is bounded
by `timeout` seconds. A transfer only returns once every rank has finished its part (the final
all-reduce), so either all ranks succeed or all raise. After a TransferError the process group is
in an undefined state (as after any failed collective): destroy it, or exit.
"""
from __future__ import annotations

import dataclasses
import itertools
import json
import math
import os
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import torch
import torch.distributed as dist

from . import api
from ._torch_private import default_store
from . import format as _fmt

__all__ = ["TransferError", "TransferStats", "broadcast_state_dict", "broadcast_module",
           "all_gather_flat", "all_gather_json", "COMPRESSIBLE_DTYPES"]

# every dtype enec has a codec for (format.ALL_DTYPE_NAMES: ENEC, QLC, APack)
COMPRESSIBLE_DTYPES = tuple(getattr(torch, name) for name in _fmt.ALL_DTYPE_NAMES)
DEFAULT_BUCKET_BYTES = 16 << 20
# compression granularity: ~1 Mi elements per blob adapts to local statistics (MiniLM BF16:
# 1.358 vs 1.336 per whole tensor) and bounds the work per piece
DEFAULT_CHUNK_NUMEL = 1 << 20
DEFAULT_TIMEOUT_S = float(os.environ.get("ENEC_DIST_TIMEOUT", "600"))
# how long a failing rank waits for its peers to read its error (a dead peer never does)
LINGER_S = float(os.environ.get("ENEC_DIST_LINGER", "3"))


class TransferError(RuntimeError):
    """A distributed transfer failed on this rank or on a peer, or timed out."""


@dataclasses.dataclass
class TransferStats:
    """What one transfer put on the wire, as seen from this rank.

    payload_bytes: weight bytes this rank sent as a source (blobs, or raw bytes of tensors
        that are not compressed); control_bytes: metadata, blob-size tables and the final
        all-reduce this rank contributed; original_bytes: the uncompressed size of the weights
        this rank sent (what a plain transfer would have put on the wire);
        received_payload_bytes: weight bytes this rank received from other ranks.
    """
    payload_bytes: int = 0
    control_bytes: int = 0
    original_bytes: int = 0
    received_payload_bytes: int = 0
    buckets: int = 0
    seconds: float = 0.0

    @property
    def ratio(self) -> float:
        return self.original_bytes / self.payload_bytes if self.payload_bytes else float("nan")


# --------------------------------------------------------------------------------------------
# Collective plumbing: bounded, failure-aware waits
# --------------------------------------------------------------------------------------------

_SEQ: dict = {}
_SEQ_LOCK = threading.Lock()


def _group_ranks(group) -> tuple:
    if group is None or group is dist.group.WORLD:
        return tuple(range(dist.get_world_size()))
    return tuple(dist.get_process_group_ranks(group))


def _comm_device(group, device) -> torch.device:
    """Where a backend wants its tensors: CPU for gloo/MPI, the current accelerator otherwise."""
    backend = str(dist.get_backend(group)).lower()
    if "gloo" in backend or "mpi" in backend:
        if ":" not in backend or device is None or torch.device(device).type == "cpu":
            return torch.device("cpu")
    if "nccl" in backend:
        return torch.device("cuda", torch.cuda.current_device())
    if "hccl" in backend:
        return torch.device("npu", torch.npu.current_device())  # type: ignore[attr-defined]
    if device is not None:
        return torch.device(device)
    return torch.device("cpu")


class _Channel:
    """One transfer's view of the group: its rank, a failure mailbox in the store, a deadline."""

    def __init__(self, op: str, group, timeout: float | None):
        if not dist.is_available() or not dist.is_initialized():
            raise TransferError(f"{op}: torch.distributed is not initialized "
                                "(call torch.distributed.init_process_group first)")
        self.op = op
        self.group = group
        self.rank = dist.get_rank(group)
        self.world = dist.get_world_size(group)
        self.global_rank = dist.get_rank()
        ranks = _group_ranks(group)
        self.ranks = ranks
        with _SEQ_LOCK:
            seq = _SEQ.get(ranks, 0)
            _SEQ[ranks] = seq + 1
        self.timeout = DEFAULT_TIMEOUT_S if timeout is None else float(timeout)
        self.deadline = time.monotonic() + self.timeout
        try:
            self.store = default_store()
        except Exception:                        # no store reachable: timeouts still bound waits
            self.store = None
        tag = "-".join(map(str, ranks)) if len(ranks) <= 16 else f"{hash(ranks) & 0xFFFFFFFF:x}"
        self.key = f"enec/dist/{tag}/{seq}/error"
        self.failed = False

    def _check_store(self):
        if self.store is None:
            return
        try:
            posted = self.store.check([self.key])
            msg = self.store.get(self.key).decode("utf-8", "replace") if posted else None
        except Exception as e:                   # the store lives on a rank that died
            self.failed = True
            raise TransferError(f"{self.op} (rank {self.global_rank}): lost contact with the "
                                f"rendezvous store, a peer rank has probably died ({e})") from e
        if msg is not None:
            self.failed = True
            self._ack_and_linger()
            raise TransferError(f"{self.op} (rank {self.global_rank}): aborted because {msg}")

    def _ack_and_linger(self):
        """Count this rank as informed, then wait (LINGER_S at most) until every rank is: the
        store may live in this very process, which is likely to exit once the error is raised."""
        try:
            self.store.add(self.key + "/ack", 1)
            end = time.monotonic() + LINGER_S
            while self.store.add(self.key + "/ack", 0) < self.world and time.monotonic() < end:
                time.sleep(0.01)
        except Exception:
            pass

    def post_failure(self, exc: BaseException):
        """Tell the other ranks that this rank cannot finish the transfer."""
        if self.failed or self.store is None:
            self.failed = True
            return
        self.failed = True
        try:
            if not self.store.check([self.key]):
                self.store.set(self.key, f"rank {self.global_rank} failed: {type(exc).__name__}: {exc}")
        except Exception:
            return
        self._ack_and_linger()

    def wait(self, work, what: str):
        """Wait for an async collective, polling the failure mailbox and the deadline."""
        if work is None:
            return
        nap, last_check = 1e-4, 0.0
        try:
            while not work.is_completed():
                now = time.monotonic()
                if now - last_check > 0.02:
                    self._check_store()
                    last_check = now
                if now > self.deadline:
                    raise TransferError(
                        f"{self.op} (rank {self.global_rank}): timed out after {self.timeout:g} s "
                        f"waiting for {what}; a peer rank is stuck or gone")
                time.sleep(nap)
                nap = min(nap * 2, 5e-3)
            work.wait()
        except TransferError as e:
            self.post_failure(e)
            raise
        except Exception as e:                   # the backend reports a broken collective
            self.post_failure(e)
            raise TransferError(f"{self.op} (rank {self.global_rank}): collective '{what}' failed, "
                                f"a peer rank has probably failed or died: {e}") from e

    def run(self, fn, *args):
        """Run this rank's local work; on failure post it and raise TransferError."""
        try:
            return fn(*args)
        except TransferError:
            raise
        except Exception as e:
            self.post_failure(e)
            raise TransferError(f"{self.op} (rank {self.global_rank}): failed: "
                                f"{type(e).__name__}: {e}") from e

    def finish(self, comm_dev, stats: TransferStats):
        """Consensus: returns only when every rank has finished its part."""
        flag = torch.zeros(1, dtype=torch.int32, device=comm_dev)
        stats.control_bytes += 4
        self.wait(dist.all_reduce(flag, group=self.group, async_op=True), "the final all-reduce")


def _bcast(buf: torch.Tensor, src_group_rank: int, ch: _Channel):
    """Async broadcast from a rank given by its index in the group."""
    src = ch.ranks[src_group_rank]
    return dist.broadcast(buf, src=src, group=ch.group, async_op=True)


# --------------------------------------------------------------------------------------------
# Encoding of single tensors
# --------------------------------------------------------------------------------------------

def _dtype_name(dt: torch.dtype) -> str:
    return str(dt).replace("torch.", "")


def _dtype_of(name: str) -> torch.dtype:
    dt = getattr(torch, name, None)
    if not isinstance(dt, torch.dtype):
        raise TransferError(f"unknown dtype {name!r} in transfer metadata")
    return dt


def _compress_one(t: torch.Tensor) -> torch.Tensor:
    t = t.detach()
    if t.device.type != "cpu":
        try:
            return api.compress(t).reshape(-1)
        except (NotImplementedError, RuntimeError):
            t = t.cpu()
    return api.compress(t)


def _raw_bytes(t: torch.Tensor) -> torch.Tensor:
    return t.detach().cpu().contiguous().reshape(-1).view(torch.uint8)


def _decompress_one(blob: torch.Tensor, device) -> torch.Tensor:
    if blob.device.type not in ("cpu",):
        try:
            out = api.decompress(blob)
            return out if device is None else out.to(device)
        except (NotImplementedError, RuntimeError):
            blob = blob.cpu()
    out = api.decompress(blob)
    return out if device is None else out.to(device)


def _from_raw(buf: torch.Tensor, dtype: torch.dtype, shape, device) -> torch.Tensor:
    # clone: the slice of a bucket need not be aligned for a dtype view
    t = buf.clone().view(dtype).reshape(shape) if buf.numel() else torch.empty(shape, dtype=dtype,
                                                                                device=buf.device)
    return t if device is None else t.to(device)


def _wants_compression(t: torch.Tensor, compress: bool) -> bool:
    return compress and t.dtype in COMPRESSIBLE_DTYPES and t.numel() > 0


def _buckets(sizes, bucket_bytes: int):
    """Consecutive index ranges whose sizes add up to about bucket_bytes (at least one each)."""
    out, start, acc = [], 0, 0
    for i, s in enumerate(sizes):
        if i > start and acc + s > bucket_bytes:
            out.append((start, i))
            start, acc = i, 0
        acc += s
    if start < len(sizes):
        out.append((start, len(sizes)))
    return out


# --------------------------------------------------------------------------------------------
# Broadcast
# --------------------------------------------------------------------------------------------

def _pieces(entries, chunk_numel: int):
    """(entry index, lo, hi) flat element ranges: every tensor cut into chunks of at most
    chunk_numel elements (an empty tensor is one empty piece)."""
    out = []
    for i, e in enumerate(entries):
        n = math.prod(e[3])
        if n == 0:
            out.append((i, 0, 0))
        for lo in range(0, n, chunk_numel):
            out.append((i, lo, min(n, lo + chunk_numel)))
    return out


def broadcast_state_dict(state_dict=None, src: int = 0, group=None, device=None, *,
                         compress: bool = True, bucket_bytes: int = DEFAULT_BUCKET_BYTES,
                         chunk_numel: int = DEFAULT_CHUNK_NUMEL, timeout: float | None = None,
                         return_stats: bool = False, _finalize=None):
    """Broadcast a state_dict (name -> tensor) from rank `src` to every rank of `group`.

    On `src` pass the state_dict; elsewhere pass None (it is ignored). Returns a new dict with
    the same names, dtypes, shapes and bits on every rank; receivers place the tensors on
    `device` (default CPU), the source returns its own tensors (moved to `device` if given).
    BF16/FP16/FP32 tensors travel as enec blobs, one per chunk of at most `chunk_numel` elements
    (smaller chunks adapt the code to local statistics and pipeline better), other tensors as raw
    bytes; compress=False sends everything raw (the plain baseline). `src` is a global rank, as
    in torch.distributed. With return_stats=True returns (state_dict, TransferStats).
    """
    t0 = time.perf_counter()
    ch = _Channel("enec.distributed.broadcast_state_dict", group, timeout)
    try:
        src_g = ch.ranks.index(src)
    except ValueError:
        raise TransferError(f"broadcast source rank {src} is not in the group {list(ch.ranks)}") from None
    comm = _comm_device(group, device)
    stats = TransferStats()
    is_src = ch.rank == src_g
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="enec-compress") if is_src else None
    try:
        # 1. metadata: chunking, names, kinds, dtypes, shapes (JSON), preceded by its length
        if is_src:
            def plan():
                if not hasattr(state_dict, "items"):
                    raise TypeError(f"state_dict must be a mapping of name -> tensor, "
                                    f"got {type(state_dict).__name__}")
                items = list(state_dict.items())
                for k, v in items:
                    if not isinstance(v, torch.Tensor):
                        raise TypeError(f"state_dict[{k!r}] is a {type(v).__name__}, not a tensor")
                entries = [[str(k), "enec" if _wants_compression(v, compress) else "raw",
                            _dtype_name(v.dtype), list(v.shape)] for k, v in items]
                return items, {"chunk_numel": int(chunk_numel), "entries": entries}
            items, meta_obj = ch.run(plan)
            meta = torch.frombuffer(bytearray(json.dumps(meta_obj).encode()), dtype=torch.uint8)
            head = torch.tensor([meta.numel()], dtype=torch.int64)
        else:
            head = torch.zeros(1, dtype=torch.int64)
        head = head.to(comm)
        ch.wait(_bcast(head, src_g, ch), "the metadata length")
        if is_src:
            meta = meta.to(comm)
        else:
            meta = torch.empty(int(head.item()), dtype=torch.uint8, device=comm)
        ch.wait(_bcast(meta, src_g, ch), "the metadata")
        stats.control_bytes += (8 + meta.numel()) if is_src else 0
        if not is_src:
            meta_obj = ch.run(lambda: json.loads(bytes(meta.cpu().numpy()).decode()))
        entries = meta_obj["entries"]
        dtypes = [_dtype_of(e[2]) for e in entries]
        pieces = _pieces(entries, max(1, int(meta_obj["chunk_numel"])))
        buckets = _buckets([(hi - lo) * dtypes[i].itemsize for i, lo, hi in pieces], bucket_bytes)
        stats.buckets = len(buckets)

        # 2. buckets: sizes, then payload; compress ahead on the source, decompress behind elsewhere
        if is_src:
            flat_cache = {}

            def encode(lo, hi):
                parts = []
                for i, a, b in pieces[lo:hi]:
                    v = items[i][1]
                    whole = a == 0 and b == v.numel()
                    if whole:
                        x = v
                    else:
                        if i not in flat_cache:
                            flat_cache.clear()
                            flat_cache[i] = v.detach().reshape(-1)
                        x = flat_cache[i][a:b]
                    parts.append(_compress_one(x) if entries[i][1] == "enec" else _raw_bytes(x))
                    stats.original_bytes += (b - a) * v.element_size()
                return parts
            futures = [pool.submit(encode, lo, hi) for lo, hi in buckets[:2]]
        result = {}

        def decode(lo, hi, sizes, payload):
            off = 0
            for (i, a, b), n in zip(pieces[lo:hi], sizes):
                piece = payload[off:off + n]
                off += n
                name, kind, _, shape = entries[i]
                dt = dtypes[i]
                whole = a == 0 and b == math.prod(shape)
                if kind == "enec":
                    t = _decompress_one(piece, device)
                    want = tuple(shape) if whole else (b - a,)
                    if t.dtype != dt or tuple(t.shape) != want:
                        raise TransferError(f"tensor {name!r} arrived as {t.dtype}{list(t.shape)}, "
                                            f"metadata says {dt}{list(want)}")
                else:
                    t = _from_raw(piece, dt, tuple(shape) if whole else (b - a,), device)
                if whole:
                    result[name] = t
                else:
                    if name not in result:
                        result[name] = torch.empty(shape, dtype=dt, device=t.device)
                    result[name].view(-1)[a:b].copy_(t)

        pending = None                            # (lo, hi, sizes, payload, work)
        for bi, (lo, hi) in enumerate(buckets):
            if is_src:
                parts = ch.run(futures[bi].result)
                if bi + 2 < len(buckets):
                    futures.append(pool.submit(encode, *buckets[bi + 2]))
                sizes_t = torch.tensor([p.numel() for p in parts], dtype=torch.int64)
                payload = torch.cat(parts) if parts else torch.empty(0, dtype=torch.uint8)
                stats.payload_bytes += payload.numel()
                stats.control_bytes += sizes_t.numel() * 8
                sizes_t, payload = sizes_t.to(comm), payload.to(comm)
            else:
                sizes_t = torch.zeros(hi - lo, dtype=torch.int64, device=comm)
            ch.wait(_bcast(sizes_t, src_g, ch), f"the blob sizes of bucket {bi}")
            sizes = sizes_t.cpu().tolist()
            if not is_src:
                payload = torch.empty(sum(sizes), dtype=torch.uint8, device=comm)
                stats.received_payload_bytes += payload.numel()
            work = _bcast(payload, src_g, ch) if payload.numel() else None
            if pending is not None:               # decoding overlaps the transfer just launched
                ch.wait(pending[4], f"bucket {bi - 1}")
                if not is_src:
                    ch.run(decode, *pending[:4])
            pending = (lo, hi, sizes, payload, work)
        if pending is not None:
            ch.wait(pending[4], f"bucket {len(buckets) - 1}")
            if not is_src:
                ch.run(decode, *pending[:4])
        if is_src:
            result = {str(k): (v if device is None else v.to(device)) for k, v in items}
        if _finalize is not None:
            ch.run(_finalize, result)
        ch.finish(comm, stats)
    except TransferError:
        raise
    except Exception as e:                        # anything unforeseen still reaches the peers
        ch.post_failure(e)
        raise TransferError(f"{ch.op} (rank {ch.global_rank}): {type(e).__name__}: {e}") from e
    finally:
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
    stats.seconds = time.perf_counter() - t0
    return (result, stats) if return_stats else result


def broadcast_module(module: torch.nn.Module, src: int = 0, group=None, *, compress: bool = True,
                     bucket_bytes: int = DEFAULT_BUCKET_BYTES, chunk_numel: int = DEFAULT_CHUNK_NUMEL,
                     timeout: float | None = None, return_stats: bool = False):
    """Make every rank's `module` hold rank `src`'s weights (parameters and buffers), in place.

    Every rank must pass a module of the same architecture. Receivers copy into their existing
    tensors (keeping their devices); parameters on the meta device are replaced by tensors on CPU.
    A name or shape mismatch on any rank fails the transfer on every rank.
    """
    def load(received):
        own = module.state_dict(keep_vars=True)
        missing = sorted(set(own) - set(received))
        extra = sorted(set(received) - set(own))
        if missing or extra:
            raise KeyError(f"state_dict names differ from rank {src}'s: missing {missing[:5]}, "
                           f"unexpected {extra[:5]}")
        if any(t.is_meta for t in own.values()):
            module.load_state_dict(received, assign=True)
            return
        with torch.no_grad():
            for k, t in own.items():
                r = received[k]
                if t.dtype != r.dtype or t.shape != r.shape:
                    raise ValueError(f"{k}: local {t.dtype}{list(t.shape)} vs sent {r.dtype}{list(r.shape)}")
                if t.data_ptr() != r.data_ptr():
                    t.copy_(r)

    is_src = dist.get_rank() == src
    sd = {k: v.detach() for k, v in module.state_dict().items()} if is_src else None
    out = broadcast_state_dict(sd, src=src, group=group, compress=compress,
                               bucket_bytes=bucket_bytes, chunk_numel=chunk_numel, timeout=timeout,
                               return_stats=True,
                               _finalize=None if is_src else load)
    return out[1] if return_stats else None


# --------------------------------------------------------------------------------------------
# All-gather of flat shards
# --------------------------------------------------------------------------------------------

def all_gather_flat(shard: torch.Tensor, group=None, device=None, *, compress: bool = True,
                    bucket_numel: int | None = None, chunk_numel: int = DEFAULT_CHUNK_NUMEL,
                    timeout: float | None = None, return_stats: bool = False):
    """All-gather 1-D weight shards: returns the concatenation of every rank's shard, in rank
    order, on every rank (FSDP-style un-sharding of a flat parameter).

    Shards must share a dtype; their lengths may differ. Each rank's shard is cut into buckets
    of `bucket_numel` elements (default: 16 MiB worth), each bucket into enec blobs of at most
    `chunk_numel` elements. Per bucket, every rank's blobs are broadcast from that rank with their
    exact sizes (no padding to a common size), and bucket i is decompressed into the output while
    bucket i+1 is on the wire. Shards of other dtypes, and compress=False, travel raw.
    With return_stats=True returns (tensor, TransferStats).
    """
    t0 = time.perf_counter()
    ch = _Channel("enec.distributed.all_gather_flat", group, timeout)
    comm = _comm_device(group, device)
    stats = TransferStats()
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="enec-compress")
    try:
        def check():
            if not isinstance(shard, torch.Tensor):
                raise TypeError(f"shard must be a tensor, got {type(shard).__name__}")
            if shard.dim() != 1:
                raise ValueError(f"shard must be 1-D, got shape {tuple(shard.shape)}")
        ch.run(check)
        code = list(_CODES).index(shard.dtype) if shard.dtype in _CODES else -1
        bn = int(bucket_numel or max(1, DEFAULT_BUCKET_BYTES // shard.dtype.itemsize))
        cn = max(1, min(int(chunk_numel), bn))
        info = torch.tensor([shard.numel(), code, bn, cn], dtype=torch.int64, device=comm)
        infos = [torch.zeros(4, dtype=torch.int64, device=comm) for _ in range(ch.world)]
        stats.control_bytes += 32
        ch.wait(dist.all_gather(infos, info, group=group, async_op=True), "the shard sizes")
        infos = [t.cpu().tolist() for t in infos]
        if len({(c, b, k) for _, c, b, k in infos}) != 1 or infos[0][1] == -1:
            err = ValueError("ranks disagree on the shard dtype or bucketing (or the dtype is not "
                             f"supported): {[(_CODES[c] if c >= 0 else 'other', b, k) for _, c, b, k in infos]}")
            raise TransferError(f"{ch.op} (rank {ch.global_rank}): {err}")
        dtype = shard.dtype
        esize = dtype.itemsize
        numels = [i[0] for i in infos]
        nb = max((math.ceil(n / bn) for n in numels), default=0)
        per = math.ceil(bn / cn)                  # blobs per rank per bucket (some may be empty)
        stats.buckets = nb
        use_enec = compress and dtype in COMPRESSIBLE_DTYPES
        starts = list(itertools.accumulate([0] + numels))
        out = torch.empty(starts[-1], dtype=dtype, device=device if device is not None else shard.device)
        out[starts[ch.rank]:starts[ch.rank + 1]].copy_(shard)   # own shard: no round trip

        def ranges(r, bi):
            """The (lo, hi) element ranges of rank r's blobs in bucket bi, `per` of them."""
            base, end = bi * bn, min((bi + 1) * bn, numels[r])
            return [(min(base + j * cn, end), max(min(base + j * cn, end), min(base + (j + 1) * cn, end)))
                    for j in range(per)]

        def encode(bi):
            parts = []
            for lo, hi in ranges(ch.rank, bi):
                if hi <= lo:
                    parts.append(torch.empty(0, dtype=torch.uint8))
                    continue
                stats.original_bytes += (hi - lo) * esize
                parts.append(_compress_one(shard[lo:hi]) if use_enec else _raw_bytes(shard[lo:hi]))
            return parts

        def decode(bi, bufs, sizes):
            for r, buf in enumerate(bufs):
                if r == ch.rank or buf is None:
                    continue
                off = 0
                for (lo, hi), n in zip(ranges(r, bi), sizes[r]):
                    piece = buf[off:off + n]
                    off += n
                    if hi <= lo:
                        continue
                    if use_enec:
                        t = _decompress_one(piece, out.device)
                        if t.dtype != dtype or t.numel() != hi - lo:
                            raise TransferError(f"a blob of bucket {bi} from rank {ch.ranks[r]} decoded "
                                                f"to {t.dtype}[{t.numel()}], expected {dtype}[{hi - lo}]")
                    else:
                        t = _from_raw(piece, dtype, (hi - lo,), out.device)
                    out[starts[r] + lo:starts[r] + hi].copy_(t.reshape(-1))

        futures = [pool.submit(encode, bi) for bi in range(min(nb, 2))]
        pending = None                            # (bucket index, buffers, sizes, works)
        for bi in range(nb):
            parts = ch.run(futures[bi].result)
            if bi + 2 < nb:
                futures.append(pool.submit(encode, bi + 2))
            size = torch.tensor([p.numel() for p in parts], dtype=torch.int64, device=comm)
            sizes = [torch.zeros(per, dtype=torch.int64, device=comm) for _ in range(ch.world)]
            stats.control_bytes += 8 * per
            ch.wait(dist.all_gather(sizes, size, group=group, async_op=True), f"the sizes of bucket {bi}")
            sizes = [s.cpu().tolist() for s in sizes]
            bufs, works = [], []
            for r in range(ch.world):
                total = sum(sizes[r])
                if total == 0:
                    bufs.append(None)
                    continue
                if r == ch.rank:
                    buf = torch.cat(parts).to(comm)
                    stats.payload_bytes += buf.numel()
                else:
                    buf = torch.empty(total, dtype=torch.uint8, device=comm)
                    stats.received_payload_bytes += buf.numel()
                bufs.append(buf)
                works.append((r, _bcast(buf, r, ch)))
            if pending is not None:               # overlaps the transfers just launched
                pb, pbufs, psizes, pworks = pending
                for r, w in pworks:
                    ch.wait(w, f"bucket {pb} from rank {ch.ranks[r]}")
                ch.run(decode, pb, pbufs, psizes)
            pending = (bi, bufs, sizes, works)
        if pending is not None:
            pb, pbufs, psizes, pworks = pending
            for r, w in pworks:
                ch.wait(w, f"bucket {pb} from rank {ch.ranks[r]}")
            ch.run(decode, pb, pbufs, psizes)
        ch.finish(comm, stats)
    except TransferError as e:
        ch.post_failure(e)
        raise
    except Exception as e:
        ch.post_failure(e)
        raise TransferError(f"{ch.op} (rank {ch.global_rank}): {type(e).__name__}: {e}") from e
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    stats.seconds = time.perf_counter() - t0
    return (out, stats) if return_stats else out


# dtype codes exchanged by all_gather_flat (position in this tuple)
_CODES = (torch.bfloat16, torch.float16, torch.float32, torch.float64, torch.int8, torch.uint8,
          torch.int16, torch.int32, torch.int64, torch.bool, torch.float8_e4m3fn, torch.float8_e5m2)


def all_gather_json(obj, group=None, *, timeout: float | None = None) -> list:
    """Every rank's JSON-serialisable `obj`, in rank order, on every rank; with the same bounded,
    failure-aware waits as the weight transfers (used to agree on the outcome of parallel work)."""
    ch = _Channel("enec.distributed.all_gather_json", group, timeout)
    comm = _comm_device(group, None)
    try:
        data = ch.run(lambda: json.dumps(obj).encode())
        size = torch.tensor([len(data)], dtype=torch.int64, device=comm)
        sizes = [torch.zeros(1, dtype=torch.int64, device=comm) for _ in range(ch.world)]
        ch.wait(dist.all_gather(sizes, size, group=group, async_op=True), "the object sizes")
        bufs, works = [], []
        for r, s in enumerate(sizes):
            if r == ch.rank:
                buf = torch.frombuffer(bytearray(data), dtype=torch.uint8).to(comm) if data else \
                    torch.empty(0, dtype=torch.uint8, device=comm)
            else:
                buf = torch.empty(int(s.item()), dtype=torch.uint8, device=comm)
            bufs.append(buf)
            works.append(_bcast(buf, r, ch) if buf.numel() else None)
        for r, w in enumerate(works):
            ch.wait(w, f"the object of rank {ch.ranks[r]}")
        return [json.loads(bytes(b.cpu().numpy()).decode()) for b in bufs]
    except TransferError:
        raise
    except Exception as e:
        ch.post_failure(e)
        raise TransferError(f"{ch.op} (rank {ch.global_rank}): {type(e).__name__}: {e}") from e
