"""The friendly Python API over the torch ops."""
from __future__ import annotations

import warnings

import torch

from . import codecs, cpu
from ._torch_private import dispatch_mode_active
from . import format as fmt
from .codecs import BlobInfo
from .errors import CorruptStreamError, EnecError, HeaderMismatchError, UnsupportedDTypeError
from .ops import compress as _compress_op
from .ops import compress_into as _compress_into_op
from .ops import decompress as _decompress_op
from .ops import decompress_into as _decompress_into_op
from .ops import decompress_with_status as _decompress_with_status_op
from . import kernel_status
from .params import Params, check_plan, plan_params


def _eager_cpu(*tensors) -> bool:
    """True when the CPU kernel can be called directly instead of through the dispatcher: plain
    CPU tensors, no torch.compile / export tracing and no dispatch mode (FakeTensorMode, make_fx)
    active. The op's CPU kernel is the same function; the dispatcher's first call alone imports
    torch._dynamo (2-3 s), which a CLI call or a script that compresses once should not pay."""
    if torch.compiler.is_compiling() or dispatch_mode_active():
        return False
    return all(type(t) in _PLAIN and t.device.type == "cpu" for t in tensors)


_PLAIN = (torch.Tensor, torch.nn.Parameter)   # a Parameter overrides no torch function


def compress(x: torch.Tensor, checksum: bool = False, codec: str = "auto", out: torch.Tensor | None = None,
             params: Params | None = None) -> torch.Tensor:
    """Losslessly compress a BF16, FP16, FP32, FP8 (e4m3fn, e5m2), INT8 or UINT8 tensor (any
    shape, any strides).

    Returns a 1-D uint8 tensor on the input's device holding a self-describing blob
    (docs/FORMAT.md). The input is never modified. checksum=True stores an XXH64 of the data
    that decompress verifies. codec="auto" picks ENEC for BF16/FP16/FP32, Quad Length Codes for
    FP8 and APack for INT8/UINT8, and the sparse formats instead when the tensor has many zeros
    and that is smaller; "enec", "qlc", "apack", "sparse" or "entropy" (BF16/FP16/FP32: rANS-coded
    exponents, the highest ratio, several times slower than ENEC) forces one; "max" builds every
    codec that takes the dtype and keeps the smallest blob.

    out: a 1-D uint8 tensor to write the blob into (a reused or pinned buffer: no allocation,
    no page faults); the result is then the view out[:size]. max_compressed_size(x.numel(),
    x.dtype, x.dim()) bytes always suffice; bytes of out past the blob are unspecified after.

    params: a plan from enec.plan(w) (BF16/FP16/FP32): ENEC with its parameters and no exponent
    histogram, for tensors compressed again and again (a training loop's weights); on an NPU,
    compress with out= then makes no blocking host read.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"enec.compress expects a torch.Tensor, got {type(x).__name__}")
    plist = None
    if params is not None:
        p = check_plan(params, cpu.dtype_spec_of(x.dtype))
        plist = [p.b, p.n, p.m]
    if out is None and _eager_cpu(x):
        return cpu.compress_tensor(x, checksum=checksum, codec=codec, params=plist)
    codecs.check_codec(codec, cpu.dtype_spec_of(x.dtype))    # before the dispatcher, on any device
    if out is None:
        return _compress_op(x, checksum, codec, plist)
    if not isinstance(out, torch.Tensor):
        raise TypeError(f"enec.compress: out must be a torch.Tensor, got {type(out).__name__}")
    if x.device.type == "cpu" and out.device.type == "cpu":
        if _eager_cpu(x, out):
            size = cpu.compress_into(x, out, checksum=checksum, codec=codec, params=plist)
        else:
            size = int(_compress_into_op(x, out, checksum, codec, plist))
        return out[:size]
    if x.device == out.device:                      # one device: its kernel writes into out
        size = _compress_into_op(x, out, checksum, codec, plist)
        return out[:int(size)]
    blob = _compress_op(x, checksum, codec, plist)  # another device: compress there, then copy
    if out.dtype != torch.uint8 or out.dim() != 1 or out.numel() < blob.numel():
        raise EnecError(f"compress: out must be a 1-D uint8 tensor of at least {blob.numel()} bytes")
    out[:blob.numel()].copy_(blob)
    return out[:blob.numel()]


_COMPILE_HINT = ("enec.decompress(blob) reads the blob's header to learn the shape and dtype, which "
                 "torch.compile cannot trace: pass them, enec.decompress(blob, shape=..., dtype=...), "
                 "or call torch.ops.enec.decompress(blob, shape, dtype)")


def decompress(blob, device=None, out: torch.Tensor | None = None, *, shape=None,
               dtype: torch.dtype | None = None) -> torch.Tensor:
    """Restore the exact tensor from a blob (uint8 tensor, bytes, bytearray, memoryview or
    numpy array); shape and dtype come from the blob's header.

    out: a tensor of the blob's shape and dtype to decompress into (returned); `device` is then
    out's device. If the blob is corrupt the error is raised and out's contents are unspecified.

    shape, dtype: what the blob holds, when the caller knows it (a HeaderMismatchError if the
    header disagrees). Under torch.compile they are required (the header cannot be read while
    tracing); the call is then torch.ops.enec.decompress and compiles into the graph.
    """
    if (shape is None) != (dtype is None):
        raise EnecError("decompress: pass both shape= and dtype=, or neither")
    if torch.compiler.is_compiling():
        if shape is None:
            raise EnecError(_COMPILE_HINT)
        res = _decompress_op(blob, list(shape), dtype)
        if out is not None:
            return out.copy_(res)
        return res.to(device) if device is not None else res
    if isinstance(blob, torch.Tensor):
        head = blob[:fmt.HEADER_FIXED_BYTES + 8 * fmt.MAX_NDIM].cpu() if blob.device.type != "cpu" else blob
        hdr = header_of(head, full=False)
        t = blob
    else:
        arr = cpu.blob_array(blob)
        hdr = header_of(arr, full=False)
        with warnings.catch_warnings():        # read-only buffers (bytes): never written to
            warnings.simplefilter("ignore", UserWarning)
            t = torch.from_numpy(arr)
    if shape is not None and (tuple(shape) != hdr.shape or dtype != getattr(torch, hdr.dtype.name)):
        raise HeaderMismatchError(f"blob holds {getattr(torch, hdr.dtype.name)} of shape {hdr.shape}, "
                                  f"the caller expects {dtype} of shape {tuple(shape)}")
    if out is not None:
        if not isinstance(out, torch.Tensor):
            raise TypeError(f"enec.decompress: out must be a torch.Tensor, got {type(out).__name__}")
        want = getattr(torch, hdr.dtype.name)
        if out.dtype != want or tuple(out.shape) != hdr.shape:
            raise HeaderMismatchError(f"blob holds {want} of shape {hdr.shape}, out is {out.dtype} "
                                      f"of shape {tuple(out.shape)}")
        if device is not None and torch.device(device) != out.device:
            raise EnecError(f"decompress: device={device} but out is on {out.device}")
        if t.device.type == "cpu" and out.device.type == "cpu" and out.is_contiguous():
            if _eager_cpu(t, out):
                cpu.decompress_into(t, out)
            else:
                _decompress_into_op(t, out)
            return out
    want = getattr(torch, hdr.dtype.name)
    if _eager_cpu(t):
        res = cpu.decompress_tensor(t, list(hdr.shape), want)
    elif not _device_kernel(t, want):
        res = _decompress_op(t, list(hdr.shape), want)
    else:
        # the device kernel reports by a status code (one read here), typed like the CPU's errors
        res, status = _decompress_with_status_op(t, list(hdr.shape), want)
        code = kernel_status.first_code(status)
        if code == kernel_status.HOST_PATH:        # a checksum: the op's host path decodes it
            res = _decompress_op(t, list(hdr.shape), want)
        elif code != kernel_status.OK:
            raise kernel_status.error_for(code)
    if out is not None:
        return out.copy_(res)
    return res.to(device) if device is not None else res


_DEVICE_DTYPES = (torch.bfloat16, torch.float16, torch.float32)   # dtypes with NPU kernels


def _device_kernel(blob: torch.Tensor, dtype: torch.dtype) -> bool:
    """Whether the blob decodes by a device kernel that reports through a status tensor."""
    return blob.device.type != "cpu" and dtype in _DEVICE_DTYPES


def decompress_with_status(blob: torch.Tensor, shape, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """Decompress without waiting for the verdict: returns (tensor, status) where status is a small
    int32 tensor on the blob's device. On an NPU nothing is read back (a pipeline queues the next
    layer at once); the kernel has validated the blob and never read or written out of bounds, but
    the tensor is only valid once `enec.check_status(status)` (one blocking read) has passed. On
    the CPU errors raise here and the status is all OK. Compiles under torch.compile."""
    if not isinstance(blob, torch.Tensor):
        raise TypeError(f"decompress_with_status expects a uint8 tensor, got {type(blob).__name__}")
    return _decompress_with_status_op(blob, list(shape), dtype)


def check_status(status) -> None:
    """Raise the error a status from decompress_with_status reports (CorruptStreamError,
    HeaderMismatchError, or EnecError for a blob only the host decodes); nothing when OK."""
    kernel_status.check(status)


def plan(x: torch.Tensor) -> Params:
    """ENEC parameters (b, n, m) for `x`, to pass as compress(..., params=) to later tensors like
    it (the same weights after a training step): the b and m compress would pick for x, and n the
    full exponent width, which stays lossless for any tensor (so the data needs no check). A blob
    made with a plan is self-describing like any other; it is larger than a fresh search makes it
    (the flagged groups' codes carry all W bits: about 3 % on Gaussian-like BF16 weights). On an
    NPU tensor the histogram is made on the device and read once."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"enec.plan expects a torch.Tensor, got {type(x).__name__}")
    spec = cpu.dtype_spec_of(x.dtype)
    if x.dtype not in _DEVICE_DTYPES:
        raise UnsupportedDTypeError(f"enec.plan: plans are ENEC parameters, for torch.bfloat16, "
                                    f"torch.float16 and torch.float32; got {x.dtype}")
    w = spec.exp_bits
    if x.device.type == "cpu":
        hist = codecs.exponent_histogram(cpu.tensor_words(x, spec), spec)
    else:
        ints = x.detach().contiguous().view(torch.int32 if spec.word_bits == 32 else torch.int16).reshape(-1)
        field = torch.bitwise_and(torch.bitwise_right_shift(ints, spec.raw_bits - 1), (1 << w) - 1).long()
        hist = torch.zeros(1 << w, dtype=torch.int64, device=x.device).scatter_add_(
            0, field, torch.ones_like(field)).cpu().numpy()
    return plan_params(hist, spec)


def max_compressed_size(numel: int, dtype: torch.dtype, ndim: int = fmt.MAX_NDIM,
                        codec: str = "auto") -> int:
    """The largest blob `compress` can produce for `numel` elements of `dtype` (any data)."""
    if numel < 0:
        raise ValueError("numel must be >= 0")
    return codecs.max_bytes(cpu.dtype_spec_of(dtype), int(numel), ndim, codec)


def header_of(blob, full: bool = True):
    """Parse a blob's header as its codec reads it (format.EnecHeader for ENEC, with b, n, m and
    the layout; format.Header for the others). With full=False only the header bytes need to be
    present."""
    return codecs.read_header(cpu.blob_array(blob), whole=full)


def inspect(blob) -> BlobInfo:
    """Parameters, section sizes and ratio of a blob, without decompressing it: the codec's info
    object (a BlobInfo; ENEC's has b, n, m and the outlier groups, the others their code table);
    print() shows it on a few lines."""
    return codecs.inspect(cpu.blob_array(blob))
