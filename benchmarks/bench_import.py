"""Benchmark import_movielens: an ML-1M-shaped release and a 5M-rating ML-25M-style release.

Writes synthetic files in the documented formats (1M: '::'-separated latin-1 .dat; 25M: csv with
links.csv), imports each into a fresh database in a child process, and prints wall seconds,
rows/s and the child's peak resident memory.

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

ROOT = Path(__file__).resolve().parent.parent
SHAPES = {
    # name: (users, movies, ratings, layout)
    "ml-1m": (6_040, 3_706, 1_000_209, "dat"),
    "csv-5m": (32_000, 30_000, 5_000_000, "csv"),
}
GENRES = ["Action", "Comedy", "Drama", "Horror", "Romance", "Sci-Fi", "Thriller", "Children's"]


def _pairs(users: int, movies: int, n: int, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """Unique (user, movie) pairs with power-law movie popularity and per-user activity."""
    popularity = 1.0 / np.arange(1, movies + 1) ** 0.9
    popularity /= popularity.sum()
    activity = rng.pareto(1.2, users) + 1.0
    activity /= activity.sum()
    keys = np.empty(0, dtype=np.int64)
    while keys.size < n:
        u = rng.choice(users, size=n, p=activity)
        m = rng.choice(movies, size=n, p=popularity)
        keys = np.unique(np.concatenate([keys, u.astype(np.int64) * movies + m]))
    keys = rng.permutation(keys)[:n]
    user, movie = keys // movies + 1, keys % movies + 1
    score = rng.integers(1, 11, size=n) / 2
    ts = rng.integers(956_703_932, 1_046_454_590, size=n)
    return user, movie, score, ts


def write_release(folder: Path, shape: str, seed: int = 0) -> Path:
    users, movies, n, layout = SHAPES[shape]
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    user, movie, score, ts = _pairs(users, movies, n, rng)
    genre_of = [
        GENRES[i % len(GENRES)] + "|" + GENRES[(i * 7) % len(GENRES)] for i in range(movies)
    ]
    if layout == "dat":
        score = np.ceil(score).clip(1, 5).astype(int)
        with open(folder / "movies.dat", "w", encoding="latin-1") as f:
            f.writelines(
                f"{i}::Movie {i} ({1950 + i % 50})::{genre_of[i - 1]}\n"
                for i in range(1, movies + 1)
            )
        with open(folder / "ratings.dat", "w", encoding="latin-1") as f:
            for start in range(0, n, 200_000):
                s = slice(start, start + 200_000)
                f.writelines(
                    f"{a}::{b}::{c}::{d}\n"
                    for a, b, c, d in zip(user[s], movie[s], score[s], ts[s], strict=True)
                )
    else:
        with open(folder / "movies.csv", "w", encoding="utf-8") as f:
            f.write("movieId,title,genres\n")
            f.writelines(
                f'{i},"Movie {i}, The ({1950 + i % 50})",{genre_of[i - 1]}\n'
                for i in range(1, movies + 1)
            )
        with open(folder / "links.csv", "w", encoding="utf-8") as f:
            f.write("movieId,imdbId,tmdbId\n")
            f.writelines(f"{i},{i:07d},{i + 10}\n" for i in range(1, movies + 1))
        with open(folder / "ratings.csv", "w", encoding="utf-8") as f:
            f.write("userId,movieId,rating,timestamp\n")
            for start in range(0, n, 200_000):
                s = slice(start, start + 200_000)
                f.writelines(
                    f"{a},{b},{c:.1f},{d}\n"
                    for a, b, c, d in zip(user[s], movie[s], score[s], ts[s], strict=True)
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
            n = SHAPES[shape][2]
            print(
                f"{shape}: {n:,} ratings imported in {seconds:.1f} s "
                f"({n / seconds:,.0f} ratings/s), peak RSS {peak_kib / 1024:,.0f} MiB\n  {summary}"
            )


if __name__ == "__main__":
    main()
