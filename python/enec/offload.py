"""Keep a module's weights compressed in host memory; decompress each layer just before it runs.

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
"""
from __future__ import annotations

import threading
from concurrent.futures import Future, ThreadPoolExecutor

import torch
from torch import nn

from .api import compress, decompress


def _has_device_kernel(device: torch.device) -> bool:
    if device.type == "cpu":
        return True
    key = "PrivateUse1" if device.type not in ("cuda", "meta") else device.type.upper()
    try:
        return torch._C._dispatch_has_kernel_for_dispatch_key("enec::decompress", key)
    except Exception:
        return False


class _Unit:
    def __init__(self, module: nn.Module, name: str):
        self.module, self.name = module, name
        self.entries = {}     # attr -> (kind, stored, dtype, shape) ; kind "enec" | "raw"
        self.bytes_full = 0
        self.bytes_kept = 0


class Offloaded:
    def __init__(self, model: nn.Module, device=None, prefetch: bool = True, pin: bool = True):
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
        pin = pin and self.device.type != "cpu"
        on_device = _has_device_kernel(self.device)
        self._decode_on_device = on_device and self.device.type != "cpu"
        for name, mod in model.named_modules():
            own = list(mod._parameters.items()) + list(mod._buffers.items())
            own = [(k, v) for k, v in own if v is not None]
            if not own:
                continue
            u = _Unit(mod, name)
            for attr, t in own:
                t = t.detach()
                u.bytes_full += t.numel() * t.element_size()
                blob = compress(t.cpu()) if t.dtype in (torch.bfloat16, torch.float16, torch.float32) else None
                if blob is not None and blob.numel() < t.numel() * t.element_size():
                    stored, kind = blob, "enec"
                else:
                    stored, kind = t.cpu().clone(), "raw"
                if pin:
                    try:
                        stored = stored.pin_memory()
                    except RuntimeError:
                        pass
                u.bytes_kept += stored.numel() * stored.element_size()
                u.entries[attr] = (kind, stored, t.dtype, tuple(t.shape))
                self._set(mod, attr, torch.empty(0, dtype=t.dtype, device=self.device))
            self.units.append(u)
            self._hooks.append(mod.register_forward_pre_hook(self._make_pre(u)))
            self._hooks.append(mod.register_forward_hook(self._make_post(u)))

    # ------------------------------------------------------------------ materialise / free
    @staticmethod
    def _set(mod, attr, t):
        if attr in mod._parameters:
            mod._parameters[attr].data = t
        else:
            mod._buffers[attr] = t

    def _load(self, u: _Unit, count: bool = True) -> dict:
        """Materialise a unit's tensors; their bytes count as live from here (a prefetched unit
        occupies memory while the current one computes) until the unit's forward hook frees them."""
        out = {}
        for attr, (kind, stored, dtype, shape) in u.entries.items():
            if kind == "raw":
                out[attr] = stored.to(self.device, non_blocking=True)
            elif self._decode_on_device:
                out[attr] = decompress(stored.to(self.device, non_blocking=True))
            else:
                out[attr] = decompress(stored).to(self.device, non_blocking=True)
        if count:
            with self._lock:
                self._live += sum(t.numel() * t.element_size() for t in out.values())
                self.peak_live = max(self.peak_live, self._live)
        return out

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
            tensors = fut.result() if fut is not None else self._load(u)
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
            dropped = self._pending.pop(k).result()
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

    def remove(self):
        """Restore the plain weights on the device and drop the hooks."""
        self.end_of_forward()
        for h in self._hooks:
            h.remove()
        for u in self.units:
            for attr, t in self._load(u, count=False).items():
                self._set(u.module, attr, t)
        self._pool.shutdown()


def offload(model: nn.Module, device=None, prefetch: bool = True, pin: bool = True) -> Offloaded:
    """Keep `model`'s weights compressed; see the module docstring."""
    return Offloaded(model, device, prefetch, pin)
