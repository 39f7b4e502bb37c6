"""scripts/npu_projection.py and the timing model behind it.

The projection runs the kernels under the emulation's timing model and the binding's own
orchestration (op_host/enec_orchestrate.h); its numbers are model outputs, so these tests check the
report's structure, what it counts (blocking host reads, launches) and that the model responds to its
constants the way a timeline must, not any particular speed.
"""
import json
import pathlib
import subprocess
import sys

import numpy as np
import pytest

import emulated as E
from enec import codecs
from enec import format as fmt
from enec import reference as R

ROOT = pathlib.Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "npu_projection.py"
N = fmt.BLOCK_ELEMS


def _run(*args):
    r = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stderr[-3000:]
    return r


@pytest.fixture(scope="module")
def report():
    r = _run("--json", "--numel", str(20 * N + 77), "--dtype", "bfloat16", "--dtype", "float32")
    return json.loads(r.stdout)          # exactly one JSON object on stdout (json.loads rejects trailing data)


def test_json_has_the_documented_shape(report):
    assert set(report) >= {"model", "calibration", "cases"}
    assert report["calibration"] == {"authors_compress_gbps": None, "authors_decompress_gbps": None,
                                     "paper_compress_gbps": 360.6, "paper_decompress_gbps": 213.8}
    assert report["model"] == E.model_constants()
    whats = [(c["dtype"], c["what"]) for c in report["cases"]]
    for d in ("bfloat16", "float32"):
        for w in ("compress_kernel", "decompress_kernel", "compress_op", "compress_into_op", "decompress_op"):
            assert (d, w) in whats
    assert whats[0][0] == "bfloat16"
    for c in report["cases"]:
        assert c["impl"] == "enec" and c["numel"] == 20 * N + 77
        assert isinstance(c["gbps"], float) and c["gbps"] > 0
        assert isinstance(c["host_syncs"], int)


def test_blocking_reads_are_counted(report):
    by = {(c["dtype"], c["what"]): c for c in report["cases"]}
    for d in ("bfloat16", "float32"):
        # compress without a plan: histogram, parameter search, tiling, header and gaps on the
        # device (enec_histogram, enec_params), so compress reads only the size to trim its
        # result and compress_into reads nothing; the outlier index is made on the device
        # (enec_finish), the counts never travel
        assert by[d, "compress_op"]["host_syncs"] == 1
        assert [s["what"] for s in by[d, "compress_op"]["steps"] if s["host_sync"]] == ["read 8 B to host"]
        assert by[d, "compress_into_op"]["host_syncs"] == 0
        assert not any(s["host_sync"] for s in by[d, "compress_into_op"]["steps"])
        for what in ("compress_op", "compress_into_op"):
            assert [s["what"] for s in by[d, what]["steps"] if s["what"].startswith("enec_")] == [
                "enec_histogram", "enec_params", "enec_compress", "enec_finish"]
        assert by[d, "params_kernels"]["host_syncs"] == 0
        assert [k["kernel"] for k in by[d, "params_kernels"]["kernels"]] == ["enec_histogram", "enec_params"]
        # a reused plan: no histogram, the blob written in place, nothing read back
        assert by[d, "compress_into_op (plan)"]["host_syncs"] == 0
        assert not any("histogram" in s["what"] for s in by[d, "compress_into_op (plan)"]["steps"])
        # decompress: the kernel validates the blob itself and leaves its status on the device;
        # enec.decompress reads it back once
        assert by[d, "decompress_op"]["host_syncs"] == 0
        assert by[d, "decompress_op + status read"]["host_syncs"] == 1
        assert [s["what"] for s in by[d, "decompress_op + status read"]["steps"] if s["host_sync"]] == [
            f"read {48 * 32} B to host"]
        # no memset of the whole worst-case blob: only the alignment gaps are cleared, by the host
        # with a plan, by enec_params without one
        sets = [s["what"] for s in by[d, "compress_into_op (plan)"]["steps"] if s["what"].startswith("memset")]
        assert sets and all(int(w.split()[1]) < fmt.SECTION_ALIGN for w in sets), sets
        for what in ("compress_op", "compress_into_op"):
            assert not [s for s in by[d, what]["steps"] if s["what"].startswith("memset")]
        assert by[d, "compress_kernel"]["host_syncs"] == by[d, "decompress_kernel"]["host_syncs"] == 0
        # an op is its kernels plus everything around them
        assert by[d, "compress_op"]["us"] > by[d, "compress_kernel"]["us"]
        assert by[d, "decompress_op"]["us"] > by[d, "decompress_kernel"]["us"]


def test_op_orchestration_makes_the_reference_bytes():
    rng = np.random.default_rng(3)
    w = (rng.standard_normal(3 * N + 5).astype(np.float32) * 0.1).view(np.uint32)
    ref = R.compress_words(w, fmt.FP32, (3 * N + 5,))
    blob, rep = E.compress_op(w, fmt.FP32, (3 * N + 5,), cores=2)
    assert np.array_equal(blob, ref)
    into, _ = E.compress_op(w, fmt.FP32, (3 * N + 5,), cores=2, into=True)
    assert np.array_equal(into, ref)          # `out` starts as 0xA5 bytes: every byte was written
    out, drep = E.decompress_op(ref, cores=2)
    assert np.array_equal(out, w)
    assert [k["kernel"] for k in rep["kernels"]] == ["enec_histogram", "enec_params", "enec_compress", "enec_finish"]
    assert [k["kernel"] for k in drep["kernels"]] == ["enec_decompress"]


def test_decompress_unchecked_reads_nothing_back():
    rng = np.random.default_rng(6)
    w = (rng.standard_normal(2 * N + 9).astype(np.float32) * 0.02).view(np.uint32)
    blob = R.compress_words(w, fmt.FP32, (2 * N + 9,))
    out, rep = E.decompress_op(blob, (2 * N + 9,), fmt.FP32, check=False)
    assert rep["host_syncs"] == 0 and rep["status"] == E.STATUS_OK and np.array_equal(out, w)
    bad = blob.copy()
    bad[codecs.read_header(blob).layout.index_offset + 8] ^= 1          # block 1's index entry
    _, rep = E.decompress_op(bad, (2 * N + 9,), fmt.FP32, check=False)
    assert rep["host_syncs"] == 0 and rep["status"] == E.STATUS_CORRUPT_INDEX


def test_compress_into_with_known_parameters_reads_nothing_back():
    rng = np.random.default_rng(5)
    w = (rng.standard_normal(2 * N + 9).astype(np.float32) * 0.02).view(np.uint32) >> 16
    w = w.astype(np.uint16)
    params = E.choose_params_native(R.exponent_histogram(w, fmt.BF16), fmt.BF16)
    blob, rep = E.compress_op(w, fmt.BF16, (2 * N + 9,), params=params, into=True)
    assert np.array_equal(blob, R.compress_words(w, fmt.BF16, (2 * N + 9,), params))
    assert rep["host_syncs"] == 0
    _, rep = E.compress_op(w, fmt.BF16, (2 * N + 9,), params=params)
    assert rep["host_syncs"] == 1            # the size, to trim


def _kernel_us(**consts):
    before = E.model_constants()
    try:
        for k, v in consts.items():
            E.set_model_constant(k, v)
        w = (np.random.default_rng(0).standard_normal(96 * N).astype(np.float32) * 0.02).view(np.uint32) >> 16
        _, rep = E.compress_op(w.astype(np.uint16), fmt.BF16, (96 * N,))
        return next(k["us"] for k in rep["kernels"] if k["kernel"] == "enec_compress")
    finally:
        for k, v in before.items():
            E.set_model_constant(k, v)


def test_timing_model_responds_to_its_constants():
    base = _kernel_us()
    assert _kernel_us(hbm_gbps=400.0) > base * 1.2          # a quarter of the bandwidth: slower
    assert _kernel_us(vec_issue_cycles=0.0) < base           # free instruction issue: faster
    assert _kernel_us(clock_ghz=3.6) < base                  # a faster clock: faster
    with pytest.raises(KeyError):
        E.set_model_constant("no_such_constant", 1.0)


def test_set_and_unknown_constant_on_the_command_line():
    r = subprocess.run([sys.executable, str(SCRIPT), "--numel", "4096", "--dtype", "float16", "--set", "nope=1"],
                       capture_output=True, text=True)
    assert r.returncode != 0 and "nope" in r.stderr


def test_checksummed_blobs_go_to_the_host_path_whatever_their_checksum():
    """The kernel never decodes a checksummed blob itself (the checksum is verified on the host),
    even when the stored checksum happens to be zero."""
    import torch
    import enec
    x = torch.randn(3 * N + 1).bfloat16()
    blob = enec.compress(x, checksum=True).numpy().copy()
    for value in (blob[fmt.CHECKSUM_OFFSET:fmt.CHECKSUM_OFFSET + 8].copy(), np.zeros(8, np.uint8)):
        blob[fmt.CHECKSUM_OFFSET:fmt.CHECKSUM_OFFSET + 8] = value
        with pytest.raises(E.HostPath):
            E.decompress_op(blob, (3 * N + 1,), fmt.BF16)
