"""Item-to-item similarity on learned item vectors (cosine)."""

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
