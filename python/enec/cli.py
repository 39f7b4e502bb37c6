"""The `enec` command line: compress, decompress and inspect safetensors checkpoints; bench."""
from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time

from .errors import InvalidCheckpointError


def _progress(total: int, label: str):
    """A minimal progress line on stderr (tqdm when installed)."""
    try:
        from tqdm import tqdm
        bar = tqdm(total=total, desc=label, unit="tensor", file=sys.stderr, leave=False)
        return lambda name: bar.update(1), bar.close
    except ImportError:
        state = {"n": 0}

        def step(name):
            state["n"] += 1
            if sys.stderr.isatty():
                sys.stderr.write(f"\r{label}: {state['n']}/{total} {name[:50]:50s}")

        return step, lambda: sys.stderr.isatty() and sys.stderr.write("\n")


def _count(path) -> int:
    from .checkpoint import safe_open
    with safe_open(path) as f:
        return len(f.keys())


def cmd_compress(a):
    if os.path.isdir(a.input):       # a sharded checkpoint folder: enec.sharded (workers / torchrun)
        from . import sharded
        return sharded.run_cli("compress", a.input, a.output, a.workers, a.distributed, a.timeout,
                               force=a.force, checksum=a.checksum, codec=a.codec)
    from . import checkpoint
    step, done = _progress(_count(a.input), "compress")
    t = time.perf_counter()
    src = os.path.getsize(a.input)        # before: with --force the output may replace the input
    try:
        meta = checkpoint.compress_file(a.input, a.output, force=a.force, checksum=a.checksum, progress=step,
                                        codec=a.codec)
    finally:
        done()
    dst = os.path.getsize(a.output)
    print(f"{a.input} -> {a.output}: {len(meta)} tensors compressed, {src / 1e6:.2f} MB -> {dst / 1e6:.2f} MB "
          f"(ratio {src / dst:.4f}) in {time.perf_counter() - t:.2f} s")


def cmd_decompress(a):
    if os.path.isdir(a.input):
        from . import sharded
        return sharded.run_cli("decompress", a.input, a.output, a.workers, a.distributed, a.timeout,
                               force=a.force)
    from . import checkpoint
    if not checkpoint.is_enec_file(a.input):          # a plain file would just be copied
        raise InvalidCheckpointError(f"{a.input} is not an enec-compressed checkpoint: nothing to decompress")
    step, done = _progress(_count(a.input), "decompress")
    t = time.perf_counter()
    try:
        checkpoint.decompress_file(a.input, a.output, force=a.force, progress=step)
    finally:
        done()
    print(f"{a.input} -> {a.output}: {os.path.getsize(a.output) / 1e6:.2f} MB in {time.perf_counter() - t:.2f} s")


def cmd_inspect(a):
    from . import checkpoint
    rows = checkpoint.inspect_file(a.input)
    print(f"{'tensor':48s} {'codec':6s} {'dtype':13s} {'shape':>16s} {'b':>4s} {'n':>2s} {'m':>2s} {'ratio':>8s}  table")
    for r in rows:
        p = (f"{r['b']:4d} {r['n']:2d} {r['m']:2d}" if r["b"] is not None else f"{'-':>4s} {'-':>2s} {'-':>2s}")
        print(f"{r['name'][:48]:48s} {r['codec']:6s} {r['dtype']:13s} {str(list(r['shape'])):>16s} {p} "
              f"{r['original'] / r['stored']:8.4f}  {r.get('detail', '')}".rstrip())
    orig, stored = sum(r["original"] for r in rows), sum(r["stored"] for r in rows)
    print(f"total: {len(rows)} tensors, {orig / 1e6:.2f} MB of data stored in {stored / 1e6:.2f} MB "
          f"(ratio {orig / max(stored, 1):.4f}); file {os.path.getsize(a.input) / 1e6:.2f} MB")


def _bench_script() -> str:
    return os.environ.get("ENEC_BENCH_SCRIPT") or os.path.normpath(
        os.path.join(os.path.dirname(__file__), "..", "..", "scripts", "bench.py"))


def cmd_bench(a):
    script = _bench_script()
    if not os.path.isfile(script):
        print(f"enec bench: {script} not found; the benchmark ships with a source checkout of enec "
              f"(scripts/bench.py)", file=sys.stderr)
        return 2
    return subprocess.call([sys.executable, script] + a.args)


def main(argv=None) -> int:
    from . import __version__
    ap = argparse.ArgumentParser(prog="enec", description="Lossless compression of model weights (ENEC).")
    ap.add_argument("--version", action="version", version=f"enec {__version__}")
    sub = ap.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("compress", help="compress a safetensors file (or a sharded checkpoint folder)")
    c.add_argument("input", help="a .safetensors file, or a folder of safetensors shards")
    c.add_argument("output", help="the compressed file (a valid safetensors file) or folder to write")
    c.add_argument("--force", action="store_true", help="overwrite an existing output")
    c.add_argument("--checksum", action="store_true", help="store an XXH64 of every tensor")
    from .codecs import CODEC_CHOICES
    how = c.add_mutually_exclusive_group()
    how.add_argument("--codec", choices=CODEC_CHOICES, default="auto",
                     help="codec for every tensor it takes (others get auto); default auto: ENEC for "
                          "floats, the fast one")
    how.add_argument("--max", dest="codec", action="store_const", const="max",
                     help="the smallest blob of all codecs for each tensor (the entropy codec for most "
                          "float weights): slower to compress and decompress, for disk and downloads")
    from .sharded import add_arguments as add_folder_arguments
    add_folder_arguments(c)   # --workers N / --distributed / --timeout for a sharded folder
    c.set_defaults(fn=cmd_compress)
    d = sub.add_parser("decompress", help="restore the plain safetensors file")
    d.add_argument("input", help="a file (or folder) written by enec compress")
    d.add_argument("output", help="the plain safetensors file (or folder) to write")
    d.add_argument("--force", action="store_true", help="overwrite an existing output")
    add_folder_arguments(d)
    d.set_defaults(fn=cmd_decompress)
    i = sub.add_parser("inspect", help="per-tensor parameters and ratios")
    i.add_argument("input", help="a file written by enec compress (plain files show as stored raw)")
    i.set_defaults(fn=cmd_inspect)
    b = sub.add_parser("bench", add_help=False,   # --help goes to scripts/bench.py
                       help="enec against the CPU peers (scripts/bench.py; its options follow)")
    b.add_argument("args", nargs=argparse.REMAINDER)
    b.set_defaults(fn=cmd_bench)
    a, extra = ap.parse_known_args(argv)
    if extra and a.cmd != "bench":
        ap.error(f"unrecognized arguments: {' '.join(extra)}")
    if a.cmd == "bench":             # everything after 'bench' goes to scripts/bench.py as given
        args = list(sys.argv[1:] if argv is None else argv)
        a.args = args[args.index("bench") + 1:]
    # A Ctrl-C that lands inside a C extension (torch building a tensor for safetensors) can come
    # out as another exception; remember that it came, so it is reported as the interrupt it is.
    interrupted = []

    def on_sigint(signum, frame):
        interrupted.append(signum)
        raise KeyboardInterrupt
    try:
        previous = signal.signal(signal.SIGINT, on_sigint)
    except ValueError:               # not the main thread: leave the handler alone
        previous = None
    before = _identity(getattr(a, "output", None))
    try:
        rc = a.fn(a)
    except BaseException as e:
        if not (interrupted or isinstance(e, KeyboardInterrupt)):
            return _report(a, e)
        # outputs get their name only when complete (checkpoint.atomic_write): either the
        # interrupt came before that and nothing was written, or after it and the output is whole
        after = _identity(getattr(a, "output", None))
        if after is not None and after != before:
            print(f"enec {a.cmd}: interrupted after {a.output} was written (it is complete)", file=sys.stderr)
        else:
            print(f"enec {a.cmd}: interrupted; no output written", file=sys.stderr)
        return 130
    finally:
        if previous is not None:
            signal.signal(signal.SIGINT, previous)
    return rc if isinstance(rc, int) else 0


def _identity(path):
    """(inode, device, mtime) of a path, None when there is none: tells whether a command
    replaced or created its output."""
    try:
        st = os.stat(path) if path else None
    except OSError:
        return None
    return st and (st.st_ino, st.st_dev, st.st_mtime_ns)


def _report(a, e: BaseException) -> int:
    """Exit status for an error of command `a`: 1 with a one-line message for bad input."""
    from .errors import EnecError
    try:
        raise e
    except FileExistsError as e:     # the API says force=True; here the option is --force
        what = getattr(e, "output_path", None)
        print(f"enec {a.cmd}: error: " + (f"{what} exists (use --force to overwrite)" if what else str(e)),
              file=sys.stderr)
        return 1
    except (EnecError, FileNotFoundError, OSError) as e:
        print(f"enec {a.cmd}: error: {e}", file=sys.stderr)
        return 1
    except Exception as e:   # safetensors raises its own errors on malformed files
        if type(e).__name__ in ("SafetensorError", "HeaderTooLarge", "InvalidHeaderDeserialization"):
            print(f"enec {a.cmd}: error: {a.input} is not a valid safetensors file ({e})", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":
    sys.exit(main())
