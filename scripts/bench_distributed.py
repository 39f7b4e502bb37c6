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
import shutil
import socket
import sys
import tempfile
import time
from datetime import timedelta

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "support"))  # emulated, testdata


SYN_NUMEL = 8 << 20                      # 16 MiB BF16 tensors


def synthetic_tensor(i: int, numel: int) -> torch.Tensor:
    """LLM-like BF16 weights: normal with a per-tensor std in 0.006-0.05, shape (-1, 4096)."""
    g = torch.Generator().manual_seed(1000 + i)
    std = 0.006 + 0.044 * torch.rand(1, generator=g).item()
    t = (torch.randn(numel, generator=g) * std).to(torch.bfloat16)
    return t.reshape(-1, 4096) if numel % 4096 == 0 else t


def dataset(name: str, gib: float):
    """(name -> (numel, make())) in order; tensors are made on demand so that a rank never needs
    more than the data it sends or receives plus one tensor to check against."""
    if name == "minilm":
        import testdata
        sd = testdata.minilm_state_dict("bfloat16")
        return {k: (v.numel(), (lambda v=v: v)) for k, v in sd.items()}
    total = int(gib * (1 << 30)) // 2
    out, i = {}, 0
    while total > 0:
        n = min(SYN_NUMEL, total)
        out[f"layers.{i}.weight"] = (n, (lambda i=i, n=n: synthetic_tensor(i, n)))
        total -= n
        i += 1
    return out


def bits_equal(a: torch.Tensor, b: torch.Tensor) -> bool:
    if a.dtype != b.dtype or a.shape != b.shape:
        return False
    return torch.equal(a.contiguous().reshape(-1).view(torch.uint8), b.contiguous().reshape(-1).view(torch.uint8))


def flat_slices(data: dict, lo: int, hi: int):
    """(offset from lo, flat piece) covering elements [lo, hi) of the concatenation of `data`."""
    off = 0
    for _, (n, make) in data.items():
        if off + n > lo and off < hi:
            a, b = max(lo, off), min(hi, off + n)
            yield a - lo, make().reshape(-1)[a - off:b - off]
        off += n


def _rank_main(rank, world, port, datasets, gib, out_path, threads):
    import enec
    import enec.distributed as ed
    torch.set_num_threads(threads)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world,
                            timeout=timedelta(seconds=1800))
    # one-time warm-up (first custom-op call, gloo connections), not part of any measurement
    warm = {"w": torch.randn(4096).bfloat16()}
    ed.broadcast_state_dict(warm if rank == 0 else None)
    ed.broadcast_state_dict(warm if rank == 0 else None, compress=False)
    ed.all_gather_flat(warm["w"])
    rows = []
    for name in datasets:
        data = dataset(name, gib)
        bf16 = {k: v for k, v in data.items() if v[1]().dtype == torch.bfloat16} if name == "minilm" else data
        n = sum(v[0] for v in bf16.values())
        bounds = [n * r // world for r in range(world + 1)]
        for op in ("broadcast", "all-gather"):
            for compress in (True, False):
                if op == "broadcast":
                    sd = {k: make() for k, (_, make) in data.items()} if rank == 0 else None
                else:
                    shard = torch.empty(bounds[rank + 1] - bounds[rank], dtype=torch.bfloat16)
                    for off, piece in flat_slices(bf16, bounds[rank], bounds[rank + 1]):
                        shard[off:off + piece.numel()].copy_(piece)
                dist.barrier()
                t0 = time.perf_counter()
                if op == "broadcast":
                    got, st = ed.broadcast_state_dict(sd, src=0, compress=compress, return_stats=True)
                else:
                    got, st = ed.all_gather_flat(shard, compress=compress, return_stats=True)
                dist.barrier()
                seconds = time.perf_counter() - t0
                if op == "broadcast":
                    ok = list(got) == list(data) and all(bits_equal(got[k], make()) for k, (_, make) in data.items())
                    sd = None
                else:
                    ok = got.numel() == n and all(bits_equal(got[off:off + p.numel()], p)
                                                  for off, p in flat_slices(bf16, 0, n))
                    shard = None
                del got
                wire = st.payload_bytes + st.control_bytes
                rows.append({"data": name, "op": op, "compressed": compress, "ok": ok, "wire": wire,
                             "payload": st.payload_bytes, "original": st.original_bytes,
                             "seconds": seconds, "buckets": st.buckets})
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


def bench_folder(gib: float, shards: int, workers_list, out=sys.stdout):
    """Sharded-folder compression (enec.sharded) of a synthetic BF16 checkpoint: local workers."""
    from safetensors.torch import save_file
    from enec import sharded
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        src = os.path.join(tmp, "plain")
        os.makedirs(src)
        data = dataset("synthetic", gib)
        names = list(data)
        wm = {}
        for s in range(shards):
            fname = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
            save_file({k: data[k][1]() for k in names[s::shards]}, os.path.join(src, fname))
            wm.update({k: fname for k in names[s::shards]})
        with open(os.path.join(src, sharded.INDEX_NAME), "w") as f:
            json.dump({"metadata": {}, "weight_map": wm}, f)
        for w in workers_list:
            dst, back = os.path.join(tmp, f"enec{w}"), os.path.join(tmp, f"back{w}")
            c = sharded.compress_folder(src, dst, workers=w)
            d = sharded.decompress_folder(dst, back, workers=w)
            rows.append((w, c.in_bytes, c.out_bytes, c.seconds, d.seconds))
            shutil.rmtree(dst)
            shutil.rmtree(back)
    print(f"\nenec.sharded: {gib:g} GiB synthetic BF16 in {shards} shards, local worker processes")
    print(f"{'workers':>7s} {'plain MB':>10s} {'enec MB':>10s} {'ratio':>7s} {'compress s':>10s} {'decompress s':>12s}")
    for w, i, o, cs, ds in rows:
        print(f"{w:7d} {i / 1e6:10.2f} {o / 1e6:10.2f} {i / o:7.4f} {cs:10.2f} {ds:12.2f}", file=out)
    return rows


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--ranks", type=int, nargs="*", default=[2, 4])
    p.add_argument("--synthetic-gib", type=float, default=1.0)
    p.add_argument("--data", nargs="+", default=["minilm", "synthetic"], choices=["minilm", "synthetic"])
    p.add_argument("--threads", type=int, default=1, help="torch threads per rank")
    p.add_argument("--json", help="also write the rows here")
    p.add_argument("--folder-gib", type=float, default=0,
                   help="also time enec.sharded on a synthetic folder of this size (GiB)")
    p.add_argument("--folder-shards", type=int, default=8)
    p.add_argument("--folder-workers", type=int, nargs="+", default=[1, 2])
    a = p.parse_args(argv)
    if a.folder_gib:
        bench_folder(a.folder_gib, a.folder_shards, a.folder_workers)
    if not a.ranks:
        return 0

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
