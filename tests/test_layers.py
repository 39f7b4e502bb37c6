"""The package's modules import one way: down the layers (api -> ops -> cpu -> the codec
registry -> the codecs -> their implementations -> format), never back up, not even with an
import inside a function. Read from the source (ast), so a late import counts too."""
import ast
import os

import enec

PKG = os.path.dirname(enec.__file__)

# lower number = lower layer; a module may import its own layer or lower ones
LAYERS = {
    "errors": 0, "format": 0,
    "params": 1, "kernel_status": 1, "codecs._bits": 1, "codecs._info": 1, "_torch_private": 1, "_native_lib": 1,
    "reference": 2, "native": 2,
    "codecs.enec": 3, "codecs.qlc": 3, "codecs.apack": 3, "codecs.sparse": 3, "codecs.native": 3,
    "codecs.entropy": 3, "codecs.entropy_native": 3,
    "codecs": 4,
    "cpu": 5,
    "ops": 6,
    "api": 7,
}
TOP = 8          # everything else: checkpoint, offload, hf, cli, distributed, npu, __init__ ...


def _modules():
    for root, _, files in os.walk(PKG):
        for f in files:
            if f.endswith(".py"):
                rel = os.path.relpath(os.path.join(root, f), PKG)[:-3].replace(os.sep, ".")
                yield (rel[:-len(".__init__")] if rel.endswith(".__init__") else rel), os.path.join(root, f)


def _imports(name: str, path: str):
    """Names of the enec modules `name` imports (relative to the package)."""
    pkg = name.split(".")[:-1] if not path.endswith("__init__.py") else name.split(".")
    if name == "__init__":
        pkg = []
    tree = ast.parse(open(path).read())
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg[:len(pkg) - (node.level - 1)] if node.level > 1 else pkg
                mod = ".".join(base + ([node.module] if node.module else []))
            elif node.module and (node.module == "enec" or node.module.startswith("enec.")):
                mod = node.module[len("enec."):] if node.module != "enec" else ""
            else:
                continue
            for alias in node.names:        # `from . import x` may name a module
                sub = f"{mod}.{alias.name}" if mod else alias.name
                yield sub if sub in LAYERS or any(m == sub for m, _ in _modules()) else mod
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("enec."):
                    yield alias.name[len("enec."):]


def test_imports_go_down_the_layers():
    names = dict(_modules())
    assert "codecs.enec" in names and "format" in names
    bad = []
    for name, path in names.items():
        here = LAYERS.get(name, TOP)
        for dep in _imports(name, path):
            if dep and LAYERS.get(dep, TOP) > here:
                bad.append(f"{name} (layer {here}) imports {dep} (layer {LAYERS.get(dep, TOP)})")
    assert not bad, "\n".join(sorted(set(bad)))


def test_format_imports_only_errors():
    deps = set(_imports("format", os.path.join(PKG, "format.py"))) - {""}
    assert deps <= {"errors"}, deps
