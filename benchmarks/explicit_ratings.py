"""Low ratings as positives (the NCF paper) or not (--min-rating): held-out accuracy and taste.

The NCF paper turns every MovieLens rating into a positive, so a film rated 1 star teaches the
model that the user wants films like it. This compares, on the same held-out items:

- "all ratings": every rating is a training positive (the paper; NeuMFConfig.min_rating None);
- "liked only": ratings below the threshold are left out of training (min_rating = threshold).

The split is made once per seed from the liked ratings (so both treatments predict the same
held-out liked films), and the "all ratings" model also trains on every low rating. Reported,
mean and spread over seeds: sampled HR/NDCG@10 (99 negatives, the paper's protocol),
full-catalogue Recall/NDCG@10 (every film the user has not rated), catalogue coverage and mean
popularity percentile of the top 10s, and the taste test: synthetic users, each of whom rated 13
films of one genre 3.5-5 stars and 3 films of another genre 1 star, trained on with everyone
else; how many of the model's own top 10 (no serving taste shift) are of the liked genre, and
how many of the disliked one. No Django.

    .venv/bin/python benchmarks/explicit_ratings.py --seeds 0 1 2 --threshold 3.5
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from recommender.engine.config import NeuMFConfig  # noqa: E402
from recommender.engine.data import Interactions, liked_only  # noqa: E402
from recommender.engine.metrics import (  # noqa: E402
    SeenItems,
    full_catalogue_ranks,
    hr_ndcg_from_ranks,
    personalisation,
)
from recommender.engine.split import leave_one_out  # noqa: E402
from recommender.engine.threads import limit_threads  # noqa: E402
from recommender.engine.train import fit  # noqa: E402

# (liked genre, disliked genre) of each synthetic taste user.
TASTES = [
    ("Animation", "Horror"),
    ("Horror", "Children"),
    ("Documentary", "Action"),
    ("Romance", "Sci-Fi"),
    ("Sci-Fi", "Romance"),
    ("Western", "Animation"),
    ("War", "Comedy"),
    ("Musical", "Thriller"),
]
LIKED_PER_USER, DISLIKED_PER_USER, MIN_FILM_RATINGS = 13, 3, 10


def taste_users(
    ratings: pd.DataFrame, movies: pd.DataFrame, rng: np.random.Generator
) -> pd.DataFrame:
    """Rows (userId, movieId, rating, timestamp) of the synthetic taste users, after all others."""
    counts = ratings.movieId.value_counts()
    known = movies[movies.movieId.map(counts).fillna(0) >= MIN_FILM_RATINGS]
    genres = known.genres.str.split("|")
    start, rows = int(ratings.timestamp.max()) + 1, []
    for n, (liked, disliked) in enumerate(TASTES):
        user = int(ratings.userId.max()) + 1 + n
        pool = known.movieId[genres.map(lambda g, a=liked, b=disliked: a in g and b not in g)]
        bad = known.movieId[genres.map(lambda g, a=liked, b=disliked: b in g and a not in g)]
        picks = rng.choice(pool.to_numpy(), LIKED_PER_USER, replace=False)
        low = rng.choice(bad.to_numpy(), DISLIKED_PER_USER, replace=False)
        stars = rng.choice([3.5, 4.0, 4.5, 5.0], LIKED_PER_USER)
        films = [*zip(picks, stars, strict=True), *((m, 1.0) for m in low)]
        order = rng.permutation(len(films))
        for t, k in enumerate(order):
            rows.append((user, int(films[k][0]), float(films[k][1]), start + t))
    return pd.DataFrame(rows, columns=["userId", "movieId", "rating", "timestamp"])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(ROOT / "data" / "ml-latest-small"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threshold", type=float, default=3.5)
    parser.add_argument("--epochs", type=int, default=NeuMFConfig().epochs)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    limit_threads(args.threads)
    base = pd.read_csv(Path(args.data) / "ratings.csv")
    movies = pd.read_csv(Path(args.data) / "movies.csv")
    genres_of = dict(zip(movies.movieId, movies.genres.str.split("|"), strict=True))
    config = replace(NeuMFConfig(), epochs=args.epochs)
    rows: dict[str, list[dict[str, float]]] = {"all ratings": [], "liked only": []}
    for seed in args.seeds:
        rng = np.random.default_rng(seed)
        extra = taste_users(base, movies, rng)
        ratings = pd.concat([base, extra], ignore_index=True)
        data = Interactions.from_arrays(ratings.userId, ratings.movieId, ratings.timestamp)
        key = data.users.index(ratings.userId) * data.n_items + data.items.index(ratings.movieId)
        order = np.argsort(key)
        row_keys = data.user_idx * data.n_items + data.item_idx
        stars = ratings.rating.to_numpy()[order][np.searchsorted(key[order], row_keys)]
        liked = liked_only(data, stars, args.threshold, reindex=False)
        split = leave_one_out(liked, seed=seed)
        low = stars < args.threshold
        everything = SeenItems(data.user_idx, data.item_idx, data.n_users)
        held = np.zeros(data.n_users * data.n_items, bool)  # what "seen" must not hide
        held[split.test_users * data.n_items + split.test_items] = True
        seen_rows = ~held[row_keys]
        seen = SeenItems(data.user_idx[seen_rows], data.item_idx[seen_rows], data.n_users)
        taste_idx = data.users.index(extra.userId.unique())
        for name, train_split in (
            (
                "all ratings",
                replace(
                    split,
                    train_users=np.concatenate((split.train_users, data.user_idx[low])),
                    train_items=np.concatenate((split.train_items, data.item_idx[low])),
                ),
            ),
            ("liked only", split),
        ):
            result = fit(data, config, backend="numpy", seed=seed, split=train_split)
            top = np.empty((split.test_users.shape[0], 10), np.int64)
            ranks = full_catalogue_ranks(
                result.model.score_users, split.test_users, split.test_items, seen,
                data.n_items, top=top,
            )  # fmt: skip
            full = hr_ndcg_from_ranks(ranks, 10)
            spread = personalisation(top, np.bincount(split.train_items, minlength=data.n_items))
            # The taste users' own top 10 from the model alone, every rated film masked.
            scores = result.model.score_users(taste_idx).astype(np.float64)
            r, i = everything.pairs(taste_idx)
            scores[r, i] = -np.inf
            match, against = [], []
            for row, (want, avoid) in enumerate(TASTES):
                films = data.items.raw(np.argsort(-scores[row])[:10])
                match.append(sum(want in genres_of[int(m)] for m in films))
                against.append(sum(avoid in genres_of[int(m)] for m in films))
            rows[name].append(
                {
                    "HR@10": result.metrics["test_hr"],
                    "NDCG@10": result.metrics["test_ndcg"],
                    "full Recall@10": full.hr,
                    "full NDCG@10": full.ndcg,
                    "coverage": spread.coverage,
                    "popularity pct": spread.popularity_percentile,
                    "taste match /10": float(np.mean(match)),
                    "taste min": float(np.min(match)),
                    "disliked genre /10": float(np.mean(against)),
                }
            )
            print(
                f"seed {seed} {name}: "
                + ", ".join(f"{k} {v:.4f}" for k, v in rows[name][-1].items())
            )
    columns = list(rows["all ratings"][0])
    print(f"\nthreshold {args.threshold}, seeds {args.seeds}, epochs {config.epochs}")
    print("| treatment | " + " | ".join(columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    for name, runs in rows.items():
        cells = []
        for c in columns:
            values = np.array([run[c] for run in runs])
            cells.append(
                f"{values.mean():.4f} ± {values.std(ddof=1) if len(values) > 1 else 0:.4f}"
            )
        print(f"| {name} | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
