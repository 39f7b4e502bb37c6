"""Many threads compressing and decompressing different tensors at once stay correct."""
from concurrent.futures import ThreadPoolExecutor

import torch

import enec
from conftest import assert_bit_equal


def test_threads_roundtrip_different_tensors(impl):
    dtypes = [torch.bfloat16, torch.float16, torch.float32]
    tensors = [(torch.randn(5000 + 977 * i, generator=torch.Generator().manual_seed(i)) * 0.02)
               .to(dtypes[i % 3]) for i in range(24)]

    def work(t):
        blob = enec.compress(t, checksum=True)
        return blob, enec.decompress(blob)

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(work, tensors))
    for t, (blob, out) in zip(tensors, results):
        assert_bit_equal(out, t)
        assert torch.equal(blob, enec.compress(t, checksum=True))   # same bytes as a lone call


def _native_or_skip():
    from enec import codecs, cpu
    from conftest import IMPL_NAMES
    if "native" not in IMPL_NAMES:
        import pytest
        pytest.skip("the native implementation is not built")
    return codecs.get_impl("native")


def _concurrent_calls_match_lone_calls(tensors, compress, decompress):
    """Calls from 4 Python threads at once (each codec call multi-threaded itself) give the bytes
    of lone calls and decode bit-exactly."""
    lone = [compress(t) for t in tensors]

    def work(t):
        blob = compress(t)
        return blob, decompress(blob)

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(work, tensors))
    for t, want, (blob, out) in zip(tensors, lone, results):
        assert torch.equal(blob, want)
        assert_bit_equal(out, t)


def test_threads_share_the_native_worker_pool():
    """Tensors big enough to split over threads, compressed from several Python threads at once:
    one call at a time uses the native library's kept worker threads, the others start their
    own; every blob must still equal a lone call's, and decode back exactly."""
    from enec import codecs, cpu
    nat = _native_or_skip()
    torch.set_num_threads(2)
    tensors = [(torch.randn(600_000 + 4099 * i, generator=torch.Generator().manual_seed(i)) * 0.02)
               .to([torch.bfloat16, torch.float32][i % 2]) for i in range(8)]
    _concurrent_calls_match_lone_calls(tensors, lambda t: cpu.compress_tensor(t, impl=nat),
                                       lambda b: cpu.decompress_tensor(b, impl=nat))


def _child_compresses(t, blob_want, q):
    # no torch operator here: torch's own OpenMP threads do not survive a fork either
    from enec import codecs, cpu
    import numpy as np
    blob = cpu.compress_tensor(t, impl=codecs.get_impl("native"))
    q.put(bool(np.array_equal(blob.numpy(), blob_want.numpy())))


def _run_forked(target, args, where):
    """Runs target(*args, queue) in a forked child; it must finish and put True."""
    import multiprocessing as mp
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    p = ctx.Process(target=target, args=(*args, q))
    p.start()
    p.join(timeout=120)
    if p.is_alive():
        p.kill()
        raise AssertionError(f"the forked child hung in {where}")
    assert p.exitcode == 0 and q.get(timeout=5) is True


def test_native_workers_survive_fork():
    """After the parent has used its worker threads, a forked child (which has none of them)
    must still compress with several threads instead of waiting forever for workers."""
    from enec import codecs, cpu
    nat = _native_or_skip()
    torch.set_num_threads(2)
    t = (torch.randn(700_000, generator=torch.Generator().manual_seed(11)) * 0.02).bfloat16()
    want = cpu.compress_tensor(t, impl=nat)                 # the parent's workers now exist
    _run_forked(_child_compresses, (t, want), "the native library")


# The entropy codec's library keeps its own worker threads (the same thread_pool.h).

def _entropy_or_skip():
    from enec.codecs import entropy_native
    if not entropy_native.available():
        import pytest
        pytest.skip(f"the native entropy library is not built: {entropy_native.load_error()}")


def test_threads_share_the_entropy_worker_pool():
    """As above for codec="entropy": concurrent multi-threaded calls give a lone call's bytes."""
    _entropy_or_skip()
    torch.set_num_threads(2)
    tensors = [(torch.randn(600_000 + 4099 * i, generator=torch.Generator().manual_seed(i)) * 0.02)
               .to([torch.bfloat16, torch.float32, torch.float16][i % 3]) for i in range(9)]
    _concurrent_calls_match_lone_calls(tensors, lambda t: enec.compress(t, codec="entropy"), enec.decompress)


def _child_entropy(t, blob_want, q):
    # numpy comparisons only: torch's own OpenMP threads do not survive a fork
    import numpy as np
    blob = enec.compress(t, codec="entropy")
    ok = bool(np.array_equal(blob.numpy(), blob_want.numpy()))
    back = enec.decompress(blob).view(torch.int16).numpy()
    q.put(ok and bool(np.array_equal(back, t.view(torch.int16).numpy())))


def test_entropy_workers_survive_fork():
    """A forked child of a parent that used the entropy library's workers encodes and decodes
    with several threads (the pool is rebuilt in the child) instead of waiting forever."""
    _entropy_or_skip()
    torch.set_num_threads(2)
    t = (torch.randn(700_000, generator=torch.Generator().manual_seed(11)) * 0.02).bfloat16()
    want = enec.compress(t, codec="entropy")              # the parent's workers now exist
    enec.decompress(want)
    _run_forked(_child_entropy, (t, want), "the entropy library")
