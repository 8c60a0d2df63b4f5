"""A user's genre affinity to every movie and the cold-start score built on it."""

from __future__ import annotations

import numpy as np

from recommender.engine import coldstart as cs
from recommender.serving.types import F32, CatalogSnapshot, IntArray


def taste_affinity_for(
    snapshot: CatalogSnapshot,
    *,
    favourite_genre_ids: list[int],
    rated_idx: IntArray,
    rated_scores: F32,
) -> F32 | None:
    """The user's genre affinity to every catalog movie [n], or None without a genre signal."""
    favourite = snapshot.genre_vector(favourite_genre_ids)
    if not favourite.any() and not rated_idx.shape[0]:
        return None
    profile = cs.genre_profile(snapshot.item_genres, favourite, rated_idx, rated_scores)
    return cs.genre_affinity(snapshot.item_genres, profile) if np.any(profile) else None


def cold_scores_for(
    snapshot: CatalogSnapshot,
    *,
    favourite_genre_ids: list[int],
    rated_idx: IntArray,
    rated_scores: F32,
) -> tuple[F32, F32 | None]:
    """(cold score [n] on [0, 1], genre affinity [n] or None when the user gave no genre signal)."""
    affinity = taste_affinity_for(
        snapshot,
        favourite_genre_ids=favourite_genre_ids,
        rated_idx=rated_idx,
        rated_scores=rated_scores,
    )
    return cs.cold_scores(snapshot.popularity, affinity), affinity
