"""Training rows/s and scoring time of the NumPy and PyTorch NeuMF on a synthetic ML-1M shape."""

from __future__ import annotations

import os
import sys

from blas_threads import pin_threads

# Same threads for every library in the comparison: set before NumPy loads (see blas_threads).
pin_threads(sys.argv, default="2", override=False)

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
from numpy.typing import NDArray  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from recommender.engine.config import NeuMFConfig  # noqa: E402
from recommender.engine.neumf_numpy import NeuMFNumpy, sample_negatives  # noqa: E402

N_USERS, N_ITEMS, N_RATINGS = 6040, 3706, 1_000_209
Model = Any  # NeuMFNumpy | NeuMFTorch; torch is imported only when asked for


def synthetic_ml1m(seed: int) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Distinct (user, item) pairs shaped like ML-1M: every user >= 20 ratings, long-tailed
    activity, power-law item popularity. Returns users, items: [N_RATINGS] each, sorted."""
    rng = np.random.default_rng(seed)
    activity = rng.pareto(1.2, N_USERS) + 1.0  # [n_users]
    for _ in range(3):  # ML-1M's busiest user rated 2,314 of 3,706 movies: cap near that
        activity = np.minimum(activity, activity.sum() * 2300 / N_RATINGS)
    popularity = 1.0 / np.arange(1, N_ITEMS + 1) ** 0.9  # [n_items] Zipf-like
    popularity = popularity[rng.permutation(N_ITEMS)] / popularity.sum()
    # 20 distinct items per user, drawn by popularity: the 20 smallest Exp(1) / weight keys.
    wait = rng.standard_exponential((N_USERS, N_ITEMS), dtype=np.float32) / popularity.astype(
        np.float32
    )  # [n_users, n_items]
    first = np.argpartition(wait, 20, axis=1)[:, :20]  # [n_users, 20]
    keys = np.unique(np.arange(N_USERS)[:, None] * N_ITEMS + first)
    while keys.shape[0] < N_RATINGS:
        short = N_RATINGS - keys.shape[0]
        users = rng.choice(N_USERS, 2 * short, p=activity / activity.sum())
        items = rng.choice(N_ITEMS, 2 * short, p=popularity)
        fresh = np.unique(users * N_ITEMS + items)
        fresh = fresh[~np.isin(fresh, keys, assume_unique=True)]
        keys = np.sort(np.concatenate((keys, rng.permutation(fresh)[:short])))
    return keys // N_ITEMS, keys % N_ITEMS


def training_positives(
    users: NDArray[np.int64], items: NDArray[np.int64], seed: int
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """All pairs but two per user (the leave-one-out test and validation items)."""
    rng = np.random.default_rng(seed)
    order = rng.permutation(users.shape[0])
    order = order[np.argsort(users[order], kind="stable")]  # by user, random within a user
    users, items = users[order], items[order]
    first = np.searchsorted(users, np.arange(N_USERS))
    keep = np.ones(users.shape[0], dtype=bool)
    keep[first] = False
    keep[first + 1] = False
    return users[keep], items[keep]


def make_model(backend: str, config: NeuMFConfig, device: str) -> Model:
    if backend == "numpy":
        return NeuMFNumpy(N_USERS, N_ITEMS, config, seed=0)
    from recommender.engine.neumf_torch import NeuMFTorch

    return NeuMFTorch(N_USERS, N_ITEMS, config, seed=0, device=device)


def device_name(model: Model) -> str:
    device = getattr(model, "device", None)
    if device is None:
        return "cpu (numpy)"
    if device.type == "cuda":
        import torch

        return f"cuda ({torch.cuda.get_device_name(device)})"
    return str(device.type)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--backends", default="numpy,torch")
    parser.add_argument("--batch-sizes", default="256,4096")
    parser.add_argument("--device", default="auto", help="torch device: auto, cpu, cuda, mps")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads (BLAS and torch)")
    parser.add_argument("--rows", type=int, default=300_000, help="rows timed per setting")
    parser.add_argument("--epochs", type=int, default=0, help="also time full sampled epochs")
    parser.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    parser.add_argument("--no-score", action="store_true", help="skip the scoring timings")
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    args = parser.parse_args()

    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    report: dict[str, Any] = {
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(),
            "threads": args.threads,
            "python": platform.python_version(),
            "numpy": np.__version__,
        },
        "shape": {"users": N_USERS, "items": N_ITEMS, "ratings": N_RATINGS},
        "training": [],
        "epochs": [],
        "scoring": [],
    }
    if "torch" in backends:
        import torch

        torch.set_num_threads(args.threads)
        report["machine"]["torch"] = torch.__version__

    t0 = time.perf_counter()
    users, items = synthetic_ml1m(seed=0)
    pos_users, pos_items = training_positives(users, items, seed=1)
    rng = np.random.default_rng(2)
    neg_items = sample_negatives(pos_users, pos_items, N_ITEMS, 4, rng)
    all_users = np.concatenate((pos_users, np.repeat(pos_users, 4)))
    all_items = np.concatenate((pos_items, neg_items))
    labels = np.concatenate((np.ones(pos_users.shape[0]), np.zeros(neg_items.shape[0])))
    order = rng.permutation(all_users.shape[0])
    all_users, all_items, labels = all_users[order], all_items[order], labels[order]
    print(
        f"synthetic ML-1M: {users.shape[0]:,} ratings, {all_users.shape[0]:,} rows per epoch "
        f"({time.perf_counter() - t0:.1f} s to build)"
    )

    base = NeuMFConfig(gmf_dim=8, mlp_layers=(64, 32, 16, 8), dtype=args.dtype)
    n_rows = min(args.rows, all_users.shape[0])
    for backend in backends:
        for batch_size in batch_sizes:
            model = make_model(backend, base, args.device)
            warm = min(all_users.shape[0], 20 * batch_size + 1)  # odd size: warms the tail path
            model.train_epoch(
                all_users[:warm], all_items[:warm], labels[:warm], batch_size=batch_size
            )
            start = time.perf_counter()
            loss = model.train_epoch(
                all_users[:n_rows], all_items[:n_rows], labels[:n_rows], batch_size=batch_size
            )
            seconds = time.perf_counter() - start
            row = {
                "backend": backend,
                "device": device_name(model),
                "batch_size": batch_size,
                "rows": n_rows,
                "seconds": seconds,
                "rows_per_s": n_rows / seconds,
                "loss": loss,
            }
            report["training"].append(row)
            print(
                f"train  {backend:5s} {row['device']:>12s} batch {batch_size:5d}: "
                f"{row['rows_per_s']:>12,.0f} rows/s  ({n_rows:,} rows in {seconds:.2f} s)"
            )
            for epoch in range(args.epochs):
                start = time.perf_counter()
                loss = model.train_epoch_sampled(
                    pos_users, pos_items, negatives=4, batch_size=batch_size, seed=epoch
                )
                seconds = time.perf_counter() - start
                rows = pos_users.shape[0] * 5
                report["epochs"].append(
                    {
                        "backend": backend,
                        "device": row["device"],
                        "batch_size": batch_size,
                        "epoch": epoch,
                        "rows": rows,
                        "seconds": seconds,
                        "rows_per_s": rows / seconds,
                        "loss": loss,
                    }
                )
                print(
                    f"epoch  {backend:5s} {row['device']:>12s} batch {batch_size:5d} #{epoch}: "
                    f"{seconds:.2f} s ({rows:,} rows, sampling included), loss {loss:.4f}"
                )

        if args.no_score:
            continue
        model = make_model(backend, base, args.device)
        model.score_users(np.array([0]))  # builds the item-side cache
        one = []
        for user in range(0, N_USERS, N_USERS // 200):
            start = time.perf_counter()
            model.score_users(np.array([user]))
            one.append(time.perf_counter() - start)
        start = time.perf_counter()
        model.score_users(np.arange(N_USERS))
        every = time.perf_counter() - start
        scoring = {
            "backend": backend,
            "device": device_name(model),
            "one_user_ms_median": 1000 * statistics.median(one),
            "all_users_s": every,
            "pairs": N_USERS * N_ITEMS,
        }
        report["scoring"].append(scoring)
        print(
            f"score  {backend:5s} {scoring['device']:>12s}: one user "
            f"{scoring['one_user_ms_median']:.3f} ms (median), "
            f"all {N_USERS:,} x {N_ITEMS:,} pairs {every:.2f} s"
        )

    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
