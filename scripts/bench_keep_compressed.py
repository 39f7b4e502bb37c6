#!/usr/bin/env python3
"""Weights kept compressed through transformers' from_pretrained (quantization_config
keep_compressed=True, enec.offload underneath) against the plain model: peak weight memory and
forward time, outputs checked bit for bit.

Models: all-MiniLM-L6-v2 (real weights, FP32 and derived BF16) and a larger Llama-style decoder
built from a config with random weights (BF16, std 0.02 init: a ratio on random data says little,
the memory and time columns are the point). Each model is saved as a Hugging Face folder,
compressed with `enec compress DIR OUT`, and loaded from both folders with from_pretrained.

    python scripts/bench_keep_compressed.py [--quick] [--repeats 5]
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time

import torch

import enec  # noqa: F401  (registers the "enec" quantization method with transformers)
from enec import sharded
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "support"))  # emulated, testdata
import testdata  # noqa: E402


def load_pair(model_cls, plain_dir, enec_dir):
    """(plain model, model with its weights kept compressed), both from from_pretrained."""
    import transformers
    plain = model_cls.from_pretrained(plain_dir)
    cfg = transformers.AutoConfig.from_pretrained(enec_dir)
    cfg.quantization_config["keep_compressed"] = True
    kept = model_cls.from_pretrained(enec_dir, config=cfg)
    return plain, kept


def _bits(t):
    return t.contiguous().view(torch.uint8)


def measure(model_cls, plain_dir, enec_dir, inputs: dict, repeats: int = 5) -> dict:
    """Bit-exactness, weight bytes, and median forward times (alternating: the machine may be
    shared) of the plain and the kept-compressed model."""
    plain, kept = load_pair(model_cls, plain_dir, enec_dir)
    h = kept.enec_offload
    tp, tk = [], []
    with torch.no_grad():
        want = plain(**inputs).last_hidden_state
        got = kept(**inputs).last_hidden_state           # first forward records the module order
        same = torch.equal(_bits(want), _bits(got))
        for _ in range(repeats):
            t = time.perf_counter()
            plain(**inputs)
            tp.append(time.perf_counter() - t)
            t = time.perf_counter()
            got = kept(**inputs).last_hidden_state
            tk.append(time.perf_counter() - t)
            same = same and torch.equal(_bits(want), _bits(got))
    h.end_of_forward()
    s = h.stats()
    return dict(same=same, weights=s["weights_bytes"], kept=s["host_compressed_bytes"],
                peak=s["peak_materialised_bytes"], t_plain=sorted(tp)[len(tp) // 2],
                t_kept=sorted(tk)[len(tk) // 2])


def report(name: str, r: dict) -> str:
    mb = 1e6
    return (f"{name}\n"
            f"  outputs bit-identical: {'yes' if r['same'] else 'NO'}\n"
            f"  weight memory: plain {r['weights'] / mb:.1f} MB | kept compressed {r['kept'] / mb:.1f} MB "
            f"(ratio {r['weights'] / r['kept']:.3f}) + peak decompressed {r['peak'] / mb:.1f} MB "
            f"= {(r['kept'] + r['peak']) / mb:.1f} MB ({100 * (r['kept'] + r['peak']) / r['weights']:.0f}% of plain)\n"
            f"  forward (median): plain {r['t_plain'] * 1e3:.1f} ms, kept compressed {r['t_kept'] * 1e3:.1f} ms "
            f"(+{(r['t_kept'] - r['t_plain']) * 1e3:.1f} ms, +{100 * (r['t_kept'] / r['t_plain'] - 1):.0f}%)")


def compress(plain_dir, enec_dir):
    sharded.compress_folder(plain_dir, enec_dir)       # what `enec compress DIR OUT` runs


def minilm(tmp, dtype, repeats):
    import transformers
    plain_dir = testdata.minilm_folder(os.path.join(tmp, f"minilm-{dtype}"), dtype)
    enec_dir = os.path.join(tmp, f"minilm-{dtype}-enec")
    compress(plain_dir, enec_dir)
    ids = torch.randint(0, 30522, (8, 128), generator=torch.Generator().manual_seed(0))
    return measure(transformers.BertModel, plain_dir, enec_dir,
                   {"input_ids": ids, "attention_mask": torch.ones_like(ids)}, repeats)


def llama(tmp, repeats, quick):
    """A Llama-style decoder from a config, random weights, BF16 (~240 M parameters; --quick: ~30 M)."""
    import transformers
    size = dict(hidden_size=512, intermediate_size=1408, num_hidden_layers=4, num_attention_heads=8,
                num_key_value_heads=8, vocab_size=32000) if quick else \
        dict(hidden_size=1024, intermediate_size=2816, num_hidden_layers=16, num_attention_heads=16,
             num_key_value_heads=16, vocab_size=32000)
    cfg = transformers.LlamaConfig(**size, max_position_embeddings=512, tie_word_embeddings=False)
    torch.manual_seed(0)
    model = transformers.LlamaModel(cfg).to(torch.bfloat16).eval()
    plain_dir, enec_dir = os.path.join(tmp, "llama"), os.path.join(tmp, "llama-enec")
    model.save_pretrained(plain_dir)
    n = sum(p.numel() for p in model.parameters())
    del model
    compress(plain_dir, enec_dir)
    ids = torch.randint(0, cfg.vocab_size, (1, 128), generator=torch.Generator().manual_seed(0))
    return n, measure(transformers.LlamaModel, plain_dir, enec_dir, {"input_ids": ids}, repeats)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="a small decoder instead of the ~240 M one")
    ap.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    a = ap.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; CPU: host and device memory "
          f"are one, so kept + peak is what the weights occupy")
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        for dtype in ("float32", "bfloat16"):
            r = minilm(tmp, dtype, a.repeats)
            ok &= r["same"]
            print(report(f"all-MiniLM-L6-v2 {dtype} (BertModel, batch 8 x 128 tokens)", r))
        n, r = llama(tmp, a.repeats, a.quick)
        ok &= r["same"]
        print(report(f"Llama-style decoder from a config, {n / 1e6:.0f} M parameters, random BF16 "
                     f"(LlamaModel, 1 x 128 tokens)", r))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
