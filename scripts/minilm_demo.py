#!/usr/bin/env python3
"""The main job on real weights: all-MiniLM-L6-v2 (FP32 as shipped, and BF16 derived by RNE).

1. compress each checkpoint with the `enec` CLI, 2. verify every tensor bit for bit,
3. print the ratio next to zstd's (level 3) on the same file, 4. write the model as a Hugging Face
folder, `enec compress` it, load it with transformers.BertModel.from_pretrained and check the
outputs bit for bit against the uncompressed folder, 5. load it again with the weights kept
compressed (decompressed module by module during the forward pass): equal outputs, weight-memory
saving, overhead per forward.
"""
import os
import subprocess
import sys
import tempfile

import torch

import enec  # noqa: F401  (registers the "enec" quantization method with transformers)
from enec import checkpoint
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "support"))  # emulated, testdata
import testdata  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_keep_compressed import measure, report  # noqa: E402


def zstd_ratio(path):
    data = open(path, "rb").read()
    try:
        import zstandard
        return "zstd-3", len(data) / len(zstandard.ZstdCompressor(level=3).compress(data))
    except ImportError:
        import zlib
        return "zlib-6 (zstandard not installed)", len(data) / len(zlib.compress(data, 6))


def enec_cli(*args):
    subprocess.run([sys.executable, "-m", "enec.cli", *args], check=True)


def bits(t):
    return t.contiguous().view(torch.uint8)


def main():
    import transformers
    src = testdata.minilm_path()
    print(f"all-MiniLM-L6-v2: {src}")
    ids = torch.randint(0, 30522, (8, 128), generator=torch.Generator().manual_seed(0))
    mask = torch.ones_like(ids)
    mask[1, 100:] = 0                                    # a padded sentence
    with tempfile.TemporaryDirectory() as tmp:
        print("checkpoint files (enec compress FILE OUT):")
        files = {"float32": str(src)}
        bf16 = os.path.join(tmp, "minilm-bf16.safetensors")
        from safetensors.torch import save_file
        save_file(testdata.minilm_state_dict("bfloat16"), bf16)
        files["bfloat16"] = bf16
        for dtype, path in files.items():
            out = os.path.join(tmp, f"minilm-{dtype}.enec.safetensors")
            enec_cli("compress", path, out)
            orig = testdata.minilm_state_dict(dtype)
            back = checkpoint.load_file(out)
            bad = [k for k in orig if not torch.equal(bits(orig[k]), bits(back[k]))]
            if bad or set(orig) != set(back):
                raise SystemExit(f"verification FAILED for {dtype}: {bad[:5]}")
            zname, zr = zstd_ratio(path)
            r = os.path.getsize(path) / os.path.getsize(out)
            print(f"  {dtype:8s}: {len(orig)} tensors bit-exact; file ratio enec {r:.4f} vs {zname} {zr:.4f}")

        print(f"Hugging Face folders (enec compress DIR OUT; transformers {transformers.__version__} "
              f"BertModel.from_pretrained):")
        for dtype in ("float32", "bfloat16"):
            plain_dir = testdata.minilm_folder(os.path.join(tmp, f"hf-{dtype}"), dtype)
            enec_dir = os.path.join(tmp, f"hf-{dtype}-enec")
            enec_cli("compress", str(plain_dir), enec_dir)
            plain = transformers.BertModel.from_pretrained(plain_dir)
            model = transformers.BertModel.from_pretrained(enec_dir)
            with torch.no_grad():
                want = plain(input_ids=ids, attention_mask=mask)
                got = model(input_ids=ids, attention_mask=mask)
            same = all(torch.equal(bits(want[k]), bits(got[k])) for k in ("last_hidden_state", "pooler_output"))
            m = mask[..., None].to(got.last_hidden_state.dtype)   # sentence embeddings, as sentence-transformers
            emb = (got.last_hidden_state * m).sum(1) / m.sum(1)
            print(f"  {dtype:8s}: {model.dtype}, outputs bit-identical to the plain folder: "
                  f"{'yes' if same else 'NO'}; sentence embedding 0 starts {emb[0, :3].float().tolist()}")
            if not same:
                raise SystemExit("outputs of the compressed folder differ")
            r = measure(transformers.BertModel, plain_dir, enec_dir,
                        {"input_ids": ids, "attention_mask": mask})
            print("  " + report(f"{dtype}, weights kept compressed (keep_compressed=True):", r)
                  .replace("\n", "\n  "))
            if not r["same"]:
                raise SystemExit("outputs with the weights kept compressed differ")
    print("  (here the 'device' is the CPU, so host and device memory are one: on an accelerator the\n"
          "   device holds only the peak decompressed modules; the largest is the word embedding.)")


if __name__ == "__main__":
    main()
