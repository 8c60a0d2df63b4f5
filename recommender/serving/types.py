"""The core's inputs: the catalog snapshot, a model version laid over it, one user's state."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from recommender.engine import coldstart as cs
from recommender.engine.foldin import ItemSide

F32 = NDArray[np.float32]
IntArray = NDArray[np.int64]
BoolArray = NDArray[np.bool_]


@dataclass(frozen=True, eq=False)
class CatalogSnapshot:
    """Every movie as a dense index (ascending id), with the columns cold start needs."""

    key: tuple[int | None, int]  # (newest movie id, movie count): a new or deleted movie changes it
    movie_ids: IntArray  # [n] ascending
    counts: F32  # [n] rating count
    means: F32  # [n] rating mean
    recent: F32  # [n] ratings among the latest RECENT_RATINGS
    decades: IntArray  # [n] 1990 for 1994; -1 unknown
    newest_first: IntArray  # [n] indices, most recently added first
    genre_ids: IntArray  # [G] ascending
    genre_slugs: tuple[str, ...]
    genre_names: tuple[str, ...]
    item_genres: F32  # [n, G] 0/1
    popularity: F32  # [n] on [0, 1]
    built_at: float = field(default_factory=time.monotonic)

    @property
    def n(self) -> int:
        return int(self.movie_ids.shape[0])

    def index(self, movie_ids: object) -> IntArray:
        """Dense indices of movie ids, -1 where unknown."""
        raw = np.asarray(movie_ids, dtype=np.int64)
        if self.n == 0:
            return np.full(raw.shape, -1, np.int64)
        pos = np.minimum(np.searchsorted(self.movie_ids, raw), self.n - 1)
        return np.where(self.movie_ids[pos] == raw, pos, -1).astype(np.int64)

    def genre_column(self, genre: str) -> int:
        """Column of a genre given by slug or name (case-insensitive); -1 when unknown."""
        wanted = genre.strip().lower()
        for col, (slug, name) in enumerate(zip(self.genre_slugs, self.genre_names, strict=True)):
            if wanted in (slug.lower(), name.lower()):
                return col
        return -1

    def genre_mask(self, genre: str) -> BoolArray:
        col = self.genre_column(genre)
        if col < 0:
            return np.zeros(self.n, dtype=bool)
        return self.item_genres[:, col] > 0

    def genre_vector(self, genre_ids: list[int]) -> BoolArray:
        """[G] mask of the given genre ids."""
        return np.isin(self.genre_ids, np.asarray(genre_ids, dtype=np.int64))


@dataclass(frozen=True, eq=False)
class AlignedModel:
    """A model version laid over the catalog snapshot: every movie gets an item row, the trained
    one or, for a movie the model never saw, a content vector from its genres and decade."""

    version_id: int
    snapshot_key: tuple[int | None, int]
    in_model: BoolArray  # [n_cat]
    scorer: cs.VectorScorer  # over catalog indices
    foldin_side: ItemSide  # the frozen item side for the engine's fold-in, catalog indices
    unit: F32  # [n_cat, d] unit item vectors for cosine similarity
    # Co-rating neighbours as catalog indices ([n_cat, k], -1 padding: a neighbour gone from the
    # catalog, or none) and their similarities; None when the version has none (older artifact).
    neighbours: IntArray | None = None
    neighbour_sims: F32 | None = None


@dataclass(frozen=True)
class Pick:
    """A recommendation before its movie is fetched; `reason` may hold {title} of reason_movie."""

    movie_id: int
    score: float
    source: str
    reason: str
    reason_movie_id: int | None = None


@dataclass
class UserState:
    """Everything the core knows about one request's user, gathered by the edge beforehand:
    ratings as catalog indices, onboarding genres, the model's user vector (trained row or
    fold-in) and, when fresh, the precomputed list. The core fills in the blended scores."""

    snapshot: CatalogSnapshot
    aligned: AlignedModel | None
    user_id: int | None
    rated_idx: IntArray  # [r] catalog indices of rated movies (present in the catalog)
    rated_idx_scores: F32  # [r]
    n_ratings: int  # every rating, in the catalog or not
    ramp: int  # ratings over which the model's weight rises from 0 to 1
    favourite_genre_ids: list[int] = field(default_factory=list)
    vector: F32 | None = None  # the model's user vector; None: no model or nothing to fold in
    precomputed: tuple[IntArray, F32] | None = None  # (movie ids, scores) best first
    alpha: float = 0.0
    scores: F32 | None = None  # [n_cat] blended, on [0, 1]
    affinity: F32 | None = None
    source: str = "popular"

    def unrated(self) -> BoolArray:
        mask = np.ones(self.snapshot.n, dtype=bool)
        mask[self.rated_idx] = False
        return mask
