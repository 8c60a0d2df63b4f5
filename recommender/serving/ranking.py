"""The ranking core: candidates -> scores -> blend -> diversify -> reasons, in NumPy only.

The edge (recommender/serving/edge.py) gathers a UserState and calls one of `user_list`,
`home_rows` or `similar_list` once; each returns Picks (movie ids, scores, sources, reasons)
for the edge to materialise."""

from __future__ import annotations

import logging
from collections.abc import Callable

import numpy as np

from recommender.engine import coldstart as cs
from recommender.serving.reasons import because_reasons, cold_reason
from recommender.serving.similar import blended_similarity, content_similarity, shares_genre
from recommender.serving.taste import cold_scores_for, taste_affinity_for
from recommender.serving.types import F32, BoolArray, Pick, UserState

logger = logging.getLogger(__name__)

SOURCES: tuple[str, ...] = ("ncf", "blend", "cold_start", "popular", "content")
ROW_LENGTH = 20

Row = tuple[str, str, list[Pick]]  # title (may hold {title} of the anchor), slug, picks


# -- scores ---------------------------------------------------------------------------------


def scores(state: UserState) -> F32:
    """Blended scores over the catalog, computed once per state: the model's logits shifted by
    the user's genre affinity, blended with the cold score over the first `ramp` ratings."""
    if state.scores is not None:
        return state.scores
    ncf: F32 | None = None
    try:
        if state.vector is not None and state.aligned is not None:
            ncf = state.aligned.scorer.logits(state.vector)[0]
            if not np.all(np.isfinite(ncf)):
                raise ValueError(
                    f"model version {state.aligned.version_id} gives non-finite scores"
                )
    except Exception:
        logger.exception("online scoring failed for user %s; cold start", state.user_id)
        ncf = None
    state.alpha = cs.blend_alpha(state.n_ratings, state.ramp) if ncf is not None else 0.0
    taste = {
        "favourite_genre_ids": state.favourite_genre_ids,
        "rated_idx": state.rated_idx,
        "rated_scores": state.rated_idx_scores,
    }
    if ncf is not None and state.alpha >= 1.0:
        # The cold score has no weight left: only the taste shift is needed.
        state.affinity = taste_affinity_for(state.snapshot, **taste)
        state.scores = cs.normalise(cs.with_taste(ncf, state.affinity))
    else:
        cold, state.affinity = cold_scores_for(state.snapshot, **taste)
        if ncf is not None:
            ncf = cs.with_taste(ncf, state.affinity)  # the user's genres weigh at every stage
        state.scores = cs.blend(ncf, cold, state.alpha)
    if state.alpha >= 1.0:
        state.source = "ncf"
    elif state.alpha > 0.0:
        state.source = "blend"
    elif state.affinity is not None:
        state.source = "cold_start"
    else:
        state.source = "popular"
    return state.scores


# -- one list -------------------------------------------------------------------------------


def user_list(state: UserState, k: int, mask: BoolArray) -> list[Pick]:
    """The user's top k among `mask`: the precomputed list when it covers k, else online."""
    picks = precomputed_picks(state, k, mask)
    return picks if picks is not None else online_picks(state, k, mask)


def precomputed_picks(state: UserState, k: int, mask: BoolArray) -> list[Pick] | None:
    """The precomputed list (the edge hands it over only when fresh and pure NCF applies);
    None to score online."""
    if state.precomputed is None:
        return None
    ids, list_scores = state.precomputed
    idx = state.snapshot.index(ids)
    keep = np.flatnonzero((idx >= 0) & mask[np.maximum(idx, 0)])
    if keep.shape[0] < min(k, int(mask.sum())):
        return None  # a genre filter or new ratings thinned the list: score everything instead
    chosen = keep[:k]
    state.source = "ncf"
    reasons = because_reasons(state, idx[chosen])
    return [
        Pick(int(ids[j]), float(list_scores[j]), "ncf", text, ref)
        for j, (text, ref) in zip(chosen, reasons, strict=True)
    ]


def online_picks(state: UserState, k: int, mask: BoolArray) -> list[Pick]:
    blended = scores(state)
    chosen = cs.top_k(blended, k, mask)
    if state.source in ("ncf", "blend") and state.alpha >= 0.5:
        reasons = because_reasons(state, chosen)
    else:
        reasons = [(cold_reason(state, int(i)), None) for i in chosen]
    return [
        Pick(int(state.snapshot.movie_ids[i]), float(blended[i]), state.source, text, ref)
        for i, (text, ref) in zip(chosen, reasons, strict=True)
    ]


def popular_fallback(state: UserState, k: int, mask: BoolArray) -> list[Pick]:
    """Popularity alone, with no model involved: the last resort of a broken model."""
    snap = state.snapshot
    return [
        Pick(int(snap.movie_ids[i]), float(snap.popularity[i]), "popular", "Popular on recsite")
        for i in cs.top_k(snap.popularity, k, mask)
    ]


# -- home rows ------------------------------------------------------------------------------


def trending_picks(state: UserState, k: int, mask: BoolArray) -> list[Pick]:
    snap = state.snapshot
    trend = snap.recent + 1e-3 * cs.normalise(snap.popularity)  # popularity breaks ties
    if snap.recent.any():
        chosen = cs.top_k(trend, k, mask & (snap.recent > 0))
    else:
        chosen = cs.top_k(snap.popularity, k, mask)
    peak = float(trend[chosen[0]]) if chosen.shape[0] else 1.0
    return [
        Pick(
            int(snap.movie_ids[i]),
            float(trend[i]) / max(peak, 1e-9),
            "popular",
            f"{int(snap.recent[i])} recent ratings" if snap.recent[i] else "Popular on recsite",
        )
        for i in chosen
    ]


def new_arrival_picks(state: UserState, k: int, mask: BoolArray) -> list[Pick]:
    """The most recently added movies (rated or not); for a signed-in user the newest few times
    k, ranked by that user's score, so new movies with no ratings surface for the right people."""
    snap = state.snapshot
    newest = snap.newest_first[mask[snap.newest_first]]
    if state.user_id is None:
        return [Pick(int(snap.movie_ids[i]), 0.0, "popular", "New on recsite") for i in newest[:k]]
    pool = newest[: k * 5]
    blended = scores(state)
    order = pool[np.argsort(-blended[pool], kind="stable")][:k]
    return [
        Pick(int(snap.movie_ids[i]), float(blended[i]), state.source, "New on recsite")
        for i in order
    ]


def liked_anchor(state: UserState) -> int | None:
    """Catalog index of the user's best-rated movie (latest among ties), 3.5 stars or more."""
    if state.rated_idx.shape[0] == 0:
        return None
    best = float(state.rated_idx_scores.max())
    if best < cs.LIKED_SCORE:
        return None
    candidates = state.rated_idx[state.rated_idx_scores == best]
    aligned = state.aligned
    if aligned is not None:
        in_model = candidates[aligned.in_model[candidates]]
        if in_model.shape[0]:
            candidates = in_model
    # The rating query is unordered; the highest movie id is a stable, cheap tie-break.
    return int(candidates.max())


def home_rows(state: UserState) -> tuple[list[Row], int | None]:
    """The rows top to bottom and the anchor movie id of "Because you liked"; a film appears in
    one row only (the first that picks it), so each row below takes the next best of its own
    kind. Only a catalog too small to fill a row to half its length without repeats lets that
    row repeat films."""
    snap = state.snapshot
    unrated = state.unrated()
    shown = np.zeros(snap.n, dtype=bool)
    rows: list[Row] = []
    anchor_id: int | None = None

    def fresh(pick: Callable[[BoolArray], list[Pick]], mask: BoolArray) -> list[Pick]:
        picks = pick(mask & ~shown)
        return picks if len(picks) >= min(ROW_LENGTH // 2, int(mask.sum())) else pick(mask)

    def add(title: str, slug: str, picks: list[Pick]) -> None:
        idx = snap.index([p.movie_id for p in picks])
        shown[idx[idx >= 0]] = True
        rows.append((title, slug, picks))

    if state.user_id is None:
        add("Popular on recsite", "popular", online_picks(state, ROW_LENGTH, unrated))
    else:
        picks = user_list(state, ROW_LENGTH, unrated)
        if state.source == "popular":  # no rating and no onboarding genre: nothing personal yet
            add("Popular on recsite", "popular", picks)
        else:
            add("Top picks for you", "top-picks", picks)
        anchor = liked_anchor(state)
        if anchor is not None:
            similar = fresh(lambda m: similar_picks(state, anchor, ROW_LENGTH, m), unrated)
            if similar:
                anchor_id = int(snap.movie_ids[anchor])
                add("Because you liked {title}", "because-you-liked", similar)
    add("Trending now", "trending", fresh(lambda m: trending_picks(state, ROW_LENGTH, m), unrated))
    add(
        "New arrivals",
        "new-arrivals",
        fresh(lambda m: new_arrival_picks(state, ROW_LENGTH, m), unrated),
    )
    if state.user_id is not None and state.favourite_genre_ids:
        for genre_id in state.favourite_genre_ids:
            col = int(np.searchsorted(snap.genre_ids, genre_id))
            if col >= snap.genre_ids.shape[0] or snap.genre_ids[col] != genre_id:
                continue
            mask = unrated & (snap.item_genres[:, col] > 0)
            add(
                snap.genre_names[col],
                f"genre-{snap.genre_slugs[col]}",
                fresh(lambda m: online_picks(state, ROW_LENGTH, m), mask),
            )
    return rows, anchor_id


# -- more like this -------------------------------------------------------------------------


def similar_picks(
    state: UserState, idx: int, k: int, allowed: BoolArray, *, anchor_is_rated: bool = True
) -> list[Pick]:
    """The k movies most like catalog index `idx`: co-rating similarity (who liked it also
    liked) blended with content (genres, decade), content weighing more the fewer ratings the
    movie has, over its co-rating neighbours and the movies sharing a genre with it; the
    item-embedding cosine for a version saved without neighbours, content alone without a
    model."""
    snap, aligned = state.snapshot, state.aligned
    title_ref = int(snap.movie_ids[idx])
    text = (
        "Because you liked {title}"
        if anchor_is_rated
        else "Viewers who liked {title} also liked this"
    )
    content, _ = content_similarity(snap, idx)
    candidates = allowed & shares_genre(snap, idx)
    co_rated = np.zeros(snap.n, dtype=bool)
    scores = content
    if (
        aligned is not None
        and aligned.neighbours is not None
        and aligned.neighbour_sims is not None
    ):
        row = aligned.neighbours[idx]  # [K]
        co_rated[row[row >= 0]] = True
        scores = blended_similarity(
            idx, aligned.neighbours, aligned.neighbour_sims, content, float(snap.counts[idx])
        )
        candidates = candidates | (allowed & co_rated)
    elif aligned is not None and aligned.in_model[idx]:
        sims = aligned.unit @ aligned.unit[idx]  # [n_cat] cosine
        if not np.all(np.isfinite(sims)):
            raise ValueError(f"model version {aligned.version_id} has non-finite item vectors")
        chosen = cs.top_k(sims, k, allowed)
        return [
            Pick(int(snap.movie_ids[i]), float(sims[i]), "ncf", text, title_ref) for i in chosen
        ]
    return [
        Pick(int(snap.movie_ids[i]), float(scores[i]), "ncf", text, title_ref)
        if co_rated[i]
        else Pick(
            int(snap.movie_ids[i]),
            float(scores[i]),
            "content",
            "Shares genres with {title}",
            title_ref,
        )
        for i in cs.top_k(scores, k, candidates)
    ]


def similar_list(state: UserState, idx: int, k: int) -> list[Pick]:
    """More like this for catalog index `idx`, the movie itself left out."""
    allowed = np.ones(state.snapshot.n, dtype=bool)
    allowed[idx] = False
    return similar_picks(state, idx, k, allowed, anchor_is_rated=False)
