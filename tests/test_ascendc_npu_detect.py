"""NPU backend detection never breaks `import enec` and says why the NPU path is off."""
import os
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parents[1]


def _run(code, extra_path=None):
    env = dict(os.environ)
    if extra_path:
        env["PYTHONPATH"] = os.pathsep.join([str(extra_path), env.get("PYTHONPATH", "")])
    env["TORCH_DEVICE_BACKEND_AUTOLOAD"] = "0"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)


def test_without_torch_npu():
    import enec.npu as npu
    st = npu.status()
    assert st["backend"] == "cpu" and not st["loaded"]
    assert "torch_npu is not installed" in st["reason"]


def test_broken_torch_npu_does_not_break_import(tmp_path):
    """torch_npu installed without CANN raises OSError (libhccl.so) on import."""
    pkg = tmp_path / "torch_npu"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("raise OSError('libhccl.so: cannot open shared object file')\n")
    r = _run("import enec, enec.npu as n, torch; s = n.status(); "
             "b = enec.decompress(enec.compress(torch.ones(3))); print(s['backend'], '|', s['reason'], '|', b.sum().item())",
             tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("cpu |") and "libhccl.so" in r.stdout and r.stdout.strip().endswith("3.0")


def test_torch_npu_without_device(tmp_path):
    pkg = tmp_path / "torch_npu"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(
        "import torch, types\n"
        "torch.npu = types.SimpleNamespace(is_available=lambda: False)\n")
    r = _run("import enec.npu as n; s = n.status(); print(s['torch_npu'], s['device'], s['reason'])", tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("True False") and "no NPU device" in r.stdout


def test_device_but_library_missing(tmp_path):
    pkg = tmp_path / "torch_npu"
    pkg.mkdir()
    (pkg / "__init__.py").write_text(
        "import torch, types\n"
        "torch.npu = types.SimpleNamespace(is_available=lambda: True)\n")
    r = _run("import os; os.environ['ENEC_NPU_LIB'] = '/nonexistent/libenec_npu.so'\n"
             "import enec.npu as n; s = n.status(); print(s['loaded'], s['reason'])", tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("False") and "scripts/build_npu.sh" in r.stdout
