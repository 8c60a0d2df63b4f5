"""Taste test: do the picks follow a user with a clear taste, through the product's own serving?

Synthetic users each rate 13 films of one kind (a MovieLens genre) 3.5-5 stars and 2-3 films of
another kind 1 star, through the rating service. Their top 10 (`recommendations_for_user`, what
the pages and the API show) is read at three stages: after their first 5 ratings and after all of
them (online: fold-in and the cold-start blend, no retrain), and after a retrain that includes
them (their trained rows and the precomputed lists). A pick "matches" when the film has the kind
among its genres; a film the user rated must never appear. Target: on average at least 7 of 10
match at every stage, none below 5. It also prints each stage's catalogue coverage (distinct
films over all taste users' top 10s) and the Animation user's titles, to read as a person would.

It runs on a scratch SQLite database with the bundled MovieLens latest-small, trains with the
product's default configuration (the pipeline's retrain) and leaves the database alone:

    .venv/bin/python benchmarks/taste.py              # three draws of taste users (seeds 0 1 2)
    .venv/bin/python benchmarks/taste.py --seeds 5    # another draw
    .venv/bin/python benchmarks/taste.py --gain 1     # another weight of the user's genres
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# (kind rated highly, kind rated 1 star)
KINDS = (
    ("Animation", "Horror"),
    ("Horror", "Children"),
    ("Documentary", "Action"),
    ("Western", "Animation"),
    ("Musical", "Horror"),
    ("War", "Children"),
    ("Sci-Fi", "Romance"),
    ("Romance", "Sci-Fi"),
)
LIKED, DISLIKED = 13, 3


def _setup_env(workdir: Path) -> None:
    os.environ["DATABASE_URL"] = f"sqlite:///{workdir / 'taste.sqlite3'}"
    os.environ["RECSITE_ARTIFACT_DIR"] = str(workdir / "artifacts")
    os.environ["CELERY_DATA_DIR"] = str(workdir / "celery")
    os.environ["RECSITE_RETRAIN_AFTER_RATINGS"] = "0"  # no automatic retrain: stages are explicit
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "recsite.settings")
    import django

    django.setup()


def _taste_users(seed: int) -> list[tuple[str, list[int], list[float], list[int]]]:
    """(kind, liked movie ids, their scores, disliked movie ids): liked films are drawn from
    the 40 most-rated films of the kind, as a new user rates films they know."""
    import numpy as np
    from django.db.models import Q

    from catalog.models import Movie

    rng = np.random.default_rng(seed)
    users = []
    for kind, other in KINDS:
        pool = list(
            Movie.objects.filter(genres__name=kind)
            .order_by("-rating_count", "id")
            .values_list("id", flat=True)[:40]
        )
        low_pool = list(
            Movie.objects.filter(genres__name=other)
            .exclude(Q(genres__name=kind))
            .order_by("-rating_count", "id")
            .values_list("id", flat=True)[:20]
        )
        liked = [int(x) for x in rng.choice(pool, LIKED, replace=False)]
        scores = [float(x) for x in rng.choice([3.5, 4.0, 4.5, 5.0], LIKED)]
        low = [int(x) for x in rng.choice(low_pool, DISLIKED, replace=False)]
        users.append((kind, liked, scores, low))
    return users


def _stage(name: str, people: list[tuple[object, str, set[int]]]) -> None:
    from catalog.models import Movie
    from recommender.serving.edge import recommendations_for_user

    matches, covered, leaks = [], set(), 0
    for user, kind, rated in people:
        items = recommendations_for_user(user, 10)
        ids = [i.movie.pk for i in items]
        kinds = {
            m.pk: {g.name for g in m.genres.all()}
            for m in Movie.objects.filter(pk__in=ids).prefetch_related("genres")
        }
        matches.append(sum(kind in kinds[i] for i in ids))
        leaks += len(rated & set(ids))
        covered |= set(ids)
        if kind == "Animation":
            print(f"  {name} / Animation user: " + "; ".join(i.movie.title for i in items))
            print(f"    sources {sorted({i.source for i in items})}; reason: {items[0].reason}")
    mean = sum(matches) / len(matches)
    print(
        f"{name:22s} mean match {mean:4.1f}/10, min {min(matches)}, per kind {matches}, "
        f"coverage {len(covered)} films, rated films shown {leaks}"
    )


def run(seeds: list[int]) -> None:
    from decimal import Decimal

    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from catalog.models import Movie
    from ratings.services import rating_upsert
    from tests.conftest import reset_serving_state

    def train(*args: str) -> None:
        with open(os.devnull, "w") as quiet:
            call_command("train_ncf", *args, stdout=quiet, stderr=quiet)
        reset_serving_state()  # as a web process sees a new version

    call_command("migrate", verbosity=0)
    call_command("import_movielens", verbosity=0)
    train()
    groups = {}
    for seed in seeds:  # each seed: another draw of films for the same eight kinds of taste
        plans = _taste_users(seed)
        people = []
        for kind, liked, scores, low in plans:
            user = get_user_model().objects.create_user(f"taste-{kind.lower()}-{seed}")
            people.append((user, kind, liked, scores, low))
        groups[seed] = people
    movies = Movie.objects.in_bulk(
        [m for people in groups.values() for p in people for m in p[2] + p[4]]
    )

    def rate(user: object, ids: list[int], scores: list[float]) -> None:
        for movie_id, score in zip(ids, scores, strict=True):
            rating_upsert(user=user, movie=movies[movie_id], score=Decimal(str(score)))

    for seed, people in groups.items():
        print(f"== taste users of seed {seed}")
        for user, _, liked, scores, _ in people:
            rate(user, liked[:5], scores[:5])
        _stage("5 ratings (online)", [(u, k, set(li[:5])) for u, k, li, _, _ in people])
        for user, _, liked, scores, low in people:
            rate(user, liked[5:], scores[5:])
            rate(user, low, [1.0] * len(low))
        every = [(u, k, set(li) | set(lo)) for u, k, li, _, lo in people]
        _stage(f"{LIKED + DISLIKED} ratings (online)", every)
    # A retrain that includes every taste user; --force activates it whatever its validation
    # score, so this stage always measures a model that has seen them.
    train("--force")
    for seed, people in groups.items():
        print(f"== taste users of seed {seed}, after a retrain")
        _stage("after a retrain", [(u, k, set(li) | set(lo)) for u, k, li, _, lo in people])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--gain", type=float, help="taste gain to try (default: the product's)")
    args = parser.parse_args()
    if args.gain is not None:
        from recommender.engine import coldstart

        coldstart.TASTE_GAIN = args.gain
    with tempfile.TemporaryDirectory(prefix="recsite-taste-") as tmp:
        _setup_env(Path(tmp))
        import logging

        logging.disable(logging.INFO)
        run(args.seeds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
