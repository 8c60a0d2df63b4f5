"""Plot how each step's time and memory grow with the ratings (docs/benchmarks.md, "Growth").

Reads docs/benchmarks/growth.json (the figures the growth table lists, measured with the
commands named there) and writes docs/benchmarks/growth.png: seconds per step against ratings,
and peak memory per step, both on log scales, one line per step.

    .venv/bin/python benchmarks/plot_growth.py
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_IN = ROOT / "docs" / "benchmarks" / "growth.json"
DEFAULT_OUT = ROOT / "docs" / "benchmarks" / "growth.png"


def plot(figures: dict, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shapes = figures["shapes"]
    steps = list(figures["steps"])
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8))
    for step in steps:
        label = figures["steps"][step]
        for axis, field in ((left, "seconds"), (right, "peak_mib")):
            points = [
                (shape["ratings"], shape[field][step])
                for shape in shapes
                if shape.get(field, {}).get(step) is not None
            ]
            if points:
                xs, ys = zip(*points, strict=True)
                axis.plot(xs, ys, marker="o", label=label)
    for axis, title, unit in (
        (left, "Time per step", "seconds"),
        (right, "Peak memory of the process doing the step", "MiB"),
    ):
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.set_xlabel("ratings")
        axis.set_ylabel(unit)
        axis.set_title(title)
        axis.grid(True, which="both", alpha=0.3)
        for shape in shapes:
            axis.axvline(shape["ratings"], color="grey", alpha=0.15)
    left.legend(fontsize=8)
    fig.suptitle(f"recsite growth with the catalogue ({figures['machine']})", fontsize=10)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--figures", type=Path, default=DEFAULT_IN)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    plot(json.loads(args.figures.read_text()), args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
