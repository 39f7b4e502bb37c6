"""Compressed safetensors checkpoints and the CLI, on the real all-MiniLM-L6-v2 checkpoint."""
import os
import subprocess
import sys
import time

import pytest
import torch
from safetensors.torch import load_file as st_load
from safetensors.torch import save_file as st_save

import enec
from enec import checkpoint
import testdata
from conftest import assert_bit_equal


def assert_same_state_dict(a, b):
    assert list(a) == list(b) or sorted(a) == sorted(b)
    for k in a:
        assert_bit_equal(a[k], b[k])


def test_file_roundtrip_fp32(tmp_path, minilm_fp32):
    assert enec.checkpoint is checkpoint        # re-exported lazily
    out = tmp_path / "m.enec.safetensors"
    meta = checkpoint.compress_file(testdata.minilm_path(), out)
    assert len(meta) >= 40 and "embeddings.position_ids" not in meta
    back = checkpoint.load_file(out)
    assert_same_state_dict(back, minilm_fp32)
    assert back["embeddings.position_ids"].dtype == torch.int64
    assert os.path.getsize(out) < 0.9 * os.path.getsize(testdata.minilm_path())
    # decompress_file gives the original file back, byte for byte
    plain = tmp_path / "plain.safetensors"
    checkpoint.decompress_file(out, plain)
    assert plain.read_bytes() == testdata.minilm_path().read_bytes()


def test_state_dict_bf16_and_plain_reader(tmp_path, minilm_bf16):
    out = tmp_path / "bf16.safetensors"
    checkpoint.save_file(minilm_bf16, out, metadata={"format": "pt"})
    assert_same_state_dict(checkpoint.load_file(out), minilm_bf16)
    raw = st_load(str(out))          # any safetensors reader opens the file
    assert raw["encoder.layer.0.attention.self.query.weight"].dtype == torch.uint8
    with checkpoint.safe_open(out) as f:
        assert f.metadata() == {"format": "pt"}


def test_lazy_tensor_and_row_slices(tmp_path, minilm_bf16):
    out = tmp_path / "lazy.safetensors"
    checkpoint.save_file(minilm_bf16, out)
    name = "embeddings.word_embeddings.weight"          # 30522 x 384: many blocks
    full = minilm_bf16[name]
    with checkpoint.safe_open(out) as f:
        assert f.is_compressed(name)
        assert_bit_equal(f.get_tensor("encoder.layer.3.output.dense.weight"),
                         minilm_bf16["encoder.layer.3.output.dense.weight"])
        for a, b in [(0, 1), (100, 200), (30000, 30522), (5, 5), (-10, None)]:
            assert_bit_equal(f.get_slice(name)[a:b], full[a:b])
        assert f.get_slice(name).get_shape() == [30522, 384]
        assert f.get_slice(name).get_dtype() == "BF16"
        # safetensors-style indexing: an int or a stepped slice first, further indices after
        for idx in [7, -1, 16383, (slice(16380, 16390), slice(5, 9)), (slice(1, 40000, 7), 3),
                    (12345, slice(None, None, 2)), slice(None, 3), (Ellipsis, 0)]:
            assert_bit_equal(f.get_slice(name)[idx], full[idx])
        with pytest.raises(IndexError):
            f.get_slice(name)[30522]
        with pytest.raises(enec.EnecError):
            f.get_slice(name)[[1, 2]]
        assert_bit_equal(f.get_slice("embeddings.position_ids")[0:1], minilm_bf16["embeddings.position_ids"][0:1])
        assert_bit_equal(f.get_slice("embeddings.position_ids")[0, 5:9], minilm_bf16["embeddings.position_ids"][0, 5:9])


@pytest.mark.parametrize("tmpfile", ["O_TMPFILE", "named temporary"])
def test_failure_leaves_no_partial_output(tmp_path, monkeypatch, tmpfile):
    if tmpfile != "O_TMPFILE":
        monkeypatch.setattr(checkpoint, "_linkat", lambda: None)
    out = tmp_path / "never.safetensors"
    calls = {"n": 0}
    real = checkpoint.compress

    def failing(t, checksum=False):
        calls["n"] += 1
        if calls["n"] == 20:
            raise RuntimeError("simulated failure mid-way")
        return real(t, checksum=checksum)

    monkeypatch.setattr(checkpoint, "compress", failing)
    with pytest.raises(RuntimeError, match="simulated"):
        checkpoint.compress_file(testdata.minilm_path(), out)
    assert os.listdir(tmp_path) == []
    # a failure while writing (a blob that does not decode, half-way through the data)
    sd = {f"w{i}": torch.randn(20_000).bfloat16() for i in range(6)}
    src = tmp_path / "src.safetensors"
    checkpoint.save_file(sd, src)
    real_dec = checkpoint.DECODERS["enec"]

    def failing_dec(blob, device=None):
        calls["n"] += 1
        if calls["n"] == 4:
            raise enec.CorruptStreamError("simulated decode failure")
        return real_dec(blob, device)

    calls["n"] = 0
    monkeypatch.setitem(checkpoint.DECODERS, "enec", failing_dec)
    with pytest.raises(enec.CorruptStreamError, match="simulated"):
        checkpoint.decompress_file(src, out)
    assert os.listdir(tmp_path) == ["src.safetensors"]


def test_no_overwrite_without_force(tmp_path):
    out = tmp_path / "x.safetensors"
    out.write_bytes(b"keep me")
    for fn in (lambda: checkpoint.save_file({"w": torch.randn(10)}, out),
               lambda: checkpoint.compress_file(testdata.minilm_path(), out),
               lambda: checkpoint.atomic_write(out, b"new")):
        with pytest.raises(FileExistsError):
            fn()
        assert out.read_bytes() == b"keep me"
    checkpoint.save_file({"w": torch.randn(10)}, out, force=True)
    assert sorted(checkpoint.load_file(out)) == ["w"]
    assert sorted(os.listdir(tmp_path)) == ["x.safetensors"]


@pytest.mark.parametrize("tmpfile", ["O_TMPFILE", "named temporary"])
def test_output_created_during_the_write_is_not_replaced(tmp_path, monkeypatch, tmpfile):
    """Another process creates the output while we write: without force, ours is dropped."""
    if tmpfile != "O_TMPFILE":
        monkeypatch.setattr(checkpoint, "_linkat", lambda: None)
    out = tmp_path / "race.safetensors"

    def write(f):
        f.write(b"ours" * 1000)
        out.write_bytes(b"theirs")
    with pytest.raises(FileExistsError):
        checkpoint.atomic_write(out, write)
    assert out.read_bytes() == b"theirs" and os.listdir(tmp_path) == ["race.safetensors"]
    checkpoint.atomic_write(out, lambda f: f.write(b"forced"), force=True)
    assert out.read_bytes() == b"forced" and os.listdir(tmp_path) == ["race.safetensors"]


@pytest.mark.parametrize("tmpfile", ["O_TMPFILE", "named temporary"])
def test_failed_rename_leaves_no_temporary(tmp_path, monkeypatch, tmpfile):
    """force=True over a folder: the final rename fails, and the temporary goes with the error."""
    if tmpfile != "O_TMPFILE":
        monkeypatch.setattr(checkpoint, "_linkat", lambda: None)
    (tmp_path / "sub").mkdir()
    with pytest.raises(OSError):
        checkpoint.atomic_write(tmp_path / "sub", b"data", force=True)
    assert os.listdir(tmp_path) == ["sub"] and os.listdir(tmp_path / "sub") == []


def test_stale_temporaries_of_dead_writers_are_removed(tmp_path, monkeypatch):
    """A named temporary left by a killed writer goes on the next write into its folder; one a
    live writer may still be filling stays, and so does every other file."""
    monkeypatch.setattr(checkpoint, "_linkat", lambda: None)          # the named-temporary path
    here = checkpoint._machine()
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    dead_pid = int(dead.stdout)
    if not checkpoint._process_gone(dead_pid):                          # pid reused meanwhile
        pytest.skip("the dead writer's pid runs again")
    old = time.time() - checkpoint.STALE_TEMP_SECONDS - 60
    names = {f".enec-{dead_pid}@{here}@a1.tmp": (None, False),          # this machine, dead writer
             f".enec-{os.getpid()}@{here}@b2.tmp": (old, True),         # live writer, even if quiet
             f".enec-{dead_pid}@elsewhere:1@c3.tmp": (None, True),      # other machine, fresh
             f".enec-{dead_pid}@elsewhere:1@d4.tmp": (old, False),      # other machine, stale
             ".enec-oldstyle.tmp": (old, False),                        # no writer recorded, stale
             ".enec-fresh.tmp": (None, True),
             "notes.tmp": (old, True), ".enec-notes.txt": (old, True), "x.safetensors": (old, True)}
    for name, (mtime, _) in names.items():
        (tmp_path / name).write_bytes(b"half")
        if mtime is not None:
            os.utime(tmp_path / name, (mtime, mtime))
    (tmp_path / ".enec-dir.tmp").mkdir()                                # not a file: left alone
    checkpoint.atomic_write(tmp_path / "out.bin", b"whole")
    kept = sorted(n for n, (_, keep) in names.items() if keep)
    assert sorted(os.listdir(tmp_path)) == sorted(kept + [".enec-dir.tmp", "out.bin"])
    assert (tmp_path / "out.bin").read_bytes() == b"whole"


def test_named_temporary_records_its_writer(tmp_path, monkeypatch):
    """The fallback writes under a name the sweep reads back as this process on this machine."""
    monkeypatch.setattr(checkpoint, "_linkat", lambda: None)
    seen = []

    def write(f):
        seen.extend(n for n in os.listdir(tmp_path) if n.startswith(".enec-"))
        f.write(b"data")
    checkpoint.atomic_write(tmp_path / "o.bin", write)
    assert len(seen) == 1, seen
    m = checkpoint._TMP_NAME.fullmatch(seen[0])
    assert m and int(m.group(1)) == os.getpid() and m.group(2) == checkpoint._machine()
    assert os.listdir(tmp_path) == ["o.bin"]


def test_writer_matches_safetensors_bytes(tmp_path):
    """The streaming writer lays files out exactly as safetensors' own serializer does."""
    from safetensors.torch import save as st_bytes
    g = torch.Generator().manual_seed(1)
    d = {}
    for i, (tname, _) in enumerate(checkpoint._ST_NAMES):
        dt = getattr(torch, tname)
        x = torch.randint(0, 100, (3, i + 1), generator=g)
        d[f"{'zay'[i % 3]}.{i}"] = (x > 50) if dt == torch.bool else x.to(dt)
    d.update({"empty": torch.zeros(0, 4), "scalar": torch.tensor(2.5, dtype=torch.float64),
              "strided": torch.randn(4, 6, generator=g)[:, ::2], "naïve": torch.arange(3)})
    for md in (None, {"format": "pt"}):
        out = tmp_path / f"w{md is None}.safetensors"
        checkpoint.atomic_write(out, lambda f: checkpoint._write_safetensors(
            f, [checkpoint._entry_of(k, v) for k, v in d.items()], md))
        assert out.read_bytes() == st_bytes({k: v.contiguous() for k, v in d.items()}, metadata=md)


def test_shared_storage_and_other_dtypes(tmp_path):
    """Views of one storage (safetensors' own writer refuses them) and dtypes without a codec."""
    base = torch.randn(64, 1000).bfloat16()
    ids = torch.arange(20)
    sd = {"a": base[:32], "b": base[32:], "tied": base, "i0": ids[:10], "i1": ids[10:],
          "f64": torch.randn(300, dtype=torch.float64), "flag": torch.rand(77) > 0.5,
          "noise": torch.randint(0, 2**31 - 1, (5000,), dtype=torch.int32).view(torch.float32),
          "e": torch.zeros(0, 3).half(), "s": torch.tensor(1.5)}
    out = tmp_path / "shared.safetensors"
    meta = checkpoint.save_file(sd, out)
    assert {"a", "b", "tied"} <= set(meta) and not {"i0", "f64", "flag", "e", "s"} & set(meta)
    back = checkpoint.load_file(out)
    assert sorted(back) == sorted(sd)
    for k in sd:
        assert_bit_equal(back[k], sd[k].contiguous())


def test_bad_metadata_is_reported(tmp_path):
    import json
    from safetensors import safe_open
    out = tmp_path / "m.safetensors"
    checkpoint.save_file({"w": torch.randn(20_000).bfloat16(), "i": torch.arange(4)}, out)
    with safe_open(str(out), framework="pt") as f:
        md = f.metadata()
    sd = st_load(str(out))
    cases = {"codec": (lambda m: m["tensors"]["w"].update(codec="fp8-future"), checkpoint.UnknownCodecError),
             "not u8": (lambda m: m["tensors"].update(i={"codec": "enec", "dtype": "int64", "shape": [4]}),
                        enec.CorruptStreamError),
             "dtype": (lambda m: m["tensors"]["w"].update(dtype="float16"), enec.CorruptStreamError),
             "shape": (lambda m: m["tensors"]["w"].update(shape=[10, 2000]), enec.CorruptStreamError),
             "bad dtype": (lambda m: m["tensors"]["w"].update(dtype="nonsense"), enec.CorruptStreamError),
             "version": (lambda m: m.update(version=99), enec.CorruptStreamError)}
    for what, (edit, err) in cases.items():
        m = json.loads(md["enec"])
        edit(m)
        bad = tmp_path / "bad.safetensors"
        st_save(sd, str(bad), metadata=dict(md, enec=json.dumps(m)))
        with pytest.raises(err):
            checkpoint.load_file(bad)
        with pytest.raises(err):
            checkpoint.decompress_file(bad, tmp_path / "plain.safetensors")
        assert not (tmp_path / "plain.safetensors").exists(), what


def test_corrupt_compressed_tensor_is_reported(tmp_path):
    out = tmp_path / "c.safetensors"
    w = torch.randn(50_000).bfloat16()
    checkpoint.save_file({"w": w}, out)
    sd = st_load(str(out))
    sd["w"] = sd["w"][:-3].clone()                        # truncate the blob inside the file
    from safetensors import safe_open
    with safe_open(str(out), framework="pt") as f:
        md = f.metadata()
    st_save(sd, str(out), metadata=md)
    with pytest.raises(enec.CorruptStreamError):
        checkpoint.load_file(out)


def test_not_a_safetensors_file_is_named(tmp_path):
    """safetensors' own errors (no file name) become an EnecError naming the file."""
    from enec.errors import EnecError, InvalidCheckpointError
    bad = tmp_path / "not-a-safetensors"
    bad.write_bytes(b"this is a text file, not a checkpoint\n" * 3)
    calls = {"load_file": lambda: checkpoint.load_file(bad),
             "safe_open": lambda: checkpoint.safe_open(bad),
             "compress_file": lambda: checkpoint.compress_file(bad, tmp_path / "o1"),
             "decompress_file": lambda: checkpoint.decompress_file(bad, tmp_path / "o2")}
    for what, call in calls.items():
        with pytest.raises(InvalidCheckpointError) as e:
            call()
        assert isinstance(e.value, EnecError) and str(bad) in str(e.value), what
        assert "not a valid safetensors file" in str(e.value), what
    assert sorted(p.name for p in tmp_path.iterdir()) == ["not-a-safetensors"]
