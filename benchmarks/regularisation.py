"""Weight decay on the MLP's weights and the learning rate's decay per epoch, against the default.

Each configuration is the engine's default NeuMF (GMF 8, MLP 64-32-16-8, 4 negatives, lr 0.001,
batch 256, 20 epochs, the epoch chosen on full-catalogue validation NDCG@10) with one or both of
`weight_decay` and `lr_decay` changed, trained once per seed on the same leave-one-out split per
seed. Reported, mean and spread over seeds: the validation score that would choose between them
(full NDCG@10), then the test figures: full-catalogue Recall/NDCG@10, the paper's HR/NDCG@10 over
99 sampled negatives, catalogue coverage of the test users' top 10s, and the epoch kept. A choice
made from this table uses the validation column only; the test columns say whether it held.

    .venv/bin/python benchmarks/regularisation.py --seeds 0 1 2 --weight-decays 0 1e-4 1e-3 \\
        --lr-decays 1 0.9
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from recommender.engine.config import NeuMFConfig  # noqa: E402
from recommender.engine.data import load_movielens  # noqa: E402
from recommender.engine.split import leave_one_out  # noqa: E402
from recommender.engine.threads import limit_threads  # noqa: E402
from recommender.engine.train import fit  # noqa: E402

COLUMNS = (
    ("val_full_ndcg", "val full NDCG@10", 4),
    ("test_full_recall", "test full Recall@10", 3),
    ("test_full_ndcg", "test full NDCG@10", 4),
    ("test_hr", "test HR@10 (sampled)", 3),
    ("test_ndcg", "test NDCG@10 (sampled)", 3),
    ("test_coverage", "coverage", 3),
    ("best_epoch", "epoch kept", 1),
)


def _cell(values: list[float], digits: int) -> str:
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.{digits}f} ± {spread:.{digits}f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "ml-latest-small")
    parser.add_argument("--format", default="auto")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--weight-decays", type=float, nargs="+", default=[0.0, 1e-4, 1e-3])
    parser.add_argument("--lr-decays", type=float, nargs="+", default=[1.0, 0.9])
    parser.add_argument("--epochs", type=int, default=NeuMFConfig().epochs)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    limit_threads(args.threads)

    data = load_movielens(args.data, args.format)
    splits = {seed: leave_one_out(data, seed=seed) for seed in args.seeds}
    base = replace(NeuMFConfig(), epochs=args.epochs)
    rows = []
    for weight_decay, lr_decay in itertools.product(args.weight_decays, args.lr_decays):
        config = replace(base, weight_decay=weight_decay, lr_decay=lr_decay)
        runs = []
        for seed in args.seeds:
            started = time.perf_counter()
            result = fit(data, config, seed=seed, split=splits[seed])
            metrics = {**result.metrics, "best_epoch": float(result.best_epoch)}
            runs.append(metrics)
            print(
                f"weight_decay {weight_decay:g}, lr_decay {lr_decay:g}, seed {seed}: "
                f"val full NDCG {metrics['val_full_ndcg']:.4f}, test full NDCG "
                f"{metrics['test_full_ndcg']:.4f}, HR {metrics['test_hr']:.3f}, epoch "
                f"{result.best_epoch} ({time.perf_counter() - started:.0f} s)",
                flush=True,
            )
        rows.append((weight_decay, lr_decay, runs))

    print()
    print("| weight_decay | lr_decay | " + " | ".join(title for _, title, _ in COLUMNS) + " |")
    print("| --- | --- | " + " | ".join("---" for _ in COLUMNS) + " |")
    for weight_decay, lr_decay, runs in rows:
        cells = [_cell([run[key] for run in runs], digits) for key, _, digits in COLUMNS]
        print(f"| {weight_decay:g} | {lr_decay:g} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
