"""Parallel compression of a Hugging Face style sharded checkpoint folder: local worker
processes and a real torchrun job give the same, equally sharded compressed folder, which loads
lazily and decompresses back bit-exact; a bad shard fails the whole job on every rank."""
import json
import os
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file, save_file

from enec import cli, sharded
from enec.sharded import INDEX_NAME, ShardedError

from conftest import assert_bit_equal
from dist_harness import free_port

SHARDS = 3


def make_folder(path, sd: dict, shards: int = SHARDS):
    """Split sd over `shards` safetensors files in order, write the index and a config.json."""
    os.makedirs(path, exist_ok=True)
    names = list(sd)
    weight_map, total = {}, 0
    for s in range(shards):
        fname = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
        part = {k: sd[k].contiguous() for k in names[s::shards]}
        save_file(part, os.path.join(path, fname), metadata={"format": "pt"})
        for k, v in part.items():
            weight_map[k] = fname
            total += v.numel() * v.element_size()
    with open(os.path.join(path, INDEX_NAME), "w") as f:
        json.dump({"metadata": {"total_size": total}, "weight_map": weight_map}, f)
    with open(os.path.join(path, "config.json"), "w") as f:
        json.dump({"model_type": "bert", "hidden_size": 384}, f)
    return weight_map


@pytest.fixture(scope="module")
def hf_folder(tmp_path_factory, minilm_bf16):
    root = tmp_path_factory.mktemp("hf")
    wm = make_folder(root / "plain", minilm_bf16)
    return root, wm


def _shard_files(folder):
    return sorted(n for n in os.listdir(folder) if n.endswith(".safetensors"))


def test_assignment_is_disjoint_balanced_and_deterministic():
    sizes = {f"f{i}": s for i, s in enumerate([90, 10, 50, 50, 30, 70, 20])}
    parts = sharded.assign_files(sizes, 3)
    assert sorted(n for p in parts for n in p) == sorted(sizes)
    loads = [sum(sizes[n] for n in p) for p in parts]
    assert max(loads) - min(loads) <= max(sizes.values())
    assert parts == sharded.assign_files(dict(reversed(list(sizes.items()))), 3)
    assert sharded.assign_files({"a": 1}, 4) == [["a"], [], [], []]


def test_local_workers_roundtrip_and_lazy_load(hf_folder, minilm_bf16, tmp_path, capsys):
    root, wm = hf_folder
    out = tmp_path / "enec"
    rep = sharded.compress_folder(root / "plain", out, workers=2)
    assert rep.workers == 2 and sorted(f["file"] for f in rep.files) == _shard_files(root / "plain")
    assert _shard_files(out) == _shard_files(root / "plain")          # equally sharded
    assert rep.ratio > 1.3, rep.ratio
    for f in rep.files:
        assert os.path.getsize(out / f["file"]) == f["out_bytes"] < f["in_bytes"]
    index = json.loads((out / INDEX_NAME).read_text())
    assert index["weight_map"] == wm
    assert index["metadata"]["enec"]["compressed_size"] == rep.out_bytes
    # config.json: the plain one plus the quantization_config transformers loads the folder by
    conf = json.loads((out / "config.json").read_text())
    assert conf.pop("quantization_config") == {"quant_method": "enec", "format_version": 1,
                                               "keep_compressed": False, "weights_dtype": "bfloat16"}
    assert conf == json.loads((root / "plain" / "config.json").read_text())

    with pytest.raises(ShardedError, match="already holds"):      # checked before any work
        sharded.compress_folder(root / "plain", out, workers=2)

    lazy = sharded.load_folder(out)
    assert sorted(lazy) == sorted(minilm_bf16)
    for k in list(minilm_bf16)[::7]:
        assert_bit_equal(lazy[k], minilm_bf16[k])

    assert lazy.get_slice(k)[1:3].shape[0] == min(3, minilm_bf16[k].shape[0]) - 1
    assert_bit_equal(lazy.get_slice("embeddings.word_embeddings.weight")[100:104],
                     minilm_bf16["embeddings.word_embeddings.weight"][100:104])

    back = tmp_path / "back"                          # through the enec command line, in-process
    assert cli.main(["decompress", str(out), str(back)]) == 0
    assert "decompressed 3 shard(s)" in capsys.readouterr().out
    got = {}
    for n in _shard_files(back):
        got.update(load_file(str(back / n)))
    assert sorted(got) == sorted(minilm_bf16)
    for k, v in minilm_bf16.items():
        assert_bit_equal(got[k], v)
    index2 = json.loads((back / INDEX_NAME).read_text())
    assert index2["weight_map"] == wm and "enec" not in index2["metadata"]
    assert json.loads((back / "config.json").read_text()) == json.loads((root / "plain" / "config.json").read_text())


def test_bad_shard_fails_with_its_name(hf_folder, tmp_path):
    root, _ = hf_folder
    bad = tmp_path / "bad"
    bad.mkdir()
    for n in os.listdir(root / "plain"):
        (bad / n).write_bytes((root / "plain" / n).read_bytes())
    victim = _shard_files(bad)[1]
    (bad / victim).write_bytes(b"\x00" * 64)
    with pytest.raises(ShardedError, match=victim):      # in-process (the pool path: torchrun test)
        sharded.compress_folder(bad, tmp_path / "out", workers=1)
    assert not (tmp_path / "out" / INDEX_NAME).exists()


def _parsed(path):
    """A safetensors file as (header JSON, data bytes): safetensors writes the metadata map in
    per-process hash order, so equal files need not be equal byte for byte."""
    raw = open(path, "rb").read()
    n = int.from_bytes(raw[:8], "little")
    return json.loads(raw[8:8 + n]), raw[8 + n:]


DRIVER = """
import json, os, sys
import torch.distributed as dist
from enec import sharded
good, good_out, bad, bad_out, report = sys.argv[1:6]
dist.init_process_group("gloo")            # env:// from torchrun
res = {}
for key, src, dst in (("good", good, good_out), ("bad", bad, bad_out)):
    try:
        # the command line's body; compress_folder sees WORLD_SIZE and splits across the ranks
        sharded.run_cli("compress", src, dst)
        res[key] = "ok"
    except sharded.ShardedError as e:
        res[key] = "ShardedError: " + str(e)
with open(os.path.join(report, "rank%s.json" % os.environ["RANK"]), "w") as f:
    json.dump(res, f)
dist.barrier()
dist.destroy_process_group()
"""


def test_torchrun_job_matches_local_and_fails_on_every_rank(hf_folder, tmp_path):
    root, wm = hf_folder
    local = tmp_path / "local"
    sharded.compress_folder(root / "plain", local, workers=1)

    bad = tmp_path / "bad"                          # one shard on one rank is garbage
    bad.mkdir()
    for n in os.listdir(root / "plain"):
        (bad / n).write_bytes((root / "plain" / n).read_bytes())
    victim = _shard_files(bad)[0]
    (bad / victim).write_bytes(b"garbage")

    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    report = tmp_path / "report"
    report.mkdir()
    dist_out = tmp_path / "dist"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
           "--master-port", str(free_port()), str(driver),
           str(root / "plain"), str(dist_out), str(bad), str(tmp_path / "bad-out"), str(report)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "with 2 rank(s)" in r.stdout

    # the good folder: the same files as the local run, whoever wrote them
    assert _shard_files(dist_out) == _shard_files(local)
    for n in _shard_files(local):
        assert _parsed(dist_out / n) == _parsed(local / n), n
    assert json.loads((dist_out / INDEX_NAME).read_text()) == json.loads((local / INDEX_NAME).read_text())
    assert (dist_out / "config.json").exists()

    # the bad folder: every rank raised, naming the shard; no index was written
    for rank in (0, 1):
        res = json.loads((report / f"rank{rank}.json").read_text())
        assert res["good"] == "ok"
        assert res["bad"].startswith(f"ShardedError: compress failed for 1 shard(s): {victim}"), res["bad"]
    assert not (tmp_path / "bad-out" / INDEX_NAME).exists()
