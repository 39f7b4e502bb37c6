#!/usr/bin/env python3
"""Run the enec kernels through the REAL CANN 8.1 AscendC headers on the CPU (the shared harness
../shared/tools/ascendc-harness) and compare with the numpy reference on all-MiniLM-L6-v2.

Not part of CI: it needs the CANN 8.1 headers (never in this repository) and the harness.

    CANN_ROOT=/path/to/8.1.RC1 python scripts/ascendc_harness_check.py [--harness DIR] [--cores 48]

Builds tests/ascendc_emu/harness/{enec_kernels_all,harness_host}.cpp with the harness's build.sh
(BUILD_DIR in a temp folder), then for every floating tensor of MiniLM (FP32 as shipped and BF16
derived by round-to-nearest-even): compress with the kernels -> must equal the reference blob
byte for byte, both with the host's parameters and with the parameters chosen on the device (enec_histogram
+ enec_params, which must pick params.py's (b, n, m)); decompress the reference blob with the
kernel -> must equal the input bits.
"""
import argparse
import os
import pathlib
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "python"))
sys.path.insert(0, str(ROOT / "tests" / "support"))     # emulated, testdata
from enec import format as fmt, reference as R  # noqa: E402
import testdata
from enec.params import choose_params  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--harness", default=str(ROOT.parent / "shared" / "tools" / "ascendc-harness"))
    ap.add_argument("--cores", type=int, default=48)
    ap.add_argument("--binary", help="use an already built harness binary")
    args = ap.parse_args()
    work = pathlib.Path(tempfile.mkdtemp(prefix="enec-harness-"))
    exe = args.binary
    if not exe:
        exe = str(work / "enec_harness")
        env = dict(os.environ, BUILD_DIR=str(work / "build"), OPT="-O2")
        subprocess.run(["bash", f"{args.harness}/build.sh", str(ROOT / "tests/ascendc_emu/harness/enec_kernels_all.cpp"),
                        str(ROOT / "tests/ascendc_emu/harness/harness_host.cpp"), "-o", exe],
                       check=True, env=env, capture_output=True)
    totals = {}
    for which in ("bfloat16", "float32"):
        sd = testdata.minilm_state_dict(which)
        t0 = time.time()
        n_t = n_el = 0
        raw = comp = 0
        for name, t in sd.items():
            if not t.is_floating_point():
                continue
            spec = fmt.dtype_spec(which)
            view, npv = (torch.int32, np.uint32) if spec is fmt.FP32 else (torch.int16, np.uint16)
            words = t.contiguous().view(view).numpy().view(npv).reshape(-1)
            params = choose_params(R.exponent_histogram(words, spec), spec)
            ref = R.compress_words(words, spec, tuple(t.shape), params)
            src, out, back = work / "in.bin", work / "out.bin", work / "back.bin"
            words.tofile(src)
            ref.tofile(work / "ref.bin")
            subprocess.run([exe, "compress", str(spec.code), str(params.b), str(params.n), str(params.m),
                            str(args.cores), str(src), str(out), *[str(d) for d in t.shape]], check=True)
            got = np.fromfile(out, dtype=np.uint8)
            if not np.array_equal(got, ref):
                sys.exit(f"MISMATCH compress {which} {name}: {got.size} vs {ref.size} bytes")
            # the parameters chosen on the device (enec_histogram + enec_params), then the same kernels
            r = subprocess.run([exe, "compress_auto", str(spec.code), str(args.cores), str(src), str(out),
                                *[str(d) for d in t.shape]], check=True, capture_output=True, text=True)
            if tuple(int(v) for v in r.stdout.split()) != (params.b, params.n, params.m):
                sys.exit(f"MISMATCH device parameters {which} {name}: {r.stdout.strip()} vs {params}")
            got = np.fromfile(out, dtype=np.uint8)
            if not np.array_equal(got, ref):
                sys.exit(f"MISMATCH compress_auto {which} {name}: {got.size} vs {ref.size} bytes")
            subprocess.run([exe, "decompress", str(args.cores), str(work / "ref.bin"), str(back)], check=True)
            dec = np.fromfile(back, dtype=npv)
            if not np.array_equal(dec, words):
                sys.exit(f"MISMATCH decompress {which} {name}")
            n_t += 1
            n_el += words.size
            raw += words.nbytes
            comp += ref.size
        totals[which] = (n_t, n_el, raw / comp, time.time() - t0)
        print(f"{which}: {n_t} tensors, {n_el} elements: kernels through the real headers == reference "
              f"(compress byte-identical with given and with device-chosen parameters, decompress bit-exact); "
              f"ratio {raw / comp:.4f}; {time.time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
