#!/usr/bin/env python3
"""enec against the CPU peers, side by side in one run.

Datasets: all-MiniLM-L6-v2 FP32 (as shipped) and BF16 (derived by RNE), concatenated per dtype,
and a synthetic BF16 tensor (64 Mi elements, normal, std 0.02). Codecs: enec (native and, with
--reference, the numpy reference), zstd -1/-3, lz4, blosc2 (byte shuffle + zstd),
ZipNN, and a memory copy for scale; at 1 thread and at all cores.

GB/s = uncompressed bytes / best-of-N seconds / 1e9, both directions. Every codec's round trip is
checked. Peers are optional (pip install ".[bench]"); a missing one is reported, not fatal.
ZipNN rewrites its input buffer during compress, so it gets a fresh, untimed copy every time.

    python scripts/bench.py                 # full run
    python scripts/bench.py --quick         # 4 Mi elements, 1 rep: a smoke test
    python scripts/bench.py --json out.json
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time

import numpy as np
import torch

import enec
from enec import cpu, testdata


def best_of(fn, reps, prep=None):
    best, out = float("inf"), None
    for _ in range(reps):
        arg = prep() if prep else None
        t = time.perf_counter()
        out = fn(arg) if prep else fn()
        best = min(best, time.perf_counter() - t)
    return best, out


# ----------------------------------------------------------------------------- codecs
# each: name -> (compress(np uint8 array) -> bytes-like, decompress(blob) -> np uint8) or None

def peer_codecs(threads, word_size):
    codecs, missing = {}, []
    try:
        import zstandard as zstd
        for lvl in (1, 3):
            c = zstd.ZstdCompressor(level=lvl, threads=threads if threads > 1 else 0)
            d = zstd.ZstdDecompressor()
            codecs[f"zstd-{lvl}"] = (lambda a, c=c: c.compress(a.tobytes()),
                                     lambda b, d=d: np.frombuffer(d.decompress(b), np.uint8))
    except ImportError:
        missing.append("zstd (pip install zstandard)")
    try:
        import lz4.frame as lz4f
        codecs["lz4"] = (lambda a: lz4f.compress(a.tobytes()),
                         lambda b: np.frombuffer(lz4f.decompress(b), np.uint8))
    except ImportError:
        missing.append("lz4")
    try:
        import blosc2
        blosc2.set_nthreads(threads)
        cp = {"codec": blosc2.Codec.ZSTD, "clevel": 3, "filters": [blosc2.Filter.SHUFFLE],
              "typesize": word_size}
        codecs["blosc2-shuffle-zstd"] = (
            lambda a: blosc2.compress2(a, **cp) if a.nbytes < 2**31 - 64 else None,
            lambda b: np.frombuffer(blosc2.decompress2(b), np.uint8))
    except ImportError:
        missing.append("blosc2")
    try:
        from zipnn import ZipNN
        dt = "bfloat16" if word_size == 2 else "float32"
        z = ZipNN(input_format="byte", bytearray_dtype=dt, threads=threads)
        codecs["zipnn"] = ("fresh-copy", lambda a: z.compress(a), lambda b: np.frombuffer(z.decompress(b), np.uint8))
    except ImportError:
        missing.append("zipnn (pip install --no-deps zipnn)")
    return codecs, missing


def bench_dataset(name, tensors, threads, reps, with_reference):
    """tensors: list of same-dtype tensors (compressed one by one, like a checkpoint)."""
    torch.set_num_threads(threads)
    word = tensors[0].element_size()
    raw = np.concatenate([t.contiguous().view(torch.uint8).reshape(-1).numpy() for t in tensors])
    nbytes = raw.nbytes
    rows = []

    def add(codec, tc, td, comp_bytes, note=""):
        rows.append({"dataset": name, "threads": threads, "codec": codec, "ratio": nbytes / comp_bytes,
                     "compress_GBps": nbytes / tc / 1e9, "decompress_GBps": nbytes / td / 1e9, "note": note})

    # memory copy for scale: into a warm buffer, and with a fresh allocation (what a codec pays)
    dst = np.empty_like(raw)
    tc, _ = best_of(lambda: np.copyto(dst, raw), reps)
    tf, _ = best_of(lambda: raw.copy(), reps)
    add("memcpy (warm dst)", tc, tc, nbytes)
    add("memcpy (fresh alloc)", tf, tf, nbytes)

    impls = ["native"] + (["reference"] if with_reference else [])
    for impl_name in impls:
        impl = cpu.get_impl(impl_name)
        tc, blobs = best_of(lambda: [cpu.compress_tensor(t, impl) for t in tensors], reps)
        td, outs = best_of(lambda: [cpu.decompress_tensor(b, impl=impl) for b in blobs], reps)
        for t, o in zip(tensors, outs):
            assert torch.equal(t.contiguous().view(torch.uint8), o.view(torch.uint8)), "enec round trip"
        add(f"enec-{impl_name}", tc, td, sum(b.numel() for b in blobs))

    codecs, missing = peer_codecs(threads, word)
    for cname, spec in codecs.items():
        fresh = spec[0] == "fresh-copy"
        comp, dec = (spec[1], spec[2]) if fresh else spec
        if fresh:
            tc, blob = best_of(lambda a: comp(a), reps, prep=lambda: raw.copy())
        else:
            tc, blob = best_of(lambda: comp(raw), reps)
        if blob is None:
            continue
        td, back = best_of(lambda: dec(blob), reps)
        ok = np.array_equal(back, raw)
        add(cname, tc, td, len(blob), "" if ok else "ROUND TRIP FAILED")
    return rows, missing


def peak_memory_report(n):
    """Peak RSS of one compress and one decompress of n BF16 elements, in a fresh process."""
    code = f"""
import torch, enec, json
def hwm():   # VmHWM belongs to this process image (ru_maxrss would inherit the parent's peak)
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
x = torch.empty({n}, dtype=torch.bfloat16)
for i in range(0, {n}, 1 << 20):          # in slices: no full-size float32 temporary
    x[i:i + (1 << 20)] = torch.randn(min(1 << 20, {n} - i)) * 0.02
enec.decompress(enec.compress(x[:100_000]))   # warm up: libraries, thread arenas
base = hwm()
b = enec.compress(x)
after_c = hwm()
y = enec.decompress(b)
after_d = hwm()
print(json.dumps(dict(input=x.numel()*2, blob=b.numel(), base_kb=base, comp_kb=after_c, dec_kb=after_d)))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    r = json.loads(out.stdout.strip().splitlines()[-1])
    return {"compress_extra_MB": (r["comp_kb"] - r["base_kb"]) / 1024, "blob_MB": r["blob"] / 2**20,
            "decompress_extra_MB": (r["dec_kb"] - r["comp_kb"]) / 1024, "output_MB": r["input"] / 2**20}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--json")
    ap.add_argument("--reference", action="store_true", help="also time the numpy reference")
    args = ap.parse_args()
    if "native" not in cpu.implementations():
        sys.exit("the native implementation is not built: pip install -e .")
    reps = 1 if args.quick else args.reps
    n_syn = (4 if args.quick else 64) * 2**20
    g = torch.Generator().manual_seed(0)
    syn = testdata.bf16_round_nearest_even(torch.randn(n_syn, generator=g) * 0.02)
    datasets = [(f"synthetic BF16 {n_syn >> 20} Mi", [syn])]
    if not args.quick:
        for dt in ("bfloat16", "float32"):
            sd = testdata.minilm_state_dict(dt)
            datasets.append((f"MiniLM {dt}", [t for t in sd.values() if t.is_floating_point()]))
    cores = os.cpu_count() or 1
    rows, missing = [], set()
    for name, tensors in datasets:
        for threads in sorted({1, cores}):
            r, miss = bench_dataset(name, tensors, threads, reps, args.reference)
            rows += r
            missing.update(miss)
    print(f"\n{platform.processor() or platform.machine()}, {cores} cores, torch {torch.__version__}, "
          f"enec {enec.__version__}, best of {reps}")
    print(f"{'dataset':24s} {'thr':>3s} {'codec':22s} {'ratio':>7s} {'comp GB/s':>10s} {'decomp GB/s':>11s}")
    for r in rows:
        print(f"{r['dataset']:24s} {r['threads']:3d} {r['codec']:22s} {r['ratio']:7.4f} "
              f"{r['compress_GBps']:10.2f} {r['decompress_GBps']:11.2f} {r['note']}")
    if missing:
        print("not installed (skipped):", ", ".join(sorted(missing)))
    mem = peak_memory_report(n_syn)
    print(f"peak memory, {n_syn >> 20} Mi BF16 ({n_syn * 2 / 2**20:.0f} MB): compress +{mem['compress_extra_MB']:.0f} MB "
          f"(blob {mem['blob_MB']:.0f} MB), decompress +{mem['decompress_extra_MB']:.0f} MB (output {mem['output_MB']:.0f} MB)")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"rows": rows, "missing": sorted(missing), "memory": mem}, f, indent=1)


if __name__ == "__main__":
    main()
