"""Benchmark the top-k precompute: every user of an ML-1M-shaped database into Postgres.

The target (issue #4): all 6,040 users of ML-1M (3,706 movies) precomputed in under 30 s on a
2-core machine. `setup` writes a synthetic ML-1M-shaped release (same sizes and file format as
bench_import.py), imports it and trains one NeuMF version without precomputing; `run` drops that
version's lists and precomputes them again, timed, either in this process (the code path of
`manage.py precompute`) or through real Celery workers on Redis (the chord the pipeline uses).

    export DATABASE_URL=postgres://postgres@127.0.0.1:5432/recsite_bench_precompute
    .venv/bin/python benchmarks/bench_precompute.py setup
    .venv/bin/python benchmarks/bench_precompute.py run --mode process
    .venv/bin/python benchmarks/bench_precompute.py run --mode celery --concurrency 2
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "recsite.settings")
BROKER = os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/7")


def _django() -> None:
    import django

    django.setup()


def _machine() -> str:
    cpu = "unknown cpu"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{platform.machine()}, {os.cpu_count()} cores, {cpu}"


def setup(args: argparse.Namespace) -> None:
    from bench_import import write_release

    _django()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    with tempfile.TemporaryDirectory() as tmp:
        folder = write_release(Path(tmp) / "ml-1m", "ml-1m", seed=args.seed)
        started = time.perf_counter()
        call_command("import_movielens", str(folder), "--replace", verbosity=1)
        print(f"imported in {time.perf_counter() - started:.1f} s")
    call_command(
        "train_ncf",
        "--backend",
        args.backend,
        "--epochs",
        str(args.epochs),
        "--force",
        "--no-precompute",
    )


def _active_version():  # a ModelVersion; Django is set up lazily
    from recommender.models import ModelVersion

    version = ModelVersion.objects.filter(is_active=True).first()
    if version is None:
        raise SystemExit("no active version: run `bench_precompute.py setup` first")
    return version


def _reset(version_id: int) -> None:
    from recommender.models import ModelVersion, Recommendation

    Recommendation.objects.filter(model_version_id=version_id).delete()
    ModelVersion.objects.filter(pk=version_id).update(precomputed_at=None)


def _check(version_id: int, k: int) -> str:
    from django.db.models import Count

    from recommender.models import Recommendation

    lists = Recommendation.objects.filter(model_version_id=version_id)
    per_user = lists.values("user_id").annotate(n=Count("id"))
    users = per_user.count()
    short = per_user.filter(n__lt=k).count()
    return f"{lists.count():,} rows for {users:,} users ({short} users with fewer than {k})"


def run_process(version_id: int) -> float:
    from recommender.services import precompute

    started = time.perf_counter()
    rows = precompute.model_version_precompute(model_version_id=version_id)
    seconds = time.perf_counter() - started
    print(f"process: {rows:,} rows in {seconds:.1f} s ({rows / seconds:,.0f} rows/s)")
    return seconds


def run_celery(version_id: int, concurrency: int, workers: int, limit_s: float = 600) -> float:
    """Seconds from the precompute queued to the version's `precomputed_at`, through workers
    started here; gives up (SystemExit) after limit_s."""
    import redis

    from recommender import tasks
    from recommender.models import ModelVersion
    from recsite.celery import app

    redis.Redis.from_url(BROKER).flushdb()
    app.conf.broker_url = app.conf.result_backend = BROKER
    env = {
        **os.environ,
        "CELERY_BROKER_URL": BROKER,
        "CELERY_RESULT_BACKEND": BROKER,
        "OPENBLAS_NUM_THREADS": "1",
    }
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "recsite", "worker", "-c", str(concurrency),
             "-n", f"bench{i}@%h", "--without-gossip", "--without-mingle", "-l", "warning"],
            cwd=ROOT,
            env=env,
        )
        for i in range(workers)
    ]  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while len(app.control.ping(timeout=1.0) or []) < workers:
            if time.monotonic() > deadline:
                raise SystemExit("the workers did not answer a ping within 60 s")
        # Warm each pool process (imports, artifact load) with a one-user chunk first, so the
        # figure is the steady-state precompute a long-running worker does after activation.
        from recommender.services import precompute

        first = precompute.model_version_precompute_chunks(model_version_id=version_id)[0][:1]
        warm = [
            tasks.recommendations_precompute_chunk.delay(version_id, first)
            for _ in range(workers * concurrency * 2)
        ]
        for result in warm:
            result.get(timeout=120)
        _reset(version_id)
        started = time.perf_counter()
        tasks.model_version_precompute.delay(version_id)
        while not ModelVersion.objects.filter(pk=version_id, precomputed_at__isnull=False).exists():
            if time.perf_counter() - started > limit_s:
                raise SystemExit(f"precompute did not finish within {limit_s:.0f} s")
            time.sleep(0.05)
        seconds = time.perf_counter() - started
        print(f"celery: {workers} worker(s) x {concurrency} processes: {seconds:.1f} s")
        return seconds
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=30)


def run(args: argparse.Namespace) -> None:
    _django()
    from django.conf import settings
    from django.db import connection

    version = _active_version()
    print(f"machine: {_machine()}")
    print(f"database: {connection.vendor} {connection.settings_dict['NAME']}")
    print(
        f"version {version.pk} ({version.backend}): {version.n_users:,} users x "
        f"{version.n_items:,} movies, top {settings.RECSITE_TOP_K}"
    )
    for attempt in range(args.repeat):
        _reset(version.pk)
        if args.mode == "process":
            run_process(version.pk)
        else:
            run_celery(version.pk, args.concurrency, args.workers)
        if attempt == args.repeat - 1:
            print(f"check: {_check(version.pk, int(settings.RECSITE_TOP_K))}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p_setup = sub.add_parser("setup", help="import an ML-1M-shaped release and train a version")
    p_setup.add_argument("--backend", choices=["numpy", "torch"], default="numpy")
    p_setup.add_argument("--epochs", type=int, default=1)
    p_setup.add_argument("--seed", type=int, default=0)
    p_run = sub.add_parser("run", help="drop the active version's lists and precompute them")
    p_run.add_argument("--mode", choices=["process", "celery"], default="process")
    p_run.add_argument("--concurrency", type=int, default=2, help="processes per worker")
    p_run.add_argument("--workers", type=int, default=1)
    p_run.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "benchmarks"))
    {"setup": setup, "run": run}[args.command](args)


if __name__ == "__main__":
    main()
