"""More like this: co-rating neighbours against the NeuMF item-embedding cosine.

Trains the default NeuMF (NumPy) on a leave-one-out split of the bundled ml-latest-small, then
compares item-to-item neighbours from today's embedding cosine with co-rating neighbours
(recommender.engine.similarity.co_rating_neighbours) computed from the same training pairs:

- hit rate: for each evaluated user, is the held-out test item among the top 10 neighbours of any
  of the user's 5 latest training items?
- genre agreement: mean Jaccard of genres between an item and its top 10 (items that have any
  neighbours; coverage says how many do);
- the top 5 of Up, Ratatouille, Alien and Toy Story, to read as a person would.

    OPENBLAS_NUM_THREADS=1 .venv/bin/python benchmarks/similar_items.py [--epochs N]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import NDArray

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from recommender.engine.artifacts import load_artifact, save_artifact  # noqa: E402
from recommender.engine.config import NeuMFConfig  # noqa: E402
from recommender.engine.data import Interactions, read_movielens_ratings  # noqa: E402
from recommender.engine.similarity import co_rating_neighbours  # noqa: E402
from recommender.engine.train import fit  # noqa: E402

DATA = ROOT / "data" / "ml-latest-small"
TOP = 10
LATEST = 5
SHOWN = ("Up (2009)", "Ratatouille (2007)", "Alien (1979)", "Toy Story (1995)")


def embedding_neighbours(vectors: NDArray[np.float32], k: int) -> NDArray[np.int64]:
    """Top k by cosine of the item vectors, self left out: [n_items, k]."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    unit = vectors / np.maximum(norms, 1e-12)
    out = np.empty((unit.shape[0], k), np.int64)
    for start in range(0, unit.shape[0], 1024):
        sims = unit[start : start + 1024] @ unit.T  # [block, n_items]
        rows = np.arange(sims.shape[0])
        sims[rows, start + rows] = -np.inf
        top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(sims, top, axis=1), axis=1, kind="stable")
        out[start : start + 1024] = np.take_along_axis(top, order, axis=1)
    return out


def hit_rate(
    neighbours: NDArray[np.int64],
    train: tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]],
    test_users: NDArray[np.int64],
    test_items: NDArray[np.int64],
) -> float:
    users, items, ts = train
    order = np.lexsort((items, ts, users))  # by user, then time
    users, items = users[order], items[order]
    stops = np.searchsorted(users, test_users, side="right")
    starts = np.searchsorted(users, test_users, side="left")
    hits = 0
    for row in range(test_users.shape[0]):
        latest = items[max(starts[row], stops[row] - LATEST) : stops[row]]
        if np.isin(test_items[row], neighbours[latest, :TOP]).item():
            hits += 1
    return hits / max(1, test_users.shape[0])


def genre_agreement(
    neighbours: NDArray[np.int64], genres: NDArray[np.float32]
) -> tuple[float, int]:
    top = neighbours[:, :TOP]
    valid = top >= 0  # [n_items, TOP]
    inter = np.einsum("ig,ikg->ik", genres, genres[np.maximum(top, 0)])
    union = genres.sum(axis=1)[:, None] + genres[np.maximum(top, 0)].sum(axis=2) - inter
    jac = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
    has = valid.any(axis=1)
    per_item = (jac * valid).sum(axis=1)[has] / valid.sum(axis=1)[has]
    return float(per_item.mean()), int(has.sum())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=NeuMFConfig().epochs)
    args = parser.parse_args()
    frame = read_movielens_ratings(DATA)
    data = Interactions.from_arrays(frame["user"], frame["item"], frame["timestamp"])
    movies = pd.read_csv(DATA / "movies.csv")
    movies = movies.set_index("movieId").reindex(data.items.ids)
    names = sorted({g for gs in movies["genres"].fillna("") for g in gs.split("|") if g})
    names = [g for g in names if g != "(no genres listed)"]
    genres = np.zeros((data.n_items, len(names)), np.float32)
    for row, gs in enumerate(movies["genres"].fillna("")):
        for g in gs.split("|"):
            if g in names:
                genres[row, names.index(g)] = 1.0
    titles = movies["title"].fillna("?").tolist()

    started = time.perf_counter()
    config = NeuMFConfig(epochs=args.epochs)
    result = fit(data, config, backend="numpy", seed=0)
    print(
        f"trained NeuMF ({args.epochs} epochs) in {time.perf_counter() - started:.0f} s; "
        f"test HR@10 {result.metrics.get('test_hr', float('nan')):.3f}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        loaded = load_artifact(save_artifact(Path(tmp) / "a", result))
        vectors = loaded.item_vectors()
    split = result.split
    # Scores and timestamps of the training pairs, looked up from the ratings file.
    u = data.users.index(frame["user"].to_numpy())
    i = data.items.index(frame["item"].to_numpy())
    key = u * data.n_items + i
    order = np.argsort(key)
    train_key = split.train_users * data.n_items + split.train_items
    pos = order[np.searchsorted(key[order], train_key)]
    train_scores = frame["rating"].to_numpy()[pos]
    train_ts = frame["timestamp"].to_numpy()[pos]
    train = (split.train_users, split.train_items, train_ts)

    methods: dict[str, NDArray[np.int64]] = {
        "embedding cosine (today)": embedding_neighbours(vectors, TOP)
    }
    variants = [
        ("all ratings", None, 0.5),
        ("all ratings", None, 0.8),
        ("liked >= 3.5", train_scores, 0.5),
        ("liked >= 3.5", train_scores, 0.7),
        ("liked >= 3.5", train_scores, 0.8),
        ("liked >= 3.5", train_scores, 0.9),
    ]
    for label, scores, b in variants:
        clock = time.perf_counter()
        nb, _ = co_rating_neighbours(
            split.train_users, split.train_items, data.n_users, data.n_items, scores=scores, b=b
        )
        name = f"co-rating, {label}, b={b}"
        print(f"{name}: computed in {time.perf_counter() - clock:.2f} s")
        methods[name] = nb

    print(f"\n{'method':40s} {'HR@10 held-out':>15s} {'genre Jaccard':>14s} {'coverage':>9s}")
    for name, nb in methods.items():
        hr = hit_rate(nb, train, split.test_users, split.test_items)
        jac, covered = genre_agreement(nb, genres)
        print(f"{name:40s} {hr:15.3f} {jac:14.3f} {covered:5d}/{data.n_items}")
    for title in SHOWN:
        if title not in titles:
            continue
        row = titles.index(title)
        print(f"\n{title}")
        for name, nb in methods.items():
            top = [titles[j] for j in nb[row, :5] if j >= 0]
            print(f"  {name}: {'; '.join(top)}")


if __name__ == "__main__":
    main()
