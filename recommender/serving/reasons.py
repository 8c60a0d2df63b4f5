"""Why a movie is recommended: the liked film nearest to it, or the popularity it has."""

from __future__ import annotations

import numpy as np

from recommender.engine import coldstart as cs
from recommender.serving.similar import co_rating_sims, content_similarity
from recommender.serving.types import IntArray, UserState


def stars(score: float) -> str:
    return f"{score:g} star" + ("" if score == 1 else "s")


def because_reasons(state: UserState, chosen: IntArray) -> list[tuple[str, int | None]]:
    """For each recommended catalog index, the movie the user liked (3.5 stars or more; never a
    low-rated one) nearest to it: by co-rating similarity when the version has neighbours (by
    genres and decade where no liked movie is co-rated with it), else by item embedding:
    ("Because you rated {title} 5 stars", that movie's id)."""
    aligned, snap = state.aligned, state.snapshot
    liked = state.rated_idx_scores >= cs.LIKED_SCORE
    if aligned is None or not liked.any() or chosen.shape[0] == 0:
        return [(cold_reason(state, int(i)), None) for i in chosen]
    pool, pool_scores = state.rated_idx[liked], state.rated_idx_scores[liked]
    if aligned.neighbours is not None and aligned.neighbour_sims is not None:
        sims = co_rating_sims(aligned.neighbours, aligned.neighbour_sims, chosen, pool)
        for row in np.flatnonzero(~(sims > 0).any(axis=1)):
            sims[row] = content_similarity(snap, int(chosen[row]))[0][pool]
    else:
        sims = aligned.unit[chosen] @ aligned.unit[pool].T  # [k, n_pool]
    sims = sims + 0.02 * (pool_scores - cs.LIKED_SCORE)  # near-ties go to the higher rating
    best = np.argmax(sims, axis=1)  # [k]
    return [
        (
            f"Because you rated {{title}} {stars(float(pool_scores[b]))}",
            int(snap.movie_ids[pool[b]]),
        )
        for b in best
    ]


def cold_reason(state: UserState, idx: int) -> str:
    snap = state.snapshot
    if state.affinity is not None and state.affinity[idx] > 0:
        fav = snap.genre_vector(state.favourite_genre_ids)
        cols = np.flatnonzero(snap.item_genres[idx] > 0)
        liked_cols = [c for c in cols if fav[c]] or list(cols)
        if liked_cols:
            return f"Popular in {snap.genre_names[liked_cols[0]]}, a genre you like"
    if snap.recent[idx] > 0 and snap.recent[idx] >= np.percentile(snap.recent, 99):
        return "Trending now"
    if snap.counts[idx] > 0:
        return f"Popular: {int(snap.counts[idx])} ratings, {float(snap.means[idx]):.1f} average"
    return "New on recsite"
