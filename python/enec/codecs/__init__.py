"""The codec registry: which codec codes which dtype, and dispatch by the header's codec byte.
Everything above (cpu.py, api.py) calls this module; it calls the codec modules, which call
their implementations (numpy reference or native kernels) and format.py.

    "enec"    BF16, FP16, FP32           the ENEC exponent codec       (codecs/enec.py)
    "qlc"     FP8 e4m3/e5m2 (any 8-bit)  Quad Length Codes             (codecs/qlc.py)
    "apack"   INT8, UINT8 (any 8-bit)    APack ranges + rANS           (codecs/apack.py)
    "sparse"  every dtype above          zero-pattern formats + the dense codec of the
                                         dtype for the non-zeros      (codecs/sparse.py)
    "entropy" BF16, FP16, FP32           rANS-coded exponent + top mantissa bits, the
                                         maximum-ratio codec           (codecs/entropy.py)

Each codec module has ID, NAME, DTYPES, read_header(common header) -> its header,
inspect(buf, header) -> its info object, and its encode/decode.

"max" builds every codec that takes the dtype and keeps the smallest blob.
"auto" picks the dense codec of the dtype; when at least SPARSE_TRY_FRACTION of the elements are
zero it also considers the sparse blob and keeps the smaller (building it only when a lower
bound of its size, from counts, does not already rule it out: `encode_words`).
"""
from __future__ import annotations

import os

import numpy as np

from .. import format as fmt
from ..errors import ChecksumMismatchError, CorruptStreamError, EnecError, UnsupportedDTypeError
from ..params import check_plan
from . import _bits, apack, enec, entropy, entropy_native, native, qlc, sparse
from ._info import BlobInfo
from .enec import REFERENCE, get_impl, implementations

CODEC_CHOICES = ("auto", "enec", "qlc", "apack", "sparse", "entropy", "max")
MODULES = {mod.ID: mod for mod in (enec, qlc, apack, sparse, entropy)}
SPARSE_TRY_FRACTION = 1 / 64      # zeros are ENEC outliers: a few percent already pay
_FP8 = ("float8_e4m3fn", "float8_e5m2")


def dense_codec(spec: fmt.DTypeSpec) -> str:
    """The dense codec "auto" uses for a dtype."""
    if spec.name in enec.DTYPES:
        return "enec"
    return "qlc" if spec.name in _FP8 else "apack"


def check_codec(codec: str, spec: fmt.DTypeSpec) -> None:
    """Raise a clear error when `codec` cannot code `spec`'s dtype."""
    if codec not in CODEC_CHOICES:
        raise EnecError(f"unknown codec {codec!r}; choose one of {', '.join(CODEC_CHOICES)}")
    for name, mod in (("enec", enec), ("entropy", entropy)):
        if codec == name and spec.name not in mod.DTYPES:
            raise UnsupportedDTypeError(f"codec {name!r} codes " + ", ".join(f"torch.{n}" for n in mod.DTYPES)
                                        + f", not torch.{spec.name}")
    if codec in ("qlc", "apack") and spec.word_bits != 8:
        raise UnsupportedDTypeError(f"codec {codec!r} codes 8-bit dtypes, not torch.{spec.name}")


def _native_codecs(enec_impl):
    """The native codec module when the ENEC implementation's name (reference or native), or
    ENEC_CODECS_IMPL=reference|native, asks for it and the library is built; else None."""
    name = os.environ.get("ENEC_CODECS_IMPL") or getattr(enec_impl, "name", "reference")
    return native if name == "native" and native.available() else None


def kernels(enec_impl):
    """(qlc kernels, apack kernels) matching the ENEC implementation's name (reference or
    native); ENEC_CODECS_IMPL=reference|native overrides it for QLC, APack and sparse."""
    nat = _native_codecs(enec_impl)
    return (nat.QLC, nat.APACK) if nat else (qlc.Reference, apack.Reference)


def entropy_kernels(enec_impl):
    """Codec 5's kernels, chosen as `kernels` chooses (entropy_native.ENTROPY or entropy.Reference)."""
    name = os.environ.get("ENEC_CODECS_IMPL") or getattr(enec_impl, "name", "reference")
    if name == "native" and entropy_native.available():
        return entropy_native.ENTROPY
    return entropy.Reference


def applicable(spec: fmt.DTypeSpec) -> tuple:
    """The dense codecs that take `spec`'s dtype ("max" tries each of them and "auto")."""
    if spec.name in enec.DTYPES:
        return ("enec", "entropy")
    return ("qlc", "apack")


def sparse_kernels(enec_impl):
    """The sparse codec's pattern coder, chosen as `kernels` chooses (native.SPARSE or sparse.Reference)."""
    nat = _native_codecs(enec_impl)
    return nat.SPARSE if nat else sparse.Reference


def _dense(words, spec, shape, codec, enec_impl, params=None, out=None):
    """The dense blob; the ENEC and entropy implementations may write it into `out` (else the
    caller copies)."""
    if codec == "enec":
        return enec.encode(words, spec, shape, enec_impl, params, out)
    if codec == "entropy":
        return entropy.encode(words, spec, shape, entropy_kernels(enec_impl), out)
    qk, ak = kernels(enec_impl)
    if codec == "qlc":
        return qlc.encode(words, spec, shape, qk)
    return apack.encode(words, spec, shape, ak)


def _zeros(words, hist) -> int | None:
    """The count of zero words, or None when it is below SPARSE_TRY_FRACTION of them. `hist`:
    the exponent histogram (a zero word has exponent field 0, so bin 0 bounds the count and
    usually spares a pass over the data) or, for 8-bit words, the byte histogram (exact)."""
    limit = SPARSE_TRY_FRACTION * words.size
    if hist is not None and hist[0] < limit:
        return None
    zeros = int(hist[0]) if words.dtype == np.uint8 else words.size - int(np.count_nonzero(words))
    return zeros if zeros >= limit else None


# A rANS state x in [2^16, 2^32) coding a symbol of frequency f (of 2^12) grows to at least
# x·2^12/f·(1 - f/x) > x·2^12/f·15/16: each symbol costs at least log2(2^12/f) - log2(16/15) bits.
_RANS_SLACK_BITS = float(np.log2(16 / 15))


def _nonzero_params(hist, zeros, spec, enec_impl):
    """ENEC parameters of the non-zero words, from the exponent histogram of all of them (a zero
    word is in bin 0): the histogram the values' own analysis would find, without the pass."""
    h = hist.copy()
    h[0] -= zeros
    return enec.params_of(h, spec, enec_impl)


def _values_lower_bound(words, spec, dense, hist, zeros, nz_params) -> int:
    """Bytes the dense codec needs at least for the non-zero words of `words`; `hist`: their
    exponent histogram (ENEC) or byte histogram (QLC, APack), zeros included; `nz_params`: the
    ENEC parameters of the non-zeros (`_nonzero_params`).

    ENEC: enec.lower_bound. QLC and APack code each element with a static per-tensor code whose
    lengths satisfy Kraft's inequality (APack's rANS up to _RANS_SLACK_BITS a symbol), so their
    output is at least the empirical entropy of the non-zero values."""
    if dense == "enec":
        return enec.lower_bound(hist, zeros, spec, nz_params)
    nnz = words.size - zeros
    counts = hist[1:]                    # the byte histogram of 8-bit words
    counts = counts[counts > 0].astype(np.float64)
    bits = float(np.sum(counts * np.log2(nnz / counts))) if nnz else 0.0
    if dense == "apack":
        bits -= nnz * _RANS_SLACK_BITS
    return max(0, int(bits // 8))


def encode_words(words: np.ndarray, spec: fmt.DTypeSpec, shape: tuple, codec: str, enec_impl,
                 sparse_force=None, out: np.ndarray | None = None, params=None) -> np.ndarray:
    """Compress a flat array of bit patterns (uint8/uint16/uint32) into one blob (which may be
    written in `out`, a uint8 array; otherwise the caller copies it there).

    "auto" with zeros: the dense blob is encoded at most once, with the tensor's shape; the
    sparse blob is built only when a lower bound of its size (pattern_lower_bound +
    _values_lower_bound, from counts alone) is below the dense blob's size, and kept only when it
    is smaller. With the native ENEC library the dense size comes from a read-only pass, and the
    dense blob is encoded only when it wins."""
    check_codec(codec, spec)
    dense = dense_codec(spec)
    if params is not None:                 # a reused plan (enec.plan): ENEC with these parameters
        if codec not in ("auto", "enec") or dense != "enec":
            raise EnecError(f"params apply to the enec codec of BF16/FP16/FP32 tensors, not to "
                            f"codec={codec!r} on {spec.name}")
        return _dense(words, spec, shape, "enec", enec_impl, params, out)

    def dense_encode(w, sp, shp, out=None):
        return _dense(w, sp, shp, dense, enec_impl, out=out), fmt.CODEC_IDS[dense]

    if codec == "sparse":
        return sparse.encode(words, spec, shape, dense_encode, force=sparse_force,
                             kernels=sparse_kernels(enec_impl))
    if codec == "max":
        best = encode_words(words, spec, shape, "auto", enec_impl)
        for other in applicable(spec):
            if other != dense:
                blob = _dense(words, spec, shape, other, enec_impl)
                if blob.size < best.size:
                    best = blob
        return best
    if codec != "auto":
        return _dense(words, spec, shape, codec, enec_impl, out=out)
    hist = params = None
    if dense == "enec" and words.size and enec.can_encode_nonzeros(enec_impl) \
            and sparse_kernels(enec_impl) is native.SPARSE:
        return _auto_enec_native(words, spec, shape, enec_impl, out)
    if dense == "enec" and words.size:
        hist, params = enec.analyze(words, spec, enec_impl)
    elif words.size:
        hist = kernels(enec_impl)[0].histogram(words)
    zeros = _zeros(words, hist) if words.size else None
    if zeros is None:
        return _dense(words, spec, shape, dense, enec_impl, params, out)
    # the dense blob's exact size: the native ENEC library finds it without encoding (so the
    # dense blob is not built at all when the sparse one wins); otherwise it is built here
    blob = None
    dense_size = enec.encoded_size(words, spec, shape, params, enec_impl) if dense == "enec" else None
    if dense_size is None:
        blob = _dense(words, spec, shape, dense, enec_impl, params, out)
        dense_size = blob.size
    nz_params = _nonzero_params(hist, zeros, spec, enec_impl) if dense == "enec" else None
    hb = fmt.header_bytes(len(shape))
    bound = (_bits.round_up(hb + sparse.pattern_lower_bound(words.size, shape, words.size - zeros))
             + _values_lower_bound(words, spec, dense, hist, zeros, nz_params))
    alt = None
    if bound < dense_size:
        def values_encode(w, sp, shp, out=None):   # the non-zeros: their parameters are known
            return _dense(w, sp, shp, dense, enec_impl, nz_params, out), fmt.CODEC_IDS[dense]

        room = (lambda nnz: max_bytes(spec, nnz, 1, dense)) if dense == "enec" else None
        alt = sparse.encode_patterned(words, spec, shape, values_encode, dense_size, sparse_kernels(enec_impl),
                                      values_room=room)
    if alt is not None:
        return alt
    return blob if blob is not None else _dense(words, spec, shape, dense, enec_impl, params, out)


def _likely_sparse(words) -> bool:
    """Whether a sample of the words (16 spans of 256) holds at least half of SPARSE_TRY_FRACTION
    zeros: then "auto" finds the zero bitmap in the histogram's pass (a speed choice only)."""
    span, n = 256, words.size
    if n <= 16 * span:
        sample = words
    else:
        sample = np.concatenate([words[k * (n - span) // 15:][:span] for k in range(16)])
    return sample.size - np.count_nonzero(sample) >= SPARSE_TRY_FRACTION / 2 * sample.size


def _auto_enec_native(words, spec, shape, enec_impl, out):
    """"auto" for BF16/FP16/FP32 with the native libraries: encode_words' decision (the same
    blob), with fewer passes over the words. When a sample holds zeros, the histogram's pass also
    writes the zero bitmap, and the pattern sizes are counted from it; the values blob is encoded
    straight from the words and the bitmap (no extraction); the dense blob's exact size (a pass
    over the words) is found only when a lower bound of it, from the bitmap, does not already
    lose to the sparse blob."""
    numel = words.size
    bitmap = buf = None
    if _likely_sparse(words):
        # the bitmap goes straight to its place in the sparse blob (the usual pattern with a few
        # percent of zeros; encode_patterned moves it when another one wins)
        hb = fmt.header_bytes(len(shape))
        nbytes = (numel + 7) // 8
        buf = enec.output_buffer(_bits.round_up(hb + nbytes) + max_bytes(spec, numel, 1, "enec"), enec_impl)
        hist, params, bitmap = enec.analyze_bitmap(words, spec, enec_impl, buf[hb:hb + nbytes])
    else:
        hist, params = enec.analyze(words, spec, enec_impl)
    if hist[0] < SPARSE_TRY_FRACTION * numel:
        return _dense(words, spec, shape, "enec", enec_impl, params, out)
    kern = sparse_kernels(enec_impl)
    sc = kern.count(words, bitmap) if bitmap is not None else kern.scan(words, values=False)
    zeros = numel - sc.nnz
    if zeros < SPARSE_TRY_FRACTION * numel:
        return _dense(words, spec, shape, "enec", enec_impl, params, out)
    nz_params = _nonzero_params(hist, zeros, spec, enec_impl)
    hb = fmt.header_bytes(len(shape))
    sparse_bound = (_bits.round_up(hb + sc.candidates(shape)[0][0])
                    + _values_lower_bound(words, spec, "enec", hist, zeros, nz_params))
    dense_bound = enec.size_lower_bound(sc.bitmap, numel, spec, len(shape), params, enec_impl)
    dense_size = None
    if sparse_bound >= dense_bound:
        dense_size = enec.encoded_size(words, spec, shape, params, enec_impl)
        if sparse_bound >= dense_size:
            return _dense(words, spec, shape, "enec", enec_impl, params, out)

    def values_encode(_values, sp, shp, out=None):    # the non-zeros, gathered by the encoder
        return enec.encode_nonzeros(words, sc.bitmap, sc.nnz, spec, enec_impl, nz_params, out), fmt.CODEC_ENEC

    below = dense_size if dense_size is not None else float("inf")
    alt = sparse.encode_patterned(words, spec, shape, values_encode, below, sparse_kernels(enec_impl), sc=sc,
                                  values_room=lambda nnz: max_bytes(spec, nnz, 1, "enec"),
                                  alloc=lambda nbytes: enec.output_buffer(nbytes, enec_impl), buf=buf)
    if alt is not None and dense_size is None and alt.size >= dense_bound:
        dense_size = enec.encoded_size(words, spec, shape, params, enec_impl)
    if alt is not None and (dense_size is None or alt.size < dense_size):
        return alt
    return _dense(words, spec, shape, "enec", enec_impl, params, out)


def exponent_histogram(words: np.ndarray, spec: fmt.DTypeSpec, impl=None) -> np.ndarray:
    """ENEC's exponent histogram of the words (2^W int64 counts), by the ENEC implementation."""
    impl = impl or get_impl()
    if not words.size:
        return np.zeros(1 << spec.exp_bits, dtype=np.int64)
    return np.asarray(impl.histogram(words, spec), dtype=np.int64)


def compress(words: np.ndarray, spec: fmt.DTypeSpec, shape: tuple, codec: str = "auto", impl=None,
             checksum: bool = False, out: np.ndarray | None = None, params=None) -> np.ndarray:
    """The blob of a flat array of bit patterns (in `out`, a uint8 array, when the codec could
    write it there; the caller checks). checksum: store the XXH64 of the words. params: a reused
    ENEC plan (b, n, m), checked by params.check_plan."""
    check_codec(codec, spec)
    if params is not None:
        params = check_plan(params, spec)
    blob = encode_words(words, spec, tuple(shape), codec, impl or get_impl(), out=out, params=params)
    if checksum:
        fmt.set_checksum(blob, fmt.checksum_of(words))
    return blob


def read_header(buf, whole: bool = True):
    """The header of a blob as its codec reads it (format.EnecHeader for ENEC, format.Header for
    the others), checked. whole=False: only the header bytes need to be present."""
    h = fmt.parse_header(buf) if whole else fmt.parse_header_prefix(buf)
    mod = MODULES[h.codec]
    if h.dtype.name not in mod.DTYPES:
        raise CorruptStreamError(f"codec {mod.NAME} does not code dtype {h.dtype.name}")
    return mod.read_header(h)


def decode_words(buf: np.ndarray, header, enec_impl, out: np.ndarray | None = None) -> np.ndarray:
    """Decode a blob whose header `read_header` returned (into `out` when the codec can)."""
    if header.codec == fmt.CODEC_ENEC:
        return enec.decode(buf, header, enec_impl, out)
    qk, ak = kernels(enec_impl)
    if header.codec == fmt.CODEC_QLC:
        return qlc.decode(buf, header, qk)
    if header.codec == fmt.CODEC_APACK:
        return apack.decode(buf, header, ak)
    if header.codec == fmt.CODEC_ENTROPY:
        return entropy.decode(buf, header, entropy_kernels(enec_impl), out)
    if header.codec == fmt.CODEC_SPARSE:
        def dense_decode(b):
            b = np.ascontiguousarray(b)
            h = read_header(b)
            if h.codec == fmt.CODEC_SPARSE:
                raise CorruptStreamError("sparse: the values blob is itself sparse")
            return decode_words(b, h, enec_impl), h
        return sparse.decode(buf, header, dense_decode, sparse_kernels(enec_impl))
    raise CorruptStreamError(f"unknown codec id {header.codec}")


def decompress(buf: np.ndarray, header, impl=None, out: np.ndarray | None = None) -> np.ndarray:
    """The words of a blob (in `out`, a flat word array, when given), its checksum verified."""
    words = decode_words(buf, header, impl or get_impl(), out)
    if words.size != header.numel:
        raise CorruptStreamError("decoder returned the wrong number of elements")
    if out is not None and words.ctypes.data != out.ctypes.data:
        out[...] = words.reshape(-1)
        words = out
    if header.checksum_kind == fmt.CHECKSUM_XXH64 and fmt.checksum_of(words) != header.checksum:
        raise ChecksumMismatchError(
            f"decompressed data does not match the blob's XXH64 checksum "
            f"(stored {header.checksum:#018x}, computed {fmt.checksum_of(words):#018x}): the blob is corrupt")
    return words


def decompress_range(buf: np.ndarray, header, lo: int, hi: int, impl=None) -> np.ndarray:
    """Words [lo, hi) of a blob: only the blocks holding them are decoded when the codec can
    (ENEC without a checksum); otherwise the whole blob is decoded (and its checksum verified)
    and the range copied out of it."""
    if header.codec == fmt.CODEC_ENEC:
        words = enec.decode_range(buf, header, lo, hi, impl or get_impl())
        if words is not None:
            return words
    return decompress(buf, header, impl)[lo:hi].copy()


def inspect(buf: np.ndarray) -> BlobInfo:
    """The codec's info object of a blob (parameters, table, section sizes, ratio)."""
    h = read_header(buf)
    return MODULES[h.codec].inspect(buf, h)


def max_bytes(spec: fmt.DTypeSpec, numel: int, ndim: int, codec: str = "auto") -> int:
    """Largest blob `codec` can produce for `numel` elements of `spec` (any data)."""
    check_codec(codec, spec)
    if codec == "max":
        return max(max_bytes(spec, numel, ndim, c) for c in ("auto",) + applicable(spec))
    if codec == "entropy":
        return entropy.max_bytes(spec, numel, ndim)
    dense = dense_codec(spec) if codec in ("auto", "sparse") else codec
    if dense == "enec":
        inner = enec.max_bytes(spec, numel, ndim)
    else:
        inner = MODULES[fmt.CODEC_IDS[dense]].max_bytes(numel, ndim)
    if codec == "sparse":       # dense format: a header plus the dense blob of a 1-D tensor
        return fmt.header_bytes(ndim) + max(inner, enec.max_bytes(spec, numel, 1)
                                            if dense == "enec" else inner)
    return inner
