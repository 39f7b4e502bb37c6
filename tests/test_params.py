"""Parameter search: always lossless, and optimal for its cost model (brute-force oracle)."""
import numpy as np
import pytest

from enec import format as fmt
from enec import params as P
from enec import reference as ref


def brute_force(hist, w):
    """Minimise Eq. 4 over every (b, n, m) that is lossless for the histogram."""
    x = np.arange(1 << w)
    present = x[hist > 0]
    total = hist.sum()
    best = None
    for b in range(1 << w):
        for n in range(1, w + 1):
            y = (b - present) % (1 << n)
            back = ref.inverse_transform(y.astype(np.uint16), b, n, w)
            if not np.array_equal(back, present):
                continue
            for m in range(n + 1):
                yy = (b - x) % (1 << n)
                p = hist[yy < (1 << m)].sum() / total
                cost = m + (n - m) * (1 - p ** 16)
                key = (cost, n, b, m)
                best = key if best is None or key < best else best
            break   # larger n for the same b never lowers the cost
    return best


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("spec", [fmt.BF16, fmt.FP16])
def test_choice_matches_brute_force(seed, spec):
    rng = np.random.default_rng(seed)
    w = spec.exp_bits
    hist = np.zeros(1 << w, np.int64)
    centre = rng.integers(0, 1 << w)
    idx = (centre + rng.normal(0, rng.uniform(0.5, 4), 5000).round().astype(int)) % (1 << w)
    np.add.at(hist, idx, 1)
    p = P.choose_params(hist, spec)
    cost, n, b, m = brute_force(hist, w)
    assert (p.b, p.n, p.m) == (b, n, m)


def test_degenerate_histograms():
    h = np.zeros(256, np.int64)
    assert P.choose_params(h, fmt.BF16) == P.Params(0, 1, 0)
    h[77] = 10
    assert P.choose_params(h, fmt.BF16) == P.Params(77, 1, 0)
    h[0] = 1; h[255] = 1                  # extremes force a wide code but stay lossless
    p = P.choose_params(h, fmt.BF16)
    present = np.array([0, 77, 255])
    assert np.array_equal(ref.inverse_transform(ref.transform(present, p.b, p.n), p.b, p.n, 8), present)
