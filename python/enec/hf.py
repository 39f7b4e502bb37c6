"""Loading compressed model folders with transformers' `from_pretrained`, through its quantizer
registry (`register_quantization_config` / `register_quantizer`, quant_method "enec").

    import enec                                   # registers "enec" with transformers
    model = transformers.AutoModel.from_pretrained("model-enec/")   # written by `enec compress`

The folder's config.json names the method (enec.hf_folder). While transformers reads the
checkpoint, every tensor stored as an enec blob (1-D U8) is decompressed to the parameter it
belongs to, then cast to that parameter's dtype exactly as transformers casts plain tensors, so
the model is bit for bit the one loaded from the uncompressed folder. Sharded folders load shard
by shard as usual; tied weights are tied by transformers afterwards as for any folder.

After loading, the model is a plain model (no quantizer attached): `save_pretrained` writes an
ordinary uncompressed folder, which `enec compress` compresses again.

With `keep_compressed` in the quantization_config the weights stay compressed in memory after
loading (enec.offload: the blobs read from the folder are kept, and each module's tensors are
decompressed just before it runs, on the device the model is on). Set it in config.json, or:

    cfg = transformers.AutoConfig.from_pretrained("model-enec/")
    cfg.quantization_config["keep_compressed"] = True
    model = transformers.AutoModel.from_pretrained("model-enec/", config=cfg)
    model.enec_offload.stats()                    # bytes kept, peak materialised

Such a model's `save_pretrained` also writes the weights uncompressed; its config keeps the
quantization_config, so loading that folder again keeps the weights compressed in memory.
Loading itself decompresses every tensor once (the peak while loading is the plain model's).

This module imports transformers; `import enec` registers it only when transformers is imported
(enec.hf_register), so enec alone never pays for it.
"""
from __future__ import annotations

import functools

import torch
# the defining modules, not transformers.quantizers: this may run while that package is still
# being imported (enec.hf_register registers right after its `auto` module is loaded)
from transformers.quantizers.auto import register_quantization_config, register_quantizer
from transformers.quantizers.base import HfQuantizer
from transformers.utils.quantization_config import QuantizationConfigMixin

from . import hf_folder
from .api import decompress, header_of
from .errors import EnecError
from .offload import _has_device_kernel, offload


class EnecConfig(QuantizationConfigMixin):
    """quantization_config of a folder written by `enec compress`."""

    def __init__(self, keep_compressed: bool = False, format_version: int = hf_folder.FORMAT_VERSION,
                 weights_dtype: str | None = None, **kwargs):
        self.quant_method = hf_folder.QUANT_METHOD
        self.format_version = format_version
        self.keep_compressed = bool(keep_compressed)
        self.weights_dtype = weights_dtype
        if format_version != hf_folder.FORMAT_VERSION:
            raise EnecError(f"quantization_config names enec folder format {format_version!r}; this "
                            f"enec reads format {hf_folder.FORMAT_VERSION}")


def _target(model, name):
    try:
        return model.get_parameter_or_buffer(name)
    except (AttributeError, KeyError, ValueError):
        return None


@functools.lru_cache(maxsize=None)
def decompress_op():
    """The conversion op class, built on first use: transformers.core_model_loading is imported
    with the model classes, after the registry."""
    from transformers.core_model_loading import ConversionOps, _IdentityOp

    class EnecDecompress(ConversionOps):
        """Checkpoint tensors -> model tensors: a 1-D U8 tensor that is not already what the target
        parameter holds is an enec blob and is decompressed (its header is checked against the
        folder's metadata); everything is then cast to the target parameter's dtype. Runs as the
        converter of every compressed tensor name, and first in the model's own converters (merges of
        per-expert weights and the like: casting commutes with them)."""

        def __init__(self, hf_quantizer):
            self.hf_quantizer = hf_quantizer

        def __deepcopy__(self, memo):
            # transformers deep-copies a converter per parameter; the quantizer (its metadata and
            # the blobs kept for keep_compressed) must stay the one shared instance
            return type(self)(self.hf_quantizer)

        def _one(self, t: torch.Tensor, target, name: str) -> torch.Tensor:
            is_blob = t.dtype == torch.uint8 and t.dim() == 1 and not (
                target is not None and target.dtype == torch.uint8 and tuple(target.shape) == tuple(t.shape))
            if is_blob:
                blob = t
                info = self.hf_quantizer.compressed.get(name)
                if info is not None:
                    h = header_of(blob.cpu() if blob.device.type != "cpu" else blob, full=False)
                    if h.dtype.name != info["dtype"] or list(h.shape) != list(info["shape"]):
                        raise EnecError(f"tensor {name!r}: blob holds {h.dtype.name} {list(h.shape)}, the "
                                        f"folder's metadata says {info['dtype']} {info['shape']}")
                if t.device.type == "cpu" or _has_device_kernel(t.device):
                    t = decompress(blob)
                else:                                         # no enec kernel there: decode on the host
                    t = decompress(blob.cpu()).to(blob.device)
                if self.hf_quantizer.quantization_config.keep_compressed:
                    self.hf_quantizer.blobs[name] = blob.cpu()
            if target is not None and t.dtype != target.dtype:
                t = t.to(target.dtype)
            return t

        def convert(self, input_dict, source_patterns=None, target_patterns=None, full_layer_name=None,
                    model=None, **kwargs):
            target = _target(model, full_layer_name) if model is not None and full_layer_name else None
            out = {}
            for key, tensors in input_dict.items():
                many = isinstance(tensors, list)
                out[key] = [self._one(t, target, full_layer_name) for t in (tensors if many else [tensors])]
                out[key] = out[key] if many else out[key][0]
            return out

        @property
        def reverse_op(self) -> ConversionOps:
            return _IdentityOp()        # the model holds plain tensors: saved as they are

    return EnecDecompress


class EnecHfQuantizer(HfQuantizer):
    """Decompresses an enec folder while transformers loads it (see the module docstring)."""

    requires_calibration = True           # only folders written by enec: nothing to quantize

    def __init__(self, quantization_config, **kwargs):
        super().__init__(quantization_config, **kwargs)
        self.compressed = {}              # checkpoint name -> {"dtype", "shape", "codec"}
        self.blobs = {}                   # parameter name -> blob, kept for keep_compressed
        self.serialized_names = {}
        self.enec_offload = None

    def _process_model_before_weight_loading(self, model, checkpoint_files=None, **kwargs):
        from .checkpoint import _read_meta
        for path in checkpoint_files or ():
            if str(path).endswith(".safetensors"):
                self.compressed.update(_read_meta(path)[0])
        # one converter per parameter leaf name that has compressed tensors ("weight", "bias"):
        # transformers matches converters by the end of the tensor name
        self.serialized_names = {n.rpartition(".")[2]: [n.rpartition(".")[2]] for n in self.compressed}
        return model

    def update_dtype(self, dtype):
        # dtype="auto" on a config without a dtype reads the first floating checkpoint tensor; in
        # an enec folder that may be a U8 blob: take the compressed weights' dtype instead
        wd = getattr(torch, self.quantization_config.weights_dtype or "", None)
        if isinstance(dtype, torch.dtype) and not dtype.is_floating_point and isinstance(wd, torch.dtype):
            return wd
        return dtype

    def get_load_operations(self) -> dict:
        return {"deserialize": decompress_op(), "dequantize": decompress_op()}

    def get_new_dtype(self, converter, param, dtype):
        # tensors that go through EnecDecompress are cast there, after decompression; all others
        # are cast by transformers as in a plain folder
        ours = any(getattr(op, "hf_quantizer", None) is self for op in getattr(converter, "operations", ()))
        return None if ours else dtype

    def _process_model_after_weight_loading(self, model, **kwargs):
        if not self.quantization_config.keep_compressed:
            self._detach(model)           # a plain model from here on (transformers attached us)
            return model
        device = next((p.device for p in model.parameters()), torch.device("cpu"))
        # on a device with enec's kernel (an Ascend NPU) the blobs stay in its memory, as DFloat11
        # does on GPUs; elsewhere in host memory, decoded there and copied per module
        keep_on = "device" if device.type != "cpu" and _has_device_kernel(device) else "host"
        model.enec_offload = self.enec_offload = offload(model, device, blobs=self.blobs, keep_on=keep_on)
        self.blobs = {}
        return model

    @staticmethod
    def _detach(model):
        for m in model.modules():
            if getattr(m, "hf_quantizer", None) is not None:
                del m.hf_quantizer
            cfg = getattr(m, "config", None)
            if cfg is not None and getattr(cfg, "quantization_config", None) is not None:
                del cfg.quantization_config
            if hasattr(m, "quantization_method"):
                del m.quantization_method
            if hasattr(m, "is_quantized"):
                m.is_quantized = False
            if cfg is not None and hasattr(cfg, "_is_quantized"):
                cfg._is_quantized = False

    def get_state_dict_and_metadata(self, model):
        if self.enec_offload is not None:   # weights kept compressed: save them decompressed
            return self.enec_offload.state_dict(), {}
        return None, {}

    def is_serializable(self):
        return True

    @property
    def is_trainable(self):
        return False


_registered = False


def register() -> None:
    """Register "enec" with transformers' quantizer registry (once)."""
    global _registered
    if _registered:
        return
    register_quantization_config(hf_folder.QUANT_METHOD)(EnecConfig)
    register_quantizer(hf_folder.QUANT_METHOD)(EnecHfQuantizer)
    _registered = True


register()
