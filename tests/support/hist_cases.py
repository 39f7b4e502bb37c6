"""Tensors built against enec_histogram's walk (op_kernel/enec_params.cpp), and the per-core
counts it must produce; used by tests/test_ascendc_kernels.py and tests/emu_gathermask_check.py."""
import numpy as np

from enec import format as fmt

N = fmt.BLOCK_ELEMS


def unit_elems(spec) -> int:
    """Elements per enec_histogram unit (32 KiB of input)."""
    return N * 2 // (4 if spec is fmt.FP32 else 2)


def expected(words: np.ndarray, spec, cores: int) -> np.ndarray:
    """(cores, 256): core c's exponent counts over its units (unit u on core u mod cores)."""
    wb = 32 if spec is fmt.FP32 else 16
    e = (words.astype(np.int64) >> (wb - 1 - spec.exp_bits)) & ((1 << spec.exp_bits) - 1)
    want = np.zeros((cores, 256), dtype=np.int64)
    np.add.at(want, ((np.arange(words.size) // unit_elems(spec)) % cores, e), 1)
    return want


def cases(spec):
    """(name, words, cores) built against enec_histogram's walk: every exponent in every unit (the
    remainder never gets small before the last thresholds), one exponent per unit changing from
    unit to unit (the previous unit's mode above or below this one's range), a wide thin tail
    (every unit sends about 2,000 elements to the tail, which then flushes every few units, on 1
    and 3 cores), all zeros (everything in bin 0), exponents 0 and 2^W - 1 only, short last units
    of 1 ... U - 1 elements and tensors smaller than a tail append."""
    rng = np.random.default_rng(47)
    dt = np.uint32 if spec is fmt.FP32 else np.uint16
    wb = 32 if spec is fmt.FP32 else 16
    mant = wb - 1 - spec.exp_bits
    emax = (1 << spec.exp_bits) - 1
    U = unit_elems(spec)

    def word(e, m=None):
        e = np.asarray(e, np.uint64)
        m = rng.integers(0, 1 << mant, e.shape, dtype=np.uint64) if m is None else np.asarray(m, np.uint64)
        sign = rng.integers(0, 2, e.shape, dtype=np.uint64)
        return ((sign << (wb - 1)) | (e << mant) | m).astype(dt)

    yield "uniform_bits", rng.integers(0, 1 << wb, 3 * U + 5, dtype=np.uint64).astype(dt), 2
    yield "one_exponent_per_unit", word(np.repeat(rng.integers(0, emax + 1, 9), U)[: 9 * U - 100]), 2
    thin = np.where(rng.random(12 * U) < 0.88, emax // 2 + 3, rng.integers(0, emax // 2, 12 * U))
    for cores in (1, 3):
        yield f"thin_tail_{cores}", word(thin), cores
    yield "zeros", np.zeros(2 * U + 3, dtype=dt), 2
    yield "extremes", word(np.where(rng.random(U + 999) < 0.5, 0, emax)), 2
    for n in (1, 15, 16, 17, 255, 257, 2047, 2049, U - 1, U + 1, 2 * U + U // 2 + 7):
        yield f"short_{n}", word(np.clip(np.round(rng.normal(emax // 2, 3, n)), 0, emax).astype(np.int64)), 3
