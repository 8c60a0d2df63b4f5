"""Database -> engine: every rating as engine Interactions, DB user and movie ids as raw ids."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from django.db.models import BigIntegerField, FloatField, Func, Max
from django.db.models.functions import Cast
from numpy.typing import NDArray

from ratings.models import Rating
from recommender.engine.data import Interactions

logger = logging.getLogger(__name__)

CHUNK_ROWS = 50_000


class EpochSeconds(Func):
    """A datetime column as integer Unix seconds, computed by the database: a million rows then
    cost three ints each in Python, no datetime objects. Extract has no "epoch" on SQLite."""

    output_field = BigIntegerField()

    def as_postgresql(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return self.as_sql(
            compiler, connection, template="EXTRACT(EPOCH FROM %(expressions)s)::bigint", **extra
        )

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return self.as_sql(
            compiler,
            connection,
            template="CAST(strftime('%%%%s', %(expressions)s) AS INTEGER)",
            **extra,
        )


@dataclass(frozen=True)
class RatingsSnapshot:
    """The data one training run sees: ratings rated at or before `until`."""

    interactions: Interactions
    until: datetime | None  # the latest rated_at in the snapshot; None when there is no rating
    n_ratings: int
    # Star scores of interactions' pairs, row for row: [n] (liked co-ratings for "more like this").
    scores: NDArray[np.float32] | None = None


def ratings_snapshot() -> RatingsSnapshot:
    """Every rating as an implicit positive (imported MovieLens raters included: they teach the
    model too). The cut-off is read first, so ratings arriving during the read stay out and the
    snapshot is exactly "everything up to `until`"."""
    started = time.perf_counter()
    until = Rating.objects.aggregate(until=Max("rated_at"))["until"]
    if until is None:
        empty = np.zeros(0, dtype=np.int64)
        return RatingsSnapshot(
            Interactions.from_arrays(empty, empty, empty), None, 0, np.zeros(0, np.float32)
        )
    rows = (
        Rating.objects.filter(rated_at__lte=until)
        .order_by()
        .annotate(ts=EpochSeconds("rated_at"), stars=Cast("score", FloatField()))
        .values_list("user_id", "movie_id", "ts", "stars")
    )
    # float64 holds ids and epoch seconds exactly (below 2**53) and the half-star scores.
    flat = np.fromiter(
        (value for row in rows.iterator(chunk_size=CHUNK_ROWS) for value in row), dtype=np.float64
    )
    table = flat.reshape(-1, 4)  # [n, 4]: user id, movie id, epoch seconds, score
    ids = table[:, :3].astype(np.int64)
    data = Interactions.from_arrays(ids[:, 0], ids[:, 1], ids[:, 2])
    scores = _pair_scores(data, ids[:, 0], ids[:, 1], table[:, 3])
    logger.info(
        "ratings snapshot: %d ratings, %d users, %d movies in %.2f s",
        table.shape[0],
        data.n_users,
        data.n_items,
        time.perf_counter() - started,
    )
    return RatingsSnapshot(
        interactions=data, until=until, n_ratings=int(table.shape[0]), scores=scores
    )


def _pair_scores(
    data: Interactions, user_ids: NDArray[np.int64], movie_ids: NDArray[np.int64], scores: Any
) -> NDArray[np.float32]:
    """The score of each of data's (user, item) pairs, in its row order: [len(data)]. A rating
    is unique per user and movie, so every pair has exactly one row."""
    n_items = max(data.n_items, 1)
    keys = data.users.index(user_ids) * n_items + data.items.index(movie_ids)  # [n]
    order = np.argsort(keys, kind="stable")
    wanted = data.user_idx * n_items + data.item_idx  # [len(data)]
    pos = order[np.searchsorted(keys[order], wanted)]
    out: NDArray[np.float32] = np.asarray(scores, dtype=np.float32)[pos]
    return out
