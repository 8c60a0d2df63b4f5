"""Benchmark fold-in: milliseconds per user, HR@10 and mean rank vs popularity on held-out users.

Users are split off ml-latest-small before training, so the model has never seen them (new users
in production). Each held-out user's first `--known` ratings (by time) are folded in with the item
side frozen; the next rating is the held-out item, ranked among every movie the user has not
rated (full catalogue). Popularity ranks by rating count in the training data.

    .venv/bin/python benchmarks/bench_foldin.py --epochs 10
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

# One BLAS thread, as in a web worker: small matrices lose time to thread hand-offs otherwise.
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402 - after the thread settings

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from recommender.engine.coldstart import VectorScorer  # noqa: E402
from recommender.engine.config import NeuMFConfig  # noqa: E402
from recommender.engine.data import Interactions, read_movielens_ratings  # noqa: E402
from recommender.engine.foldin import fold_in_user, prepare_item_side  # noqa: E402
from recommender.engine.train import fit  # noqa: E402

logger = logging.getLogger("bench_foldin")


def _ranks(scores: np.ndarray, rated: np.ndarray, target: int) -> int:
    """0-based rank of `target` among the items not in `rated` (ties count against it)."""
    allowed = np.ones(scores.shape[0], dtype=bool)
    allowed[rated] = False
    return int(np.sum(scores[allowed] > scores[target]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(ROOT / "data" / "ml-latest-small"))
    parser.add_argument("--known", type=int, default=10, help="ratings folded in per user")
    parser.add_argument("--test-users", type=int, default=300)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--gmf-dim", type=int, default=16)
    parser.add_argument("--layers", default="64,32,16,8")
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--lr", type=float, default=0.004)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=60, help="fold-in Adam steps")
    parser.add_argument("--foldin-lr", type=float, default=0.05)
    parser.add_argument("--foldin-l2", type=float, default=1e-2)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(message)s")

    frame = read_movielens_ratings(args.data)
    rng = np.random.default_rng(args.seed)
    counts = frame.groupby("user").size()
    eligible = counts.index[counts > args.known].to_numpy()
    test_users = rng.choice(eligible, size=min(args.test_users, eligible.shape[0]), replace=False)
    held = frame["user"].isin(test_users)
    train = frame[~held]
    data = Interactions.from_arrays(train["user"], train["item"], train["timestamp"])
    config = NeuMFConfig(
        gmf_dim=args.gmf_dim,
        mlp_layers=tuple(int(x) for x in args.layers.split(",")),
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
    )
    started = time.perf_counter()
    result = fit(data, config, backend="numpy", seed=args.seed)
    train_s = time.perf_counter() - started
    weights = {k: np.asarray(v, np.float32) for k, v in result.model.get_weights().items()}
    parts = [weights[n] for n in ("gmf_item", "mlp_item") if n in weights]
    item_table = np.concatenate(parts, axis=1)
    scorer = VectorScorer(weights, config, item_table)
    side = prepare_item_side(weights, config)
    popularity = np.bincount(data.item_idx, minlength=data.n_items).astype(np.float64)

    ncf_ranks, pop_ranks, fold_ms, score_ms = [], [], [], []
    for user in test_users:
        rows = frame[frame["user"] == user].sort_values(["timestamp", "item"])
        idx = data.items.index(rows["item"].to_numpy())
        known = idx[: args.known]
        known = known[known >= 0]
        after = idx[args.known :]
        after = after[after >= 0]
        if known.shape[0] == 0 or after.shape[0] == 0:
            continue  # the next movie is one no training user rated: no model can rank it
        target = int(after[0])
        t0 = time.perf_counter()
        folded = fold_in_user(
            weights,
            config,
            known,
            steps=args.steps,
            lr=args.foldin_lr,
            l2=args.foldin_l2,
            seed=int(user),
            item_side=side,
        )
        vec = np.concatenate([p for p in (folded.gmf, folded.mlp) if p is not None])
        t1 = time.perf_counter()
        scores = scorer.logits(vec)[0]
        t2 = time.perf_counter()
        fold_ms.append((t1 - t0) * 1000)
        score_ms.append((t2 - t1) * 1000)
        ncf_ranks.append(_ranks(scores, known, target))
        pop_ranks.append(_ranks(popularity, known, target))

    ncf = np.asarray(ncf_ranks)
    pop = np.asarray(pop_ranks)
    print(
        f"data: {args.data}  train users {data.n_users}, items {data.n_items}, "
        f"ratings {len(data)}; trained {args.epochs} epochs in {train_s:.1f} s "
        f"(test HR@10 of the trained users {result.metrics.get('test_hr', float('nan')):.3f})"
    )
    print(
        f"held-out users evaluated: {ncf.shape[0]}, {args.known} ratings folded in each, "
        f"next rating ranked among all {data.n_items} items minus the known ones"
    )
    print(
        f"fold-in ms: median {np.median(fold_ms):.2f}  p95 {np.percentile(fold_ms, 95):.2f}  "
        f"max {np.max(fold_ms):.2f}   scoring all items ms: median {np.median(score_ms):.2f}"
    )
    for name, ranks in (("fold-in NeuMF", ncf), ("popularity", pop)):
        print(
            f"{name:>14}: HR@10 {np.mean(ranks < 10):.3f}  HR@50 {np.mean(ranks < 50):.3f}  "
            f"mean rank {ranks.mean() + 1:.0f}  median rank {np.median(ranks) + 1:.0f}"
        )
    print(
        f"fold-in ranks the held-out item better than popularity for "
        f"{np.mean(ncf < pop):.0%} of users (worse for {np.mean(ncf > pop):.0%})"
    )


if __name__ == "__main__":
    main()
