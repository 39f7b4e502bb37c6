"""scripts/bench.py --plot: every measured codec is drawn at its (throughput, ratio), per direction."""
import json
import os
import subprocess
import sys

import pytest

SCRIPTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts")
sys.path.insert(0, SCRIPTS)
import bench_plot  # noqa: E402


def _rows():
    rows = []
    for ds in ("synthetic BF16 4 Mi", "MiniLM float32"):
        for threads in (1, 2):
            for i, codec in enumerate(("enec-native", "zstd-3", "zipnn")):
                rows.append({"dataset": ds, "threads": threads, "codec": codec, "ratio": 1.1 + 0.1 * i,
                             "compress_GBps": 0.5 * (i + 1) * threads, "decompress_GBps": 2.0 + i + threads,
                             "round_trip_ok": True})
    rows.append(dict(rows[0], codec="broken", round_trip_ok=False))      # a failed codec: not drawn
    return rows


def test_points_are_the_rows(tmp_path):
    rows = _rows()
    out = tmp_path / "bench.png"
    fig = bench_plot.plot(rows, str(out), "test")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for ax, key in zip(fig.axes[:2], ("compress_GBps", "decompress_GBps")):
        drawn = {c.get_gid(): tuple(c.get_offsets()[0]) for c in ax.collections}
        want = {f"{r['dataset']}|{r['threads']}|{r['codec']}": (r[key], r["ratio"])
                for r in rows if r["round_trip_ok"]}
        assert set(drawn) == set(want)
        for k, (x, y) in want.items():
            assert drawn[k] == (pytest.approx(x), pytest.approx(y)), k
        assert ax.get_xscale() == "log"


def test_replot_from_json(tmp_path):
    run = {"machine": {"cpu": "x86_64", "cores": 2, "enec": "0.1.0"}, "rows": _rows()}
    (tmp_path / "run.json").write_text(json.dumps(run))
    r = subprocess.run([sys.executable, os.path.join(SCRIPTS, "bench_plot.py"), str(tmp_path / "run.json"),
                        str(tmp_path / "run.png")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "run.png").read_bytes()[:4] == b"\x89PNG"


def test_without_matplotlib_the_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)          # as if not installed
    with pytest.raises(SystemExit, match=r"\.\[plot\]"):
        bench_plot.require_matplotlib()
