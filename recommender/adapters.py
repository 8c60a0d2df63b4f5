"""Database -> engine: every rating as engine Interactions, DB user and movie ids as raw ids.

On Postgres the ratings come as one COPY ... TO STDOUT (FORMAT binary) of four 8-byte columns,
parsed with NumPy a few MiB at a time (tens of millions of ratings in seconds, no Python object
per row); elsewhere the ORM streams them in chunks."""

from __future__ import annotations

import logging
import resource
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
from django.db import connection
from django.db.models import BigIntegerField, FloatField, Func, Max
from django.db.models.functions import Cast
from numpy.typing import NDArray

from ratings.models import Rating
from recommender.engine.data import Interactions

logger = logging.getLogger(__name__)

CHUNK_ROWS = 50_000
COPY_PARSE_BYTES = 8 << 20


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
    if connection.vendor == "postgresql":
        users, movies, seconds, stars = _rating_arrays_copy(until)
    else:
        users, movies, seconds, stars = _rating_arrays_orm(until)
    data, rows = Interactions.from_arrays_with_rows(users, movies, seconds)
    scores = np.asarray(stars, dtype=np.float32)[rows]  # a rating is unique per user and movie
    logger.info(
        "ratings snapshot: %d ratings, %d users, %d movies in %.2f s (peak RSS %d MiB)",
        users.shape[0],
        data.n_users,
        data.n_items,
        time.perf_counter() - started,
        resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
    )
    return RatingsSnapshot(
        interactions=data, until=until, n_ratings=int(users.shape[0]), scores=scores
    )


_Arrays = tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]


def _rating_arrays_orm(until: datetime) -> _Arrays:
    """User ids, movie ids, epoch seconds and scores of the ratings up to `until`: [n] each."""
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
    ids = table[:, :3].astype(np.int64)  # [n, 3]
    return ids[:, 0].copy(), ids[:, 1].copy(), ids[:, 2].copy(), table[:, 3].copy()


def _rating_arrays_copy(until: datetime) -> _Arrays:
    """_rating_arrays_orm's arrays from one binary COPY, in the same row order (none)."""
    sink = _BinaryCopyColumns()
    with connection.cursor() as cursor:
        raw = cursor.cursor if hasattr(cursor, "cursor") else cursor
        sql = raw.mogrify(
            # rated_at goes as it is (8 bytes, microseconds since 2000): EXTRACT(EPOCH) per row
            # would cost the server as much again as the whole scan.
            "COPY (SELECT user_id::bigint, movie_id::bigint, rated_at, score::float8 "
            "FROM ratings_rating "
            "WHERE rated_at <= %s) TO STDOUT (FORMAT binary)",
            [until],
        ).decode()
        raw.copy_expert(sql, sink, size=1 << 20)
    return sink.columns()


POSTGRES_EPOCH = 946_684_800  # 2000-01-01 in Unix seconds: where binary timestamps count from


def _epoch_seconds(micros: NDArray[Any]) -> NDArray[np.int64]:
    """Binary timestamptz values (microseconds since 2000) as Unix seconds, rounded half away
    from zero as EXTRACT(EPOCH ...)::bigint rounds them: [n]."""
    micros = micros.astype(np.int64)
    seconds = (np.abs(micros) + 500_000) // 1_000_000 * np.sign(micros)
    return seconds + POSTGRES_EPOCH


class _BinaryCopyColumns:
    """A file for COPY ... TO STDOUT (FORMAT binary) of four non-null 8-byte columns (bigint,
    bigint, timestamptz, float8): every row is 50 bytes, so whole rows are read straight into
    NumPy columns as the data arrives, a few MiB at a time. The driver writes one row a call,
    so write() only keeps the bytes."""

    SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
    ROW = np.dtype(
        [("fields", ">i2")]
        + [
            (f"{name}{part}", kind)
            for name, kind in (("user", ">i8"), ("movie", ">i8"), ("ts", ">i8"), ("score", ">f8"))
            for part, kind in (("_len", ">i4"), ("", kind))
        ]
    )
    TRAILER = b"\xff\xff"

    def __init__(self) -> None:
        self._pieces: list[bytes] = []
        self._pending = 0
        self._buffer = b""
        self._header_read = False
        self._parts: list[tuple[NDArray[Any], ...]] = []

    def write(self, data: bytes) -> None:
        self._pieces.append(data)
        self._pending += len(data)
        if self._pending >= COPY_PARSE_BYTES:
            self._parse()

    def columns(self) -> _Arrays:
        self._parse()
        if not self._header_read or bytes(self._buffer) != self.TRAILER:
            raise ValueError("COPY's binary output ended unexpectedly")
        if not self._parts:
            empty = np.zeros(0, dtype=np.int64)
            return empty, empty, empty, np.zeros(0, dtype=np.float64)
        user, movie, ts, score = (np.concatenate(part) for part in zip(*self._parts, strict=True))
        return user, movie, ts, score

    def _parse(self) -> None:
        self._buffer += b"".join(self._pieces)
        self._pieces.clear()
        self._pending = 0
        start = 0
        if not self._header_read:
            if len(self._buffer) < 19:
                return
            if bytes(self._buffer[:11]) != self.SIGNATURE:
                raise ValueError("not COPY binary output")
            start = 19 + int.from_bytes(self._buffer[15:19], "big")  # header extension
            self._header_read = True
        count = (len(self._buffer) - start) // self.ROW.itemsize
        if count:
            rows = np.frombuffer(self._buffer, dtype=self.ROW, count=count, offset=start)
            if (rows["fields"] != 4).any():
                raise ValueError("COPY's binary output has a row of other than 4 fields")
            self._parts.append(
                (
                    rows["user"].astype(np.int64),
                    rows["movie"].astype(np.int64),
                    _epoch_seconds(rows["ts"]),
                    rows["score"].astype(np.float64),
                )
            )
        self._buffer = self._buffer[start + count * self.ROW.itemsize :]
