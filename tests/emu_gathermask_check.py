"""Run by tests/test_gathermask_fallback.py in a subprocess whose ENEC_EMU_CXXFLAGS select the
kernels' outlier-compaction form and the emulation's GatherMask limit: compresses tensors of every
dtype (full blocks, short last blocks, one short block; outliers present) on the emulated device
and checks the blobs against the reference encoder and the decode against the input, and
enec_histogram's per-core counts on tests/support/hist_cases.py's tensors.
Prints OK, or exits non-zero with the emulation's error."""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "support"))  # emulated
import emulated as E  # noqa: E402
import hist_cases  # noqa: E402
from enec import format as fmt
from enec import reference as R

N = fmt.BLOCK_ELEMS


def words(spec, numel, rng):
    x = rng.standard_normal(numel).astype(np.float32) * 0.02
    if spec is fmt.FP32:
        w = x.view(np.uint32).copy()
    elif spec is fmt.BF16:
        w = (x.view(np.uint32) >> 16).astype(np.uint16)
    else:
        w = x.astype(np.float16).view(np.uint16).copy()
    w[::97] ^= np.asarray(0x4000, dtype=w.dtype)            # far exponents: flagged groups
    return w


def main() -> int:
    rng = np.random.default_rng(0)
    for spec in (fmt.BF16, fmt.FP16, fmt.FP32):
        for numel in (3 * N, 2 * N + 300, 700, 5 * N + 4097):
            w = words(spec, numel, rng)
            ref = R.compress_words(w, spec, (numel,))
            blob, _ = E.compress_op(w, spec, (numel,), cores=3)
            if not np.array_equal(blob, ref):
                print(f"{spec.name} {numel}: blob differs from the reference", file=sys.stderr)
                return 1
            out, rep = E.decompress_op(blob, (numel,), spec, cores=3, check=False)
            if rep["status"] != 0 or not np.array_equal(out, w):
                print(f"{spec.name} {numel}: decode differs", file=sys.stderr)
                return 1
        # enec_histogram's compaction walk alone, exact per-core counts
        for name, w, cores in hist_cases.cases(spec):
            if not np.array_equal(E.histogram_device(w, spec, cores), hist_cases.expected(w, spec, cores)):
                print(f"{spec.name} {name}: enec_histogram counts differ", file=sys.stderr)
                return 1
    print("OK")
    return 0


if __name__ == "__main__":
    sys.exit(main())
