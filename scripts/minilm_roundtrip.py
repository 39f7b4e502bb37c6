#!/usr/bin/env python3
"""Codec-level check on real weights: compress every tensor of all-MiniLM-L6-v2 (FP32 as shipped
and BF16 derived by round-to-nearest-even), verify the bit-exact round trip, and print the ratio
and speed per dtype and per CPU implementation."""
import argparse
import os
import sys
import time

import torch

import enec
from enec import codecs, cpu
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "support"))  # emulated, testdata
import testdata  # noqa: E402


def run(dtype: str, impl_name: str):
    sd = testdata.minilm_state_dict(dtype)
    tensors = [t for t in sd.values() if t.is_floating_point()]
    impl = codecs.get_impl(impl_name)
    orig = sum(t.numel() * t.element_size() for t in tensors)
    t0 = time.perf_counter()
    blobs = [cpu.compress_tensor(t, impl) for t in tensors]
    t1 = time.perf_counter()
    outs = [cpu.decompress_tensor(b, impl=impl) for b in blobs]
    t2 = time.perf_counter()
    for a, b in zip(tensors, outs):
        if not torch.equal(a.view(torch.uint8), b.view(torch.uint8)):
            raise SystemExit(f"round trip FAILED for a {a.dtype} tensor of shape {tuple(a.shape)}")
    comp = sum(b.numel() for b in blobs)
    print(f"{dtype:9s} {impl.name:9s} {len(tensors):4d} tensors {orig / 1e6:8.2f} MB -> {comp / 1e6:8.2f} MB"
          f"  ratio {orig / comp:.4f}  compress {orig / (t1 - t0) / 1e9:6.2f} GB/s"
          f"  decompress {orig / (t2 - t1) / 1e9:6.2f} GB/s  bit-exact: yes")


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--impl", choices=["all", "reference", "native"], default="all")
    args = ap.parse_args()
    names = list(codecs.implementations()) if args.impl == "all" else [args.impl]
    print(f"all-MiniLM-L6-v2 from {testdata.minilm_path()}  (torch threads: {torch.get_num_threads()})")
    for dtype in ["float32", "bfloat16"]:
        for name in names:
            run(dtype, name)


if __name__ == "__main__":
    main()
