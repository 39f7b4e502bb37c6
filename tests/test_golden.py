"""Golden blobs: the bytes of format version 1 are pinned, not just round trips.

tests/golden/v1/ holds blobs written once by tests/golden/make_golden.py (see its docstring for
when regenerating is allowed: only with a format version bump). For every blob and every CPU
implementation (the numpy reference, and the native library at each SIMD level this CPU has):
  * decoding it through the public API and through torch.ops.enec.decompress gives a tensor of the
    manifest's shape and dtype whose bytes hash to the manifest's SHA-256 of the original input;
  * compressing the regenerated input with the same codec and checksum option gives the blob back
    byte for byte.
A format change (an offset, an alignment, a field order, a parameter-search tie-break) therefore
fails here even when encoder and decoder change together and round trips still pass.
"""
import hashlib
import importlib.util
import json
import os

import numpy as np
import pytest
import torch

import enec
from enec import codecs
from enec import format as fmt
from enec.errors import EnecError
from conftest import IMPL_NAMES

GOLDEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "golden")


def _load_generator():
    spec = importlib.util.spec_from_file_location("make_golden", os.path.join(GOLDEN, "make_golden.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


gen = _load_generator()
with open(gen.MANIFEST) as _fh:
    MANIFEST = json.load(_fh)
CASES = MANIFEST["cases"]
BY_NAME = {os.path.basename(c["file"])[:-len(".enec")]: c for c in CASES}
_SIMD_NAMES = {2: "avx512", 1: "avx2", 0: "portable"}


def _implementations():
    """(id, CPU implementation name, SIMD level or None): every decoder this machine can run."""
    out = []
    for name in IMPL_NAMES:
        if name == "native":
            nat = codecs.get_impl("native")
            out += [(f"native-{_SIMD_NAMES[lv]}", "native", lv) for lv in range(nat.simd_detected(), -1, -1)]
        else:
            out.append((name, name, None))
    return out


IMPLS = _implementations()


@pytest.fixture(params=IMPLS, ids=[i[0] for i in IMPLS])
def golden_impl(request, monkeypatch):
    """Routes the public API and the ops to one implementation (the QLC, APack and sparse kernels follow it)."""
    _, name, level = request.param
    monkeypatch.setenv("ENEC_CPU_IMPL", name)
    monkeypatch.delenv("ENEC_CODECS_IMPL", raising=False)
    if level is None:
        yield name
        return
    nat = codecs.get_impl("native")
    nat.set_simd(level)
    assert nat.simd_level() == level
    from enec.codecs import entropy_native     # the entropy kernels' levels: portable, AVX2, AVX-512
    if entropy_native.available():
        entropy_native.set_simd(min(level, entropy_native.simd_detected()))
    yield request.param[0]
    nat.set_simd(True)
    if entropy_native.available():
        entropy_native.set_simd(True)


def _blob(case) -> bytes:
    with open(os.path.join(GOLDEN, case["file"]), "rb") as fh:
        return fh.read()


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _decoded_sha(y: torch.Tensor) -> str:
    return _sha(gen.tensor_bytes(y))


def _regenerated(case) -> torch.Tensor:
    name = os.path.basename(case["file"])[:-len(".enec")]
    x = gen.make_input(name, case["dtype"], tuple(case["shape"]), **case["input"])
    assert _sha(gen.tensor_bytes(x)) == case["input_sha256"], \
        f"{name}: the input generator no longer reproduces the golden input (make_golden.py changed?)"
    return x


_ids = list(BY_NAME)


# ----------------------------------------------------------------------------- the set itself

def test_manifest_covers_every_codec_dtype_and_shape():
    """Every codec x dtype it takes: empty, 0-dim, one block, several blocks; with and without
    checksum. The codec/dtype table is docs/FORMAT.md §7's, written out in the generator."""
    want = {(codec, dtype) for table in (gen.CODEC_DTYPES, gen.ADDED_CODEC_DTYPES)
            for codec, dts in table.items() for dtype in dts}
    assert len(want) == 21
    have = {}
    for c in CASES:
        numel = int(np.prod(c["shape"])) if c["shape"] else 1
        kind = ("empty" if numel == 0 else "0-dim" if not c["shape"] else
                "several" if numel > {"enec": gen.ENEC_BLOCK, "entropy": gen.ENEC_BLOCK}.get(c["codec"], gen.BYTE_CHUNK)
                else "one")
        have.setdefault((c["codec"], c["dtype"]), set()).add((kind, c["checksum"]))
    assert set(have) == want
    for key, kinds in have.items():
        assert {k for k, _ in kinds} == {"empty", "0-dim", "one", "several"}, key
        assert {ck for _, ck in kinds} == {False, True}, key
    # the sparse codec's pattern formats that data can reach (CSR is smallest only on contrived
    # data; tests/test_codecs_sparse.py forces it)
    formats = {c["sparse_format"].split("(")[0] for c in CASES if c["codec"] == "sparse"}
    assert {"dense", "bitmap", "bitmap2", "rle"} <= formats


def test_golden_files_are_small_and_match_the_manifest():
    total = 0
    for c in CASES:
        b = _blob(c)
        assert len(b) == c["blob_bytes"] and _sha(b) == c["blob_sha256"], c["file"]
        assert b[:4] == fmt.MAGIC and b[4] == MANIFEST["format_version"] == 1
        total += len(b)
    on_disk = {f"{gen.VERSION_DIR}/{f}" for f in os.listdir(os.path.join(GOLDEN, gen.VERSION_DIR))
               if f != "manifest.json"}
    assert on_disk == {c["file"] for c in CASES}, "golden files and manifest disagree"
    # ~375 KB for codecs 1-4; the entropy codec's 21 cases (added to v1 with codec 5) ~110 KB more,
    # most of it the FP32 several-blocks case (two 16384-element blocks of raw mantissas); its 3
    # layout-1 cases ~100 KB (a table per 16 blocks needs 17 blocks: 34 KB of sign bits alone)
    assert total < 600_000, total


@pytest.mark.parametrize("name", _ids)
def test_generator_reproduces_the_inputs(name):
    case = BY_NAME[name]
    x = _regenerated(case)
    assert tuple(x.shape) == tuple(case["shape"]) and str(x.dtype) == f"torch.{case['dtype']}"


# ----------------------------------------------------------------------------- decode and re-encode

@pytest.mark.parametrize("name", _ids)
def test_golden_blob_decodes_to_the_original(golden_impl, name):
    case = BY_NAME[name]
    blob = _blob(case)
    dtype = getattr(torch, case["dtype"])
    for y in (enec.decompress(blob),                                   # bytes, the public API
              enec.decompress(torch.frombuffer(bytearray(blob), dtype=torch.uint8)),
              torch.ops.enec.decompress(torch.frombuffer(bytearray(blob), dtype=torch.uint8),
                                        case["shape"], dtype)):
        assert y.dtype == dtype and list(y.shape) == case["shape"]
        assert _decoded_sha(y) == case["input_sha256"], f"{name} decodes to other bytes ({golden_impl})"
    out = torch.empty(case["shape"], dtype=dtype)
    enec.decompress(blob, out=out)
    assert _decoded_sha(out) == case["input_sha256"]


@pytest.mark.parametrize("name", _ids)
def test_reencoding_reproduces_the_blob(golden_impl, name):
    case = BY_NAME[name]
    x = _regenerated(case)
    got = enec.compress(x, checksum=case["checksum"], codec=case["codec"]).numpy().tobytes()
    want = _blob(case)
    if got != want:
        diff = next((i for i in range(min(len(got), len(want))) if got[i] != want[i]), min(len(got), len(want)))
        pytest.fail(f"{name} ({golden_impl}): re-encoded blob differs from the golden one: "
                    f"{len(got)} vs {len(want)} bytes, first difference at byte {diff}")
    cap = enec.max_compressed_size(x.numel(), x.dtype, x.dim(), codec=case["codec"])
    out = torch.zeros(cap, dtype=torch.uint8)
    assert enec.compress(x, checksum=case["checksum"], codec=case["codec"], out=out).numpy().tobytes() == want


# ----------------------------------------------------------------------------- the tests bite

def _flip_positions(blob: bytes) -> dict:
    """Bytes whose change a decoder must notice: header fields, the first payload byte, and the
    last non-zero byte and a non-zero byte past the middle. Gap bytes between sections are
    excluded: they are written as zero but decoders may ignore them (docs/FORMAT.md §1, §7.1),
    which is why a non-zero byte is never one; the byte-for-byte re-encode test covers them."""
    header_bytes = int.from_bytes(blob[20:24], "little")      # docs/FORMAT.md §2
    pos = {"version": 4, "dtype": 6, "numel": 24, "total_bytes": 88}
    numel = int.from_bytes(blob[24:32], "little")
    qlc_table_of_nothing = blob[5] == fmt.CODEC_QLC and numel == 0
    if len(blob) > header_bytes and not qlc_table_of_nothing:
        # (a QLC table of an empty tensor codes no element; §7.2 asks S > 0 only when numel > 0,
        # so a flipped count there is a valid blob of the same empty tensor)
        pos["first payload byte"] = header_bytes
    nz = np.flatnonzero(np.frombuffer(blob, np.uint8)[header_bytes:]) + header_bytes
    if nz.size:
        pos["last non-zero byte"] = int(nz[-1])
        pos["a middle non-zero byte"] = int(nz[np.searchsorted(nz, len(blob) // 2).clip(max=nz.size - 1)])
    return pos


def _decode_or_error(blob: bytes):
    try:
        return enec.decompress(blob)
    except EnecError as e:
        return e


@pytest.mark.parametrize("name", _ids)
def test_a_flipped_byte_is_noticed(golden_impl, name):
    """Flipping one byte of a golden blob either fails to decode (an EnecError, never a crash)
    or decodes to bytes other than the original: the golden check cannot pass on a damaged blob."""
    case = BY_NAME[name]
    blob = _blob(case)
    for what, p in _flip_positions(blob).items():
        bad = bytearray(blob)
        bad[p] ^= 0x01 if what != "version" else 0x02
        res = _decode_or_error(bytes(bad))
        if isinstance(res, torch.Tensor):
            same = (list(res.shape) == case["shape"] and str(res.dtype) == f"torch.{case['dtype']}"
                    and _decoded_sha(res) == case["input_sha256"])
            assert not same, f"{name}: flipping byte {p} ({what}) went unnoticed ({golden_impl})"


def test_a_changed_section_alignment_breaks_the_golden_bytes(monkeypatch):
    """A format change no round-trip test notices: with sections aligned to 64 instead of 32 bytes the reference
    still round-trips (so round-trip tests pass), but no longer writes the golden bytes."""
    monkeypatch.setenv("ENEC_CPU_IMPL", "reference")
    case = BY_NAME["enec-bfloat16-several-blocks"]
    x = _regenerated(case)
    with monkeypatch.context() as m:
        m.setattr(fmt, "SECTION_ALIGN", 64)
        got = enec.compress(x, codec="enec")
        assert _decoded_sha(enec.decompress(got)) == case["input_sha256"]    # still a round trip
    assert got.numpy().tobytes() != _blob(case), \
        "format.SECTION_ALIGN no longer steers the reference encoder: update this test"
