#!/usr/bin/env python3
"""Coverage-guided fuzzing (atheris / libFuzzer) of enec's decoders.

Seeds are valid blobs of every dtype (with and without checksum); libFuzzer mutates them. Each
input must decode to a tensor of the declared shape or raise an EnecError: anything else (another
exception, a crash, a hang, a sanitizer report) is a finding. Python code is instrumented for
coverage; the native library and the emulated kernels are exercised through it (they are built
with g++, so their own branches give no coverage feedback).

Targets (--target=NAME, removed before the libFuzzer flags are read):
  cpu       enec.decompress on the CPU implementation of $ENEC_CPU_IMPL (default: native if built)
  emulated  the AscendC decompress kernel under the emulation, after the host checks the NPU
            binding runs (tests/support/emulated.py decompress, 48 cores or --cores=K); the emulation firing
            (KernelError) is a finding, and a blob the CPU decoder accepts must decode identically

    python scripts/fuzz.py -runs=200000              # longer run (libFuzzer flags pass through)
    ENEC_CPU_IMPL=reference python scripts/fuzz.py -max_total_time=300
    python scripts/fuzz.py --target=emulated -runs=20000
"""
import collections
import os
import random
import struct
import sys
import tempfile

import atheris

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "support"))  # emulated, testdata
with atheris.instrument_imports(include=["enec", "emulated"]):     # not all of torch (minutes)
    import enec
    from enec import codecs
    from enec import format as fmt
    import emulated

import torch

TARGET = "cpu"
CORES = emulated.DEFAULT_CORES
OUTCOMES = collections.Counter()      # reported at the end: how many inputs reached a decoded tensor
SEEDS = []
RUNS = 0


def structured_mutator(data: bytes, max_size: int, seed: int) -> bytes:
    """Half of the mutations keep the header valid and hit what steers the decoder's reads: flag
    bits, outlier-index entries, header fields, section bytes. The native code and the kernels are
    not instrumented, so coverage alone would not lead libFuzzer past the header checks."""
    rng = random.Random(seed)
    if rng.random() < 0.5:
        return atheris.Mutate(data, max_size)
    # libFuzzer's schedule rarely picks the large seeds (no Python coverage of their own), so the
    # structured mutations start from one of them as often as from the input they were given
    b = bytearray(data if rng.random() < 0.5 or not SEEDS else rng.choice(SEEDS))
    try:
        h = codecs.read_header(bytes(b))
    except enec.EnecError:
        return atheris.Mutate(data, max_size)
    if h.codec != fmt.CODEC_ENEC:
        if h.codec != fmt.CODEC_ENTROPY or not b:       # QLC/APack/sparse: libFuzzer's own mutations
            return atheris.Mutate(data, max_size)
        # an entropy-codec blob: its table, block index, rANS bytes (the header only was read, so
        # every offset is bounded by the blob's real length here)
        o = [min(v, len(b)) for v in h.offsets]
        kind = rng.randrange(4)
        if kind == 0 and o[1] > o[0]:
            b[o[0] + rng.randrange(o[1] - o[0])] ^= rng.randint(1, 255)
        elif kind == 1 and h.blocks and o[1] + 8 * h.blocks <= len(b):
            off = o[1] + 8 * rng.randrange(h.blocks)
            old = struct.unpack_from("<Q", b, off)[0]
            val = rng.choice([old + 2 * rng.randint(-64, 64), old ^ (1 << rng.randrange(64)), rng.getrandbits(64),
                              2**64 - 2])
            struct.pack_into("<Q", b, off, val % 2**64)
        elif kind == 2 and len(b) > o[3]:
            b[o[3] + rng.randrange(len(b) - o[3])] ^= rng.randint(1, 255)
        else:
            b[rng.randrange(len(b))] ^= rng.randint(1, 255)
        return bytes(b[:max_size])
    lay = h.layout
    kind = rng.randrange(5)
    if kind == 0 and lay.flags_bytes:                       # a flag bit
        b[lay.flags_offset + rng.randrange(lay.flags_bytes)] ^= 1 << rng.randrange(8)
    elif kind == 1 and h.blocks:                            # an outlier-index entry
        off = lay.index_offset + 8 * rng.randrange(h.blocks)
        old = struct.unpack_from("<Q", b, off)[0]
        val = rng.choice([old + 32 * rng.randint(-64, 64), old ^ (1 << rng.randrange(64)), rng.getrandbits(64),
                          h.outlier_bytes, 2**64 - 32])
        struct.pack_into("<Q", b, off, val % 2**64)
    elif kind == 2:                                         # a header field
        off = rng.choice([24, 32, 48, 56, 64, 72, 80, 88] + [96 + 8 * i for i in range(len(h.shape))])
        old = struct.unpack_from("<Q", b, off)[0]
        val = rng.choice([old + rng.randint(-300, 300), old * 2, rng.getrandbits(64), 2**63, len(b)])
        struct.pack_into("<Q", b, off, val % 2**64)
    elif kind == 3:                                         # single byte anywhere
        b[rng.randrange(len(b))] ^= rng.randint(1, 255)
    else:                                                   # several bytes of one section
        lo, hi = rng.choice([(lay.raw_offset, lay.low_offset), (lay.low_offset, lay.flags_offset),
                             (lay.outlier_offset, len(b))])
        for _ in range(rng.randint(1, 8)):
            if hi > lo:
                b[rng.randrange(lo, hi)] = rng.randrange(256)
    return bytes(b[:max_size])


def _count(outcome: str):
    # libFuzzer ends the process without running Python's atexit: report every 10000 inputs and
    # at the last of -runs
    OUTCOMES[outcome] += 1
    total = sum(OUTCOMES.values())
    if total % 10000 == 0 or total == RUNS:
        print(f"fuzz.py outcomes ({TARGET}, {total} inputs): "
              + ", ".join(f"{k} {v}" for k, v in sorted(OUTCOMES.items())), file=sys.stderr)


def seeds(directory):
    g = torch.Generator().manual_seed(0)
    k = 0
    for dtype in (torch.bfloat16, torch.float16, torch.float32):
        for n in (1, 300, 16384 + 77):
            x = (torch.randn(n, generator=g) * 0.02).to(dtype)
            # the CPU decoders also get entropy-codec blobs (the kernel decodes ENEC only)
            codecs = ("auto",) if TARGET == "emulated" else ("auto", "entropy")
            for checksum, codec in [(c, k) for c in (False, True) for k in codecs]:
                SEEDS.append(bytes(enec.compress(x, checksum=checksum, codec=codec).numpy()))
                with open(os.path.join(directory, f"seed{k}"), "wb") as f:
                    f.write(SEEDS[-1])
                k += 1


def one_input(data: bytes):
    if TARGET == "emulated":
        return one_input_emulated(data)
    try:
        y = enec.decompress(data)
    except enec.EnecError:
        _count("rejected")
        return
    _count("decoded")
    h = enec.header_of(data)
    if tuple(y.shape) != h.shape:
        raise AssertionError("decoded shape differs from the header")


def one_input_emulated(data: bytes):
    try:
        y = emulated.decompress(data, cores=CORES)      # KernelError propagates: a missed host check
    except enec.EnecError:
        _count("rejected")
        return
    _count("decoded by the kernel")
    h = enec.header_of(data)
    if tuple(y.shape) != h.shape or y.dtype != getattr(torch, h.dtype.name):
        raise AssertionError("decoded shape or dtype differs from the header")
    try:
        ref = enec.decompress(data)
    except enec.EnecError:
        return          # the CPU decoders check more (outlier padding, all-zero flagged groups)
    if not torch.equal(y.reshape(-1).view(torch.uint8), ref.reshape(-1).view(torch.uint8)):
        raise AssertionError("the emulated kernel and the CPU decoder disagree")


def main():
    global TARGET, CORES, RUNS
    args = []
    for a in sys.argv:
        if a.startswith("-runs="):
            RUNS = int(a.split("=", 1)[1])
        if a.startswith("--target="):
            TARGET = a.split("=", 1)[1]
        elif a.startswith("--cores="):
            CORES = int(a.split("=", 1)[1])
        elif a != "--":
            args.append(a)
    if TARGET not in ("cpu", "emulated"):
        sys.exit(f"unknown --target {TARGET!r} (cpu or emulated)")
    if TARGET == "emulated":
        emulated.lib()              # build before fuzzing starts
    corpus = tempfile.mkdtemp(prefix="enec-fuzz-")
    seeds(corpus)
    what = f"emulated kernel ({CORES} cores)" if TARGET == "emulated" else f"{codecs.get_impl().name} decoder"
    print(f"fuzzing the {what}, corpus {corpus}", file=sys.stderr)
    args += [corpus]
    if not any(a.startswith("-max_len") for a in args):
        args.insert(1, "-max_len=70000")
    if not any(a.startswith("-len_control") for a in args):
        args.insert(1, "-len_control=0")     # mutate whole seed blobs, not short prefixes
    if not any(a.startswith("-keep_seed") for a in args):
        args.insert(1, "-keep_seed=1")       # valid blobs stay even when they add no Python coverage
    atheris.Setup(args, one_input, custom_mutator=structured_mutator)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
