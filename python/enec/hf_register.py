"""Register enec with transformers when transformers is used, without importing it ourselves.

Importing transformers takes seconds, and enec does not depend on it. So `import enec` only
checks that transformers is installed (a path lookup), then:
  * if transformers' quantizer registry is already imported, registers enec.hf right away;
  * otherwise adds an import hook that registers enec.hf the moment that module
    (transformers.quantizers.auto, which from_pretrained imports) finishes importing, and then
    removes itself.
A failure to register (a transformers without the registry) is a warning, never an import error.
"""
from __future__ import annotations

import importlib.abc
import importlib.util
import sys
import warnings

_REGISTRY = "transformers.quantizers.auto"


def _register() -> None:
    try:
        from . import hf
        hf.register()
    except Exception as e:           # an incompatible transformers must not break its own import
        warnings.warn(f"enec: could not register the 'enec' quantization method with transformers "
                      f"({type(e).__name__}: {e}); compressed folders will not load with from_pretrained")


class _Loader(importlib.abc.Loader):
    """Runs the registry module's own loader, then registers enec."""

    def __init__(self, inner):
        self.inner = inner

    def create_module(self, spec):
        return self.inner.create_module(spec)

    def exec_module(self, module):
        self.inner.exec_module(module)
        _register()


class _Finder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        if fullname != _REGISTRY:
            return None
        sys.meta_path.remove(self)           # once; and lets the lookup below find the real spec
        spec = importlib.util.find_spec(fullname)
        if spec is not None and spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _Loader(spec.loader)
        return spec


def install() -> None:
    if _REGISTRY in sys.modules:
        _register()
        return
    try:
        if importlib.util.find_spec("transformers") is None:
            return
    except (ImportError, ValueError):
        return
    if not any(isinstance(f, _Finder) for f in sys.meta_path):
        sys.meta_path.insert(0, _Finder())
