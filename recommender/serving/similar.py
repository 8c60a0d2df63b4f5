"""Item-to-item similarity for "More like this" and reasons: co-ratings blended with content."""

from __future__ import annotations

import numpy as np

from recommender.serving.types import F32, BoolArray, CatalogSnapshot, IntArray

# Weight of the co-rating part: count / (count + CONTENT_SHRINK) for an anchor rated `count`
# times, so a film with a handful of ratings is placed mostly by its genres and decade and a
# film with hundreds by who liked it (benchmarks/similar_items.py chose it; docs/benchmarks.md).
CONTENT_SHRINK = 20.0


def content_similarity(snap: CatalogSnapshot, idx: int) -> tuple[F32, F32]:
    """Genre Jaccard + 0.1 same decade + 0.2 popularity of every movie to `idx`, and the genre
    overlap counts: [n_cat] each."""
    genres = snap.item_genres
    inter = genres @ genres[idx]  # [n_cat]
    union = genres.sum(axis=1) + genres[idx].sum() - inter
    jaccard = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
    same_decade = (snap.decades == snap.decades[idx]) & (snap.decades >= 0)
    score = jaccard + 0.1 * same_decade + 0.2 * snap.popularity
    return score.astype(np.float32), inter


def blended_similarity(
    row: IntArray, row_sims: F32, content: F32, count: float, *, shrink: float = CONTENT_SHRINK
) -> F32:
    """Co-rating similarity blended with content for one anchor: w * co / max(co) + (1 - w) *
    content / max(content), w = count / (count + shrink).

    row, row_sims: the anchor's neighbours [K] (-1 padding) and their similarities; content:
    [n] content similarity of every movie to the anchor; count: the anchor's rating count.
    Returns [n]; a movie outside the neighbours has co-rating similarity 0."""
    co = np.zeros(content.shape[0], np.float32)
    ok = row >= 0
    co[row[ok]] = row_sims[ok]
    top_co = float(co.max()) if co.shape[0] else 0.0
    top_content = float(content.max()) if content.shape[0] else 0.0
    w = count / (count + shrink) if top_co > 0 else 0.0
    co_n = co / top_co if top_co > 0 else co
    content_n = content / top_content if top_content > 0 else content
    out: F32 = (w * co_n + (1.0 - w) * content_n).astype(np.float32)
    return out


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
