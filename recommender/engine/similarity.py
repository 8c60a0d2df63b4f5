"""Item-to-item similarity: cosine on learned item vectors, co-rating neighbours, and "More like
this" scores that blend co-ratings with content (genres, decade)."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from recommender.engine.sorting import unique_sorted


def similar_items(
    item_vectors: NDArray[np.floating],
    item_idx: int,
    k: int,
    *,
    exclude: ArrayLike | None = None,
) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
    """The k items most cosine-similar to `item_idx`, best first, the item itself left out.

    item_vectors: [n_items, d] (e.g. LoadedModel.item_vectors()); exclude: dense indices to leave
    out too. Returns (indices [<=k], cosines [<=k]); ties go to the lower index.
    """
    vectors = np.asarray(item_vectors, dtype=np.float32)
    n_items = vectors.shape[0]
    if not 0 <= item_idx < n_items:
        raise IndexError(f"item index {item_idx} out of range 0..{n_items - 1}")
    norms = np.linalg.norm(vectors, axis=1)  # [n_items]
    norms[norms == 0] = 1.0
    query = vectors[item_idx] / norms[item_idx]  # [d]
    sims = (vectors @ query) / norms  # [n_items]
    allowed = np.ones(n_items, dtype=bool)
    allowed[item_idx] = False
    if exclude is not None:
        allowed[np.asarray(exclude, dtype=np.int64)] = False
    candidates = np.flatnonzero(allowed)  # [n_allowed]
    k = max(0, min(k, candidates.shape[0]))
    if k == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
    cand_sims = sims[candidates]
    top = np.argpartition(-cand_sims, k - 1)[:k] if k < candidates.shape[0] else np.arange(k)
    order = np.lexsort((candidates[top], -cand_sims[top]))
    chosen = top[order]
    return candidates[chosen].astype(np.int64), cand_sims[chosen].astype(np.float32)


NEIGHBOURS_K = 50
POPULARITY_B = 0.75  # weight of the candidate's count in the norm: > 0.5 damps blockbusters
SHRINK = 10.0  # added to the norm so a pair of rarely rated items does not score 1.0
MIN_RATINGS = 1  # every liked item gets neighbours; content outweighs them while it has few
LIKED_SCORE = 3.5  # with scores, only ratings at or above this count as a co-occurrence


def co_rating_neighbours(
    user_idx: ArrayLike,
    item_idx: ArrayLike,
    n_users: int,
    n_items: int,
    *,
    scores: ArrayLike | None = None,
    liked: float = LIKED_SCORE,
    k: int = NEIGHBOURS_K,
    b: float = POPULARITY_B,
    shrink: float = SHRINK,
    min_ratings: int = MIN_RATINGS,
    block: int = 512,
) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
    """Each item's k nearest items by who rated both: asymmetric cosine with shrinkage on the
    binary user x item matrix, sim(i, j) = c_ij / ((c_i + 1)^(1 - b) (c_j + 1)^b + shrink),
    where c_ij counts users of both, c_i users of i; b > 0.5 penalises a popular candidate j.

    user_idx, item_idx: [n] dense indices (duplicates count once); scores: [n] or None, and
    then only pairs with score >= liked count. Items with fewer than min_ratings (counted pairs)
    neither get nor give neighbours. Returns (neighbours [n_items, k] int64, best first, -1
    padding; sims [n_items, k] float32, 0 padding); equal sims are listed by index. The Gram matrix
    is computed in [block, n_active] slices over the items that have min_ratings.
    """
    users = np.asarray(user_idx, dtype=np.int64).ravel()
    items = np.asarray(item_idx, dtype=np.int64).ravel()
    if users.shape != items.shape:
        raise ValueError("user_idx and item_idx differ in length")
    if scores is not None:
        keep = np.asarray(scores, dtype=np.float64).ravel() >= liked
        if keep.shape != users.shape:
            raise ValueError("scores differ in length from the pairs")
        users, items = users[keep], items[keep]
    if users.shape[0] and (
        users.min() < 0 or users.max() >= n_users or items.min() < 0 or items.max() >= n_items
    ):
        raise IndexError("a user or item index is out of range")
    k = max(0, int(k))
    neighbours = np.full((n_items, k), -1, dtype=np.int64)
    sims = np.zeros((n_items, k), dtype=np.float32)
    pairs = unique_sorted(users * np.int64(max(n_items, 1)) + items)  # distinct (user, item)
    users, items = pairs // max(n_items, 1), pairs % max(n_items, 1)
    counts = np.bincount(items, minlength=n_items)  # [n_items]
    active = np.flatnonzero(counts >= max(1, min_ratings))  # [n_active]
    n_active = active.shape[0]
    if k == 0 or n_active < 2:
        return neighbours, sims
    column = np.full(n_items, -1, dtype=np.int64)
    column[active] = np.arange(n_active)
    on = column[items] >= 0
    matrix = np.zeros((n_users, n_active), dtype=np.float32)  # [n_users, n_active] 0/1
    matrix[users[on], column[items[on]]] = 1.0
    c = counts[active].astype(np.float64) + 1.0  # [n_active]
    row_norm = c ** (1.0 - b)  # [n_active]
    col_norm = c**b  # [n_active]
    kk = min(k, n_active - 1)
    for start in range(0, n_active, block):
        stop = min(start + block, n_active)
        co = matrix[:, start:stop].T @ matrix  # [rows, n_active] co-rating counts
        sim = co / (row_norm[start:stop, None] * col_norm[None, :] + shrink)
        sim[np.arange(stop - start), np.arange(start, stop)] = 0.0  # not its own neighbour
        top = np.argpartition(-sim, kk - 1, axis=1)[:, :kk]  # [rows, kk]
        top_sims = np.take_along_axis(sim, top, axis=1)
        order = np.lexsort((top, -top_sims), axis=1)
        top = np.take_along_axis(top, order, axis=1)
        top_sims = np.take_along_axis(top_sims, order, axis=1)
        found = top_sims > 0
        rows = active[start:stop]
        neighbours[rows, :kk] = np.where(found, active[top], -1)
        sims[rows, :kk] = np.where(found, top_sims, 0.0).astype(np.float32)
    return neighbours, sims


CONTENT_SHRINK = 20.0  # content's share of the blend: shrink / (count + shrink) for the anchor
CONTENT_FLOOR = 0.0  # ... plus this floor, for much-rated anchors too
GENRE_GAIN = 3.0  # a co-rated film sharing no genre keeps 1 / (1 + gain) of its co-rating score
DECADE_BONUS = 0.1  # content similarity added for the same decade
POPULARITY_BONUS = 0.2  # times the candidate's popularity on [0, 1]: breaks genre ties


def content_weight(
    count: ArrayLike, *, floor: float = CONTENT_FLOOR, shrink: float = CONTENT_SHRINK
) -> NDArray[np.float64]:
    """Content's share of the blend for anchors rated `count` times: floor + (1 - floor) *
    shrink / (count + shrink); 1 for an unrated anchor, falling to floor for a much-rated one."""
    n = np.maximum(np.asarray(count, dtype=np.float64), 0.0)
    out: NDArray[np.float64] = floor + (1.0 - floor) * shrink / (n + shrink)
    return out


def content_similarity(
    item_genres: NDArray[np.floating],
    decades: NDArray[np.integer],
    popularity: NDArray[np.floating],
    anchors: ArrayLike,
    *,
    decade_bonus: float = DECADE_BONUS,
    popularity_bonus: float = POPULARITY_BONUS,
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """Content similarity of every item to each anchor: genre Jaccard + decade_bonus for the same
    (known) decade + popularity_bonus x the candidate's popularity; and the genre overlap counts.

    item_genres: [n, G] 0/1; decades: [n] (1990 for 1994, -1 unknown); popularity: [n] on [0, 1];
    anchors: [a] indices. Returns (scores [a, n], overlaps [a, n])."""
    genres = np.asarray(item_genres, dtype=np.float32)
    rows = np.asarray(anchors, dtype=np.int64).ravel()
    inter = genres[rows] @ genres.T  # [a, n]
    sizes = genres.sum(axis=1)  # [n]
    union = sizes[rows][:, None] + sizes[None, :] - inter
    jaccard = np.divide(inter, union, out=np.zeros_like(inter), where=union > 0)
    dec = np.asarray(decades, dtype=np.int64)
    same_decade = (dec[rows][:, None] == dec[None, :]) & (dec[rows][:, None] >= 0)  # [a, n]
    pop = np.asarray(popularity, dtype=np.float32)[None, :]
    score = jaccard + decade_bonus * same_decade + popularity_bonus * pop
    return score.astype(np.float32), inter.astype(np.float32)


def blended_similarity(
    anchors: ArrayLike,
    neighbours: NDArray[np.int64],
    sims: NDArray[np.floating],
    content: NDArray[np.floating],
    counts: ArrayLike,
    *,
    floor: float = CONTENT_FLOOR,
    shrink: float = CONTENT_SHRINK,
    genre_gain: float = GENRE_GAIN,
) -> NDArray[np.float32]:
    """More like this scores: with co and c each anchor's co-rating and content similarity
    scaled to their maxima, and w = content_weight(anchor's count) (1 when it has no co-ratings),

        (1 - w) co (1 + genre_gain c) / (1 + genre_gain) + w c.

    A much-rated film is placed by who liked it, its co-rated films of its own kind first (a
    co-rated film sharing no genre keeps 1 / (1 + gain) of its score, so the blockbusters of the
    same years that the same crowd liked fall behind); a film with a handful of ratings is
    placed mostly by genres and decade, its co-ratings lifting the films its raters liked.

    anchors: [a] indices; neighbours, sims: [n, K] (co_rating_neighbours; -1 padding);
    content: [a, n] (content_similarity); counts: [a] the anchors' rating counts. Returns [a, n];
    an item outside an anchor's neighbours has co-rating similarity 0."""
    rows = np.asarray(anchors, dtype=np.int64).ravel()
    content = np.asarray(content, dtype=np.float32)
    n_anchors, n = content.shape
    co = np.zeros((n_anchors, n), np.float32)  # [a, n]
    nb = neighbours[rows]  # [a, K]
    ok = nb >= 0
    co[np.nonzero(ok)[0], nb[ok]] = np.asarray(sims, dtype=np.float32)[rows][ok]
    top_co = co.max(axis=1, initial=0.0)[:, None]  # [a, 1]
    top_content = content.max(axis=1, initial=0.0)[:, None]
    co_n = np.divide(co, top_co, out=np.zeros_like(co), where=top_co > 0)
    content_n = np.divide(content, top_content, out=np.zeros_like(content), where=top_content > 0)
    w = content_weight(np.asarray(counts, dtype=np.float64).ravel(), floor=floor, shrink=shrink)
    w = np.where(top_co[:, 0] > 0, w, 1.0)[:, None].astype(np.float32)  # [a, 1]
    kind = (1.0 + genre_gain * content_n) / (1.0 + genre_gain)  # [a, n] on [1 / (1 + gain), 1]
    out: NDArray[np.float32] = ((1.0 - w) * co_n * kind + w * content_n).astype(np.float32)
    return out
