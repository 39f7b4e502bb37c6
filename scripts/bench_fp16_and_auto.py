#!/usr/bin/env python3
"""Two speed goals, measured side by side in one run (rounds interleaved, best and median):

  1. FP16 runs the native SIMD kernels at BF16's byte rate: compress and decompress of the same
     32 Mi values as BF16 and as FP16, 2 threads, at every kernel level the CPU has.
  2. codec="auto" on tensors with a few zeros costs about what the dense codec costs: BF16 with
     3 % zeros, INT8 with 1.6 % and FP8 with 3 % (zeros at random positions), "auto" against
     the dense codec forced, with the size of each blob (auto keeps the smaller of the dense and
     the sparse blob).

    python scripts/bench_fp16_and_auto.py [--reps 7] [--numel 33554432] [--threads 2] [--json F]
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import time

import torch

import enec
from enec import codecs, cpu, native


def timed(fn, reps, results, key):
    t0 = time.perf_counter()
    out = fn()
    results.setdefault(key, []).append(time.perf_counter() - t0)
    return out


def with_zeros(n, frac, dtype, seed=0):
    g = torch.Generator().manual_seed(seed)
    if dtype == torch.int8:
        x = (torch.randn(n, generator=g) * 20).round().clamp(-127, 127).to(torch.int8)
    else:
        x = (torch.randn(n, generator=g) * (0.02 if dtype == torch.bfloat16 else 0.5)).to(dtype)
    bits = x.view(torch.uint8 if dtype.itemsize == 1 else torch.int16)
    bits[bits == 0] = 1                    # (FP8 has no masked_fill: work on the bit patterns)
    bits[torch.randperm(n, generator=g)[:int(n * frac)]] = 0
    return x


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=7)
    ap.add_argument("--numel", type=int, default=32 << 20)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json")
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    impl = codecs.get_impl("native")
    n = a.numel
    g = torch.Generator().manual_seed(0)
    vals = torch.randn(n, generator=g) * 0.02
    data = {"bf16": vals.to(torch.bfloat16), "fp16": vals.to(torch.float16)}
    del vals
    levels = [lv for lv in (2, 1, 0) if lv <= native.simd_detected()]
    print(f"{platform.processor() or platform.machine()}, torch {torch.__version__}, {a.threads} threads, "
          f"{n:,} elements, {a.reps} interleaved rounds: best (median)")
    report = {"numel": n, "threads": a.threads, "fp16_vs_bf16": [], "auto": []}

    # --- 1. FP16 vs BF16 ---------------------------------------------------------------
    times = {}
    for _ in range(a.reps):
        for lv in levels:
            native.set_simd(lv)
            for name, x in data.items():
                blob = timed(lambda: cpu.compress_tensor(x, impl, codec="enec"), a.reps, times, (lv, name, "c"))
                y = timed(lambda: cpu.decompress_tensor(blob, impl=impl), a.reps, times, (lv, name, "d"))
                assert torch.equal(y.view(torch.int16), x.view(torch.int16))
    native.set_simd(True)
    gb = lambda k, f: 2 * n / f(times[k]) / 1e9
    for lv in levels:
        row = {"level": native.SIMD_NAMES.get(lv, lv)}
        for op, label in (("c", "compress"), ("d", "decompress")):
            for f, stat in ((min, "best"), (statistics.median, "median")):
                b, h = gb((lv, "bf16", op), f), gb((lv, "fp16", op), f)
                row[f"{label}_{stat}"] = {"bf16_GBps": b, "fp16_GBps": h, "fp16_over_bf16": h / b}
        report["fp16_vs_bf16"].append(row)
        c, d = row["compress_best"], row["decompress_best"]
        cm, dm = row["compress_median"], row["decompress_median"]
        print(f"{row['level']:9s} compress BF16 {c['bf16_GBps']:5.2f} FP16 {c['fp16_GBps']:5.2f} GB/s "
              f"x{c['fp16_over_bf16']:.2f} (x{cm['fp16_over_bf16']:.2f}); decompress BF16 {d['bf16_GBps']:5.2f} "
              f"FP16 {d['fp16_GBps']:5.2f} GB/s x{d['fp16_over_bf16']:.2f} (x{dm['fp16_over_bf16']:.2f})")
    del data

    # --- 2. "auto" on tensors with a few zeros ------------------------------------------
    cases = [("BF16, 3 % zeros", with_zeros(n, 0.03, torch.bfloat16), "enec"),
             ("INT8, 1.6 % zeros", with_zeros(n // 8, 0.016, torch.int8), "apack"),
             ("FP8 e4m3, 3 % zeros", with_zeros(n // 8, 0.03, torch.float8_e4m3fn), "qlc")]
    times, sizes = {}, {}
    for _ in range(a.reps):
        for name, x, dense in cases:
            for codec in (dense, "auto"):
                blob = timed(lambda: enec.compress(x, codec=codec), a.reps, times, (name, codec))
                sizes[(name, codec)] = (blob.numel(), enec.inspect(blob).codec)
    for name, x, dense in cases:
        d, au = times[(name, dense)], times[(name, "auto")]
        row = {"case": name, "numel": x.numel(), "dense_codec": dense,
               "dense_ms": min(d) * 1e3, "auto_ms": min(au) * 1e3, "auto_over_dense": min(au) / min(d),
               "auto_over_dense_median": statistics.median(au) / statistics.median(d),
               "dense_bytes": sizes[(name, dense)][0], "auto_bytes": sizes[(name, "auto")][0],
               "auto_codec": sizes[(name, "auto")][1]}
        report["auto"].append(row)
        print(f"{name:20s} {x.numel():>11,} el: {dense:5s} {row['dense_ms']:7.1f} ms, auto {row['auto_ms']:7.1f} ms "
              f"= x{row['auto_over_dense']:.2f} (x{row['auto_over_dense_median']:.2f}); "
              f"blobs {row['dense_bytes']:,} vs {row['auto_bytes']:,} ({row['auto_codec']})")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
