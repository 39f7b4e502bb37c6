"""The `enec` command line on the real all-MiniLM-L6-v2 checkpoint: compress / inspect / decompress,
--force, clear errors with a non-zero exit, no partial outputs, bench delegation."""
import contextlib
import os
import select
import signal
import subprocess
import sys
import time

import pytest
import torch
from safetensors import safe_open as st_open
from safetensors.torch import load_file as st_load
from safetensors.torch import save_file as st_save

import enec
from enec import checkpoint
import testdata
from conftest import assert_bit_equal

ENEC = os.path.join(os.path.dirname(sys.executable), "enec")     # the console entry point


def _cli(*args, env=None):
    return subprocess.run([sys.executable, "-m", "enec.cli", *map(str, args)], capture_output=True,
                          text=True, env=env)


def test_cli_roundtrip_inspect_force(tmp_path, minilm_fp32):
    src = testdata.minilm_path()
    out, back = tmp_path / "m.enec", tmp_path / "back.safetensors"
    r = subprocess.run([ENEC, "compress", str(src), str(out)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    ratio = os.path.getsize(src) / os.path.getsize(out)
    assert f"ratio {ratio:.4f}" in r.stdout and ratio > 1.1
    # every tensor bit-exact, the I64 tensor included, read by the library
    back_sd = checkpoint.load_file(out)
    assert sorted(back_sd) == sorted(minilm_fp32)
    for k in minilm_fp32:
        assert_bit_equal(back_sd[k], minilm_fp32[k])

    before = out.read_bytes()
    r = _cli("compress", src, out)                      # exists: refused, untouched
    assert r.returncode == 1 and "exists" in r.stderr and "--force" in r.stderr
    assert out.read_bytes() == before
    assert _cli("compress", src, out, "--force").returncode == 0

    r = _cli("inspect", out)
    assert r.returncode == 0, r.stderr
    assert "encoder.layer.5.output.dense.weight" in r.stdout and "total: 104 tensors" in r.stdout
    # totals against an independent count of the original bytes
    orig = sum(t.numel() * t.element_size() for t in minilm_fp32.values())
    assert f"{orig / 1e6:.2f} MB of data" in r.stdout
    row = next(line for line in r.stdout.splitlines() if line.startswith("embeddings.position_ids"))
    assert " raw " in row and "int64" in row

    assert _cli("decompress", out, back).returncode == 0
    assert back.read_bytes() == src.read_bytes()        # the original file, byte for byte
    back.write_bytes(b"keep me")
    r = _cli("decompress", out, back)
    assert r.returncode == 1 and "exists" in r.stderr and back.read_bytes() == b"keep me"
    assert _cli("decompress", out, back, "--force").returncode == 0
    assert back.read_bytes() == src.read_bytes()


def test_cli_bad_inputs(tmp_path):
    bad = tmp_path / "bad.safetensors"
    bad.write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00not json")
    for cmd in ("inspect", "compress", "decompress"):
        args = [cmd, bad] + ([] if cmd == "inspect" else [tmp_path / f"o-{cmd}"])
        r = _cli(*args)
        assert r.returncode == 1 and "error" in r.stderr and "Traceback" not in r.stderr, r.stderr
    r = _cli("compress", tmp_path / "missing.safetensors", tmp_path / "o")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    # truncated data section (a download cut short)
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(testdata.minilm_path().read_bytes()[:5_000_000])
    r = _cli("compress", cut, tmp_path / "o")
    assert r.returncode == 1 and "Traceback" not in r.stderr
    # compressing an enec file twice is refused
    enc = tmp_path / "e.safetensors"
    checkpoint.save_file({"w": torch.randn(30_000).bfloat16()}, enc)
    r = _cli("compress", enc, tmp_path / "o")
    assert r.returncode == 1 and "already" in r.stderr
    assert sorted(os.listdir(tmp_path)) == ["bad.safetensors", "cut.safetensors", "e.safetensors"]


def test_cli_corrupt_compressed_tensor(tmp_path):
    out = tmp_path / "c.safetensors"
    w = torch.randn(50_000).bfloat16()
    checkpoint.save_file({"w": w, "b": torch.arange(5)}, out)
    sd = st_load(str(out))
    blob = sd["w"].clone()
    blob[len(blob) // 2:] ^= 0x5A                         # damage the second half of the stream
    sd["w"] = blob[:-7].clone()                           # and cut it short
    with st_open(str(out), framework="pt") as f:
        md = f.metadata()
    st_save(sd, str(out), metadata=md)
    r = _cli("decompress", out, tmp_path / "plain.safetensors")
    assert r.returncode == 1 and "error" in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert not (tmp_path / "plain.safetensors").exists()
    assert sorted(os.listdir(tmp_path)) == ["c.safetensors"]


def test_cli_bench_delegates_or_explains(tmp_path):
    env = dict(os.environ, ENEC_BENCH_SCRIPT=str(tmp_path / "absent.py"))
    r = _cli("bench", env=env)
    assert r.returncode != 0 and "not found" in r.stderr and "Traceback" not in r.stderr
    fake = tmp_path / "bench.py"
    fake.write_text("import sys\nprint('ARGS', sys.argv[1:])\nsys.exit(3)\n")
    r = _cli("bench", "--quick", "x", env=dict(os.environ, ENEC_BENCH_SCRIPT=str(fake)))
    assert r.returncode == 3 and "ARGS ['--quick', 'x']" in r.stdout


# The child of the kill test: the CLI, with a hook in the checkpoint writer's loop that, once two
# tensors are written, tells the parent (one byte on a pipe) and blocks; the parent then kills it.
# So the kill lands inside the write, never before or after it.
_WRITER_STOPPED_MID_WRITE = r"""
import os, sys, time
from enec import checkpoint, cli
signal_fd, tmpfile, args = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
if tmpfile == "named temporary":
    checkpoint._linkat = lambda: None            # no O_TMPFILE: the fallback path
tensor_bytes, calls = checkpoint._tensor_bytes, [0]
def tensor_bytes_then_block(t):
    calls[0] += 1
    if calls[0] == 3:
        os.write(signal_fd, b"w")
        time.sleep(600)
    return tensor_bytes(t)
checkpoint._tensor_bytes = tensor_bytes_then_block
sys.exit(cli.main(args))
"""


def _files_being_written(pid, folder):
    """(target, size) of the files process `pid` has open in `folder`, from /proc."""
    found = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
            if os.path.dirname(target) == str(folder) and not target.endswith("in.safetensors"):
                found.append((target, os.stat(f"/proc/{pid}/fd/{fd}").st_size))
    return found


@pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc (Linux)")
@pytest.mark.parametrize("overwrite", [False, True], ids=["new output", "--force over a file"])
@pytest.mark.parametrize("tmpfile", ["O_TMPFILE", "named temporary"])
def test_killed_in_the_middle_of_the_write_leaves_no_output(tmp_path, tmpfile, overwrite):
    """SIGKILL while `enec compress` is writing its output (after two of eight tensors): the
    output does not exist, or still holds the previous complete file; no temporary has the
    output's name; a named temporary left by the killed writer is removed by the next write."""
    if tmpfile == "O_TMPFILE" and not hasattr(os, "O_TMPFILE"):
        pytest.skip("no O_TMPFILE on this platform")
    src, out = tmp_path / "in.safetensors", tmp_path / "out.safetensors"
    st_save({f"w{i}": torch.randn(400_000) for i in range(8)}, str(src))
    previous = None
    if overwrite:
        checkpoint.save_file({"old": torch.arange(10.0)}, out)
        previous = out.read_bytes()
    r, w = os.pipe()
    args = ["compress", str(src), str(out)] + (["--force"] if overwrite else [])
    p = subprocess.Popen([sys.executable, "-c", _WRITER_STOPPED_MID_WRITE, str(w), tmpfile, *args],
                         pass_fds=(w,), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    os.close(w)
    try:
        ready, _, _ = select.select([r], [], [], 300)
        assert ready and os.read(r, 1) == b"w", p.communicate(timeout=60)
        # inside the write: a file in the folder is open and holds bytes already
        writing = _files_being_written(p.pid, tmp_path)
        assert len(writing) == 1 and writing[0][1] > 0, writing
        if tmpfile == "O_TMPFILE":
            assert writing[0][0].endswith("(deleted)"), writing        # unnamed until complete
        else:
            assert checkpoint._TMP_NAME.fullmatch(os.path.basename(writing[0][0])), writing
    finally:
        p.kill()
        p.communicate()
        os.close(r)
    assert p.returncode == -signal.SIGKILL
    expected = ["in.safetensors"] + (["out.safetensors"] if overwrite else [])
    left = sorted(os.listdir(tmp_path))
    temps = [n for n in left if n not in expected]
    if overwrite:
        assert out.read_bytes() == previous
    else:
        assert not out.exists()
    if tmpfile == "O_TMPFILE":
        assert left == expected
    else:                 # a SIGKILLed process cannot remove it: one hidden, unloadable name
        assert len(temps) == 1 and checkpoint._TMP_NAME.fullmatch(temps[0]), left
        assert sorted(set(left) - set(temps)) == expected
    r2 = _cli("compress", src, out, "--force")            # the next write into the folder
    assert r2.returncode == 0, r2.stderr
    assert sorted(os.listdir(tmp_path)) == ["in.safetensors", "out.safetensors"]
    back, orig = checkpoint.load_file(out), st_load(str(src))
    assert sorted(back) == sorted(orig)
    for k in orig:
        assert_bit_equal(back[k], orig[k])


def test_interrupted_compression_says_so_and_leaves_nothing(tmp_path):
    """Ctrl-C (SIGINT) in the middle: exit 130 with a message, no output, no temporary file."""
    src = tmp_path / "in.safetensors"
    st_save({f"w{i}": torch.randn(400_000) for i in range(100)}, str(src))
    out = tmp_path / "out.safetensors"
    # imports first (they take seconds on a loaded machine), then the CLI's own main()
    run = ("import sys, enec.cli; print('ready', flush=True); "
           "sys.exit(enec.cli.main(['compress', sys.argv[1], sys.argv[2]]))")
    for delay in (0.1, 0.3):
        p = subprocess.Popen([sys.executable, "-c", run, str(src), str(out)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert p.stdout.readline() == "ready\n"
        time.sleep(delay)
        p.send_signal(signal.SIGINT)
        _, err = p.communicate()
        # finished before the signal, or the signal came during interpreter shutdown after
        # main() returned (Python then exits by SIGINT): either way the output is complete
        if p.returncode in (0, -signal.SIGINT) and "interrupted" not in err:
            assert sorted(checkpoint.load_file(out)) == sorted(st_load(str(src)))
            out.unlink()
            continue
        assert p.returncode == 130 and "interrupted" in err and "Traceback" not in err, err
        if "was written (it is complete)" in err:          # the interrupt came after the output's name
            assert sorted(checkpoint.load_file(out)) == sorted(st_load(str(src)))
            out.unlink()
        assert sorted(os.listdir(tmp_path)) == ["in.safetensors"], err


def test_cli_every_codec_in_one_file(tmp_path):
    """FP8 (QLC), INT8 (APack), pruned BF16 (sparse), BF16 (ENEC) and an I64 tensor (raw) in one
    checkpoint: the decompressed file equals the original byte for byte; inspect names each codec."""
    g = torch.Generator().manual_seed(3)
    w = torch.randn(300, 300, generator=g)
    sd = {"fp8": (w * 40).to(torch.float8_e4m3fn),
          "int8": (w * 20).round().clamp(-127, 127).to(torch.int8),
          "pruned": torch.where(w.abs() < 1.3, torch.zeros_like(w), w).bfloat16(),
          "bf16": (w * 0.02).bfloat16(),
          "ids": torch.arange(77)}
    src, out, back = tmp_path / "in.safetensors", tmp_path / "c.safetensors", tmp_path / "back.safetensors"
    st_save(sd, str(src))
    assert _cli("compress", src, out).returncode == 0
    r = _cli("inspect", out)
    assert r.returncode == 0, r.stderr
    codec_of = {line.split()[0]: line.split()[1] for line in r.stdout.splitlines()[1:-1]}
    assert codec_of == {"fp8": "qlc", "int8": "apack", "pruned": "sparse", "bf16": "enec", "ids": "raw"}
    assert _cli("decompress", out, back).returncode == 0
    assert back.read_bytes() == src.read_bytes()


# --------------------------------------------------------------------------- what a new user meets

def _plain_file(tmp_path, name="plain.safetensors"):
    p = tmp_path / name
    g = torch.Generator().manual_seed(5)
    st_save({"w": (torch.randn(400, 300, generator=g) * 0.02).bfloat16(), "ids": torch.arange(12)}, str(p))
    return p


def test_cli_version_and_help_texts():
    from enec import __version__
    r = _cli("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"enec {__version__}"
    for cmd in ("compress", "decompress"):
        h = _cli(cmd, "--help").stdout
        opts = h[h.index("positional arguments"):]
        for arg in ("input", "output", "--force"):
            line = next(l for l in opts.splitlines() if l.strip().startswith(arg))
            assert len(line.split()) > 1, (cmd, arg, line)        # a help text follows the name
        assert "overwrite an existing output" in h
    assert "enec compress" in _cli("inspect", "--help").stdout


def test_cli_decompress_refuses_a_plain_file(tmp_path):
    plain = _plain_file(tmp_path)
    r = _cli("decompress", plain, tmp_path / "out.safetensors")
    assert r.returncode == 1 and "not an enec-compressed checkpoint" in r.stderr and "Traceback" not in r.stderr
    assert sorted(os.listdir(tmp_path)) == ["plain.safetensors"]


def test_cli_compress_in_place_reports_the_real_ratio(tmp_path):
    f = _plain_file(tmp_path)
    before = os.path.getsize(f)
    r = _cli("compress", f, f, "--force")
    assert r.returncode == 0, r.stderr
    ratio = before / os.path.getsize(f)
    assert ratio > 1.2 and f"ratio {ratio:.4f}" in r.stdout, r.stdout
    assert checkpoint.is_enec_file(f)


def test_cli_missing_output_folder_is_named(tmp_path):
    plain = _plain_file(tmp_path)
    for cmd, src in (("compress", plain), ("decompress", tmp_path / "c.safetensors")):
        if cmd == "decompress":
            assert _cli("compress", plain, src).returncode == 0
        r = _cli(cmd, src, tmp_path / "nowhere" / "o.safetensors")
        assert r.returncode == 1 and f"the output folder {tmp_path / 'nowhere'} does not exist" in r.stderr
        assert ".tmp" not in r.stderr and "Traceback" not in r.stderr


def test_exists_messages_speak_cli_and_api(tmp_path):
    plain = _plain_file(tmp_path)
    out = tmp_path / "c.safetensors"
    assert _cli("compress", plain, out).returncode == 0
    for r in (_cli("compress", plain, out), _cli("decompress", out, plain)):
        assert r.returncode == 1 and "exists (use --force to overwrite)" in r.stderr and "force=True" not in r.stderr
    for call in (lambda: checkpoint.compress_file(plain, out), lambda: checkpoint.decompress_file(out, plain),
                 lambda: checkpoint.save_file({"w": torch.zeros(3)}, out)):
        try:
            call()
            raise AssertionError("an existing output was replaced")
        except FileExistsError as e:
            assert "pass force=True" in str(e) and "--force" not in str(e)


def test_bench_goals_are_explained_and_opt_in():
    """`enec bench` prints the project's speed goals only with --targets, each with its figures,
    after a paragraph saying what they are; FP16's goal is computed against BF16's row."""
    import importlib.util
    import pathlib
    path = pathlib.Path(__file__).resolve().parent.parent / "scripts" / "bench.py"
    spec = importlib.util.spec_from_file_location("enec_bench_script", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    rows = [{"dataset": d, "threads": 2, "codec": "enec-native", "compress_GBps": c, "compress_GBps_median": c,
             "decompress_GBps": c, "decompress_GBps_median": c} for d, c in (("bf", 4.0), ("fp", 3.0))]
    tg = bench.fp16_targets(rows, "bf", "fp", 2)
    assert [t["met"] for t in tg] == [False] * 4 and tg[0]["factor"] == 0.75
    text = bench.targets_text(tg, "bf", 2)
    assert "ZipNN" in text and "memory copies" in text and "not an error" in text
    assert sum(line.endswith("not met") for line in text.splitlines()) == 4 and "NOT met" not in text
    src = path.read_text()
    assert 'if tg and args.targets:' in src and '"--targets"' in src


def test_interrupt_turned_into_another_error_is_still_an_interrupt(monkeypatch, capsys):
    """A Ctrl-C landing inside a C extension may surface as another exception (torch building a
    tensor for safetensors raised ValueError): the CLI still reports the interrupt, exit 130."""
    import enec.cli as cli

    def interrupted_inside_c(a):
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(5)
        except KeyboardInterrupt:
            raise ValueError("could not determine the shape of object type 'torch.storage.UntypedStorage'")

    monkeypatch.setattr(cli, "cmd_inspect", interrupted_inside_c)
    before = signal.getsignal(signal.SIGINT)
    assert cli.main(["inspect", "x.safetensors"]) == 130
    assert "interrupted; no output written" in capsys.readouterr().err
    assert signal.getsignal(signal.SIGINT) is before          # the handler is put back


def test_cli_compress_max_and_codec_entropy(tmp_path):
    """--max keeps the smallest blob per tensor (entropy for bell-shaped float weights, never
    larger than auto's); --codec entropy applies to the float tensors, the others get auto; both
    decompress to the original file byte for byte."""
    g = torch.Generator().manual_seed(8)
    w = torch.randn(400, 300, generator=g)
    sd = {"bf16": (w * 0.02).bfloat16(), "fp16": (w * 0.02).half(), "fp32": w * 0.02,
          "fp8": (w * 40).to(torch.float8_e4m3fn), "ids": torch.arange(33)}
    src = tmp_path / "in.safetensors"
    st_save(sd, str(src))
    sizes = {}
    for opt in ([], ["--max"], ["--codec", "entropy"]):
        out, back = tmp_path / f"c{len(opt)}.safetensors", tmp_path / f"b{len(opt)}.safetensors"
        r = _cli("compress", src, out, *opt)
        assert r.returncode == 0, r.stderr
        sizes[" ".join(opt)] = os.path.getsize(out)
        r = _cli("inspect", out)
        codec_of = {line.split()[0]: line.split()[1] for line in r.stdout.splitlines()[1:-1]}
        floats = "enec" if not opt else "entropy"
        fp8 = codec_of.pop("fp8")
        assert codec_of == {"bf16": floats, "fp16": floats, "fp32": floats, "ids": "raw"}
        if opt == ["--max"]:             # the smaller of the two FP8 codecs
            sizes_fp8 = {c: enec.compress(sd["fp8"], codec=c).numel() for c in ("qlc", "apack")}
            assert fp8 == min(sizes_fp8, key=sizes_fp8.get)
        else:
            assert fp8 == "qlc"
        assert _cli("decompress", out, back).returncode == 0
        assert back.read_bytes() == src.read_bytes()
    assert sizes["--max"] < sizes[""]
    r = _cli("compress", src, tmp_path / "x.safetensors", "--max", "--codec", "enec")
    assert r.returncode != 0 and "not allowed with" in r.stderr


def test_interrupt_message_says_whether_the_output_was_written(tmp_path, monkeypatch, capsys):
    """An interrupt after the output got its name must not claim that nothing was written."""
    import enec.cli as cli
    out = tmp_path / "out.safetensors"

    def after_write(a):
        out.write_bytes(b"complete")
        raise KeyboardInterrupt

    def before_write(a):
        raise KeyboardInterrupt
    for fn, expect in ((before_write, "no output written"), (after_write, "was written (it is complete)")):
        monkeypatch.setattr(cli, "cmd_compress", fn)
        assert cli.main(["compress", str(tmp_path / "in.safetensors"), str(out)]) == 130
        assert expect in capsys.readouterr().err
