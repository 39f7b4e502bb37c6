"""Generator of the golden blobs in tests/golden/v1/ and their manifest.

The golden blobs pin the bytes of format version 1 (docs/FORMAT.md): tests/test_golden.py decodes
every one of them with every CPU implementation and re-encodes the regenerated input to the same
bytes. They were written once by this script, with the numpy reference implementation.

When regenerating is allowed: only together with a format version bump (docs/FORMAT.md §8,
format.VERSION). Then write the new blobs beside the old ones (tests/golden/v<N>/, a new manifest)
and keep the v1 blobs and their test: a newer decoder must still read version-1 blobs. Never
regenerate v1 to make a failing golden test pass: that failure is a format change.

    PYTHONPATH=python python tests/golden/make_golden.py            # check: rebuild in memory, compare
    PYTHONPATH=python python tests/golden/make_golden.py --write    # write VERSION_DIR/ (blobs and
                                                                    # manifest.json); refuses if it exists

The inputs come from a self-contained generator (splitmix64 over a per-case seed, integer and
exactly rounded float arithmetic only), so no numpy or torch RNG version can change them; the
manifest holds the SHA-256 of each input's bytes, which the test checks before anything else.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
VERSION_DIR = "v1"                 # a format version bump adds "v2" (and keeps v1)
MANIFEST = os.path.join(HERE, VERSION_DIR, "manifest.json")

# Which dtypes each codec takes (docs/FORMAT.md §7, dtype table). Written out here, not read from
# enec, so that a codec silently dropping a dtype shows up as a failing golden test.
CODEC_DTYPES = {
    "enec": ("bfloat16", "float16", "float32"),
    "qlc": ("float8_e4m3fn", "float8_e5m2", "int8", "uint8"),
    "apack": ("float8_e4m3fn", "float8_e5m2", "int8", "uint8"),
    "sparse": ("bfloat16", "float16", "float32", "float8_e4m3fn", "float8_e5m2", "int8", "uint8"),
}
# codecs added to format version 1 later (docs/FORMAT.md §8): their cases follow the original
# ones in the manifest, and their blobs were added (`--add`) without rewriting any earlier blob
ADDED_CODEC_DTYPES = {
    "entropy": ("bfloat16", "float16", "float32"),
}
ENEC_BLOCK = 16384             # docs/FORMAT.md §3: elements per ENEC block
BYTE_CHUNK = 65536             # docs/FORMAT.md §7.2/7.3: elements per QLC / APack chunk

# Bit patterns every float case carries: +-0, +-inf, NaNs with payloads, smallest/largest
# subnormals, largest finite (docs/FORMAT.md: every bit pattern round-trips).
SPECIALS = {
    "bfloat16": [0x0000, 0x8000, 0x7F80, 0xFF80, 0x7FC1, 0xFF81, 0x7F81, 0x0001, 0x807F, 0x7F7F],
    "float16": [0x0000, 0x8000, 0x7C00, 0xFC00, 0x7E01, 0xFC01, 0x7C01, 0x0001, 0x83FF, 0x7BFF],
    "float32": [0x00000000, 0x80000000, 0x7F800000, 0xFF800000, 0x7FC00001, 0xFFC12345,
                0x7F800001, 0x00000001, 0x807FFFFF, 0x7F7FFFFF],
    "float8_e4m3fn": [0x00, 0x80, 0x7F, 0xFF, 0x01, 0x87, 0x7E],
    "float8_e5m2": [0x00, 0x80, 0x7C, 0xFC, 0x7D, 0xFE, 0x01, 0x83, 0x7B],
}
WORD = {"bfloat16": (torch.int16, np.int16), "float16": (torch.int16, np.int16),
        "float32": (torch.int32, np.int32), "float8_e4m3fn": (torch.uint8, np.uint8),
        "float8_e5m2": (torch.uint8, np.uint8), "int8": (torch.uint8, np.uint8),
        "uint8": (torch.uint8, np.uint8)}


# ----------------------------------------------------------------------------- deterministic inputs

def splitmix64(seed: int, n: int) -> np.ndarray:
    """n pseudo-random uint64 (splitmix64 of seed + i·golden ratio): fixed forever."""
    with np.errstate(over="ignore"):
        z = np.uint64(seed) + np.arange(1, n + 1, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def case_seed(name: str) -> int:
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "little")


def _bell(r: np.ndarray) -> np.ndarray:
    """Weights-like values in float64: sum of four 16-bit uniforms (Irwin-Hall, near normal),
    centred; every step is exact in float64, so no libm can change it."""
    s = sum(((r >> np.uint64(16 * k)) & np.uint64(0xFFFF)).astype(np.float64) for k in range(4))
    return (s - 2 * 65535.0) / 65536.0            # about N(0, 0.58^2), |x| < 2


def _with_specials(t: torch.Tensor, dtype: str, r: np.ndarray) -> torch.Tensor:
    """Put the dtype's special bit patterns at positions spread by r (every ~97th element)."""
    pats = SPECIALS.get(dtype)
    if not pats or t.numel() == 0:
        return t
    tv, nv = WORD[dtype]
    w = t.reshape(-1).view(tv).clone()
    idx = np.arange(0, t.numel(), 97)
    vals = np.array([pats[int(v) % len(pats)] for v in (r[idx] >> np.uint64(40))], dtype=np.int64)
    bits = 8 * np.dtype(nv).itemsize
    if nv is not np.uint8:                         # torch has no uint16/32: signed views
        vals = np.where(vals >= 1 << (bits - 1), vals - (1 << bits), vals)
    vals = vals.astype(nv)
    w[torch.from_numpy(idx)] = torch.from_numpy(np.ascontiguousarray(vals))
    return w.view(getattr(torch, dtype)).reshape(t.shape)


def _values(dtype: str, numel: int, r: np.ndarray, skew: bool) -> torch.Tensor:
    """numel values of `dtype` from the random words r: weights-like for floats, a peaked
    distribution over the byte patterns for the 8-bit types. skew (the large 8-bit cases, so the
    files stay small): 31 of 32 elements repeat one value."""
    x = _bell(r)
    if dtype in ("bfloat16", "float16", "float32"):
        scale = 2.0 ** -5                          # weights around 0.02, exponents spread
        return torch.from_numpy(x * scale).to(torch.float32).to(getattr(torch, dtype))
    if dtype.startswith("float8"):
        # a power-of-two scale keeps the float64 -> float32 -> fp8 casts exactly rounded
        t = torch.from_numpy(x * 2.0 ** 6).to(torch.float32).to(getattr(torch, dtype))
    else:
        v = np.rint(x * 64).astype(np.int64)      # rint of an exact float64: round half to even
        if dtype == "uint8":
            v = v + 128
        v = np.clip(v, -128 if dtype == "int8" else 0, 127 if dtype == "int8" else 255)
        t = torch.from_numpy(v.astype(np.int8 if dtype == "int8" else np.uint8))
    if skew:
        common = torch.from_numpy((r >> np.uint64(59)) != 0)      # the top 5 bits not all zero
        w = t.view(torch.uint8).clone()
        w[common] = 0x3A
        t = w.view(t.dtype)
    return t


def make_input(name: str, dtype: str, shape: tuple, zero_fraction: float = 0.0,
               zero_runs: int = 0, skew: bool = False, zero_low_bits=None,
               constant_blocks: int = 0) -> torch.Tensor:
    """The input tensor of one case, a function of its name and parameters only.

    zero_fraction: share of elements set to exactly zero (bit pattern 0), for the sparse codec;
    zero_runs > 0 zeroes whole runs of that many elements instead of single elements.
    zero_low_bits = [bits, every]: the elements of every `every`-th ENEC_BLOCK-element block (from
    block 0) get their `bits` lowest bits cleared (lower-precision data; the entropy codec's
    layout 1 drops such bits). constant_blocks: the first that many blocks hold 2^-6 only."""
    numel = int(np.prod(shape, dtype=np.int64)) if shape else 1
    r = splitmix64(case_seed(name), 2 * numel + 1)
    vals, rz = r[:numel], r[numel:2 * numel]
    t = _values(dtype, numel, vals, skew)
    if not skew:
        t = _with_specials(t, dtype, vals)
    if zero_fraction:
        u = (rz >> np.uint64(11)).astype(np.float64) / 2.0 ** 53          # uniform in [0, 1)
        if zero_runs:
            run_u = u[(np.arange(numel) // zero_runs) * zero_runs]          # one draw per run
            zero = run_u < zero_fraction
        else:
            zero = u < zero_fraction
        tv, _ = WORD[dtype]
        w = t.reshape(-1).view(tv).clone()
        w[torch.from_numpy(zero)] = 0
        t = w.view(getattr(torch, dtype))
    if zero_low_bits or constant_blocks:
        tv, _ = WORD[dtype]
        w = t.reshape(-1).view(tv).clone()
        block = torch.arange(numel) // ENEC_BLOCK
        if zero_low_bits:
            bits, every = zero_low_bits
            sel = block % every == 0
            w[sel] = w[sel] & ~((1 << bits) - 1)          # (two's complement: the sign bit is kept)
        if constant_blocks:
            w[block < constant_blocks] = torch.tensor(2.0 ** -6, dtype=getattr(torch, dtype)).view(tv)
        t = w.view(getattr(torch, dtype))
    return t.reshape(shape)


# ----------------------------------------------------------------------------- the cases

def cases() -> list[dict]:
    """Every golden case: codec x dtype x {empty, 0-dim, one block, several blocks}, with and
    without checksum, plus sparse inputs shaped so each pattern format reachable from data wins."""
    out = []

    def add(codec, dtype, variant, shape, checksum=False, **kw):
        name = f"{codec}-{dtype}-{variant}"
        out.append(dict(name=name, codec=codec, dtype=dtype, shape=list(shape), checksum=checksum,
                        input=kw))

    def codec_cases(codec_dtypes):
        for codec, dtypes in codec_dtypes.items():
            for dtype in dtypes:
                sparse = codec == "sparse"
                z = dict(zero_fraction=0.4) if sparse else {}
                add(codec, dtype, "empty", (3, 0))
                add(codec, dtype, "empty-checksum", (0,), checksum=True)
                add(codec, dtype, "scalar", ())
                add(codec, dtype, "scalar-checksum", (), checksum=True)
                add(codec, dtype, "one-block", (30, 50), **z)
                add(codec, dtype, "one-block-checksum", (7, 11, 13), checksum=True, **z)
                if codec in ("enec", "entropy"):
                    several = (3, ENEC_BLOCK // 3 + 100)          # 2 blocks, the last one short
                elif sparse:
                    several = (2, BYTE_CHUNK // 2 + 700)          # values blob of several chunks/blocks
                    z = dict(zero_fraction=0.98, skew=True)
                else:
                    several = (2, BYTE_CHUNK // 2 + 60)           # 2 chunks, the last one short
                    z = dict(skew=True)
                add(codec, dtype, "several-blocks", several, **z)

    codec_cases(CODEC_DTYPES)
    # sparse pattern formats (docs/FORMAT.md §7.4): data on which each one is the smallest
    for dtype in ("bfloat16", "float8_e4m3fn"):   # (APack's dense int8 blob beats most patterns)
        add("sparse", dtype, "pattern-dense", (40, 25))                               # no zeros
        add("sparse", dtype, "pattern-bitmap", (40, 25), zero_fraction=0.5)
        add("sparse", dtype, "pattern-bitmap2", (64, 64), zero_fraction=0.9, zero_runs=64)
        add("sparse", dtype, "pattern-rle", (100, 100), zero_fraction=0.995)
    codec_cases(ADDED_CODEC_DTYPES)
    # the entropy codec's layout 1 (docs/FORMAT.md §7.5, added later to version 1): blocks whose
    # raw fields drop zero low mantissa bits, and a table per 16-block segment
    add("entropy", "float32", "layout1-shifts", (ENEC_BLOCK + 300,), zero_low_bits=[16, 2])
    add("entropy", "float16", "layout1-shifts", (3, ENEC_BLOCK // 3 + 100), zero_low_bits=[3, 2])
    add("entropy", "bfloat16", "layout1-tables", (17 * ENEC_BLOCK + 5,), constant_blocks=16)
    return out


def case_input(case: dict) -> torch.Tensor:
    return make_input(case["name"], case["dtype"], tuple(case["shape"]), **case["input"])


def tensor_bytes(t: torch.Tensor) -> bytes:
    """The tensor's bytes in row-major order (its elements' bit patterns, little-endian)."""
    tv, _ = WORD[str(t.dtype).replace("torch.", "")]
    return t.contiguous().reshape(-1).view(tv).numpy().tobytes()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def encode(case: dict, x: torch.Tensor) -> bytes:
    import enec
    return enec.compress(x, checksum=case["checksum"], codec=case["codec"]).numpy().tobytes()


def build() -> tuple[dict, dict]:
    """(manifest, {file: blob bytes}) made with the reference implementation."""
    import enec
    from enec import format as fmt
    os.environ["ENEC_CPU_IMPL"] = "reference"
    os.environ.pop("ENEC_CODECS_IMPL", None)
    entries, blobs = [], {}
    for case in cases():
        x = case_input(case)
        blob = encode(case, x)
        info = enec.inspect(np.frombuffer(blob, np.uint8))
        entry = dict(file=f"{VERSION_DIR}/{case['name']}.enec", codec=case["codec"], dtype=case["dtype"],
                     shape=case["shape"], checksum=case["checksum"], input=case["input"],
                     input_sha256=sha256(tensor_bytes(x)), blob_sha256=sha256(blob), blob_bytes=len(blob))
        assert info.codec == case["codec"], (case["name"], info.codec)
        if info.codec == "sparse":
            entry["sparse_format"] = info.table["format"]
        entries.append(entry)
        blobs[entry["file"]] = blob
    manifest = {
        "format_version": fmt.VERSION,
        "generator": "tests/golden/make_golden.py",
        "note": "regenerate only with a format version bump; see the generator's docstring",
        "cases": entries,
    }
    return manifest, blobs


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help="write the blobs and the manifest")
    ap.add_argument("--add", action="store_true", help="write the blobs of cases the manifest lacks "
                    "(a codec added to this format version) and append them to the manifest; "
                    "refuses if any existing case would change")
    args = ap.parse_args(argv)
    manifest, blobs = build()
    if args.add:
        with open(MANIFEST) as fh:
            old = json.load(fh)
        n_old = len(old["cases"])
        if manifest["cases"][:n_old] != old["cases"] or any(
                open(os.path.join(HERE, c["file"]), "rb").read() != blobs[c["file"]] for c in old["cases"]):
            print("existing golden cases would change: refusing to add")
            return 1
        new = manifest["cases"][n_old:]
        for c in new:
            path = os.path.join(HERE, c["file"])
            if os.path.exists(path):
                print(f"{c['file']} exists but is not in the manifest: refusing to overwrite it")
                return 1
        for c in new:
            with open(os.path.join(HERE, c["file"]), "wb") as fh:
                fh.write(blobs[c["file"]])
        with open(MANIFEST, "w") as fh:
            json.dump(manifest, fh, indent=1)
            fh.write("\n")
        print(f"added {len(new)} blobs")
        return 0
    if args.write:
        if os.path.exists(os.path.join(HERE, VERSION_DIR)):
            print(f"{VERSION_DIR}/ exists: golden blobs are written once per format version")
            return 1
        os.makedirs(os.path.join(HERE, VERSION_DIR))
        for f, b in blobs.items():
            with open(os.path.join(HERE, f), "wb") as fh:
                fh.write(b)
        with open(MANIFEST, "w") as fh:
            json.dump(manifest, fh, indent=1)
            fh.write("\n")
        print(f"wrote {len(blobs)} blobs, {sum(map(len, blobs.values()))} bytes")
        return 0
    with open(MANIFEST) as fh:
        old = json.load(fh)
    same = old == manifest and all(open(os.path.join(HERE, f), "rb").read() == b for f, b in blobs.items())
    print("golden blobs reproduced" if same else "golden blobs DIFFER from what this code writes")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
