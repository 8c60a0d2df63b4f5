"""Benchmark import_movielens: an ML-1M-shaped release and a 5M-rating ML-25M-style release.

Writes synthetic files (synthetic_movielens.py) in the documented formats (1M: '::'-separated
latin-1 .dat; 25M: csv with links.csv), imports each into a fresh database in a child process,
and prints wall seconds, rows/s and the child's peak resident memory. bench_scale.py measures
the csv shapes up to 32M with the importer's phases and the training snapshot.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/recsite_bench \
        .venv/bin/python benchmarks/bench_import.py --shape ml-1m --shape csv-5m
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic_movielens import SHAPES as SYNTHETIC_SHAPES
from synthetic_movielens import ratings_blocks
from synthetic_movielens import write_release as write_csv_release

ROOT = Path(__file__).resolve().parent.parent
SHAPES = {
    # name: (synthetic shape, layout)
    "ml-1m": ("1m", "dat"),
    "csv-5m": ("5m", "csv"),
}
GENRES = ["Action", "Comedy", "Drama", "Horror", "Romance", "Sci-Fi", "Thriller", "Children's"]


def write_release(folder: Path, shape: str, seed: int = 0) -> Path:
    synthetic, layout = SHAPES[shape]
    if layout == "csv":
        return write_csv_release(folder, SYNTHETIC_SHAPES[synthetic], seed)
    folder.mkdir(parents=True, exist_ok=True)
    movies = SYNTHETIC_SHAPES[synthetic].movies
    with open(folder / "movies.dat", "w", encoding="latin-1") as f:
        f.writelines(
            f"{i}::Movie {i} ({1950 + i % 50})::{GENRES[i % 8]}|{GENRES[i * 7 % 8]}\n"
            for i in range(1, movies + 1)
        )
    with open(folder / "ratings.dat", "w", encoding="latin-1") as f:
        for block in ratings_blocks(SYNTHETIC_SHAPES[synthetic], seed):
            stars = np.ceil(block.half_stars / 2).astype(int)  # 1M has whole stars only
            f.writelines(
                f"{a}::{b}::{c}::{d}\n"
                for a, b, c, d in zip(block.user, block.movie, stars, block.timestamp, strict=True)
            )
    return folder


def run_import(folder: Path) -> tuple[float, int, str]:
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "recsite.settings"}
    subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input", "-v0"], cwd=ROOT, env=env, check=True
    )
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "manage.py", "import_movielens", str(folder), "--replace", "-v1"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise SystemExit(f"import failed:\n{result.stderr[-3000:]}")
    seconds = time.perf_counter() - started
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return seconds, peak_kib, result.stdout.strip().splitlines()[-1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shape", action="append", choices=sorted(SHAPES))
    args = parser.parse_args()
    print(f"database: {os.environ.get('DATABASE_URL', 'sqlite (default)')}")
    for shape in args.shape or ["ml-1m"]:
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            folder = write_release(Path(tmp) / shape, shape)
            print(f"{shape}: wrote synthetic files in {time.perf_counter() - t0:.1f} s")
            seconds, peak_kib, summary = run_import(folder)
            n = SYNTHETIC_SHAPES[SHAPES[shape][0]].ratings
            print(
                f"{shape}: {n:,} ratings imported in {seconds:.1f} s "
                f"({n / seconds:,.0f} ratings/s), peak RSS {peak_kib / 1024:,.0f} MiB\n  {summary}"
            )


if __name__ == "__main__":
    main()
