"""Scale: a tensor of more than 2^31 elements and 4 GiB round-trips (64-bit sizes and offsets),
with peak memory near input + output; and the native ops release the GIL while they work."""
import resource
import threading
import time

import pytest
import torch

import enec
import enec.params
from enec import codecs, cpu


def _require_native():
    if "native" not in codecs.implementations():
        pytest.fail("the native CPU implementation is not built")
    return codecs.get_impl("native")


@pytest.mark.bigmem
def test_over_4gib_roundtrip():
    _require_native()
    n = 2**31 + 16384 * 3 + 999                   # > 2^31 elements, > 4 GiB of BF16
    x = torch.empty(n, dtype=torch.bfloat16)
    # cheap structured data: a 1 Mi-element random pattern tiled, plus a distinct tail
    pat = (torch.randn(2**20, generator=torch.Generator().manual_seed(0)) * 0.02).bfloat16()
    x[: (n // pat.numel()) * pat.numel()] = pat.repeat(n // pat.numel())
    x[(n // pat.numel()) * pat.numel():] = 3.0
    x[-1] = float("nan")
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    blob = enec.compress(x)
    info = enec.header_of(blob)
    assert info.numel == n and blob.numel() > 2**32 * 0.7
    y = enec.decompress(blob)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    assert torch.equal(x.view(torch.int16), y.view(torch.int16))
    # input (already resident) + blob + output + a little: no full-size temporaries
    extra = peak - rss0
    assert extra < blob.numel() + y.numel() * 2 + (512 << 20), (extra, blob.numel())
    del y
    rows = cpu.decompress_rows(blob, n - 5, n)
    assert torch.equal(rows.view(torch.int16), x[-5:].view(torch.int16))


def test_native_calls_release_the_gil():
    nat = _require_native()
    x = (torch.randn(24 * 2**20) * 0.02).bfloat16()
    counter = {"n": 0, "stop": False}

    def spin():
        while not counter["stop"]:
            counter["n"] += 1

    blob = cpu.compress_tensor(x, nat)
    buf, header = blob.numpy(), enec.header_of(blob)
    spec = header.dtype
    words = cpu.tensor_words(x, spec)
    params = enec.params.Params(header.b, header.n, header.m)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)                      # leave a core to the spinning thread
    t = threading.Thread(target=spin)
    t.start()
    try:
        time.sleep(0.05)
        c0, t0 = counter["n"], time.perf_counter()
        time.sleep(0.2)                           # the spinner alone (the main thread sleeps)
        alone = (counter["n"] - c0) / (time.perf_counter() - t0)
        c0, t0 = counter["n"], time.perf_counter()
        for _ in range(3):
            nat.decode(buf, header)
            nat.encode(words, spec, (x.numel(),), params)
        during = (counter["n"] - c0) / (time.perf_counter() - t0)
    finally:
        counter["stop"] = True
        t.join()
        torch.set_num_threads(threads)
    # a call holding the GIL would stop the spinner for its whole duration
    assert during > 0.35 * alone, (during, alone)     # ~0.13 when a loader holds the GIL
