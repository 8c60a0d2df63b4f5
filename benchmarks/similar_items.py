"""More like this: co-ratings blended with content against the NeuMF item-embedding cosine.

For each seed, trains the default NeuMF (NumPy) on a leave-one-out split of the bundled
ml-latest-small (the seed draws the split's tie order and the model's initialisation), then
builds every item's top 10 "More like this" from the same training pairs in several ways:

- embedding cosine: the NeuMF item vectors (before co-ratings, and what a version saved without
  neighbours still serves);
- co-rating neighbours alone, as the engine computed them before (b = 0.8, liked only, >= 3 liked
  ratings), and the list served from them before: those neighbours reordered by a blend whose
  content share is shrink / (count + shrink), content filling a short list;
- the blend served now (recommender.engine.similarity.blended_similarity) over the neighbours
  and every film sharing a genre: (1 - w) co (1 + 3 c) / 4 + w c, co and c the co-rating and
  content similarity scaled to their maxima, w = 20 / (count + 20) the content share (1 without
  co-ratings); and variants: genre gain 1, the additive blend (gain 0, content share at least
  0.3), co-rating bases b = 0.65 and 0.8, all ratings with b = 0.5, and EASE (lambda 200).

Figures, mean and spread over the seeds:

- HR@10: for each evaluated user, is the held-out test item among the top 10 of any of the
  user's 5 latest training items?
- genre Jaccard: mean genre Jaccard of an item and its top 10, over every item, and over items
  with at least 20 training ratings (where the co-ratings speak);
- most-listed: the largest share of those items' top 10s one film appears in (a hub);
- the top 10 of Up, Alien, Toy Story, Ratatouille, The Dark Knight, Amélie and The Swan
  Princess (3 ratings) for the first seed, to read as a person would.

    RECSITE_THREADS=1 OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 \\
        .venv/bin/python benchmarks/similar_items.py [--seeds 0 1 2] [--epochs N] [--no-ease]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from numpy.typing import NDArray

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from recommender.engine import coldstart as cs  # noqa: E402
from recommender.engine import similarity as sim  # noqa: E402
from recommender.engine.artifacts import load_artifact, save_artifact  # noqa: E402
from recommender.engine.config import NeuMFConfig  # noqa: E402
from recommender.engine.data import Interactions, read_movielens_ratings  # noqa: E402
from recommender.engine.train import fit  # noqa: E402

DATA = ROOT / "data" / "ml-latest-small"
TOP = 10
LATEST = 5
WELL_RATED = 20  # items with at least this many training ratings: the co-rating regime
BLOCK = 512
SHOWN = (
    "Up (2009)",
    "Alien (1979)",
    "Toy Story (1995)",
    "Ratatouille (2007)",
    "Dark Knight, The (2008)",
    "Amelie (Fabuleux destin d'Amélie Poulain, Le) (2001)",
    "Swan Princess, The (1994)",
)
SERVED_BEFORE = "served before: neighbours, content fill"
SERVED_NOW = "served now: blend, gain 3, b = 0.75 (default)"
OLD_SHRINK = 20.0  # the previous serving blend: co-rating share count / (count + 20)

Lists = NDArray[np.int64]  # [n_items, TOP] indices, -1 padding


@dataclass(frozen=True)
class Catalog:
    genres: NDArray[np.float32]  # [n, G]
    decades: NDArray[np.int64]  # [n]
    titles: list[str]


@dataclass(frozen=True)
class Train:
    users: NDArray[np.int64]
    items: NDArray[np.int64]
    scores: NDArray[np.float64]
    timestamps: NDArray[np.int64]
    counts: NDArray[np.float64]  # [n_items] training ratings
    popularity: NDArray[np.float32]  # [n_items] on [0, 1], as the catalog snapshot computes it


def catalog(data: Interactions) -> Catalog:
    movies = pd.read_csv(DATA / "movies.csv").set_index("movieId").reindex(data.items.ids)
    names = sorted({g for gs in movies["genres"].fillna("") for g in gs.split("|") if g})
    names = [g for g in names if g != "(no genres listed)"]
    genres = np.zeros((data.n_items, len(names)), np.float32)
    for row, gs in enumerate(movies["genres"].fillna("")):
        for g in gs.split("|"):
            if g in names:
                genres[row, names.index(g)] = 1.0
    years = movies["title"].fillna("").str.extract(r"\((\d{4})\)\s*$")[0]
    decades = (years.astype(float).fillna(-10).to_numpy() // 10 * 10).astype(np.int64)
    return Catalog(genres, np.where(decades < 0, -1, decades), movies["title"].fillna("?").tolist())


def top_of(scores: NDArray[np.floating], allowed: NDArray[np.bool_]) -> Lists:
    """Top TOP allowed columns of each row, best first (ties to the lower index): [rows, TOP]."""
    values = np.where(allowed, scores, -np.inf)
    top = np.argpartition(-values, TOP - 1, axis=1)[:, :TOP]
    top_values = np.take_along_axis(values, top, axis=1)
    order = np.lexsort((top, -top_values), axis=1)
    top = np.take_along_axis(top, order, axis=1)
    return np.where(np.isfinite(np.take_along_axis(top_values, order, axis=1)), top, -1)


def embedding_lists(vectors: NDArray[np.float32]) -> Lists:
    """Top TOP by cosine of the item vectors, self left out."""
    unit = vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    out = np.empty((unit.shape[0], TOP), np.int64)
    for start in range(0, unit.shape[0], BLOCK):
        sims = unit[start : start + BLOCK] @ unit.T  # [block, n_items]
        allowed = np.ones(sims.shape, dtype=bool)
        allowed[np.arange(sims.shape[0]), start + np.arange(sims.shape[0])] = False
        out[start : start + BLOCK] = top_of(sims, allowed)
    return out


def neighbour_lists(nb: NDArray[np.int64]) -> Lists:
    return nb[:, :TOP].copy()


def blocks(
    cat: Catalog, train: Train, popularity_bonus: float = sim.POPULARITY_BONUS
) -> list[tuple[NDArray[np.int64], NDArray[np.float32], NDArray[np.bool_]]]:
    """Per block of anchors: (anchors, content similarity [b, n], allowed [b, n]: shares a genre,
    not itself)."""
    out = []
    n = cat.genres.shape[0]
    for start in range(0, n, BLOCK):
        anchors = np.arange(start, min(n, start + BLOCK))
        content, overlap = sim.content_similarity(
            cat.genres, cat.decades, train.popularity, anchors, popularity_bonus=popularity_bonus
        )
        shares = np.where(overlap.any(axis=1, keepdims=True), overlap > 0, True)
        shares[np.arange(anchors.shape[0]), anchors] = False
        out.append((anchors, content, shares))
    return out


def blend_lists(
    parts: list, nb: NDArray[np.int64], sims: NDArray[np.float32], train: Train, **blend: float
) -> Lists:
    """What serving now shows: the blend over co-rated films and films sharing a genre."""
    out = np.empty((nb.shape[0], TOP), np.int64)
    for anchors, content, shares in parts:
        scores = sim.blended_similarity(anchors, nb, sims, content, train.counts[anchors], **blend)
        allowed = shares.copy()
        rows = np.repeat(np.arange(anchors.shape[0]), nb.shape[1])
        cols = nb[anchors].ravel()
        ok = cols >= 0
        allowed[rows[ok], cols[ok]] = True
        allowed[np.arange(anchors.shape[0]), anchors] = False
        out[anchors] = top_of(scores, allowed)
    return out


def previous_lists(parts: list, nb: NDArray[np.int64], sims: NDArray[np.float32], train: Train):
    """What serving showed before: the neighbours only, reordered by count / (count + 20) x
    co-rating + the rest x content (each scaled to its maximum), then content fills a short list
    (films sharing a genre, by content)."""
    out = np.empty((nb.shape[0], TOP), np.int64)
    for anchors, content, shares in parts:
        rows = np.arange(anchors.shape[0])
        co = np.zeros(content.shape, np.float32)
        r = np.repeat(rows, nb.shape[1])
        cols = nb[anchors].ravel()
        ok = cols >= 0
        co[r[ok], cols[ok]] = sims[anchors].ravel()[ok]
        top_co = co.max(axis=1, keepdims=True)
        top_content = content.max(axis=1, keepdims=True)
        w = np.where(
            top_co > 0,
            train.counts[anchors][:, None] / (train.counts[anchors][:, None] + OLD_SHRINK),
            0.0,
        )
        blended = w * np.divide(co, top_co, out=np.zeros_like(co), where=top_co > 0) + (
            1 - w
        ) * np.divide(content, top_content, out=np.zeros_like(content), where=top_content > 0)
        # Neighbours first (blend scores <= 1, lifted above every content score), then content.
        score = np.where(co > 0, 2.0 + blended, np.where(shares, content, -np.inf))
        score[rows, anchors] = -np.inf
        out[anchors] = top_of(score, np.isfinite(score))
    return out


def ease_neighbours(
    train: Train, n_users: int, n_items: int, *, lam: float = 200.0, min_ratings: int = 3
) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
    """EASE (Steck 2019) on the binary matrix of all training ratings over items with at least
    min_ratings, as [n_items, 50] neighbours: B[i, j] > 0, how much i predicts j."""
    counts = np.bincount(train.items, minlength=n_items)
    active = np.flatnonzero(counts >= min_ratings)
    column = np.full(n_items, -1, np.int64)
    column[active] = np.arange(active.shape[0])
    matrix = np.zeros((n_users, active.shape[0]), np.float32)
    on = column[train.items] >= 0
    matrix[train.users[on], column[train.items[on]]] = 1.0
    gram = (matrix.T @ matrix).astype(np.float64)
    gram[np.diag_indices_from(gram)] += lam
    inverse = np.linalg.inv(gram)
    weights = -inverse / np.diag(inverse)[None, :]  # B[i, j]
    np.fill_diagonal(weights, 0.0)
    k = sim.NEIGHBOURS_K
    top = np.argpartition(-weights, k - 1, axis=1)[:, :k]
    top_w = np.take_along_axis(weights, top, axis=1)
    order = np.argsort(-top_w, axis=1, kind="stable")
    top, top_w = np.take_along_axis(top, order, axis=1), np.take_along_axis(top_w, order, axis=1)
    nb = np.full((n_items, k), -1, np.int64)
    sims = np.zeros((n_items, k), np.float32)
    nb[active] = np.where(top_w > 0, active[top], -1)
    sims[active] = np.where(top_w > 0, top_w, 0.0)
    return nb, sims


def hits(lists: Lists, train: Train, test_users, test_items) -> NDArray[np.bool_]:
    """[n_test] whether each user's held-out item is in the lists of their latest items."""
    order = np.lexsort((train.items, train.timestamps, train.users))  # by user, then time
    users, items = train.users[order], train.items[order]
    stops = np.searchsorted(users, test_users, side="right")
    starts = np.searchsorted(users, test_users, side="left")
    out = np.zeros(test_users.shape[0], dtype=bool)
    for row in range(test_users.shape[0]):
        latest = items[max(starts[row], stops[row] - LATEST) : stops[row]]
        out[row] = np.isin(test_items[row], lists[latest]).item()
    return out


def genre_jaccard(lists: Lists, genres: NDArray[np.float32], rows: NDArray[np.int64]) -> float:
    top = lists[rows]
    valid = top >= 0
    inter = np.einsum("ig,ikg->ik", genres[rows], genres[np.maximum(top, 0)])
    union = genres[rows].sum(axis=1)[:, None] + genres[np.maximum(top, 0)].sum(axis=2) - inter
    jac = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
    has = valid.any(axis=1)
    return float(((jac * valid).sum(axis=1)[has] / valid.sum(axis=1)[has]).sum() / rows.shape[0])


def most_listed(lists: Lists, rows: NDArray[np.int64]) -> float:
    found = lists[rows].ravel()
    found = found[found >= 0]
    return float(np.bincount(found).max() / rows.shape[0]) if found.shape[0] else 0.0


def run_seed(
    seed: int, data: Interactions, frame: pd.DataFrame, cat: Catalog, epochs: int, ease: bool
) -> tuple[dict[str, dict[str, float]], dict[str, Lists]]:
    started = time.perf_counter()
    result = fit(data, NeuMFConfig(epochs=epochs), backend="numpy", seed=seed)
    print(
        f"seed {seed}: trained NeuMF ({epochs} epochs) in {time.perf_counter() - started:.0f} s; "
        f"test HR@10 {result.metrics.get('test_hr', float('nan')):.3f}",
        flush=True,
    )
    with tempfile.TemporaryDirectory() as tmp:
        vectors = load_artifact(save_artifact(Path(tmp) / "a", result)).item_vectors()
    split = result.split
    # Scores and timestamps of the training pairs, looked up from the ratings file.
    n = data.n_items
    key = data.users.index(frame["user"].to_numpy()) * n + data.items.index(
        frame["item"].to_numpy()
    )
    order = np.argsort(key)
    pos = order[np.searchsorted(key[order], split.train_users * n + split.train_items)]
    counts = np.bincount(split.train_items, minlength=n).astype(np.float64)
    scores = frame["rating"].to_numpy().astype(np.float64)[pos]
    means = np.bincount(split.train_items, weights=scores, minlength=n) / np.maximum(counts, 1)
    train = Train(
        users=split.train_users,
        items=split.train_items,
        scores=scores,
        timestamps=frame["timestamp"].to_numpy()[pos],
        counts=counts,
        popularity=cs.popularity_scores(counts, means, np.zeros(n)),
    )
    parts = blocks(cat, train)

    def co(**kw: object) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
        return sim.co_rating_neighbours(train.users, train.items, data.n_users, n, **kw)

    old_nb, old_sims = co(scores=train.scores, b=0.8, min_ratings=3)
    new_nb, new_sims = co(scores=train.scores)  # the defaults: liked, b = 0.75, >= 1 liked
    b65_nb, b65_sims = co(scores=train.scores, b=0.65)
    b8_nb, b8_sims = co(scores=train.scores, b=0.8)
    all_nb, all_sims = co(b=0.5)
    methods: dict[str, Callable[[], Lists]] = {
        "embedding cosine (before co-ratings)": lambda: embedding_lists(vectors),
        "co-rating neighbours alone (before)": lambda: neighbour_lists(old_nb),
        SERVED_BEFORE: lambda: previous_lists(parts, old_nb, old_sims, train),
        SERVED_NOW: lambda: blend_lists(parts, new_nb, new_sims, train),
        "same, genre gain 1": lambda: blend_lists(parts, new_nb, new_sims, train, genre_gain=1.0),
        "same, additive (gain 0, content floor 0.3)": lambda: blend_lists(
            parts, new_nb, new_sims, train, genre_gain=0.0, floor=0.3
        ),
        "same, co-ratings b = 0.65": lambda: blend_lists(parts, b65_nb, b65_sims, train),
        "same, co-ratings b = 0.8": lambda: blend_lists(parts, b8_nb, b8_sims, train),
        "same, co-ratings all ratings, b = 0.5": lambda: blend_lists(
            parts, all_nb, all_sims, train
        ),
    }
    if ease:
        clock = time.perf_counter()
        ease_nb, ease_sims = ease_neighbours(train, data.n_users, n)
        print(f"  EASE in {time.perf_counter() - clock:.1f} s", flush=True)
        methods["EASE alone (lambda 200, >= 3 ratings)"] = lambda: neighbour_lists(ease_nb)
        methods["same as now, EASE for the co-ratings"] = lambda: blend_lists(
            parts, ease_nb, ease_sims, train
        )
    every = np.arange(n)
    well = np.flatnonzero(counts >= WELL_RATED)
    figures: dict[str, dict[str, float]] = {}
    lists: dict[str, Lists] = {}
    hit: dict[str, NDArray[np.bool_]] = {}
    for name, build in methods.items():
        clock = time.perf_counter()
        got = build()
        found = hits(got, train, split.test_users, split.test_items)
        hit[name] = found
        figures[name] = {
            "hr": float(found.mean()),
            "jac": genre_jaccard(got, cat.genres, every),
            "jac_well": genre_jaccard(got, cat.genres, well),
            "hub": most_listed(got, well),
            "seconds": time.perf_counter() - clock,
        }
        lists[name] = got
    before, now = hit[SERVED_BEFORE], hit[SERVED_NOW]
    print(
        f"  held-out items found only before: {int((before & ~now).sum())}, only now: "
        f"{int((now & ~before).sum())}, by both: {int((now & before).sum())} of {now.shape[0]}",
        flush=True,
    )
    return figures, lists


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--epochs", type=int, default=NeuMFConfig().epochs)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--no-ease", action="store_true", help="skip EASE (15 s per seed)")
    args = parser.parse_args()
    frame = read_movielens_ratings(DATA)
    data = Interactions.from_arrays(frame["user"], frame["item"], frame["timestamp"])
    cat = catalog(data)
    runs = []
    shown: dict[str, Lists] = {}
    for seed in args.seeds:
        figures, lists = run_seed(seed, data, frame, cat, args.epochs, not args.no_ease)
        runs.append(figures)
        shown = shown or lists

    def cell(name: str, key: str) -> str:
        values = np.array([run[name][key] for run in runs])
        return f"{values.mean():.3f} ± {values.std(ddof=1) if len(values) > 1 else 0.0:.3f}"

    print(f"\nseeds {args.seeds}; mean ± sd over seeds; well rated = >= {WELL_RATED} ratings")
    header = ("method", "HR@10", "Jaccard all", "Jaccard well", "most-listed")
    print(f"{header[0]:48s} {header[1]:>14s} {header[2]:>14s} {header[3]:>14s} {header[4]:>14s}")
    for name in runs[0]:
        print(
            f"{name:48s} {cell(name, 'hr'):>14s} {cell(name, 'jac'):>14s} "
            f"{cell(name, 'jac_well'):>14s} {cell(name, 'hub'):>14s}"
        )
    for title in SHOWN:
        if title not in cat.titles:
            continue
        row = cat.titles.index(title)
        print(f"\n{title} (seed {args.seeds[0]})")
        for name in ("embedding cosine (before co-ratings)", SERVED_BEFORE, SERVED_NOW):
            top = [cat.titles[j] for j in shown[name][row] if j >= 0]
            print(f"  {name}: {'; '.join(top)}")


if __name__ == "__main__":
    main()
