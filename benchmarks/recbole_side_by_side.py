"""Seconds per NeuMF training epoch: recsite's NumPy and PyTorch backends beside RecBole's.

The same positives (each user's last two interactions held out: the same pairs in both), the
paper's NeuMF (GMF 8, MLP 64-32-16-8), 4 uniform negatives per positive drawn fresh each epoch,
batch 256, Adam 0.001, on the CPU at the same thread count. Every epoch includes its negative
sampling. The three run in turn, `--repeats` times, so that a slow phase of a shared machine
falls on all of them.

RecBole is not a requirement of recsite: install it in an environment of its own beside the CPU
torch build and point `--recbole-python` at that environment's Python, for example

    python3.11 -m venv /tmp/recbole && /tmp/recbole/bin/pip install torch==2.13.0 "numpy<2" \\
        scipy pandas tqdm colorlog==4.7.2 colorama==0.4.4 scikit-learn pyyaml tensorboard thop \\
        tabulate plotly texttable psutil && /tmp/recbole/bin/pip install --no-deps recbole==1.2.1
    python benchmarks/recbole_side_by_side.py --recbole-python /tmp/recbole/bin/python

(RecBole's quick-start imports Ray; the trainer this uses does not, so Ray is left out.)
Data: the bundled MovieLens latest-small and a synthetic release in MovieLens 100K's shape
(943 users, 1,682 movies, 100,000 ratings; `synthetic_movielens.py --shape 100k`).
"""

from __future__ import annotations

import os
import sys

from blas_threads import pin_threads

# Same threads for every library in the comparison: set before NumPy loads (see blas_threads).
pin_threads(sys.argv, default="1", override=True)

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from synthetic_movielens import SHAPES, ratings_blocks  # noqa: E402

from recommender.engine.config import NeuMFConfig  # noqa: E402
from recommender.engine.data import Interactions, load_movielens  # noqa: E402
from recommender.engine.neumf_numpy import NeuMFNumpy  # noqa: E402
from recommender.engine.split import Split, leave_one_out  # noqa: E402

DATASETS = ("latest-small", "synthetic-100k")


def interactions(name: str) -> Interactions:
    if name == "latest-small":
        return load_movielens(ROOT / "data" / "ml-latest-small", "ml-latest-small")
    blocks = list(ratings_blocks(SHAPES["100k"], seed=0))
    return Interactions.from_arrays(
        np.concatenate([b.user for b in blocks]),
        np.concatenate([b.movie for b in blocks]),
        np.concatenate([b.timestamp for b in blocks]),
    )


def write_atomic(data: Interactions, split: Split, folder: Path, name: str) -> None:
    """RecBole's atomic file of the interactions, raw ids, with each pair's place in the split as
    its timestamp (a user's training pairs, then the validation pair, then the test pair), so that
    RecBole's leave-two-out by time holds out the very pairs recsite's split holds out."""
    (folder / name).mkdir(parents=True)
    users = np.concatenate((split.train_users, split.val_users, split.test_users))
    items = np.concatenate((split.train_items, split.val_items, split.test_items))
    order = np.argsort(users, kind="stable")
    raw_users = data.users.raw(users[order])
    raw_items = data.items.raw(items[order])
    lines = [f"{u}\t{i}\t{t}\n" for t, (u, i) in enumerate(zip(raw_users, raw_items, strict=True))]
    with open(folder / name / f"{name}.inter", "w", encoding="utf-8") as f:
        f.write("user_id:token\titem_id:token\ttimestamp:float\n")
        f.writelines(lines)


def recsite_epochs(
    backend: str, data: Interactions, split: Split, config: NeuMFConfig, epochs: int, seed: int
) -> tuple[list[float], int]:
    if backend == "numpy":
        model: Any = NeuMFNumpy(data.n_users, data.n_items, config, seed=seed)
    else:
        from recommender.engine.neumf_torch import NeuMFTorch

        model = NeuMFTorch(data.n_users, data.n_items, config, seed=seed, device="cpu")
    seconds = []
    for epoch in range(epochs):
        start = time.perf_counter()
        model.train_epoch_sampled(
            split.train_users,
            split.train_items,
            negatives=config.negatives,
            batch_size=config.batch_size,
            seed=seed * 1000 + epoch,
        )
        seconds.append(time.perf_counter() - start)
    return seconds, int(split.train_users.shape[0])


def recbole_epochs(
    python: str, folder: Path, name: str, config: NeuMFConfig, epochs: int, threads: int, seed: int
) -> dict[str, Any]:
    settings = {
        "data_path": str(folder),
        "dataset": name,
        "checkpoint_dir": str(folder / "saved"),
        "epochs": epochs,
        "threads": threads,
        "seed": seed,
        "negatives": config.negatives,
        "batch_size": config.batch_size,
        "gmf_dim": config.gmf_dim,
        "mlp_layers": list(config.mlp_layers),
    }
    result = subprocess.run(
        [python, str(ROOT / "benchmarks" / "recbole_epoch.py"), json.dumps(settings)],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
        cwd=folder,  # RecBole's trainer writes its TensorBoard logs to the working directory
    )
    if result.returncode != 0:
        sys.exit(f"RecBole failed:\n{result.stderr[-3000:]}")
    report: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return report


def spread(values: list[float]) -> str:
    return f"{statistics.median(values):.2f} s ({min(values):.2f}-{max(values):.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recbole-python", required=True, help="a Python with RecBole installed")
    parser.add_argument("--datasets", nargs="+", choices=DATASETS, default=list(DATASETS))
    parser.add_argument("--epochs", type=int, default=3, help="epochs timed per run")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each, taken in turn")
    parser.add_argument("--threads", type=int, default=1, help="BLAS and torch threads, all three")
    parser.add_argument(
        "--backends", nargs="+", choices=("numpy", "torch"), default=["numpy", "torch"]
    )
    parser.add_argument("--json", type=Path, default=None, help="write every epoch's time here")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(args.threads)
    config = NeuMFConfig(gmf_dim=8, mlp_layers=(64, 32, 16, 8), negatives=4, batch_size=256)
    report: dict[str, Any] = {
        "machine": {
            "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(),
            "cpu_count": os.cpu_count(),
            "threads": args.threads,
            "numpy": np.__version__,
            "torch": torch.__version__,
        },
        "datasets": {},
    }
    print(f"threads {args.threads}, batch {config.batch_size}, {config.negatives} negatives")
    for name in args.datasets:
        data = interactions(name)
        split = leave_one_out(data, seed=0)  # one split: RecBole reads it from one file
        times: dict[str, list[float]] = {b: [] for b in [*args.backends, "recbole"]}
        positives: dict[str, int] = {}
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            atomic = name.replace("-", "_")
            write_atomic(data, split, folder, atomic)
            for repeat in range(args.repeats):
                for backend in args.backends:
                    seconds, positives[backend] = recsite_epochs(
                        backend, data, split, config, args.epochs, seed=repeat
                    )
                    times[backend] += seconds
                rb = recbole_epochs(
                    args.recbole_python, folder, atomic, config, args.epochs, args.threads, repeat
                )
                times["recbole"] += rb["seconds"]
                positives["recbole"] = rb["positives"]
                report["machine"]["recbole"] = rb["recbole"]
                print(
                    f"{name} run {repeat + 1}: "
                    + ", ".join(
                        f"{b} {statistics.median(t[-args.epochs :]):.2f} s"
                        for b, t in times.items()
                    )
                )
        recbole_median = statistics.median(times["recbole"])
        print(
            f"{name}: {data.n_users:,} users, {data.n_items:,} items, "
            f"{positives['recbole']:,} training positives in RecBole, "
            f"{next(iter(positives.values())):,} in recsite; seconds per epoch, median (range):"
        )
        for backend, seconds in times.items():
            ratio = recbole_median / statistics.median(seconds)
            print(f"  {backend:8s} {spread(seconds)}  RecBole / this = {ratio:.2f}x")
        report["datasets"][name] = {
            "users": data.n_users,
            "items": data.n_items,
            "positives": positives,
            "seconds": times,
        }
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
