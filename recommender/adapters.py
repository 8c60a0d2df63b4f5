"""Database -> engine: every rating as engine Interactions, DB user and movie ids as raw ids."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from django.db.models import BigIntegerField, Func, Max

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


def ratings_snapshot() -> RatingsSnapshot:
    """Every rating as an implicit positive (imported MovieLens raters included: they teach the
    model too). The cut-off is read first, so ratings arriving during the read stay out and the
    snapshot is exactly "everything up to `until`"."""
    started = time.perf_counter()
    until = Rating.objects.aggregate(until=Max("rated_at"))["until"]
    if until is None:
        empty = np.zeros(0, dtype=np.int64)
        return RatingsSnapshot(Interactions.from_arrays(empty, empty, empty), None, 0)
    rows = (
        Rating.objects.filter(rated_at__lte=until)
        .order_by()
        .annotate(ts=EpochSeconds("rated_at"))
        .values_list("user_id", "movie_id", "ts")
    )
    flat = np.fromiter(
        (value for row in rows.iterator(chunk_size=CHUNK_ROWS) for value in row), dtype=np.int64
    )
    table = flat.reshape(-1, 3)  # [n, 3]: user id, movie id, epoch seconds
    data = Interactions.from_arrays(table[:, 0], table[:, 1], table[:, 2])
    logger.info(
        "ratings snapshot: %d ratings, %d users, %d movies in %.2f s",
        table.shape[0],
        data.n_users,
        data.n_items,
        time.perf_counter() - started,
    )
    return RatingsSnapshot(interactions=data, until=until, n_ratings=int(table.shape[0]))
