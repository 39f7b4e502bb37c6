#!/usr/bin/env python3
"""Ratio against throughput, for the codecs of one scripts/bench.py run (matplotlib: the `plot`
extra). Two panels, compress and decompress; x = GB/s of uncompressed data (best round, log
scale), y = compression ratio; one colour per codec, one marker per dataset, filled at all cores
and hollow at 1 thread.

    python scripts/bench.py --plot bench.png             # measure and draw
    python scripts/bench_plot.py bench.json bench.png    # draw a saved run (bench.py --json)
"""
from __future__ import annotations

import json
import sys

MARKERS = "osD^v<>P*X"


def require_matplotlib():
    """matplotlib's pyplot on a file-only backend; a clear error when it is not installed."""
    try:
        import matplotlib
    except ImportError:
        raise SystemExit('--plot needs matplotlib: pip install -e ".[plot]"') from None
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def plot(rows: list, path: str, title: str = ""):
    """Draw `rows` (bench.py's result rows) into `path`; returns the figure."""
    plt = require_matplotlib()
    codecs = sorted({r["codec"] for r in rows}, key=lambda c: (not c.startswith("enec"), c))
    datasets = list(dict.fromkeys(r["dataset"] for r in rows))
    top = max((r["threads"] for r in rows), default=1)
    # tab20's dark shades, then its light ones; grey is left for the dataset/thread legend
    palette = [plt.get_cmap("tab20")(i) for i in list(range(0, 20, 2)) + list(range(1, 20, 2)) if i not in (14, 15)]
    colours = {c: palette[i % len(palette)] for i, c in enumerate(codecs)}
    fig, axes = plt.subplots(1, 2, figsize=(13, 5.2), sharey=True)
    for ax, key, label in ((axes[0], "compress_GBps", "compress"), (axes[1], "decompress_GBps", "decompress")):
        for r in rows:
            if not r.get("round_trip_ok", True):
                continue
            c = colours[r["codec"]]
            filled = r["threads"] == top
            ax.scatter([r[key]], [r["ratio"]], s=46, marker=MARKERS[datasets.index(r["dataset"]) % len(MARKERS)],
                       facecolors=c if filled else "none", edgecolors=c, linewidths=1.4,
                       gid=f"{r['dataset']}|{r['threads']}|{r['codec']}")
        ax.set_xscale("log")
        ax.set_xlabel(f"{label} throughput, GB/s of uncompressed data (log)")
        ax.set_title(label)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("compression ratio")
    from matplotlib.lines import Line2D
    handles = [Line2D([], [], ls="", marker="o", color=colours[c], label=c) for c in codecs]
    handles += [Line2D([], [], ls="", marker=MARKERS[i % len(MARKERS)], color="grey", label=d)
                for i, d in enumerate(datasets)]
    handles += [Line2D([], [], ls="", marker="o", color="grey", label=f"{top} threads"),
                Line2D([], [], ls="", marker="o", markerfacecolor="none", color="grey", label="1 thread")]
    fig.legend(handles=handles, loc="center right", fontsize=8, frameon=False)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout(rect=(0, 0, 0.8, 1))
    fig.savefig(path, dpi=110)
    return fig


def main(argv=None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    with open(args[0]) as f:
        run = json.load(f)
    m = run.get("machine", {})
    plot(run["rows"], args[1], f"{m.get('cpu', '')}, {m.get('cores', '?')} cores, enec {m.get('enec', '')}, "
                               f"{run.get('reps', '?')} rounds (best)")
    print(f"wrote {args[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
