"""Keep a module's weights compressed in host (or device) memory; decompress each layer just
before it runs.

    handle = enec.offload.offload(model, device="cpu")   # or an NPU/GPU device
    y = model(x)                                           # layers decompress on demand
    handle.stats()                                         # bytes kept, peak materialised, ...
    handle.remove()                                        # restore the plain weights

Every module that owns parameters or buffers is a unit. A forward pre-hook materialises the unit's
tensors (from a prefetch started while the previous unit computed, or on the spot) and starts
decompressing the next unit on a worker thread; a forward hook frees them again. The unit order
is the registration order until the first forward, then the order observed in it. On a device
with enec kernels (an NPU with the torch_npu extension) the compressed bytes are moved and decoded
on the device; elsewhere they are decoded on the host and copied. Outputs are bit-identical to the
plain model: the weights are.

On an accelerator with streams (torch.cuda, torch.npu: any `torch.<device type>` module with
Stream/Event/current_stream) the copies and decodes of a unit are issued on a side stream; the
compute stream waits on an event recorded after them and the tensors are marked as used by the
compute stream (record_stream), so the allocator reuses their memory only after the compute is
done. On the CPU the worker thread itself is the overlap. Inference only: the weights are freed
after each module's forward, so autograd could not use them in a backward pass.
"""
from __future__ import annotations

import contextlib
import threading
from concurrent.futures import Future, ThreadPoolExecutor

import torch
from torch import nn

from ._torch_private import has_kernel
from .api import compress, header_of
from .errors import EnecError, UnsupportedDTypeError


def _dtype_name(dt: torch.dtype) -> str:
    return str(dt).replace("torch.", "")


def _stream_api(device: torch.device):
    """torch.cuda / torch.npu / ... when the device type has streams and events, else None."""
    if device.type in ("cpu", "meta"):
        return None
    mod = getattr(torch, device.type, None)
    if all(hasattr(mod, a) for a in ("Stream", "Event", "stream", "current_stream")):
        return mod
    return None


def _has_device_kernel(device: torch.device) -> bool:
    if device.type == "cpu":
        return True
    key = "PrivateUse1" if device.type not in ("cuda", "meta") else device.type.upper()
    try:
        return has_kernel("enec::decompress", key)
    except Exception:
        return False


class _Unit:
    def __init__(self, module: nn.Module, name: str):
        self.module, self.name = module, name
        self.entries = {}     # attr -> (kind, stored, dtype, shape) ; kind "enec" | "raw"
        self.bytes_full = 0
        self.bytes_kept = 0


class Offloaded:
    def __init__(self, model: nn.Module, device=None, prefetch: bool = True, pin: bool = True,
                 blobs: dict | None = None, keep_on: str = "host"):
        self.model = model
        self.device = torch.device(device) if device is not None else next(
            (p.device for p in model.parameters()), torch.device("cpu"))
        self.prefetch = prefetch
        self.units: list[_Unit] = []
        self._order: list[_Unit] = []
        self._recording = True
        self._pending: dict[int, Future] = {}
        self._lock = threading.Lock()
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="enec-prefetch")
        self._live = 0
        self.peak_live = 0
        self.materialisations = 0
        self._hooks = []
        on_device = _has_device_kernel(self.device)
        if keep_on not in ("host", "device"):
            raise ValueError(f"keep_on must be 'host' or 'device', not {keep_on!r}")
        if keep_on == "device" and not on_device:
            raise EnecError(f"keep_on='device' needs enec's decompress kernel on {self.device}; "
                            "keep the blobs in host memory (keep_on='host')")
        self.keep_on = keep_on
        pin = pin and self.device.type != "cpu" and keep_on == "host"
        self._decode_on_device = on_device and self.device.type != "cpu"
        self._api = _stream_api(self.device)
        self._stream = self._api.Stream(device=self.device) if self._api is not None else None
        shared = {}     # id of a tensor owned by several modules (tied weights) -> its entry
        for name, mod in model.named_modules():
            own = list(mod._parameters.items()) + list(mod._buffers.items())
            own = [(k, v) for k, v in own if v is not None]
            if not own:
                continue
            u = _Unit(mod, name)
            for attr, t in own:
                if id(t) in shared:                # stored once; each owner materialises it
                    u.entries[attr] = shared[id(t)]
                    continue
                key = id(t)
                t = t.detach()
                u.bytes_full += t.numel() * t.element_size()
                stored, kind = self._stored(t, (blobs or {}).get(f"{name}.{attr}" if name else attr))
                if keep_on == "device":
                    stored = stored.to(self.device)
                elif pin:
                    try:
                        stored = stored.pin_memory()
                    except RuntimeError:
                        pass
                u.bytes_kept += stored.numel() * stored.element_size()
                u.entries[attr] = shared[key] = (kind, stored, t.dtype, tuple(t.shape))
                self._set(mod, attr, torch.empty(0, dtype=t.dtype, device=self.device))
            self.units.append(u)
            self._hooks.append(mod.register_forward_pre_hook(self._make_pre(u)))
            self._hooks.append(mod.register_forward_hook(self._make_post(u)))

    @staticmethod
    def _stored(t: torch.Tensor, blob):
        """(what to keep, "enec" | "raw"). `blob`: a blob of t given by the caller (read from a
        compressed checkpoint: no second compression), used when its header matches t."""
        if blob is not None:
            h = header_of(blob, full=False)
            if h.dtype.name == _dtype_name(t.dtype) and tuple(h.shape) == tuple(t.shape):
                return blob.cpu(), "enec"
        try:
            blob = compress(t.cpu())
        except UnsupportedDTypeError:      # no codec for this dtype: kept as it is
            blob = None
        if blob is not None and blob.numel() < t.numel() * t.element_size():
            return blob, "enec"
        return t.cpu().clone(), "raw"

    # ------------------------------------------------------------------ materialise / free
    @staticmethod
    def _set(mod, attr, t):
        if attr in mod._parameters:
            mod._parameters[attr].data = t
        else:
            mod._buffers[attr] = t

    def _load(self, u: _Unit, count: bool = True):
        """Materialise a unit's tensors -> (tensors, event or None); their bytes count as live
        from here (a prefetched unit occupies memory while the current one computes) until the
        unit's forward hook frees them."""
        out, ev = {}, None
        dec = torch.ops.enec.decompress      # shape and dtype known: no header read-back
        ctx = self._api.stream(self._stream) if self._stream is not None else contextlib.nullcontext()
        with ctx:
            for attr, (kind, stored, dtype, shape) in u.entries.items():
                if kind == "raw":
                    out[attr] = stored.to(self.device, non_blocking=True)
                elif self._decode_on_device:
                    out[attr] = dec(stored.to(self.device, non_blocking=True), list(shape), dtype)
                else:
                    out[attr] = dec(stored, list(shape), dtype).to(self.device, non_blocking=True)
            if self._stream is not None:
                ev = self._api.Event()
                ev.record(self._stream)
        if count:
            with self._lock:
                self._live += sum(t.numel() * t.element_size() for t in out.values())
                self.peak_live = max(self.peak_live, self._live)
        return out, ev

    def _adopt(self, loaded):
        """On the compute (current) stream: wait for the side stream's work, and tell the
        allocator the tensors are in use there."""
        tensors, ev = loaded
        if ev is not None:
            cur = self._api.current_stream(self.device)
            cur.wait_event(ev)
            for t in tensors.values():
                t.record_stream(cur)
        return tensors

    def _next_of(self, u: _Unit):
        order = self._order if not self._recording else self.units
        try:
            i = order.index(u)
        except ValueError:
            return None
        return order[i + 1] if i + 1 < len(order) else (order[0] if not self._recording else None)

    def _make_pre(self, u: _Unit):
        def hook(mod, args):
            if self._recording:
                if u in self._order:
                    self._recording = False
                    self._drop_pending(keep=set(map(id, self._order)))
                else:
                    self._order.append(u)
            fut = self._pending.pop(id(u), None)
            tensors = self._adopt(fut.result() if fut is not None else self._load(u))
            for attr, t in tensors.items():
                self._set(mod, attr, t)
            with self._lock:
                self.materialisations += 1
            nxt = self._next_of(u)
            if self.prefetch and nxt is not None and nxt is not u and id(nxt) not in self._pending:
                self._pending[id(nxt)] = self._pool.submit(self._load, nxt)
        return hook

    def _make_post(self, u: _Unit):
        def hook(mod, args, output):
            freed = 0
            for attr, (kind, stored, dtype, shape) in u.entries.items():
                cur = mod._parameters.get(attr) if attr in mod._parameters else mod._buffers.get(attr)
                freed += cur.numel() * cur.element_size()
                self._set(mod, attr, torch.empty(0, dtype=dtype, device=self.device))
            with self._lock:
                self._live -= freed
        return hook

    def end_of_forward(self):
        """Call between forwards when the model is not run again (drops a pending prefetch)."""
        self._drop_pending()

    def _drop_pending(self, keep=()):
        """Wait for and discard prefetches of units not in `keep` (ids)."""
        for k in [k for k in self._pending if k not in keep]:
            dropped = self._adopt(self._pending.pop(k).result())
            with self._lock:
                self._live -= sum(t.numel() * t.element_size() for t in dropped.values())

    # ------------------------------------------------------------------ report / undo
    def stats(self) -> dict:
        full = sum(u.bytes_full for u in self.units)
        kept = sum(u.bytes_kept for u in self.units)
        return {"weights_bytes": full, "host_compressed_bytes": kept,
                "peak_materialised_bytes": self.peak_live,
                "device_saving": 1 - self.peak_live / full if full else 0.0,
                # where host and device memory are the same (CPU): compressed copies + peak
                "same_memory_bytes": kept + self.peak_live,
                "host_ratio": full / kept if kept else float("nan")}

    def state_dict(self) -> dict:
        """{qualified name: tensor}, every weight decompressed (on the device), e.g. to save it."""
        out = {}
        for u in self.units:
            for attr, t in self._adopt(self._load(u, count=False)).items():
                out[f"{u.name}.{attr}" if u.name else attr] = t
        return out

    def remove(self):
        """Restore the plain weights on the device and drop the hooks."""
        self.end_of_forward()
        for h in self._hooks:
            h.remove()
        for u in self.units:
            for attr, t in self._adopt(self._load(u, count=False)).items():
                self._set(u.module, attr, t)
        self._pool.shutdown()


def offload(model: nn.Module, device=None, prefetch: bool = True, pin: bool = True,
            blobs: dict | None = None, keep_on: str = "host") -> Offloaded:
    """Keep `model`'s weights compressed; see the module docstring. `blobs` ({qualified name:
    blob}, e.g. read from a compressed checkpoint) are kept as they are where their header matches
    the tensor, instead of compressing it again. A tensor shared by several modules (tied weights)
    is stored once. keep_on="device" keeps the blobs in the device's memory (DFloat11's way; needs
    enec's decompress kernel there, e.g. an Ascend NPU); "host" (default) in host memory."""
    return Offloaded(model, device, prefetch, pin, blobs, keep_on)
