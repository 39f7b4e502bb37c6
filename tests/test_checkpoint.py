"""Compressed safetensors checkpoints and the CLI, on the real all-MiniLM-L6-v2 checkpoint."""
import os
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file as st_load
from safetensors.torch import save_file as st_save

import enec
from enec import checkpoint, testdata
from conftest import assert_bit_equal


def assert_same_state_dict(a, b):
    assert list(a) == list(b) or sorted(a) == sorted(b)
    for k in a:
        assert_bit_equal(a[k], b[k])


def test_file_roundtrip_fp32(tmp_path, minilm_fp32):
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
        assert_bit_equal(f.get_slice("embeddings.position_ids")[0:1], minilm_bf16["embeddings.position_ids"][0:1])


def test_failure_leaves_no_partial_output(tmp_path, monkeypatch):
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


def test_no_overwrite_without_force(tmp_path):
    out = tmp_path / "x.safetensors"
    out.write_bytes(b"keep me")
    with pytest.raises(FileExistsError):
        checkpoint.save_file({"w": torch.randn(10)}, out, force=False)
    assert out.read_bytes() == b"keep me"


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
