"""recommender.adapters: the ratings snapshot a training run sees, read by COPY or the ORM."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest
from django.db import connection

from recommender import adapters
from recommender.adapters import ratings_snapshot
from tests.factories import MovieFactory, RatingFactory, UserFactory

pytestmark = pytest.mark.django_db

T0 = datetime(2001, 9, 9, 1, 46, 40, tzinfo=UTC)  # 1,000,000,000 s


def _rate_a_small_world(micros_step: int = 0) -> list[tuple[int, int, int, float]]:
    users = UserFactory.create_batch(3)
    movies = MovieFactory.create_batch(4)
    expected = []
    for k, (u, m) in enumerate([(0, 0), (0, 2), (1, 1), (1, 2), (1, 3), (2, 0), (2, 3)]):
        score = Decimal(k % 10 + 1) / 2
        rated_at = T0 + timedelta(days=k, seconds=k, microseconds=k * micros_step)
        RatingFactory(user=users[u], movie=movies[m], score=score, rated_at=rated_at)
        expected.append((users[u].pk, movies[m].pk, int(rated_at.timestamp()), float(score)))
    return expected


def test_snapshot_holds_every_rating_with_its_time_and_score() -> None:
    expected = _rate_a_small_world()

    snapshot = ratings_snapshot()

    data = snapshot.interactions
    got = sorted(
        zip(
            data.users.ids[data.user_idx].tolist(),
            data.items.ids[data.item_idx].tolist(),
            data.timestamps.tolist(),
            snapshot.scores.tolist(),
            strict=True,
        )
    )
    assert got == sorted(expected)
    assert snapshot.n_ratings == len(expected)
    assert snapshot.until == T0 + timedelta(days=6, seconds=6)


def test_copy_reads_the_same_arrays_as_the_orm_in_small_pieces(monkeypatch) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("COPY is Postgres only: set DATABASE_URL=postgres://...")
    _rate_a_small_world(micros_step=150_000)  # fractions of a second round alike both ways
    until = T0 + timedelta(days=4, seconds=4, microseconds=600_000)  # the last two are later
    monkeypatch.setattr(adapters, "COPY_PARSE_BYTES", 70)  # rows split across writes

    by_copy = adapters._rating_arrays_copy(until)
    by_orm = adapters._rating_arrays_orm(until)

    order_copy = np.lexsort((by_copy[1], by_copy[0]))
    order_orm = np.lexsort((by_orm[1], by_orm[0]))
    assert len(by_copy[0]) == 5
    for a, b in zip(by_copy, by_orm, strict=True):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a[order_copy], b[order_orm])
