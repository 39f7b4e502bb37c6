"""The NPU binding on a real Ascend device: the checks the emulation runs, on hardware.

Marked `npu`; they run only where torch_npu imports, a device is visible and libenec_npu.so is
loaded (enec.npu.status()["backend"] == "npu"), i.e. after scripts/build_npu.sh on an Ascend
machine:  python -m pytest -m npu tests
Elsewhere the module is skipped as a whole (one skip, with the reason; nothing counts as passed).
Each compares the device's bytes with the CPU reference (the same oracle as the emulated tests),
and feeds it hostile blobs that must raise, never crash or return a wrong tensor.
"""
import numpy as np
import pytest
import torch

import enec
import enec.npu
from enec import codecs
from enec import format as fmt
from enec import reference as R

if enec.npu.status()["backend"] != "npu":
    pytest.skip("no Ascend NPU with the enec binding here (enec.npu.status())", allow_module_level=True)

pytestmark = pytest.mark.npu
DEV = "npu"
N = fmt.BLOCK_ELEMS
DTYPES = [torch.bfloat16, torch.float16, torch.float32]


def _words(t: torch.Tensor) -> tuple[np.ndarray, fmt.DTypeSpec]:
    spec = fmt.dtype_spec(str(t.dtype).replace("torch.", ""))
    view = torch.int32 if spec is fmt.FP32 else torch.int16
    npv = np.uint32 if spec is fmt.FP32 else np.uint16
    return t.contiguous().view(view).numpy().view(npv).reshape(-1), spec


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("numel", [0, 1, 255, N - 1, N, 3 * N + 4097, 200 * N + 5])
def test_compress_matches_the_reference(dtype, numel):
    x = (torch.randn(numel) * 0.02).to(dtype)
    ref = R.compress_words(*_words(x), (numel,))
    got = torch.ops.enec.compress(x.to(DEV)).cpu().numpy()
    assert np.array_equal(got, ref)
    out = torch.empty(enec.max_compressed_size(numel, dtype, 1), dtype=torch.uint8, device=DEV)
    size = torch.ops.enec.compress_into(x.to(DEV), out)
    assert size.device.type == DEV and np.array_equal(out[:int(size)].cpu().numpy(), ref)


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_decompress_restores_every_bit(dtype):
    x = (torch.randn(5 * N + 33) * 0.02).to(dtype)
    x.view(torch.uint8)[:64] = torch.arange(64, dtype=torch.uint8)      # odd bit patterns too
    blob = enec.compress(x)
    y = torch.ops.enec.decompress(blob.to(DEV), x.shape, dtype).cpu()
    assert torch.equal(y.view(torch.uint8), x.view(torch.uint8))


def test_hostile_blobs_raise():
    x = torch.randn(4 * N).bfloat16()
    blob = enec.compress(x).numpy()
    h = codecs.read_header(blob)
    for off in (0, 9, 24, 88, h.layout.index_offset + 8, h.layout.flags_offset):
        bad = blob.copy()
        bad[off] ^= 0x41
        with pytest.raises(ValueError):
            torch.ops.enec.decompress(torch.from_numpy(bad).to(DEV), x.shape, x.dtype).cpu()
    with pytest.raises(ValueError):                       # truncated
        torch.ops.enec.decompress(torch.from_numpy(blob[:-7].copy()).to(DEV), x.shape, x.dtype).cpu()
    with pytest.raises(ValueError):                       # wrong shape
        torch.ops.enec.decompress(torch.from_numpy(blob).to(DEV), (N, 4), x.dtype).cpu()


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_compress_into_with_a_plan_matches_the_reference(dtype):
    """A reused plan: no histogram on the device, the reference's bytes for those parameters."""
    x = (torch.randn(3 * N + 4097) * 0.02).to(dtype)
    plan = enec.plan(x.to(DEV))
    assert plan == enec.plan(x)                          # the device histogram is the CPU's
    words, spec = _words(x)
    ref = R.compress_words(words, spec, (x.numel(),), plan)
    out = torch.empty(enec.max_compressed_size(x.numel(), dtype, 1), dtype=torch.uint8, device=DEV)
    size = torch.ops.enec.compress_into(x.to(DEV), out, False, "enec", [plan.b, plan.n, plan.m])
    assert np.array_equal(out[:int(size)].cpu().numpy(), ref)


def test_decompress_with_status_reports_on_the_device():
    x = (torch.randn(4 * N + 7) * 0.02).bfloat16()
    blob = enec.compress(x)
    y, status = enec.decompress_with_status(blob.to(DEV), x.shape, x.dtype)
    assert status.device.type == DEV
    enec.check_status(status)
    assert torch.equal(y.cpu().view(torch.int16), x.view(torch.int16))
    bad = blob.clone()
    bad[codecs.read_header(blob.numpy()).layout.index_offset + 8] ^= 1     # block 1's index entry
    _, status = enec.decompress_with_status(bad.to(DEV), x.shape, x.dtype)
    with pytest.raises(enec.CorruptStreamError):
        enec.check_status(status)
