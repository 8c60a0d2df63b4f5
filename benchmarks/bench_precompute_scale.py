"""Benchmark the top-k precompute at MovieLens-32M's shape (200,948 users x 87,585 movies).

Subcommands (run each timed one alone on the machine, e.g. under a shared `flock`):

    engine   exhaustive scoring + top 50 against candidate retrieval + rerank, per 1,000 users,
             on initialised weights of the default config at the 32m shape (no database);
             extrapolated to every user
    recall   the share of the exhaustive top 50 (with the product's taste shift) that retrieval
             misses, on models trained a few epochs: a synthetic latent-taste data set and
             MovieLens latest-small (data/ml-latest-small)
    epoch    one training epoch of the default config at the 32m shape (NumPy backend, the
             threads the environment sets), or a measured share of its batches, extrapolated;
             prints the peak RSS
    setup    a synthetic 32m-shaped database (users, movies with genres, some ratings, COPY)
             and a ModelVersion with initialised weights, not precomputed (DATABASE_URL)
    chord    the version's precompute through the Celery chord with 1 or more worker
             processes, timed from the first chunk queued to the finish

    export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
    .venv/bin/python benchmarks/bench_precompute_scale.py engine
    .venv/bin/python benchmarks/bench_precompute_scale.py recall
    .venv/bin/python benchmarks/bench_precompute_scale.py epoch --share 0.02
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/recsite_32m_bench \
        .venv/bin/python benchmarks/bench_precompute_scale.py setup
    DATABASE_URL=... .venv/bin/python benchmarks/bench_precompute_scale.py chord --workers 2
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

N_USERS, N_ITEMS = 200_948, 87_585  # MovieLens 32M
N_RATINGS = 32_000_204
TOP_K = 50
N_GENRES = 20


def _machine() -> str:
    cpu = "unknown cpu"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    threads = os.environ.get("OPENBLAS_NUM_THREADS", "unset")
    return f"{os.cpu_count()} cores, {cpu}; OPENBLAS_NUM_THREADS={threads}"


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- engine: exhaustive against retrieval --------------------------------------------------------


def _top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Column indices of the k best of each row, best first (as the precompute orders them)."""
    top = np.argpartition(-scores, k - 1, axis=1)[:, :k]
    order = np.argsort(-np.take_along_axis(scores, top, axis=1), axis=1, kind="stable")
    return np.take_along_axis(top, order, axis=1)


def _final(z: np.ndarray, affinity: np.ndarray | None) -> np.ndarray:
    """The product's ranking score of logits: as the precompute computes it from probabilities."""
    from recommender.engine import coldstart as cs
    from recommender.engine.neumf_numpy import sigmoid

    return cs.with_taste(cs.logits_from_probabilities(sigmoid(z)), affinity)


def _item_genres(n_items: int, rng: np.random.Generator) -> np.ndarray:
    """One to three genres per item, 0/1 [n_items, N_GENRES], genre popularity a power law."""
    weights = 1.0 / np.arange(1, N_GENRES + 1)
    weights /= weights.sum()
    out = np.zeros((n_items, N_GENRES), np.float32)
    n = rng.integers(1, 4, size=n_items)
    for j in range(3):
        pick = rng.choice(N_GENRES, size=n_items, p=weights)
        out[np.arange(n_items)[n > j], pick[n > j]] = 1.0
    return out


def engine(args: argparse.Namespace) -> None:
    from recommender.engine import coldstart as cs
    from recommender.engine import retrieval
    from recommender.engine.config import NeuMFConfig
    from recommender.engine.neumf_numpy import Towers, init_weights, item_terms

    config = NeuMFConfig()
    print(f"machine: {_machine()}")
    print(f"shape: {N_USERS:,} users x {N_ITEMS:,} items, config {config.to_dict()}")
    weights = init_weights(N_USERS, N_ITEMS, config, seed=0)
    towers = Towers.of(weights, config, np.float32)
    item_table = np.concatenate([weights["gmf_item"], weights["mlp_item"]], axis=1)
    user_table = np.concatenate([weights["gmf_user"], weights["mlp_user"]], axis=1)
    started = time.perf_counter()
    terms = item_terms(towers, item_table.astype(np.float32))
    surrogate = retrieval.surrogate_fit(towers, terms, user_table, seed=0)
    setup_s = time.perf_counter() - started
    print(f"item terms + surrogate fit (once per model and process): {setup_s:.1f} s")
    rng = np.random.default_rng(1)
    genres = _item_genres(N_ITEMS, rng)
    users = rng.choice(N_USERS, size=args.users, replace=False)
    block = 500  # a chunk's users
    # Random profiles: the taste shift costs the same whatever its values.
    profiles = rng.normal(size=(block, N_GENRES)).astype(np.float32)
    profiles /= np.linalg.norm(profiles, axis=1, keepdims=True)
    affinity = np.stack([cs.genre_affinity(genres, p) for p in profiles])  # [block, n_items]
    shift = (cs.TASTE_GAIN * affinity).astype(np.float32)

    def exhaustive(rows: np.ndarray) -> np.ndarray:
        from recommender.engine.neumf_numpy import score_logits

        z = score_logits(towers, terms, rows)
        return _top_k(_final(z, affinity[: rows.shape[0]]), TOP_K)

    def retrieved(rows: np.ndarray, c: int) -> np.ndarray:
        items, z = retrieval.candidate_logits(
            towers, terms, surrogate, rows, c, shift[: rows.shape[0]]
        )
        best = _top_k(_final(z, np.take_along_axis(affinity[: rows.shape[0]], items, 1)), TOP_K)
        return np.take_along_axis(items, best, axis=1)

    def per_1k(fn, n_users: int) -> float:
        started = time.perf_counter()
        for start in range(0, n_users, block):
            fn(user_table[users[start : start + block]])
        return (time.perf_counter() - started) / n_users * 1000

    ex_users = min(args.users, args.exhaustive_users)
    ex = per_1k(exhaustive, ex_users)
    print(
        f"exhaustive: {ex:.2f} s per 1,000 users ({ex_users:,} timed) -> "
        f"{ex * N_USERS / 1000 / 60:.0f} min for {N_USERS:,} users in one process"
    )
    for c in args.candidates:
        t = per_1k(lambda rows, c=c: retrieved(rows, c), args.users)
        print(
            f"retrieval C={c}: {t:.2f} s per 1,000 users ({args.users:,} timed) -> "
            f"{t * N_USERS / 1000 / 60:.1f} min for {N_USERS:,} users in one process, "
            f"{t * N_USERS / 1000 / 60 / 2:.1f} min over 2 processes; peak RSS "
            f"{_peak_rss_mib():,.0f} MiB"
        )


# -- recall on trained models --------------------------------------------------------------------


def _latent_data(
    n_users: int, n_items: int, n_ratings: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(users, items, item genres): each user draws items without replacement with weight
    popularity (a power law) x exp(4 u.v) for 16-factor tastes; activity heavy-tailed, >= 20.
    Genres follow the taste factors, so the taste shift and the model agree in part."""
    rng = np.random.default_rng(seed)
    d = 16
    u_f = rng.normal(size=(n_users, d)) / np.sqrt(d)
    v_f = rng.normal(size=(n_items, d)) / np.sqrt(d)
    log_pop = -0.9 * np.log(rng.permutation(n_items) + 1.0)
    activity = rng.pareto(1.5, n_users) + 1.0
    counts = np.minimum(
        np.maximum(20, np.round(activity / activity.sum() * n_ratings)).astype(np.int64),
        n_items // 4,
    )
    users, items = [], []
    for start in range(0, n_users, 500):
        stop = min(start + 500, n_users)
        logits = log_pop[None, :] + 4.0 * u_f[start:stop] @ v_f.T  # [b, n_items]
        keys = logits + rng.gumbel(size=logits.shape)
        for row in range(stop - start):
            n = int(counts[start + row])
            pick = np.argpartition(-keys[row], n - 1)[:n]
            users.append(np.full(n, start + row, np.int64))
            items.append(pick.astype(np.int64))
    genre_axes = rng.normal(size=(d, N_GENRES))
    genre_logit = v_f @ genre_axes  # [n_items, N_GENRES]
    genres = np.zeros((n_items, N_GENRES), np.float32)
    for j in range(2):
        genres[np.arange(n_items), np.argsort(-genre_logit, axis=1)[:, j]] = 1.0
    return np.concatenate(users), np.concatenate(items), genres


def _movielens_small() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    import pandas as pd

    folder = ROOT / "data" / "ml-latest-small"
    ratings = pd.read_csv(folder / "ratings.csv")
    movies = pd.read_csv(folder / "movies.csv")
    item_ids = np.unique(ratings["movieId"].to_numpy())
    user_ids = np.unique(ratings["userId"].to_numpy())
    users = np.searchsorted(user_ids, ratings["userId"].to_numpy())
    items = np.searchsorted(item_ids, ratings["movieId"].to_numpy())
    names = sorted({g for gs in movies["genres"] for g in gs.split("|")})
    col = {g: j for j, g in enumerate(names)}
    genres = np.zeros((item_ids.shape[0], len(names)), np.float32)
    by_id = dict(zip(movies["movieId"], movies["genres"], strict=True))
    for row, movie_id in enumerate(item_ids.tolist()):
        for g in by_id.get(movie_id, "").split("|"):
            if g in col:
                genres[row, col[g]] = 1.0
    return users, items, ratings["rating"].to_numpy(np.float64), genres


def _train(users: np.ndarray, items: np.ndarray, n_users: int, n_items: int, epochs: int):
    from recommender.engine.config import NeuMFConfig
    from recommender.engine.neumf_numpy import NeuMFNumpy

    config = NeuMFConfig()
    model = NeuMFNumpy(n_users, n_items, config, seed=0)
    for epoch in range(epochs):
        started = time.perf_counter()
        loss = model.train_epoch_sampled(
            users, items, negatives=config.negatives, batch_size=config.batch_size, seed=epoch
        )
        print(f"  epoch {epoch + 1}: loss {loss:.4f} in {time.perf_counter() - started:.0f} s")
    return model


def _recall(
    name: str,
    model,
    users: np.ndarray,
    items: np.ndarray,
    scores: np.ndarray,
    genres: np.ndarray,
    sample: int,
    candidates: list[int],
) -> None:
    from recommender.engine import coldstart as cs
    from recommender.engine import retrieval
    from recommender.engine.neumf_numpy import Towers, item_terms, score_logits

    weights = model.get_weights()
    towers = Towers.of(weights, model.config, np.float32)
    item_table = np.concatenate([weights["gmf_item"], weights["mlp_item"]], axis=1)
    user_table = np.concatenate([weights["gmf_user"], weights["mlp_user"]], axis=1)
    terms = item_terms(towers, item_table.astype(np.float32))
    rng = np.random.default_rng(2)
    # Recall is measured on users the surrogate was not fitted on.
    picked = np.sort(rng.choice(model.n_users, size=min(sample, model.n_users // 2), replace=False))
    others = np.setdiff1d(np.arange(model.n_users), picked)
    surrogate = retrieval.surrogate_fit(towers, terms, user_table[others], seed=0)
    order = np.argsort(users, kind="stable")
    starts = np.searchsorted(users[order], picked, side="left")
    stops = np.searchsorted(users[order], picked, side="right")
    affinity = np.zeros((picked.shape[0], model.n_items), np.float32)
    rated = np.zeros((picked.shape[0], model.n_items), bool)
    for row in range(picked.shape[0]):
        mine = order[starts[row] : stops[row]]
        profile = cs.genre_profile(
            genres, np.zeros(genres.shape[1], bool), items[mine], scores[mine]
        )
        affinity[row] = cs.genre_affinity(genres, profile)
        rated[row, items[mine]] = True
    shift = np.where(rated, -np.inf, cs.TASTE_GAIN * affinity).astype(np.float32)
    rows = user_table[picked].astype(np.float32)
    exact = _final(score_logits(towers, terms, rows), affinity)
    exact[rated] = -np.inf
    truth = _top_k(exact, TOP_K)
    plain_truth = _top_k(np.where(rated, -np.inf, score_logits(towers, terms, rows)), TOP_K)
    print(f"{name}: {model.n_users:,} users x {model.n_items:,} items, {picked.shape[0]} sampled")
    for c in candidates:
        cand, z = retrieval.candidate_logits(towers, terms, surrogate, rows, c, shift)
        final = _final(z, np.take_along_axis(affinity, cand, 1))
        final[np.take_along_axis(rated, cand, 1)] = -np.inf
        got = np.take_along_axis(cand, _top_k(final, TOP_K), axis=1)
        recall = retrieval.recall_at(truth, got)
        # Without the shift in retrieval: what the union with the taste term buys.
        bare = retrieval.retrieve(surrogate, rows, c, np.where(rated, -np.inf, 0.0))
        plain = retrieval.recall_at(plain_truth, bare)
        print(
            f"  C={c}: missed {100 * (1 - recall):.2f} % of the top {TOP_K} with the taste "
            f"shift; surrogate alone (no shift, no rerank) holds "
            f"{100 * plain:.1f} % of the model's own top {TOP_K}"
        )


def recall(args: argparse.Namespace) -> None:
    print(f"machine: {_machine()}")
    if not args.skip_synthetic:
        users, items, genres = _latent_data(args.users, args.items, args.ratings, seed=0)
        print(f"synthetic: {users.shape[0]:,} positives; training {args.epochs} epochs")
        model = _train(users, items, args.users, args.items, args.epochs)
        liked = np.full(users.shape[0], 4.0)
        _recall(
            "synthetic latent taste", model, users, items, liked, genres, args.sample,
            args.candidates,
        )  # fmt: skip
    users, items, scores, genres = _movielens_small()
    n_users, n_items = int(users.max()) + 1, int(items.max()) + 1
    print(f"ml-latest-small: {users.shape[0]:,} ratings; training {args.small_epochs} epochs")
    model = _train(users, items, n_users, n_items, args.small_epochs)
    _recall("ml-latest-small", model, users, items, scores, genres, args.sample, args.candidates)


# -- a 32m-shaped database, and the chord over it ------------------------------------------------

RATINGS_PER_USER = 10  # enough to mask rated movies and give each user a taste shift


def _django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "recsite.settings")
    import django

    django.setup()


def _copy(table: str, columns: str, lines) -> None:
    import io

    from django.db import connection

    data = io.StringIO("".join(lines))
    with connection.cursor() as cursor:
        cursor.cursor.copy_expert(f"COPY {table} ({columns}) FROM STDIN", data)


def setup(args: argparse.Namespace) -> None:
    """Users, movies (1-3 genres each), RATINGS_PER_USER ratings per user, and three versions of
    initialised weights (all users, the first half, the first quarter), not precomputed: a
    chord over all users runs past the 8 minutes a shared machine's benchmark may take."""
    _django()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection, transaction
    from django.utils import timezone

    from catalog.models import Genre, Movie, MovieGenre
    from ratings.models import Rating
    from recommender.engine.artifacts import save_model_artifact, sha256_file
    from recommender.engine.config import NeuMFConfig
    from recommender.engine.data import IdMap
    from recommender.engine.neumf_numpy import init_weights
    from recommender.models import ModelVersion, TrainingRun

    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    rng = np.random.default_rng(0)
    now = timezone.now().isoformat()
    user_table = get_user_model()._meta.db_table
    with transaction.atomic():
        for model in (Rating, MovieGenre, Movie, Genre):
            model.objects.all().delete()
        get_user_model().objects.all().delete()
        genres = [
            Genre.objects.create(name=f"Genre {g}", slug=f"genre-{g}") for g in range(N_GENRES)
        ]
        _copy(
            user_table,
            "id, password, is_superuser, username, first_name, last_name, email, is_staff, "
            "is_active, date_joined",
            (f"{u}\t!\tf\tuser{u}\t\t\t\tf\tt\t{now}\n" for u in range(1, N_USERS + 1)),
        )
        _copy(
            Movie._meta.db_table,
            "id, title, year, movielens_id, imdb_id, poster_path, overview, rating_count, "
            "rating_mean, created, updated",
            (
                f"{m}\tMovie {m}\t{1950 + m % 70}\t{m}\t\t\t\t0\t0\t{now}\t{now}\n"
                for m in range(1, N_ITEMS + 1)
            ),
        )
        item_genres = _item_genres(N_ITEMS, rng)
        movie, genre = np.nonzero(item_genres)
        _copy(
            MovieGenre._meta.db_table,
            "movie_id, genre_id",
            (
                f"{m + 1}\t{genres[g].pk}\n"
                for m, g in zip(movie.tolist(), genre.tolist(), strict=True)
            ),
        )
        popularity = 1.0 / np.arange(1, N_ITEMS + 1) ** 0.9
        popularity /= popularity.sum()
        picks = rng.choice(N_ITEMS, size=(N_USERS, RATINGS_PER_USER * 2), p=popularity) + 1
        scores = rng.integers(1, 11, size=picks.shape) / 2
        lines = []
        for u in range(N_USERS):
            _, first = np.unique(picks[u], return_index=True)
            for j in np.sort(first)[:RATINGS_PER_USER]:
                lines.append(f"{u + 1}\t{picks[u, j]}\t{scores[u, j]:.1f}\t{now}\t{now}\t{now}\n")
        _copy(Rating._meta.db_table, "user_id, movie_id, score, rated_at, created, updated", lines)
        with connection.cursor() as cursor:
            for table in (user_table, Movie._meta.db_table):
                cursor.execute(
                    f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                    f"(SELECT max(id) FROM {table}))"
                )
    print(f"database: {N_USERS:,} users, {N_ITEMS:,} movies, {len(lines):,} ratings "
          f"in {time.perf_counter() - started:.0f} s")  # fmt: skip

    config = NeuMFConfig()
    # Initialised weights, scaled so that scores differ as a trained model's do; the cost of
    # scoring does not depend on the values.
    weights = {k: v * 30 for k, v in init_weights(N_USERS, N_ITEMS, config, seed=0).items()}
    items = IdMap(np.arange(1, N_ITEMS + 1))
    shares = (("32m", N_USERS), ("32m-half", N_USERS // 2), ("32m-quarter", N_USERS // 4))
    for name, n_users in shares:
        part = {k: (v[:n_users] if k.endswith("_user") else v) for k, v in weights.items()}
        directory = Path(settings.ARTIFACT_DIR) / f"bench-{name}"
        save_model_artifact(
            directory, weights=part, config=config, backend="numpy",
            users=IdMap(np.arange(1, n_users + 1)), items=items, overwrite=True,
        )  # fmt: skip
        run = TrainingRun.objects.create(config=config.to_dict(), status="succeeded")
        version = ModelVersion.objects.create(
            training_run=run, backend="numpy", artifact_path=directory.name,
            checksum=sha256_file(directory / "meta.json"), n_users=n_users, n_items=N_ITEMS,
        )  # fmt: skip
        print(f"version {version.pk}: {name}, {n_users:,} users x {N_ITEMS:,} movies")


def chord(args: argparse.Namespace) -> None:
    """The chord of bench_precompute.py (warm workers, then timed from the task queued to the
    finish) over a version made by `setup`."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    _django()
    from bench_precompute import _check, _reset, run_celery
    from django.conf import settings

    from recommender.models import ModelVersion

    version = ModelVersion.objects.get(pk=args.version)
    print(f"machine: {_machine()}")
    print(
        f"version {version.pk}: {version.n_users:,} users x {version.n_items:,} movies, top "
        f"{settings.RECSITE_TOP_K}, {settings.RECSITE_PRECOMPUTE_CHUNK_USERS} users a chunk, "
        f"candidates {settings.RECSITE_PRECOMPUTE_CANDIDATES} above "
        f"{settings.RECSITE_PRECOMPUTE_RETRIEVAL_ITEMS:,} movies"
    )
    _reset(version.pk)
    seconds = run_celery(version.pk, args.concurrency, args.workers, args.limit_minutes * 60)
    print(
        f"{seconds / version.n_users * 1000:.2f} s per 1,000 users -> "
        f"{seconds / version.n_users * N_USERS / 60:.1f} min for {N_USERS:,} users"
    )
    print(f"check: {_check(version.pk, int(settings.RECSITE_TOP_K))}")


# -- one training epoch --------------------------------------------------------------------------


def epoch(args: argparse.Namespace) -> None:
    """One epoch of the default config at the 32m shape: 32M positives x (1 + 4 negatives),
    or the first `share` of its batches, extrapolated. Positives are random (power-law items):
    the cost of a batch does not depend on which pairs it holds."""
    from recommender.engine.config import NeuMFConfig
    from recommender.engine.neumf_numpy import NeuMFNumpy, sample_negatives

    config = NeuMFConfig()
    print(f"machine: {_machine()}")
    rng = np.random.default_rng(0)
    started = time.perf_counter()
    users = np.sort(rng.integers(0, N_USERS, size=N_RATINGS))
    items = (rng.pareto(1.0, size=N_RATINGS) * 50).astype(np.int64) % N_ITEMS
    model = NeuMFNumpy(N_USERS, N_ITEMS, config, seed=0)
    print(f"data and model: {time.perf_counter() - started:.0f} s, RSS {_peak_rss_mib():,.0f} MiB")
    # The sampled epoch's own steps: negatives, shuffle, then the batches (train_epoch).
    started = time.perf_counter()
    negatives = sample_negatives(users, items, N_ITEMS, config.negatives, rng)
    all_users = np.concatenate((users, np.repeat(users, config.negatives)))
    all_items = np.concatenate((items, negatives))
    labels = np.zeros(all_users.shape[0], np.float32)
    labels[: users.shape[0]] = 1.0
    order = rng.permutation(all_users.shape[0])
    all_users, all_items, labels = all_users[order], all_items[order], labels[order]
    prepare = time.perf_counter() - started
    n_rows = all_users.shape[0]
    n_batches = -(-n_rows // config.batch_size)
    timed = max(1, int(n_batches * args.share)) * config.batch_size
    started = time.perf_counter()
    model.train_epoch(
        all_users[:timed], all_items[:timed], labels[:timed], batch_size=config.batch_size
    )
    batches = time.perf_counter() - started
    total = prepare + batches * n_rows / timed
    print(
        f"{n_rows:,} rows, {n_batches:,} batches of {config.batch_size}: negatives and shuffle "
        f"{prepare:.0f} s; {timed // config.batch_size:,} batches ({100 * timed / n_rows:.1f} %) "
        f"in {batches:.0f} s -> one epoch {total / 60:.0f} min; peak RSS {_peak_rss_mib():,.0f} MiB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p_engine = sub.add_parser("engine", help="exhaustive against retrieval, no database")
    p_engine.add_argument("--users", type=int, default=2000)
    p_engine.add_argument("--exhaustive-users", type=int, default=1000)
    p_engine.add_argument("--candidates", type=int, nargs="+", default=[300])
    p_recall = sub.add_parser("recall", help="recall of retrieval on trained models")
    p_recall.add_argument("--users", type=int, default=20_000)
    p_recall.add_argument("--items", type=int, default=20_000)
    p_recall.add_argument("--ratings", type=int, default=2_000_000)
    p_recall.add_argument("--epochs", type=int, default=6)
    p_recall.add_argument("--small-epochs", type=int, default=20)
    p_recall.add_argument("--sample", type=int, default=1000)
    p_recall.add_argument("--candidates", type=int, nargs="+", default=[300, 500, 1000])
    p_recall.add_argument("--skip-synthetic", action="store_true")
    p_epoch = sub.add_parser("epoch", help="one training epoch at the 32m shape")
    p_epoch.add_argument("--share", type=float, default=0.05, help="share of batches timed")
    sub.add_parser("setup", help="a 32m-shaped database and two versions (DATABASE_URL)")
    p_chord = sub.add_parser("chord", help="the precompute chord with real workers")
    p_chord.add_argument("--version", type=int, required=True)
    p_chord.add_argument("--workers", type=int, default=1)
    p_chord.add_argument("--concurrency", type=int, default=1, help="processes per worker")
    p_chord.add_argument(
        "--limit-minutes", type=float, default=10, help="give up after this long (all users: 20)"
    )
    args = parser.parse_args()
    commands = {"engine": engine, "recall": recall, "epoch": epoch, "setup": setup}
    {**commands, "chord": chord}[args.command](args)


if __name__ == "__main__":
    main()
