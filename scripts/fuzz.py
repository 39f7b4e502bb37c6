#!/usr/bin/env python3
"""Coverage-guided fuzzing (atheris / libFuzzer) of enec's decoders.

Seeds are valid blobs of every dtype (with and without checksum); libFuzzer mutates them. Each
input must decode to a tensor of the declared shape or raise an EnecError: anything else (another
exception, a crash, a hang, a sanitizer report) is a finding. Python code is instrumented for
coverage; the native library is exercised through it.

    python scripts/fuzz.py -runs=200000              # longer run (libFuzzer flags pass through)
    ENEC_CPU_IMPL=reference python scripts/fuzz.py -max_total_time=300
"""
import os
import sys
import tempfile

import atheris

with atheris.instrument_imports():
    import enec
    from enec import cpu

import torch


def seeds(directory):
    g = torch.Generator().manual_seed(0)
    k = 0
    for dtype in (torch.bfloat16, torch.float16, torch.float32):
        for n in (1, 300, 16384 + 77):
            x = (torch.randn(n, generator=g) * 0.02).to(dtype)
            for checksum in (False, True):
                with open(os.path.join(directory, f"seed{k}"), "wb") as f:
                    f.write(bytes(enec.compress(x, checksum=checksum).numpy()))
                k += 1


def one_input(data: bytes):
    try:
        y = enec.decompress(data)
    except enec.EnecError:
        return
    h = enec.header_of(data)
    if tuple(y.shape) != h.shape:
        raise AssertionError("decoded shape differs from the header")


def main():
    corpus = tempfile.mkdtemp(prefix="enec-fuzz-")
    seeds(corpus)
    print(f"fuzzing the {cpu.get_impl().name} decoder, corpus {corpus}", file=sys.stderr)
    args = [a for a in sys.argv if a != "--"] + [corpus]
    if not any(a.startswith("-max_len") for a in args):
        args.insert(1, "-max_len=70000")
    if not any(a.startswith("-len_control") for a in args):
        args.insert(1, "-len_control=0")     # mutate whole seed blobs, not short prefixes
    atheris.Setup(args, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
