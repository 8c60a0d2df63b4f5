"""Load test of a user's recommendations: gunicorn on loopback, wrk or threaded HTTP clients.

    # once: import ml-latest-small, train a model, precompute, make token users (own database)
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/recsite_load \\
        .venv/bin/python benchmarks/load_recommendations.py setup
    # then: start gunicorn (2 workers), warm every user once, and measure
    DATABASE_URL=... .venv/bin/python benchmarks/load_recommendations.py run \\
        --client wrk --clients 20

`--client wrk` drives Debian's wrk (a C load generator: `apt-get install wrk`) and reports
p50/p95/p99 for every user, then for each kind alone, each run with the CPU time per request of
the web processes, Postgres, Redis and wrk (from /proc; the server's log goes to var/bench/);
`--client threads` (default) uses Python threads and splits one run by kind. `--path` picks the
endpoint: the API's /api/v1/me/recommendations/ (default), or /bench/recommendations/, a minimal
token-authenticated JSON view defined here that calls the same selector
(recommender.serving.edge.recommendations_for_user).
Users are of two kinds: "precomputed" (trained on, with a fresh precomputed list) and "online"
(rated after the precompute, so their list is scored online, new ones through fold-in). Requests
go to 127.0.0.1 only.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "recsite.settings")

logger = logging.getLogger("load_recommendations")
# One token file per database (the last part of DATABASE_URL), so set-ups of several catalogs
# can be measured side by side.
_DATABASE = os.environ.get("DATABASE_URL", "sqlite").rstrip("/").rsplit("/", 1)[-1]
TOKENS_FILE = ROOT / "var" / "bench" / f"load_tokens-{_DATABASE}.json"
SERVER_LOG = ROOT / "var" / "bench" / f"gunicorn-{_DATABASE}.log"
BENCH_PATH = "/bench/recommendations/"
API_PATH = "/api/v1/me/recommendations/"
BENCH_APP = "benchmarks.load_recommendations:app"
PRODUCTION_APP = "recsite.wsgi:application"


# -- the view gunicorn serves (module-level so `gunicorn benchmarks.load_recommendations:app`) ---


def _make_app() -> Callable[..., Iterable[bytes]]:
    import django
    from django.conf import settings

    django.setup()
    from django.core.handlers.wsgi import WSGIHandler
    from django.http import HttpRequest, JsonResponse
    from django.urls import include, path
    from rest_framework.authtoken.models import Token

    from recommender.serving.edge import recommendations_for_user

    def bench_recommendations(request: HttpRequest) -> JsonResponse:
        header = request.headers.get("Authorization", "")
        key = header.removeprefix("Token ").strip()
        token = Token.objects.select_related("user").filter(key=key).first() if key else None
        if token is None:
            return JsonResponse({"detail": "Invalid token.", "code": "authentication"}, status=401)
        k = int(request.GET.get("k", 20))
        items = recommendations_for_user(token.user, k, genre=request.GET.get("genre"))
        return JsonResponse(
            {
                "results": [
                    {
                        "movie": {
                            "id": i.movie.pk,
                            "title": i.movie.title,
                            "year": i.movie.year,
                            "genres": [g.name for g in i.movie.genres.all()],
                        },
                        "score": i.score,
                        "source": i.source,
                        "reason": i.reason,
                    }
                    for i in items
                ]
            }
        )

    import recsite.urls

    # The project's URLs plus the bench view: the API endpoint can be measured in the same server.
    module = type(sys)("bench_urls")
    module.urlpatterns = [  # type: ignore[attr-defined]
        path(BENCH_PATH.strip("/") + "/", bench_recommendations),
        path("", include(recsite.urls)),
    ]
    sys.modules["bench_urls"] = module
    settings.ROOT_URLCONF = "bench_urls"
    return WSGIHandler()


class _LazyApp:
    """gunicorn imports this module in each worker; Django starts at the worker's first call."""

    _app: Callable[..., Iterable[bytes]] | None = None

    def __call__(self, environ: dict, start_response: Callable[..., object]) -> Iterable[bytes]:
        if self._app is None:
            self._app = _make_app()
        return self._app(environ, start_response)


app = _LazyApp()


# -- setup ------------------------------------------------------------------------------------


# A synthetic release with ML-32M's 87,585 movies and fewer raters (training on all 32M ratings
# is a job for the workers, not for a setup step): serving pays for every movie of the catalog.
CATALOGS = {"32m-movies": (20_000, 87_585, 2_000_000)}  # users, movies, ratings


def _import_synthetic(shape: tuple[int, int, int], seed: int) -> None:
    import tempfile

    from django.core.management import call_command

    from benchmarks.synthetic_movielens import Shape, write_release

    with tempfile.TemporaryDirectory() as folder:
        logger.info("writing a synthetic release: %s users, %s movies, %s ratings", *shape)
        write_release(Path(folder), Shape(*shape), seed)
        call_command("import_movielens", folder, verbosity=1)


def setup(args: argparse.Namespace) -> None:
    import django

    django.setup()
    from dataclasses import replace
    from decimal import Decimal

    import numpy as np
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.utils import timezone
    from rest_framework.authtoken.models import Token

    from catalog.models import Movie
    from ratings.models import Rating
    from ratings.services import rating_upsert
    from recommender.coldstart import catalog_snapshot
    from recommender.engine import coldstart as cs
    from recommender.engine.artifacts import save_artifact
    from recommender.engine.config import NeuMFConfig
    from recommender.engine.data import Interactions
    from recommender.engine.train import fit
    from recommender.models import ModelVersion, Recommendation, TrainingRun
    from recommender.registry import serving_model
    from recommender.serving.alignment import aligned_model

    call_command("migrate", verbosity=0)
    if not Movie.objects.exists():
        if args.catalog == "bundled":
            call_command("import_movielens", verbosity=1)
        else:
            _import_synthetic(CATALOGS[args.catalog], args.seed)
    user_model = get_user_model()
    rng = random.Random(args.seed)
    sources = list(
        Rating.objects.values("user_id")
        .order_by("user_id")
        .distinct()
        .values_list("user_id", flat=True)[: args.users * 4]
    )
    users: dict[str, list[int]] = {"precomputed": [], "online": []}
    # Precomputed users: active copies of MovieLens raters, so they are in the training data.
    for n, source_id in enumerate(rng.sample(sources, args.users)):
        user, _ = user_model.objects.get_or_create(username=f"load-pre-{n}")
        if not Rating.objects.filter(user=user).exists():
            Rating.objects.bulk_create(
                Rating(user=user, movie_id=r.movie_id, score=r.score, rated_at=r.rated_at)
                for r in Rating.objects.filter(user_id=source_id)
            )
        users["precomputed"].append(user.pk)

    triples = list(Rating.objects.values_list("user_id", "movie_id", "rated_at"))
    data = Interactions.from_arrays(
        [t[0] for t in triples], [t[1] for t in triples], [int(t[2].timestamp()) for t in triples]
    )
    # The product's default model (its size is what online scoring pays for), fewer epochs.
    config = replace(NeuMFConfig(), epochs=args.epochs)
    logger.info("training on %d ratings, %d epochs", len(data), args.epochs)
    result = fit(data, config, backend="numpy", seed=args.seed)
    name = f"load-bench-{int(time.time())}"
    save_artifact(Path(settings.ARTIFACT_DIR) / name, result)
    now = timezone.now()
    run = TrainingRun.objects.create(
        status=TrainingRun.Status.SUCCEEDED,
        config=config.to_dict(),
        n_users=data.n_users,
        n_items=data.n_items,
        n_ratings=len(data),
        ratings_until=max(t[2] for t in triples),
        started=now,
        finished=now,
    )
    version = ModelVersion.objects.create(
        training_run=run,
        backend="numpy",
        artifact_path=name,
        checksum=result.fingerprint,
        metrics=result.metrics,
        n_users=data.n_users,
        n_items=data.n_items,
        n_ratings=len(data),
    )
    ModelVersion.objects.filter(is_active=True).update(is_active=False)
    ModelVersion.objects.filter(pk=version.pk).update(is_active=True, activated_at=now)

    # Precompute the bench users' top 50, as the pipeline's precompute task does for everyone.
    served = serving_model()
    if served is None or served.version_id != version.pk:
        raise SystemExit("the registry did not pick up the new version")
    snap = catalog_snapshot()
    aligned = aligned_model(served, snap)
    rows = []
    for user_id in users["precomputed"]:
        vector = served.user_row(user_id)
        scores = aligned.scorer.logits(vector)[0]
        allowed = np.ones(snap.n, dtype=bool)
        rated = snap.index(
            list(Rating.objects.filter(user_id=user_id).values_list("movie_id", flat=True))
        )
        allowed[rated[rated >= 0]] = False
        for rank, idx in enumerate(cs.top_k(scores, 50, allowed), start=1):
            rows.append(
                Recommendation(
                    model_version=version,
                    user_id=user_id,
                    movie_id=int(snap.movie_ids[idx]),
                    rank=rank,
                    score=float(scores[idx]),
                )
            )
    Recommendation.objects.bulk_create(rows)
    ModelVersion.objects.filter(pk=version.pk).update(precomputed_at=timezone.now())

    # Online users: new accounts rating after the precompute (3 to 15 ratings: blend and NCF).
    popular = list(Movie.objects.order_by("-rating_count").values_list("pk", flat=True)[:300])
    for n in range(args.users):
        user, _ = user_model.objects.get_or_create(username=f"load-online-{n}")
        Rating.objects.filter(user=user).delete()
        for movie_id in rng.sample(popular, rng.randint(3, 15)):
            rating_upsert(
                user=user,
                movie=Movie.objects.get(pk=movie_id),
                score=Decimal(rng.choice(["3.0", "3.5", "4.0", "4.5", "5.0"])),
            )
        users["online"].append(user.pk)

    tokens = {
        kind: [Token.objects.get_or_create(user_id=uid)[0].key for uid in ids]
        for kind, ids in users.items()
    }
    TOKENS_FILE.parent.mkdir(parents=True, exist_ok=True)
    TOKENS_FILE.write_text(json.dumps(tokens))
    logger.info(
        "model version %s active and precomputed; %d + %d token users in %s",
        version.pk,
        len(tokens["precomputed"]),
        len(tokens["online"]),
        TOKENS_FILE,
    )


# -- load -------------------------------------------------------------------------------------


def _get(url: str, token: str, timeout: float) -> tuple[int, float]:
    request = urllib.request.Request(url, headers={"Authorization": f"Token {token}"})
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            response.read()
            status = response.status
    except urllib.error.HTTPError as exc:
        status = exc.code
    except (urllib.error.URLError, TimeoutError, ConnectionError):
        status = 0
    return status, (time.perf_counter() - started) * 1000


def _percentiles(values: list[float]) -> str:
    import numpy as np

    if not values:
        return "no requests"
    p50, p95, p99 = np.percentile(values, [50, 95, 99])
    return f"n {len(values):5d}  p50 {p50:6.1f} ms  p95 {p95:6.1f} ms  p99 {p99:6.1f} ms"


def _cpus(spec: str) -> set[int]:
    cpus: set[int] = set()
    for part in spec.split(","):
        first, _, last = part.partition("-")
        cpus.update(range(int(first), int(last or first) + 1))
    return cpus


WRK_SCRIPT = """
local tokens = {%(tokens)s}
local think = %(think)d
init = function(args) math.randomseed(%(seed)d) end
request = function()
  local token = tokens[math.random(#tokens)]
  return wrk.format("GET", nil, {["Authorization"] = "Token " .. token})
end
if think > 0 then delay = function() return think end end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests": %%d, "seconds": %%f, "p50": %%f, "p95": %%f, "p99": %%f, '
    .. '"max": %%f, "status_errors": %%d, "socket_errors": %%d}\\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1000,
    latency:percentile(95) / 1000, latency:percentile(99) / 1000, latency.max / 1000,
    e.status, e.connect + e.read + e.write + e.timeout))
end
"""


def _process_cpu(pid: int) -> tuple[str, int, float] | None:
    """(name, parent pid, CPU seconds in user and system mode so far) of a live process, from
    /proc/<pid>/stat; None once it has gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    name = stat[stat.index("(") + 1 : stat.rindex(")")]
    fields = stat[stat.rindex(")") + 2 :].split()  # from the state, the third field, on
    ticks = int(fields[11]) + int(fields[12])  # utime and stime, fields 14 and 15
    return name, int(fields[1]), ticks / os.sysconf("SC_CLK_TCK")


def _cpu_by_role(server_pid: int | None) -> dict[str, dict[int, float]]:
    """CPU seconds so far of each process that serves a request, by role: the web processes
    (gunicorn's master and its workers), the Postgres server and Redis; pid -> seconds."""
    roles: dict[str, dict[int, float]] = {"web": {}, "postgres": {}, "redis": {}}
    for entry in Path("/proc").glob("[0-9]*"):
        found = _process_cpu(int(entry.name))
        if found is None:
            continue
        name, parent, seconds = found
        pid = int(entry.name)
        if server_pid is not None and server_pid in (pid, parent):
            roles["web"][pid] = seconds
        elif name == "postgres":
            roles["postgres"][pid] = seconds
        elif name.startswith("redis-server"):
            roles["redis"][pid] = seconds
    return roles


def _cpu_spent(
    before: dict[str, dict[int, float]], after: dict[str, dict[int, float]]
) -> dict[str, float]:
    """CPU seconds each role spent between two readings: a process that started in between
    counts from zero; one that ended in between is not seen (Postgres backends and gunicorn
    workers live through a run)."""
    return {
        role: sum(seconds - before[role].get(pid, 0.0) for pid, seconds in pids.items())
        for role, pids in after.items()
    }


def _machine_busy() -> tuple[float, float]:
    """(all CPU seconds, idle CPU seconds) of the machine so far, from /proc/stat."""
    fields = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    tick = os.sysconf("SC_CLK_TCK")
    return sum(fields) / tick, (fields[3] + fields[4]) / tick  # idle and iowait


def _cpu_report(spent: dict[str, float], requests: int) -> str:
    parts = [f"{role} {seconds / requests * 1000:.2f}" for role, seconds in spent.items()]
    everything = sum(spent.values()) / requests * 1000
    return f"CPU ms per request: {', '.join(parts)}, all {everything:.2f}"


def _worker_memory(master_pid: int) -> str:
    """Resident memory of gunicorn's workers (children of the master), from /proc."""
    sizes = []
    for child in Path("/proc").glob("[0-9]*"):
        try:
            fields = dict(
                line.split(":", 1) for line in (child / "status").read_text().splitlines()
            )
        except (OSError, ValueError):
            continue
        if int(fields.get("PPid", "0").strip()) == master_pid and "VmRSS" in fields:
            sizes.append(int(fields["VmRSS"].split()[0]) / 1024)  # kB -> MiB
    listed = ", ".join(f"{size:.0f}" for size in sorted(sizes))
    return f"{len(sizes)} workers, resident MiB: {listed}"


def _run_wrk(
    args: argparse.Namespace, url: str, tokens: dict[str, list[str]], server_pid: int | None
) -> None:
    """wrk (C, one thread) as the load generator: Python client threads would take a good part
    of the two cores from the server. An unreported 3 s run, then three measured ones: every
    user, then each kind alone. Each measured run also reports the CPU time per request of the
    web processes, Postgres, Redis and wrk itself, and how busy the machine was."""
    import resource
    import tempfile

    print(
        f"wrk, {args.clients} connections, {args.workers} x {args.worker_class} workers, "
        f"{os.cpu_count()} CPUs, {args.path}?k={args.k}, think {args.think_ms:.0f} ms, "
        f"{args.seconds} s per run"
    )
    for kind in ("warm-up", "all", "precomputed", "online"):
        chosen = tokens[kind] if kind in tokens else tokens["precomputed"] + tokens["online"]
        script = WRK_SCRIPT % {
            "tokens": ",".join(f'"{t}"' for t in chosen),
            "think": int(args.think_ms),
            "seed": args.seed,
        }
        with tempfile.NamedTemporaryFile("w", suffix=".lua") as lua:
            lua.write(script)
            lua.flush()
            seconds = 3 if kind == "warm-up" else args.seconds  # not reported: settles the workers
            command = ["wrk", "-t1", f"-c{args.clients}", f"-d{seconds}s", "-s", lua.name]
            cpu_before, machine_before = _cpu_by_role(server_pid), _machine_busy()
            wrk_before = resource.getrusage(resource.RUSAGE_CHILDREN)
            out = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
            wrk_after = resource.getrusage(resource.RUSAGE_CHILDREN)
            spent = _cpu_spent(cpu_before, _cpu_by_role(server_pid))
            machine_after = _machine_busy()
        if kind == "warm-up":
            continue
        spent["wrk"] = (wrk_after.ru_utime + wrk_after.ru_stime) - (
            wrk_before.ru_utime + wrk_before.ru_stime
        )
        line = next(x for x in out.splitlines() if x.startswith("WRKJSON "))
        r = json.loads(line.removeprefix("WRKJSON "))
        total = machine_after[0] - machine_before[0]
        idle = machine_after[1] - machine_before[1]
        print(
            f"  {kind:>11}: n {r['requests']:6d}  {r['requests'] / r['seconds']:5.0f} req/s  "
            f"p50 {r['p50']:6.1f} ms  p95 {r['p95']:6.1f} ms  p99 {r['p99']:6.1f} ms  "
            f"max {r['max']:6.1f} ms  errors {r['status_errors'] + r['socket_errors']}"
        )
        print(
            f"  {'':>11}  {_cpu_report(spent, max(r['requests'], 1))}; "
            f"machine {100 * (1 - idle / total):.0f} % busy"
        )


def run(args: argparse.Namespace) -> None:
    tokens: dict[str, list[str]] = json.loads(TOKENS_FILE.read_text())
    base = f"http://127.0.0.1:{args.port}"
    url = f"{base}{args.path}?k={args.k}"
    env = dict(os.environ)
    for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = "1"  # one BLAS thread per worker: workers are the parallelism
    conf_workers = not args.workers  # gunicorn.conf.py decides; read its choice for the report
    if conf_workers:
        import runpy

        args.workers = int(runpy.run_path(str(ROOT / "gunicorn.conf.py"))["workers"])
    server = None
    if args.production:
        # gunicorn.conf.py's defaults (workers, warm-up) on the project's own WSGI app, the
        # cache on Redis as .env.example suggests; no access log on the measured path's output.
        env.setdefault("CACHE_URL", "redis://127.0.0.1:6379/14")
        env.update(DJANGO_PRODUCTION="1", DJANGO_SECRET_KEY="load-bench-" + "k" * 40,
                   DJANGO_ALLOWED_HOSTS="127.0.0.1", DJANGO_SECURE_SSL_REDIRECT="0")  # fmt: skip
    if not args.no_server:
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            PRODUCTION_APP if args.production else BENCH_APP,
            "--bind",
            f"127.0.0.1:{args.port}",
            "--worker-class",
            args.worker_class,
            "--threads",
            str(args.threads),
            "--log-level",
            "warning",
        ]
        if not conf_workers:
            command += ["--workers", str(args.workers)]
        if args.server_cpus:
            # Pin the server to these cores (the "2 cores" of the target); the clients run on the
            # rest, so they do not steal the server's time.
            command = ["taskset", "-c", args.server_cpus, *command]
            os.sched_setaffinity(0, set(range(os.cpu_count() or 1)) - _cpus(args.server_cpus))
        # The access log and the workers' messages go to a file, as a deployment's would: a
        # terminal that prints every request slows the workers down.
        SERVER_LOG.parent.mkdir(parents=True, exist_ok=True)
        print(f"server log: {SERVER_LOG.relative_to(ROOT)}")
        with SERVER_LOG.open("w") as log:
            server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 60
        while True:
            status, _ = _get(url, tokens["precomputed"][0], timeout=30)
            if status == 200:
                break
            if time.monotonic() > deadline:
                raise SystemExit(f"server at {base} did not answer 200 (last status {status})")
            time.sleep(0.5)
        # Warm-up: each worker loads the model and each online user is folded in once; those
        # first-request costs are reported apart from the steady state.
        warm: list[float] = []
        for token in tokens["precomputed"] + tokens["online"]:
            for _ in range(args.workers):
                status, ms = _get(url, token, timeout=30)
                warm.append(ms)
        print(f"warm-up (model load, fold-in, first request per worker): {_percentiles(warm)}")

        if server is not None:
            print(f"web processes: {_worker_memory(server.pid)}")
        if args.client == "wrk":
            _run_wrk(args, url, tokens, server.pid if server is not None else None)
            if server is not None:
                print(f"web processes after the load: {_worker_memory(server.pid)}")
            return
        jobs = [(kind, t) for kind in ("precomputed", "online") for t in tokens[kind]]
        latencies: dict[str, list[float]] = {"precomputed": [], "online": []}
        errors: dict[str, int] = {}
        lock = threading.Lock()
        budget = [args.requests]
        rng = random.Random(args.seed)

        def client() -> None:
            local = random.Random(rng.random())
            while True:
                with lock:
                    if budget[0] <= 0:
                        return
                    budget[0] -= 1
                kind, token = local.choice(jobs)
                status, ms = _get(url, token, timeout=10)
                with lock:
                    if status == 200:
                        latencies[kind].append(ms)
                    else:
                        errors[str(status)] = errors.get(str(status), 0) + 1
                if args.think_ms:
                    time.sleep(args.think_ms / 1000)

        started = time.perf_counter()
        threads = [threading.Thread(target=client) for _ in range(args.clients)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - started
        done = sum(len(v) for v in latencies.values())
        print(
            f"{args.clients} clients, {args.workers} x {args.worker_class} workers "
            f"({args.threads} threads), {os.cpu_count()} CPUs, {args.path}?k={args.k}, "
            f"think {args.think_ms} ms: {done} ok in {wall:.1f} s = {done / wall:.0f} req/s"
        )
        for kind, values in latencies.items():
            print(f"  {kind:>11}: {_percentiles(values)}")
        print(f"  {'all':>11}: {_percentiles(latencies['precomputed'] + latencies['online'])}")
        print(f"  errors: {sum(errors.values())} {errors if errors else ''}")
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_setup = sub.add_parser("setup", help="import, train, precompute, create token users")
    p_setup.add_argument("--users", type=int, default=40, help="users of each kind")
    p_setup.add_argument("--epochs", type=int, default=5)
    p_setup.add_argument("--seed", type=int, default=0)
    p_setup.add_argument(
        "--catalog",
        choices=["bundled", *CATALOGS],
        default="bundled",
        help="ml-latest-small, or a synthetic release with ML-32M's 87,585 movies",
    )
    p_run = sub.add_parser("run", help="serve with gunicorn and measure")
    p_run.add_argument("--clients", type=int, default=20)
    p_run.add_argument("--requests", type=int, default=3000, help="total, across all clients")
    p_run.add_argument(
        "--think-ms", type=float, default=0.0, help="pause between a client's requests"
    )
    p_run.add_argument("--workers", type=int, default=0, help="0: gunicorn.conf.py's default")
    p_run.add_argument(
        "--production",
        action="store_true",
        help="recsite.wsgi with DJANGO_PRODUCTION=1 and the cache on Redis (CACHE_URL)",
    )
    p_run.add_argument("--worker-class", default="sync")
    p_run.add_argument("--threads", type=int, default=1)
    p_run.add_argument("--port", type=int, default=8765)
    p_run.add_argument("--path", default=API_PATH)
    p_run.add_argument("--k", type=int, default=20)
    p_run.add_argument("--seed", type=int, default=0)
    p_run.add_argument("--no-server", action="store_true", help="a server is already running")
    p_run.add_argument("--server-cpus", default="", help="taskset list for gunicorn, e.g. 0,1")
    p_run.add_argument(
        "--client",
        choices=["threads", "wrk"],
        default="threads",
        help="Python threads (per-kind latencies in one run) or wrk (a C load generator)",
    )
    p_run.add_argument("--seconds", type=int, default=15, help="per wrk run")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if args.command == "setup":
        setup(args)
    else:
        run(args)


if __name__ == "__main__":
    main()
