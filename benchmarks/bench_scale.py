"""MovieLens at scale: import and training snapshot per synthetic shape, on Postgres.

For each shape: writes (or reuses) a synthetic release, imports it into a fresh database in a
child process, then reads the training snapshot in another. Prints import seconds, ratings/s,
the importer's phases, each child's peak RSS, and the database's size on disk.

    OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1 flock /tmp/recsite-bench.lock \\
        .venv/bin/python benchmarks/bench_scale.py --shape 1m --shape 5m --data var/synthetic \\
        --server postgres://postgres@127.0.0.1:5432 --keep 32m=recsite_32m
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import psycopg2

sys.path.insert(0, str(Path(__file__).resolve().parent))
from synthetic_movielens import SHAPES

ROOT = Path(__file__).resolve().parent.parent
SNAPSHOT = (
    "import json, time; from recommender.adapters import ratings_snapshot; "
    "t = time.perf_counter(); s = ratings_snapshot(); "
    "print(json.dumps({'seconds': time.perf_counter() - t, 'ratings': s.n_ratings}))"
)


def run_child(args: list[str], database_url: str) -> tuple[float, int, str]:
    """Wall seconds, peak RSS in MiB and stdout of one child process."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "recsite.settings", "DATABASE_URL": database_url}
    started = time.perf_counter()
    with subprocess.Popen(
        [sys.executable, *args], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True
    ) as child:
        out = child.stdout.read() if child.stdout else ""
        _, status, usage = os.wait4(child.pid, 0)
        child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise SystemExit(f"{args[:2]} failed ({child.returncode}):\n{out[-3000:]}")
    return time.perf_counter() - started, usage.ru_maxrss // 1024, out


def fresh_database(server: str, name: str) -> str:
    admin = psycopg2.connect(f"{server}/postgres")
    admin.autocommit = True
    with admin.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}"')
        cursor.execute(f'CREATE DATABASE "{name}"')
    admin.close()
    url = f"{server}/{name}"
    run_child(["manage.py", "migrate", "--no-input", "-v0"], url)
    return url


def database_size(url: str) -> int:
    with psycopg2.connect(url) as conn, conn.cursor() as cursor:
        cursor.execute("SELECT pg_database_size(current_database())")
        return int(cursor.fetchone()[0])


def measure(shape: str, data: Path, server: str, database: str, seed: int, parts: str) -> None:
    if parts in ("both", "import"):
        measure_import(shape, data, server, database, seed)
    if parts in ("both", "snapshot"):
        measure_snapshot(shape, f"{server}/{database}")


def measure_import(shape: str, data: Path, server: str, database: str, seed: int) -> None:
    folder = data / f"{shape}-seed{seed}"
    if not (folder / "ratings.csv").exists():
        # In a child: a child's peak RSS starts from its parent's, which must stay small.
        seconds, rss, _ = run_child(
            [
                str(Path(__file__).parent / "synthetic_movielens.py"),
                "--shape",
                shape,
                "--out",
                str(folder),
                "--seed",
                str(seed),
            ],
            "",
        )
        print(f"{shape}: wrote the synthetic release in {seconds:.1f} s (peak RSS {rss:,} MiB)")
    url = fresh_database(server, database)
    print(f"{shape}: database {url}", flush=True)
    n = SHAPES[shape].ratings
    seconds, rss, out = run_child(["manage.py", "import_movielens", str(folder), "-v1"], url)
    phases = next((line for line in out.splitlines() if line.startswith("Phases:")), "")
    print(
        f"{shape}: import {seconds:.1f} s, {n / seconds:,.0f} ratings/s, peak RSS {rss:,} MiB, "
        f"database {database_size(url) / 2**30:.2f} GiB\n  {phases}",
        flush=True,
    )


def measure_snapshot(shape: str, url: str) -> None:
    seconds, rss, out = run_child(["manage.py", "shell", "-c", SNAPSHOT], url)
    result = json.loads(out.strip().splitlines()[-1])
    print(
        f"{shape}: snapshot of {result['ratings']:,} ratings {result['seconds']:.1f} s "
        f"(process {seconds:.1f} s with start-up), peak RSS {rss:,} MiB",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", action="append", choices=sorted(SHAPES))
    parser.add_argument("--data", type=Path, required=True, help="folder for synthetic releases")
    parser.add_argument("--server", default="postgres://postgres@127.0.0.1:5432")
    parser.add_argument("--prefix", default="recsite_bench_", help="database name prefix")
    parser.add_argument(
        "--keep", action="append", default=[], metavar="SHAPE=DB", help="database for a shape"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--only", choices=("import", "snapshot"), help="one half (snapshot: of the kept database)"
    )
    args = parser.parse_args()
    named = dict(item.split("=", 1) for item in args.keep)
    for shape in args.shape or ["1m"]:
        database = named.get(shape, f"{args.prefix}{shape.replace('-', '_')}")
        measure(shape, args.data, args.server, database, args.seed, args.only or "both")


if __name__ == "__main__":
    main()
