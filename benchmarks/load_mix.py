"""Mixed-traffic load test: gunicorn (gunicorn.conf.py, 2 workers) on 127.0.0.1, a ramp of
bounded threaded clients, throughput and p50/p95/p99 and errors per endpoint, and the knee.

    # once: import ml-latest-small, train a model, precompute, make token users (own database)
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/recsite_faults \\
        .venv/bin/python benchmarks/load_mix.py setup
    # then: start gunicorn, warm it, and ramp 1, 2, 5, 10, 20, 40 clients, 20 s each
    DATABASE_URL=... .venv/bin/python benchmarks/load_mix.py run --seconds 20

The mix (weights in MIX): signed-out browsing (home, movie detail, genre page), signed-in home
(a session cookie made here for a load user), search suggestions, the API's movie list and a
user's recommendations (token), and rating through the API (PUT, token). Setup reuses
benchmarks/load_recommendations.py (precomputed users, online users folded in), with its own
tokens file. Every request goes to 127.0.0.1; every level is bounded in time and requests.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "recsite.settings")

STATE_FILE = ROOT / "var" / "loadmix" / "tokens.json"
LEVELS = (1, 2, 5, 10, 20, 40)
SCORES = ("2.5", "3.0", "3.5", "4.0", "4.5", "5.0")


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None


@dataclass
class World:
    """What the clients draw from: movie ids, genre slugs, queries, tokens, session cookies."""

    movies: list[int]
    genres: list[str]
    queries: list[str]
    tokens: list[str]
    sessions: list[str]


def _browse_home(w: World, r: random.Random) -> Request:
    return Request("GET", "/")


def _member_home(w: World, r: random.Random) -> Request:
    return Request("GET", "/", {"Cookie": f"sessionid={r.choice(w.sessions)}"})


def _movie_detail(w: World, r: random.Random) -> Request:
    return Request("GET", f"/movies/{r.choice(w.movies)}/")


def _genre_page(w: World, r: random.Random) -> Request:
    slug = urllib.parse.quote(r.choice(w.genres))
    return Request("GET", f"/genres/{slug}/?page={r.randint(1, 3)}")


def _suggest(w: World, r: random.Random) -> Request:
    return Request("GET", f"/search/suggest/?q={urllib.parse.quote(r.choice(w.queries))}")


def _api(token: str) -> dict[str, str]:
    return {"Authorization": f"Token {token}", "Accept": "application/json"}


def _api_movies(w: World, r: random.Random) -> Request:
    return Request("GET", f"/api/v1/movies/?page={r.randint(1, 20)}", _api(r.choice(w.tokens)))


def _api_recommendations(w: World, r: random.Random) -> Request:
    return Request("GET", "/api/v1/me/recommendations/", _api(r.choice(w.tokens)))


def _api_rate(w: World, r: random.Random) -> Request:
    body = json.dumps({"score": float(r.choice(SCORES))}).encode()
    headers = {**_api(r.choice(w.tokens)), "Content-Type": "application/json"}
    return Request("PUT", f"/api/v1/me/ratings/{r.choice(w.movies)}/", headers, body)


# endpoint name -> (weight, request maker, the status a success has)
MIX: dict[str, tuple[int, Callable[[World, random.Random], Request], int]] = {
    "home (signed out)": (10, _browse_home, 200),
    "home (signed in)": (10, _member_home, 200),
    "movie detail": (20, _movie_detail, 200),
    "genre page": (5, _genre_page, 200),
    "search suggest": (15, _suggest, 200),
    "API movie list": (10, _api_movies, 200),
    "API recommendations": (20, _api_recommendations, 200),
    "API rate (PUT)": (10, _api_rate, 200),
}


# -- setup ------------------------------------------------------------------------------------


def setup(args: argparse.Namespace) -> None:
    import benchmarks.load_recommendations as base

    base.TOKENS_FILE = STATE_FILE  # our own file: never overwrite that benchmark's tokens
    base.setup(argparse.Namespace(users=args.users, epochs=args.epochs, seed=args.seed))


def _world(seed: int) -> World:
    """Reads the database once, in this process, before the server starts."""
    import django

    django.setup()
    from django.contrib.auth import (
        BACKEND_SESSION_KEY,
        HASH_SESSION_KEY,
        SESSION_KEY,
        get_user_model,
    )
    from django.contrib.sessions.backends.db import SessionStore
    from rest_framework.authtoken.models import Token

    from catalog.models import Genre, Movie

    state = json.loads(STATE_FILE.read_text())
    tokens = state["precomputed"] + state["online"]
    movies = list(Movie.objects.order_by("-rating_count").values_list("pk", flat=True)[:2000])
    titles = Movie.objects.order_by("-rating_count").values_list("title", flat=True)[:300]
    rng = random.Random(seed)
    queries = sorted({t.split()[0][:4].lower() for t in titles if len(t.split()[0]) >= 2})
    # Signed-in browsers: a real session row per load user, as a login would create.
    users = get_user_model().objects.filter(
        pk__in=Token.objects.filter(key__in=tokens).values("user_id")
    )
    sessions = []
    for user in list(users)[:40]:
        store = SessionStore()
        store[SESSION_KEY] = str(user.pk)
        store[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        store[HASH_SESSION_KEY] = user.get_session_auth_hash()
        store.create()
        sessions.append(store.session_key)
    genres = list(Genre.objects.values_list("slug", flat=True))
    rng.shuffle(queries)
    return World(movies, genres, queries, tokens, sessions)


# -- load -------------------------------------------------------------------------------------


def _send(base: str, request: Request, timeout: float) -> tuple[int, float]:
    http = urllib.request.Request(
        base + request.path, data=request.body, headers=request.headers, method=request.method
    )
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(http, timeout=timeout) as response:
            response.read()
            status = response.status
    except urllib.error.HTTPError as exc:
        exc.read()
        status = exc.code
    except (urllib.error.URLError, TimeoutError, ConnectionError, OSError):
        status = 0  # refused, reset or timed out
    return status, (time.perf_counter() - started) * 1000


@dataclass
class LevelResult:
    clients: int
    wall: float
    latencies: dict[str, list[float]]
    errors: dict[str, dict[int, int]]

    def ok(self, name: str | None = None) -> int:
        names = [name] if name else list(self.latencies)
        return sum(len(self.latencies[n]) for n in names)

    def failed(self, name: str | None = None) -> int:
        names = [name] if name else list(self.errors)
        return sum(sum(self.errors[n].values()) for n in names)

    def percentiles(self, name: str | None = None) -> tuple[float, float, float]:
        import numpy as np

        names = [name] if name else list(self.latencies)
        values = [v for n in names for v in self.latencies[n]]
        if not values:
            return (float("nan"),) * 3
        p50, p95, p99 = np.percentile(values, [50, 95, 99])
        return float(p50), float(p95), float(p99)


def run_level(
    base: str, world: World, clients: int, seconds: float, max_requests: int, seed: int
) -> LevelResult:
    names = list(MIX)
    weights = [MIX[n][0] for n in names]
    latencies: dict[str, list[float]] = {n: [] for n in names}
    errors: dict[str, dict[int, int]] = {n: {} for n in names}
    lock = threading.Lock()
    budget = [max_requests]
    deadline = time.monotonic() + seconds

    def client(index: int) -> None:
        rng = random.Random(seed * 1000 + index)
        while time.monotonic() < deadline:
            with lock:
                if budget[0] <= 0:
                    return
                budget[0] -= 1
            name = rng.choices(names, weights)[0]
            _, make, expected = MIX[name]
            status, ms = _send(base, make(world, rng), timeout=30)
            with lock:
                if status == expected:
                    latencies[name].append(ms)
                else:
                    errors[name][status] = errors[name].get(status, 0) + 1

    started = time.perf_counter()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return LevelResult(clients, time.perf_counter() - started, latencies, errors)


def knee(results: list[LevelResult]) -> LevelResult:
    """The last level before throughput stops rising (< 10 % more) or p95 more than doubles."""
    best = results[0]
    for previous, current in itertools.pairwise(results):
        gain = current.ok() / current.wall / max(previous.ok() / previous.wall, 1e-9)
        if gain < 1.10 or current.percentiles()[1] > 2 * previous.percentiles()[1]:
            return previous
        best = current
    return best


def report(results: list[LevelResult]) -> str:
    lines = [
        "| clients | req/s | p50 ms | p95 ms | p99 ms | errors |",
        "|--:|--:|--:|--:|--:|--:|",
    ]
    for res in results:
        p50, p95, p99 = res.percentiles()
        lines.append(
            f"| {res.clients} | {res.ok() / res.wall:.0f} | {p50:.0f} | {p95:.0f} | {p99:.0f} "
            f"| {res.failed()} |"
        )
    lines += ["", "| endpoint | " + " | ".join(f"{r.clients} cl." for r in results) + " |"]
    lines.append("|---|" + "--:|" * len(results))
    for name in MIX:
        cells = []
        for res in results:
            p50, p95, _ = res.percentiles(name)
            errors = res.failed(name)
            cells.append(
                f"{res.ok(name) / res.wall:.1f}/s {p50:.0f}/{p95:.0f}"
                + (f" **{errors} err {res.errors[name]}**" if errors else "")
            )
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    point = knee(results)
    lines += [
        "",
        f"knee: {point.clients} clients, {point.ok() / point.wall:.0f} req/s, "
        f"p95 {point.percentiles()[1]:.0f} ms",
    ]
    return "\n".join(lines)


def run(args: argparse.Namespace) -> None:
    world = _world(args.seed)
    base = f"http://127.0.0.1:{args.port}"
    env = {
        **os.environ,
        "GUNICORN_BIND": f"127.0.0.1:{args.port}",
        "GUNICORN_WORKERS": str(args.workers),
        "DJANGO_DEBUG": "0",
        "LOG_LEVEL": "WARNING",
        "RECSITE_RETRAIN_AFTER_RATINGS": "0",  # no auto retrain mid-measurement
        "CELERY_DATA_DIR": str(ROOT / "var" / "loadmix" / "celery"),
    }
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "-c",
        "gunicorn.conf.py",
        "--access-logfile",
        "/dev/null",
        "recsite.wsgi:application",
    ]
    server = subprocess.Popen(command, cwd=ROOT, env=env)
    try:
        deadline = time.monotonic() + 60
        while _send(base, Request("GET", "/"), timeout=30)[0] != 200:
            if time.monotonic() > deadline or server.poll() is not None:
                raise SystemExit(f"gunicorn at {base} did not answer 200")
            time.sleep(0.5)
        # Warm-up: each worker loads the model, builds its catalog snapshot, folds users in.
        warm = run_level(base, world, args.workers * 2, args.warmup, 10_000, args.seed + 99)
        print(f"warm-up: {warm.ok()} requests, {warm.failed()} errors {warm.errors}")
        results = []
        for clients in args.levels:
            res = run_level(base, world, clients, args.seconds, args.max_requests, args.seed)
            p50, p95, p99 = res.percentiles()
            print(
                f"{clients:3d} clients: {res.ok() / res.wall:6.1f} req/s  p50 {p50:6.1f}  "
                f"p95 {p95:6.1f}  p99 {p99:6.1f} ms  errors {res.failed()}",
                flush=True,
            )
            results.append(res)
        print()
        print(
            f"{os.cpu_count()} CPUs, gunicorn {args.workers} sync workers, {args.seconds:g} s "
            f"a level (at most {args.max_requests} requests)"
        )
        print(report(results))
    finally:
        server.terminate()
        server.wait(timeout=30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p_setup = sub.add_parser("setup", help="import, train, precompute, create token users")
    p_setup.add_argument("--users", type=int, default=40, help="users of each kind")
    p_setup.add_argument("--epochs", type=int, default=5)
    p_setup.add_argument("--seed", type=int, default=0)
    p_run = sub.add_parser("run", help="serve with gunicorn and ramp the clients")
    p_run.add_argument("--levels", type=int, nargs="+", default=list(LEVELS))
    p_run.add_argument("--seconds", type=float, default=20.0, help="per level")
    p_run.add_argument("--max-requests", type=int, default=20_000, help="per level")
    p_run.add_argument("--warmup", type=float, default=10.0, help="seconds")
    p_run.add_argument("--workers", type=int, default=2)
    p_run.add_argument("--port", type=int, default=8766)
    p_run.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if args.command == "setup":
        setup(args)
    else:
        run(args)


if __name__ == "__main__":
    main()
