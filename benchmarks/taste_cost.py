"""What the taste shift costs in accuracy: full-catalogue Recall@10 / NDCG@10 of held-out ratings.

Trains the product's default NeuMF (NumPy) on a leave-one-out split of a MovieLens folder, then
ranks every movie each user has not rated by log p(model) + gain x genre affinity (the serving
score, recommender.engine.coldstart.with_taste) for several gains, 0 being the bare model.
Prints, per gain, the mean and spread over seeds of full-catalogue Recall@10 and NDCG@10 of the
test items, and catalogue coverage (distinct movies in all users' top 10s). No Django.

    .venv/bin/python benchmarks/taste_cost.py --data data/ml-latest-small --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from recommender.engine import coldstart as cs  # noqa: E402
from recommender.engine.config import NeuMFConfig  # noqa: E402
from recommender.engine.data import Interactions  # noqa: E402
from recommender.engine.threads import limit_threads  # noqa: E402
from recommender.engine.train import fit  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(ROOT / "data" / "ml-latest-small"))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--gains", type=float, nargs="+", default=[0.0, 1.0, 2.0, 3.0])
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    limit_threads(args.threads)
    ratings = pd.read_csv(Path(args.data) / "ratings.csv")
    movies = pd.read_csv(Path(args.data) / "movies.csv")
    data = Interactions.from_arrays(ratings.userId, ratings.movieId, ratings.timestamp)
    names = sorted({g for gs in movies.genres.str.split("|") for g in gs})
    col = {g: k for k, g in enumerate(names)}
    item_genres = np.zeros((data.n_items, len(names)), np.float32)
    for movie_id, genres in zip(movies.movieId, movies.genres.str.split("|"), strict=True):
        idx = data.items.index_of(int(movie_id))
        if idx >= 0:
            item_genres[idx, [col[g] for g in genres]] = 1.0
    score_of = dict(
        zip(
            zip(data.users.index(ratings.userId), data.items.index(ratings.movieId), strict=True),
            ratings.rating,
            strict=True,
        )
    )
    no_favourites = np.zeros(len(names), bool)
    results: dict[float, list[tuple[float, float, int]]] = {g: [] for g in args.gains}
    for seed in args.seeds:
        result = fit(data, NeuMFConfig(), backend="numpy", seed=seed)
        split = result.split
        seen_u = np.concatenate((split.train_users, split.val_users))
        seen_i = np.concatenate((split.train_items, split.val_items))
        order = np.argsort(seen_u, kind="stable")
        seen_u, seen_i = seen_u[order], seen_i[order]
        logits = cs.logits_from_probabilities(result.model.score_users(split.test_users))
        for gain in args.gains:
            hits, ndcg, covered = 0.0, 0.0, set()
            for row, (user, target) in enumerate(
                zip(split.test_users, split.test_items, strict=True)
            ):
                lo, hi = np.searchsorted(seen_u, [user, user + 1])
                seen = seen_i[lo:hi]
                scores = np.array([score_of[(int(user), int(i))] for i in seen], np.float32)
                profile = cs.genre_profile(item_genres, no_favourites, seen, scores)
                ranked = cs.with_taste(logits[row], cs.genre_affinity(item_genres, profile), gain)
                ranked = ranked.astype(np.float64)
                ranked[seen] = -np.inf
                top = cs.top_k(ranked, 10)
                covered |= set(top.tolist())
                where = np.flatnonzero(top == target)
                if where.shape[0]:
                    hits += 1.0
                    ndcg += 1.0 / np.log2(2.0 + float(where[0]))
            n = split.test_users.shape[0]
            results[gain].append((hits / n, ndcg / n, len(covered)))
            print(
                f"seed {seed} gain {gain:g}: full Recall@10 {hits / n:.4f}, "
                f"NDCG@10 {ndcg / n:.4f}, coverage {len(covered)}",
                flush=True,
            )
    print(f"\n{len(args.seeds)} seeds, {data.n_users} users (mean ± sd)")
    for gain, rows in results.items():
        arr = np.array(rows, dtype=np.float64)
        mean, sd = arr.mean(axis=0), arr.std(axis=0, ddof=1) if len(rows) > 1 else arr[0] * 0
        print(
            f"gain {gain:g}: Recall@10 {mean[0]:.4f} ± {sd[0]:.4f}, NDCG@10 {mean[1]:.4f} ± "
            f"{sd[1]:.4f}, coverage {mean[2]:.0f} ± {sd[2]:.0f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
