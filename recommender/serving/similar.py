"""Item-to-item similarity for "More like this" and reasons: co-ratings blended with content."""

from __future__ import annotations

import numpy as np

from recommender.engine import similarity as sim
from recommender.serving.types import F32, BoolArray, CatalogSnapshot, IntArray


def content_similarity(snap: CatalogSnapshot, idx: int) -> tuple[F32, F32]:
    """Genre Jaccard + 0.1 same decade + 0.2 popularity of every movie to `idx`, and the genre
    overlap counts: [n_cat] each (engine.similarity.content_similarity)."""
    score, inter = sim.content_similarity(snap.item_genres, snap.decades, snap.popularity, [idx])
    return score[0], inter[0]


def blended_similarity(
    idx: int, neighbours: IntArray, neighbour_sims: F32, content: F32, count: float
) -> F32:
    """More like this scores of every movie for catalog index `idx`: its co-rating similarity
    blended with content, content weighing more the fewer ratings `idx` has
    (engine.similarity.blended_similarity; benchmarks/similar_items.py chose the weights).

    neighbours, neighbour_sims: [n_cat, K] (-1 padding); content: [n_cat] content similarity to
    `idx`; count: its rating count. Returns [n_cat]."""
    out = sim.blended_similarity([idx], neighbours, neighbour_sims, content[None, :], [count])
    return out[0]


def co_rating_sims(neighbours: IntArray, sims: F32, chosen: IntArray, pool: IntArray) -> F32:
    """Co-rating similarity of each chosen movie to each pool movie, either way round (the
    larger of "pool movie in chosen's neighbours" and the reverse): [len(chosen), len(pool)]."""
    forward = neighbours[chosen][:, :, None] == pool[None, None, :]  # [k, K, n_pool]
    out = np.max(np.where(forward, sims[chosen][:, :, None], 0.0), axis=1)  # [k, n_pool]
    backward = neighbours[pool][:, :, None] == chosen[None, None, :]  # [n_pool, K, k]
    back = np.max(np.where(backward, sims[pool][:, :, None], 0.0), axis=1)  # [n_pool, k]
    result: F32 = np.maximum(out, back.T).astype(np.float32)
    return result


def shares_genre(snap: CatalogSnapshot, idx: int) -> BoolArray:
    """[n] movies with at least one genre of `idx` (all of them when `idx` has none)."""
    inter = snap.item_genres @ snap.item_genres[idx]
    return inter > 0 if inter.any() else np.ones(snap.n, dtype=bool)
