"""Item-to-item similarity: cosine on learned item vectors, and co-rating neighbours."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray


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
POPULARITY_B = 0.8  # weight of the candidate's count in the norm: > 0.5 damps blockbusters
SHRINK = 10.0  # added to the norm so a pair of rarely rated items does not score 1.0
MIN_RATINGS = 3  # items with fewer ratings get no co-rating neighbours (content serves them)
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
    pairs = np.unique(users * np.int64(max(n_items, 1)) + items)  # distinct (user, item)
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
