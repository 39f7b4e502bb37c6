"""Compression and decompression never modify their inputs.

For every codec x dtype it takes ("auto" too), with and without checksum, for contiguous tensors
and non-contiguous views (transposed, strided, expanded with stride 0), through every entry point
(enec.compress / decompress with and without out=, torch.ops.enec.compress / compress_into /
decompress / decompress_into): the bytes of the input's whole storage, and of the blob given to
decompress, are the same afterwards as a copy taken before. Each CPU implementation runs.
"""
import numpy as np
import pytest
import torch

import enec
from conftest import assert_bit_equal

CODEC_DTYPES = {   # docs/FORMAT.md §7, dtype table
    "enec": (torch.bfloat16, torch.float16, torch.float32),
    "qlc": (torch.float8_e4m3fn, torch.float8_e5m2, torch.int8, torch.uint8),
    "apack": (torch.float8_e4m3fn, torch.float8_e5m2, torch.int8, torch.uint8),
    "sparse": (torch.bfloat16, torch.float16, torch.float32, torch.float8_e4m3fn,
               torch.float8_e5m2, torch.int8, torch.uint8),
    "entropy": (torch.bfloat16, torch.float16, torch.float32),
    "max": (torch.bfloat16, torch.float16, torch.float32, torch.float8_e4m3fn, torch.int8),
    "auto": (torch.bfloat16, torch.float16, torch.float32, torch.float8_e4m3fn,
             torch.float8_e5m2, torch.int8, torch.uint8),
}
PAIRS = [(c, d) for c, ds in CODEC_DTYPES.items() for d in ds]
_INT_VIEW = {1: torch.uint8, 2: torch.int16, 4: torch.int32}


def _snapshot(t: torch.Tensor) -> torch.Tensor:
    """A copy of every byte of t's storage (not only the elements a view shows)."""
    s = t.untyped_storage()
    return torch.tensor([], dtype=torch.uint8).set_(s).clone()


def _base(dtype, seed) -> torch.Tensor:
    """Random bit patterns (NaNs, infinities, subnormals, -0 included), about a third of them
    zero so that "auto" also takes the sparse path; 2 ENEC blocks."""
    g = torch.Generator().manual_seed(seed)
    iv = _INT_VIEW[torch.empty((), dtype=dtype).element_size()]
    info = torch.iinfo(iv)
    w = torch.randint(info.min, info.max, (60, 300), generator=g, dtype=torch.int64).to(iv)
    w[torch.rand(w.shape, generator=g) < 0.35] = 0
    return w.view(dtype)


VIEWS = {
    "contiguous": lambda b: b,
    "transposed": lambda b: b.t(),
    "strided": lambda b: b[1::3, ::2],
    "expanded": lambda b: b[:, 7].unsqueeze(0).expand(4, -1),    # stride 0: elements shared
}


@pytest.mark.parametrize("checksum", [False, True], ids=["plain", "checksum"])
@pytest.mark.parametrize("view", list(VIEWS))
@pytest.mark.parametrize("codec,dtype", PAIRS, ids=[f"{c}-{str(d)[6:]}" for c, d in PAIRS])
def test_no_entry_point_writes_its_input(impl, codec, dtype, view, checksum):
    base = _base(dtype, seed=len(PAIRS) * 10 + PAIRS.index((codec, dtype)))
    x = VIEWS[view](base)
    assert x.is_contiguous() == (view == "contiguous")
    before = _snapshot(base)

    def unchanged(what):
        assert torch.equal(_snapshot(base), before), f"{what} modified its input ({view} view)"

    blob = enec.compress(x, checksum=checksum, codec=codec)
    unchanged("enec.compress")
    cap = enec.max_compressed_size(x.numel(), x.dtype, x.dim(), codec=codec)
    out = torch.empty(cap, dtype=torch.uint8)
    assert torch.equal(enec.compress(x, checksum=checksum, codec=codec, out=out), blob)
    unchanged("enec.compress(out=)")
    assert torch.equal(torch.ops.enec.compress(x, checksum, codec), blob)
    unchanged("torch.ops.enec.compress")
    size = int(torch.ops.enec.compress_into(x, out, checksum, codec))
    assert torch.equal(out[:size], blob)
    unchanged("torch.ops.enec.compress_into")

    # decompress's input is the blob: given as a tensor, a numpy array and a bytearray
    blob_before = blob.clone()
    shape, want = list(x.shape), x.contiguous()
    arr = blob.numpy().copy()
    buf = bytearray(arr.tobytes())
    results = [enec.decompress(blob), enec.decompress(arr), enec.decompress(buf),
               torch.ops.enec.decompress(blob, shape, dtype)]
    y = torch.empty(shape, dtype=dtype)
    results.append(enec.decompress(blob, out=y))
    y2 = torch.empty(shape, dtype=dtype)
    torch.ops.enec.decompress_into(blob, y2)
    results.append(y2)
    for r in results:
        assert_bit_equal(r, want)
    assert torch.equal(blob, blob_before), "decompress modified the blob"
    assert np.array_equal(arr, blob_before.numpy()) and bytes(buf) == arr.tobytes(), \
        "decompress modified a numpy or bytearray blob"
    unchanged("decompress")
