"""Time the sparse codec's zero-pattern coder, numpy reference vs native, on one position set.

    python scripts/bench_sparse_pattern.py [--rows 30522 --cols 384] [--density 0.5,0.9] [--repeat 3]

The default shape is MiniLM's word embedding (11.7M elements). Positions are uniform random at
each density (fraction of non-zeros). Per format: best-of-N encode and decode times; the two
implementations' bytes and positions are checked to be identical.
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from enec.codecs import native, sparse


def best(f, repeat):
    t = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        r = f()
        t = min(t, time.perf_counter() - t0)
    return t, r


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=30522)
    ap.add_argument("--cols", type=int, default=384)
    ap.add_argument("--density", default="0.5,0.9")
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    if not native.available():
        raise SystemExit(f"native codec library not built: {native.load_error()}")
    shape = (a.rows, a.cols)
    numel = a.rows * a.cols
    rng = np.random.default_rng(0)
    print(f"numel {numel}, shape {shape}; times in ms (best of {a.repeat})")
    print(f"{'density':>7} {'format':>12} {'bytes':>10} {'enc np':>8} {'enc nat':>8} {'x':>6} "
          f"{'dec np':>8} {'dec nat':>8} {'x':>6}")
    for d in (float(x) for x in a.density.split(",")):
        pos = np.flatnonzero(rng.random(numel) < d)
        cands = sparse.candidates(numel, shape, pos)
        best_b2 = min(c for c in cands if c[1] == sparse.BITMAP2)
        best_rle = min(c for c in cands if c[1] == sparse.RLE)
        fmts = [(sparse.BITMAP, 0), (sparse.BITMAP2, 2), best_b2[1:], (sparse.RLE, 1), (sparse.RLE, 8),
                best_rle[1:], (sparse.CSR, 0)]
        for f, p in dict.fromkeys(fmts):          # the best parameters may repeat a fixed one
            name = sparse.FORMAT_NAMES[f] + (f"({1 << p})" if f == sparse.BITMAP2 else f"({p})" if f == sparse.RLE else "")
            te_r, pat_r = best(lambda: sparse.Reference.encode_pattern(f, p, numel, shape, pos), a.repeat)
            te_n, pat_n = best(lambda: native.SPARSE.encode_pattern(f, p, numel, shape, pos), a.repeat)
            assert np.array_equal(pat_r, pat_n), name
            td_r, pos_r = best(lambda: sparse.Reference.decode_pattern(f, p, numel, shape, pos.size, pat_n), a.repeat)
            td_n, pos_n = best(lambda: native.SPARSE.decode_pattern(f, p, numel, shape, pos.size, pat_n), a.repeat)
            assert np.array_equal(pos_r, pos) and np.array_equal(pos_n, pos), name
            print(f"{d:>7} {name:>12} {pat_n.size:>10} {te_r * 1e3:>8.1f} {te_n * 1e3:>8.1f} {te_r / te_n:>6.1f} "
                  f"{td_r * 1e3:>8.1f} {td_n * 1e3:>8.1f} {td_r / td_n:>6.1f}")


if __name__ == "__main__":
    main()
