"""Run the kernels under the emulation on inputs that exercise every synchronised path once.

Used by tests/test_ascendc_sync_mutations.py in a subprocess, with ENEC_EMU_KERNEL_DIR pointing
at a copy of op_kernel/ from which one synchronisation statement was deleted: exit status 0 means
the emulation saw nothing wrong (the deletion went unnoticed), 1 means a hazard or a wrong byte.
Two cores, so every core runs several blocks (the state a block leaves behind meets the next one),
a short last block, outliers in every block but one, all three dtypes, low-bit widths small and
large (a wide low section overlaps the scratch the next load lands in); the same inputs with the
parameters chosen on the device (enec_histogram, enec_params), once on 10 cores.
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))  # emulated
import emulated as E  # noqa: E402
from enec import format as fmt
from enec import reference as R
from enec.params import Params

N = fmt.BLOCK_ELEMS


def words(spec, numel, pivot, seed):
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(numel) * 0.05).astype(np.float32)
    x[rng.integers(0, numel, numel // 50)] *= 1e3          # exponents far from the pivot: outliers
    if spec is fmt.FP32:
        w = x.view(np.uint32).copy()
    elif spec is fmt.FP16:
        w = x.astype(np.float16).view(np.uint16).copy()
    else:
        w = (x.view(np.uint32) >> 16).astype(np.uint16)
    # block 2 holds only the pivot exponent: no flagged group, no outliers (the f = 0 path)
    mant = spec.word_bits - 1 - spec.exp_bits
    blk = w[2 * N:3 * N]
    blk[:] = (blk & ((1 << mant) - 1)) | (pivot << mant)
    return w


def main() -> int:
    numel = 5 * N + 1000        # blocks 0, 2, 4 on core 0; 1, 3, 5 (short) on core 1
    # (spec, params, cores): params None = chosen on the device (enec_histogram, enec_params; 10
    # cores: enec_params sums the partial histograms in two loads)
    cases = [(fmt.BF16, Params(122, 8, 3), 2), (fmt.BF16, Params(122, 8, 6), 2), (fmt.FP16, Params(14, 5, 2), 2),
             (fmt.FP32, Params(122, 8, 2), 2), (fmt.FP32, Params(122, 8, 6), 2),
             (fmt.BF16, None, 2), (fmt.FP16, None, 2), (fmt.FP32, None, 2), (fmt.BF16, None, 10)]
    for spec, params, cores in cases:
        w = words(spec, numel, params.b if params else 122 if spec is not fmt.FP16 else 14, 7)
        ref = R.compress_words(w, spec, (numel,), params)
        try:
            got = E.compress_words(w, spec, (numel,), params, cores=cores)
            out = E.decompress_words(ref, cores=cores)
        except E.KernelError as e:
            print(f"{spec.name}: {e}")
            return 1
        if got.size != ref.size or not np.array_equal(got, ref):
            print(f"{spec.name}: compressed bytes differ from the reference")
            return 1
        if not np.array_equal(out, w):
            print(f"{spec.name}: decompressed words differ from the input")
            return 1
    print("clean")
    return 0


if __name__ == "__main__":
    sys.exit(main())
