#!/usr/bin/env python3
"""Compressed vs plain weight distribution over torch.distributed (gloo, localhost).

For the all-MiniLM-L6-v2 checkpoint (BF16) and a synthetic BF16 state_dict (1 GiB by default),
at each rank count: broadcast from rank 0 of the whole state_dict, and all-gather of the same
weights as one flat buffer sharded evenly over the ranks (FSDP-style). Reports the bytes put on
the wire (payload + control, summed over ranks, as counted by enec.distributed) and the end-to-end
time (barrier to barrier, so it includes compression on the sender and decompression on every
receiver), compressed and plain, and checks every rank's result bit for bit.

    python scripts/bench_distributed.py                       # MiniLM + 1 GiB, 2 and 4 ranks
    python scripts/bench_distributed.py --synthetic-gib 0.25 --ranks 2
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import sys
import tempfile
import time
from datetime import timedelta

import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def synthetic_state_dict(gib: float, seed: int = 0) -> dict:
    """LLM-like BF16 weights: normal, per-tensor std 0.006-0.05, 16 MiB tensors (8 Mi elements)."""
    g = torch.Generator().manual_seed(seed)
    numel = int(gib * (1 << 30)) // 2
    per = 8 << 20
    sd, i = {}, 0
    while numel > 0:
        n = min(per, numel)
        std = 0.006 + 0.044 * torch.rand(1, generator=g).item()
        sd[f"layers.{i}.weight"] = (torch.randn(n, generator=g) * std).to(torch.bfloat16).reshape(-1, 4096) \
            if n % 4096 == 0 else (torch.randn(n, generator=g) * std).to(torch.bfloat16)
        numel -= n
        i += 1
    return sd


def load(name: str, gib: float) -> dict:
    if name == "minilm":
        from enec import testdata
        return testdata.minilm_state_dict("bfloat16")
    return synthetic_state_dict(gib)


def bits_equal(a: torch.Tensor, b: torch.Tensor) -> bool:
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    return torch.equal(a.contiguous().reshape(-1).view(torch.uint8), b.contiguous().reshape(-1).view(torch.uint8))


def flat_of(sd: dict) -> torch.Tensor:
    return torch.cat([t.reshape(-1) for t in sd.values() if t.dtype == torch.bfloat16])


def _rank_main(rank, world, port, datasets, gib, out_path, threads):
    import enec
    import enec.distributed as ed
    torch.set_num_threads(threads)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world,
                            timeout=timedelta(seconds=1800))
    rows = []
    for name in datasets:
        full = load(name, gib)       # every rank builds it, to check the received bits
        flat = flat_of(full)
        n = flat.numel()
        bounds = [n * r // world for r in range(world + 1)]
        shard = flat[bounds[rank]:bounds[rank + 1]].clone()
        for op in ("broadcast", "all-gather"):
            for compress in (True, False):
                dist.barrier()
                t0 = time.perf_counter()
                if op == "broadcast":
                    got, st = ed.broadcast_state_dict(full if rank == 0 else None, src=0,
                                                      compress=compress, return_stats=True)
                else:
                    got, st = ed.all_gather_flat(shard, compress=compress, return_stats=True)
                dist.barrier()
                seconds = time.perf_counter() - t0
                if op == "broadcast":
                    ok = all(bits_equal(got[k], v) for k, v in full.items())
                else:
                    ok = bits_equal(got, flat)
                del got
                wire = st.payload_bytes + st.control_bytes
                rows.append({"data": name, "op": op, "compressed": compress, "ok": ok, "wire": wire,
                             "payload": st.payload_bytes, "original": st.original_bytes,
                             "seconds": seconds, "buckets": st.buckets})
        del full, flat, shard
    gathered = ed.all_gather_json(rows)
    if rank == 0:
        table = []
        for i, row in enumerate(rows):
            per_rank = [g[i] for g in gathered]
            table.append({**row, "ok": all(r["ok"] for r in per_rank),
                          "wire": sum(r["wire"] for r in per_rank),
                          "payload": sum(r["payload"] for r in per_rank),
                          "original": sum(r["original"] for r in per_rank),
                          "seconds": max(r["seconds"] for r in per_rank),
                          "world": world, "impl": enec.cpu_implementation()})
        with open(out_path, "w") as f:
            json.dump(table, f)
    dist.barrier()
    dist.destroy_process_group()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ranks", type=int, nargs="+", default=[2, 4])
    p.add_argument("--synthetic-gib", type=float, default=1.0)
    p.add_argument("--data", nargs="+", default=["minilm", "synthetic"], choices=["minilm", "synthetic"])
    p.add_argument("--threads", type=int, default=1, help="torch threads per rank")
    p.add_argument("--json", help="also write the rows here")
    a = p.parse_args(argv)

    all_rows = []
    for world in a.ranks:
        with tempfile.TemporaryDirectory() as tmp:
            out = os.path.join(tmp, "rows.json")
            mp.spawn(_rank_main, args=(world, free_port(), a.data, a.synthetic_gib, out, a.threads),
                     nprocs=world, join=True)
            all_rows += json.load(open(out))

    print(f"\nenec.distributed on gloo/localhost, {os.cpu_count()} CPU cores, CPU codec: {all_rows[0]['impl']}")
    print("wire = bytes handed to torch.distributed by all ranks (payload + control); "
          "time = barrier to barrier, slowest rank\n")
    hdr = f"{'data':10s} {'ranks':>5s} {'op':10s} {'plain MB':>10s} {'enec MB':>10s} {'wire ratio':>10s} " \
          f"{'plain s':>8s} {'enec s':>8s} {'bit-exact':>9s}"
    print(hdr)
    print("-" * len(hdr))
    key = lambda r: (r["data"], r["world"], r["op"])
    plain = {key(r): r for r in all_rows if not r["compressed"]}
    for r in all_rows:
        if not r["compressed"]:
            continue
        q = plain[key(r)]
        print(f"{r['data']:10s} {r['world']:5d} {r['op']:10s} {q['wire'] / 1e6:10.2f} {r['wire'] / 1e6:10.2f} "
              f"{q['wire'] / r['wire']:10.4f} {q['seconds']:8.2f} {r['seconds']:8.2f} "
              f"{'yes' if r['ok'] and q['ok'] else 'NO':>9s}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(all_rows, f, indent=1)
    bad = [r for r in all_rows if not r["ok"]]
    if bad:
        print(f"FAILED: {len(bad)} transfers were not bit-exact", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
