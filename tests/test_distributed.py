"""enec.distributed on 2-4 local ranks (gloo): bit-exact results on every rank, bytes actually
sent (counted at the torch.distributed API) equal to the compressed sizes, and a failing or dying
rank turning into an error on every rank instead of a hang."""
import math
import os
import time

import pytest
import torch
import xxhash

import enec
import dist_harness
from dist_harness import COUNTER, launch, values


def digest(t: torch.Tensor) -> list:
    """dtype, shape and an XXH64 of the bit pattern: equal digests <=> bit-identical tensors."""
    t = t.detach().cpu().contiguous()
    raw = t.reshape(-1).view(torch.uint8) if t.numel() else torch.empty(0, dtype=torch.uint8)
    return [str(t.dtype), list(t.shape), xxhash.xxh64_hexdigest(raw.numpy().tobytes())]


def special_fp16() -> dict:
    """Edge cases: NaN payloads, infinities, signed zeros, subnormals, 0-dim, empty, raw dtypes."""
    g = torch.Generator().manual_seed(7)
    bits = torch.randint(-32768, 32767, (5000,), generator=g, dtype=torch.int16)
    special = torch.tensor([0x7C01, 0x7E00, 0xFE01 - 65536, 0x7C00, 0xFC00 - 65536, 0x0000,
                            0x8000 - 65536, 0x0001, 0x83FF - 65536], dtype=torch.int16)
    return {
        "fp16_random_bits": bits.view(torch.float16).reshape(50, 100),
        "fp16_special": special.view(torch.float16),
        "bf16_scalar": torch.tensor(-1.5, dtype=torch.bfloat16),
        "fp32_empty": torch.empty(0, 3, dtype=torch.float32),
        "fp32_strided": torch.randn(64, 32, generator=g).t(),
        "int64_ids": torch.arange(512).reshape(1, 512),
        "bool_mask": torch.rand(33, generator=g) > 0.5,
        "fp64": torch.randn(10, generator=g, dtype=torch.float64),
        # quantized weights travel through their codecs (QLC, APack), not raw
        "int8_weights": (torch.randn(2500, generator=g) * 20).round().clamp(-127, 127).to(torch.int8),
        "uint8_weights": (torch.randn(1200, generator=g) * 9 + 128).round().clamp(0, 255).to(torch.uint8),
        "fp8_weights": (torch.randn(40, 60, generator=g) * 0.5).to(torch.float8_e4m3fn),
        "fp8_e5m2_weights": torch.randn(900, generator=g).to(torch.float8_e5m2),
    }


def shard_of(rank: int, world: int, dtype=torch.bfloat16) -> torch.Tensor:
    """A deterministic flat shard per rank, uneven lengths, the last rank's possibly empty."""
    n = 0 if (rank == world - 1 and world > 2) else 150_000 + 7_919 * rank
    g = torch.Generator().manual_seed(100 + rank)
    return (torch.randn(n, generator=g) * 0.02).to(dtype)


def int8_shard_of(rank: int, world: int) -> torch.Tensor:
    return (shard_of(rank, world, torch.float32) * 1000).round().clamp(-127, 127).to(torch.int8)


class Net(torch.nn.Module):
    def __init__(self, seed):
        super().__init__()
        torch.manual_seed(seed)
        self.fc1 = torch.nn.Linear(64, 256)
        self.norm = torch.nn.LayerNorm(256)
        self.fc2 = torch.nn.Linear(256, 64)
        self.register_buffer("steps", torch.tensor([seed], dtype=torch.int64))
        self.to(torch.bfloat16)


def _main_scenario(rank, world):
    import enec.distributed as ed
    import testdata
    out = {}

    def sent_during(fn):
        before = COUNTER.sent
        value = fn()
        return value, COUNTER.sent - before

    sd = testdata.minilm_state_dict("bfloat16") if rank == 0 else None
    (got, st), sent = sent_during(lambda: ed.broadcast_state_dict(sd, src=0, return_stats=True))
    out["minilm"] = {"digests": {k: digest(v) for k, v in got.items()},
                     "stats": vars(st), "sent": sent}
    (_, st), sent = sent_during(lambda: ed.broadcast_state_dict(sd, src=0, compress=False,
                                                               return_stats=True))
    out["minilm_plain"] = {"stats": vars(st), "sent": sent}

    src = world - 1                         # a non-zero source, small buckets, odd dtypes
    sd = special_fp16() if rank == src else None
    (got, st), sent = sent_during(lambda: ed.broadcast_state_dict(sd, src=src, bucket_bytes=4096,
                                                               chunk_numel=1000, return_stats=True))
    out["special"] = {"digests": {k: digest(v) for k, v in got.items()}, "stats": vars(st),
                      "sent": sent}

    net = Net(seed=rank)
    st = ed.broadcast_module(net, src=0, return_stats=True)
    out["module"] = {"digests": {k: digest(v) for k, v in net.state_dict().items()}}

    (full, st), sent = sent_during(lambda: ed.all_gather_flat(shard_of(rank, world), bucket_numel=40_000,
                                                          chunk_numel=15_000, return_stats=True))
    out["gather"] = {"digest": digest(full), "stats": vars(st), "sent": sent}
    (full, st), sent = sent_during(lambda: ed.all_gather_flat(shard_of(rank, world), compress=False,
                                                          return_stats=True))
    out["gather_plain"] = {"digest": digest(full), "stats": vars(st), "sent": sent}
    full = ed.all_gather_flat(shard_of(rank, world, torch.float32).to(torch.int32), bucket_numel=50_000)
    out["gather_int32"] = {"digest": digest(full)}
    full, st = ed.all_gather_flat(int8_shard_of(rank, world), bucket_numel=50_000, chunk_numel=20_000,
                                  return_stats=True)
    out["gather_int8"] = {"digest": digest(full), "stats": vars(st)}

    if world > 2:                           # a sub-group that leaves rank 0 out
        sub = torch.distributed.new_group(list(range(1, world)))
        if rank >= 1:
            sd = special_fp16() if rank == 1 else None
            got = ed.broadcast_state_dict(sd, src=1, group=sub)
            out["subgroup"] = {k: digest(v) for k, v in got.items()}
    torch.distributed.barrier()             # rank 0 hosts the store: nobody leaves early
    return out


def _blob_bytes(tensors, chunk=1 << 20) -> int:
    """What enec.distributed should send: each tensor of a dtype enec codes (BF16/FP16/FP32,
    FP8, INT8/UINT8) as one blob, or one blob per chunk of `chunk` elements when larger; other
    tensors raw."""
    total = 0
    coded = (torch.bfloat16, torch.float16, torch.float32, torch.float8_e4m3fn, torch.float8_e5m2,
             torch.int8, torch.uint8)
    for t in tensors:
        if t.dtype not in coded or t.numel() == 0:
            total += t.numel() * t.element_size()
        elif t.numel() <= chunk:
            total += enec.compress(t).numel()
        else:
            total += sum(enec.compress(c).numel() for c in t.reshape(-1).split(chunk))
    return total


@pytest.mark.parametrize("world", [2, 4])
def test_broadcast_and_all_gather_bit_exact_and_bytes(world, tmp_path, minilm_bf16):
    results, _ = launch(_main_scenario, world, tmp_path)
    vals = values(results)

    # --- broadcast of MiniLM (BF16): bit-exact everywhere, the wire carries the blobs ---------
    want = {k: digest(v) for k, v in minilm_bf16.items()}
    blobs = _blob_bytes(minilm_bf16.values())
    original = sum(t.numel() * t.element_size() for t in minilm_bf16.values())
    for r, v in enumerate(vals):
        assert v["minilm"]["digests"] == want, f"rank {r} got different bits"
    src = vals[0]["minilm"]
    assert src["stats"]["payload_bytes"] == blobs
    assert src["stats"]["original_bytes"] == original
    total_sent = sum(v["minilm"]["sent"] for v in vals)
    # what went into torch.distributed is the payload plus a little control traffic
    assert total_sent == src["stats"]["payload_bytes"] + sum(v["minilm"]["stats"]["control_bytes"]
                                                             for v in vals)
    assert total_sent - blobs < 16_384
    for r, v in enumerate(vals[1:], 1):
        assert v["minilm"]["stats"]["received_payload_bytes"] == blobs
    plain_sent = sum(v["minilm_plain"]["sent"] for v in vals)
    assert vals[0]["minilm_plain"]["stats"]["payload_bytes"] == original
    assert total_sent <= plain_sent / 1.33, (total_sent, plain_sent)

    # --- edge cases from a non-zero source with tiny buckets ---------------------------------
    sd = special_fp16()
    want = {k: digest(v) for k, v in sd.items()}
    for r, v in enumerate(vals):
        assert v["special"]["digests"] == want, f"rank {r}"
    s = vals[world - 1]["special"]
    assert s["stats"]["payload_bytes"] == _blob_bytes(sd.values(), chunk=1000)
    assert s["stats"]["buckets"] > 3
    assert sum(v["special"]["sent"] for v in vals) == s["stats"]["payload_bytes"] + sum(
        v["special"]["stats"]["control_bytes"] for v in vals)

    # --- module broadcast: every rank ends with rank 0's weights and buffers ------------------
    want = {k: digest(v) for k, v in Net(seed=0).state_dict().items()}
    for r, v in enumerate(vals):
        assert v["module"]["digests"] == want, f"rank {r}"

    # --- all-gather: exact concatenation; each rank sends exactly its compressed buckets ------
    shards = [shard_of(r, world) for r in range(world)]
    want = digest(torch.cat(shards))
    for r, v in enumerate(vals):
        assert v["gather"]["digest"] == want, f"rank {r}"
        assert v["gather_plain"]["digest"] == want, f"rank {r}"
        pieces = [c for b in shards[r].split(40_000) for c in b.split(15_000)]
        assert v["gather"]["stats"]["payload_bytes"] == _blob_bytes(pieces)
        assert v["gather"]["sent"] == v["gather"]["stats"]["payload_bytes"] + v["gather"]["stats"]["control_bytes"]
        assert v["gather"]["stats"]["received_payload_bytes"] == sum(
            _blob_bytes([c for b in shards[q].split(40_000) for c in b.split(15_000)])
            for q in range(world) if q != r)
        assert v["gather_plain"]["stats"]["payload_bytes"] == shards[r].numel() * 2
    sent = sum(v["gather"]["sent"] for v in vals)
    plain = sum(v["gather_plain"]["sent"] for v in vals)
    assert sent <= plain / 1.33, (sent, plain)
    want = digest(torch.cat([shard_of(r, world, torch.float32).to(torch.int32) for r in range(world)]))
    assert all(v["gather_int32"]["digest"] == want for v in vals)
    int8 = [int8_shard_of(r, world) for r in range(world)]
    want = digest(torch.cat(int8))
    for r, v in enumerate(vals):
        assert v["gather_int8"]["digest"] == want, f"rank {r}"
        pieces = [c for b in int8[r].split(50_000) for c in b.split(20_000)]
        sent = v["gather_int8"]["stats"]["payload_bytes"]
        assert sent == _blob_bytes(pieces)
        assert sent < int8[r].numel() or int8[r].numel() == 0       # compressed, not raw

    if world > 2:
        want = {k: digest(v) for k, v in special_fp16().items()}
        for r, v in enumerate(vals[1:], 1):
            assert v["subgroup"] == want, f"rank {r}"


# ------------------------------------------------------------------------------------------------
# Failures: every rank raises TransferError, nobody hangs
# ------------------------------------------------------------------------------------------------

def _many_tensors(n=24):
    g = torch.Generator().manual_seed(3)
    return {f"w{i}": (torch.randn(3000, generator=g) * 0.05).bfloat16() for i in range(n)}


def _decoder_fails_on_rank(rank, world, bad_rank, mode):
    """bad_rank's decoder breaks on its 3rd tensor: by raising, or by the process dying."""
    import enec.distributed as ed
    if rank == bad_rank:
        real, calls = ed._decompress_one, [0]

        def broken(blob, device):
            calls[0] += 1
            if calls[0] == 3:
                if mode == "die":
                    os._exit(3)
                raise RuntimeError("injected decoder fault")
            return real(blob, device)
        ed._decompress_one = broken
    sd = _many_tensors() if rank == 0 else None
    ed.broadcast_state_dict(sd, src=0, bucket_bytes=12_000, timeout=60)
    return "returned normally"


def _check_all_raise(results, failed_rank, died=False):
    for r, res in enumerate(results):
        if died and r == failed_rank:
            assert res is None                      # it really died, before writing anything
            continue
        assert res is not None and res.get("error") == "TransferError", (r, res)
        if r != failed_rank and not died:
            assert f"rank {failed_rank} failed" in res["message"], res["message"]


def test_rank_dying_midway_fails_every_rank(tmp_path):
    # a dead rank never acknowledges the error: keep the others' wait for it short
    results, codes = launch(_decoder_fails_on_rank, 3, tmp_path, args=(1, "die"),
                            env={"ENEC_DIST_LINGER": "1"})
    assert codes[1] == 3
    _check_all_raise(results, 1, died=True)


def _capture(fn):
    try:
        return {"value": fn()}
    except Exception as e:                          # noqa: BLE001 - reported to the parent
        return {"error": type(e).__name__, "message": str(e)}


def _failures(rank, world):
    """Three failures in one job, each in a fresh process group (the one before is broken):
    a receiver's decoder raising mid-way, the source's compressor raising, a rank that never
    joins an all-gather."""
    import torch.distributed as dist
    import enec.distributed as ed
    out = {}

    real_dec, calls = ed._decompress_one, [0]
    if rank == 2:
        def broken_dec(blob, device):
            calls[0] += 1
            if calls[0] == 3:
                raise RuntimeError("injected decoder fault")
            return real_dec(blob, device)
        ed._decompress_one = broken_dec
    sd = _many_tensors() if rank == 0 else None
    out["decoder"] = _capture(lambda: ed.broadcast_state_dict(sd, src=0, bucket_bytes=12_000, timeout=60)
                              and "returned normally")
    ed._decompress_one = real_dec

    g = dist.new_group(list(range(world)))
    real_enc, calls = ed._compress_one, [0]
    if rank == 0:
        def broken_enc(t):
            calls[0] += 1
            if calls[0] == 5:
                raise MemoryError("injected compressor fault")
            return real_enc(t)
        ed._compress_one = broken_enc
    out["source"] = _capture(lambda: ed.broadcast_state_dict(sd, src=0, group=g, bucket_bytes=12_000,
                                                             timeout=60) and "returned normally")
    ed._compress_one = real_enc

    g = dist.new_group(list(range(world)))
    if rank == 1:
        time.sleep(3.5)
        out["absent"] = {"value": "skipped"}
    else:
        out["absent"] = _capture(lambda: ed.all_gather_flat(shard_of(rank, world), group=g, timeout=2)
                                 is not None and "returned normally")
    return out


def test_failing_ranks_fail_every_rank(tmp_path):
    vals = values(launch(_failures, 3, tmp_path, env={"ENEC_DIST_LINGER": "1"})[0])
    # a receiver's decoder raises mid-way: every rank raises, naming rank 2 and its error
    _check_all_raise([v["decoder"] for v in vals], 2)
    assert all("injected decoder fault" in v["decoder"]["message"] for v in vals)
    # the source's compressor raises before the fourth bucket
    _check_all_raise([v["source"] for v in vals], 0)
    assert all("MemoryError: injected compressor fault" in v["source"]["message"] for v in vals)
    # a peer that never shows up: the others give up after their timeout
    assert vals[1]["absent"]["value"] == "skipped"
    for r in (0, 2):
        assert vals[r]["absent"]["error"] == "TransferError"
        assert "timed out after 2 s" in vals[r]["absent"]["message"], vals[r]["absent"]["message"]
