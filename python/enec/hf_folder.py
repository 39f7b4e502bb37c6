"""The `quantization_config` entry that makes a compressed model folder loadable by transformers.

`enec compress MODEL_DIR OUT_DIR` writes OUT_DIR/config.json with

    "quantization_config": {"quant_method": "enec", "format_version": 1, "keep_compressed": false}

which transformers' `from_pretrained` hands to the quantizer registered under "enec"
(enec.hf, registered on `import enec`); `enec decompress` removes it again. Plain JSON here:
no transformers import.
"""
from __future__ import annotations

import json
import os
import warnings

QUANT_METHOD = "enec"
FORMAT_VERSION = 1
CONFIG_NAME = "config.json"


def quantization_config(keep_compressed: bool = False, weights_dtype: str | None = None) -> dict:
    q = {"quant_method": QUANT_METHOD, "format_version": FORMAT_VERSION,
         "keep_compressed": bool(keep_compressed)}
    if weights_dtype is not None:
        q["weights_dtype"] = weights_dtype
    return q


def weights_dtype(folder) -> str | None:
    """The floating dtype holding most bytes among the folder's compressed tensors. transformers'
    dtype="auto" takes the dtype from config.json, or else from the first floating tensor of the
    checkpoint, which in a compressed folder is a U8 blob: the quantizer uses this instead."""
    from .checkpoint import _read_meta
    totals = {}
    for n in sorted(os.listdir(folder)):
        if n.endswith(".safetensors"):
            for info in _read_meta(os.path.join(folder, n))[0].values():
                if info["dtype"] in ("float32", "float16", "bfloat16", "float64"):
                    count = 1
                    for d in info["shape"]:
                        count *= d
                    totals[info["dtype"]] = totals.get(info["dtype"], 0) + count
    return max(totals, key=totals.get) if totals else None


def _read(folder):
    """(path of folder/config.json, whether it exists, its JSON object or None when it is
    unreadable or not a JSON object)."""
    path = os.path.join(os.fspath(folder), CONFIG_NAME)
    if not os.path.isfile(path):
        return path, False, None
    try:
        with open(path, encoding="utf-8") as f:
            cfg = json.load(f)
    except (OSError, ValueError):
        return path, True, None
    return path, True, cfg if isinstance(cfg, dict) else None


def _write(path: str, cfg: dict) -> None:
    tmp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.part")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(cfg, f, indent=2, sort_keys=True)
        f.write("\n")
    os.replace(tmp, path)


def mark_compressed(folder, keep_compressed: bool = False) -> bool:
    """Add enec's quantization_config to folder/config.json (a Hugging Face model config).
    False, with a warning, when there is no such config or it names another quantization method
    (an FP8 checkpoint, say: that one stays as it is, and the folder decompresses with
    `enec decompress` but does not load with from_pretrained)."""
    path, exists, cfg = _read(folder)
    if not exists:
        return False
    if cfg is None:
        warnings.warn(f"{path} is not a JSON object: left as it is, so transformers cannot load the folder")
        return False
    other = cfg.get("quantization_config")
    if isinstance(other, dict) and other.get("quant_method") not in (None, QUANT_METHOD):
        warnings.warn(f"{path} already names quantization method {other.get('quant_method')!r}: left as "
                      "it is, so transformers cannot load the compressed folder (enec decompress restores it)")
        return False
    keep = keep_compressed or bool(isinstance(other, dict) and other.get("keep_compressed"))
    cfg["quantization_config"] = quantization_config(keep, weights_dtype(folder))
    _write(path, cfg)
    return True


def unmark(folder) -> bool:
    """Remove enec's quantization_config from folder/config.json (after decompression)."""
    path, _, cfg = _read(folder)
    q = (cfg or {}).get("quantization_config")
    if not isinstance(q, dict) or q.get("quant_method") != QUANT_METHOD:
        return False
    del cfg["quantization_config"]
    _write(path, cfg)
    return True
