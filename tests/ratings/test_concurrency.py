"""Concurrent writes on Postgres: one rating per user and movie, and exact counts, under races."""

from __future__ import annotations

import threading
from collections.abc import Callable
from decimal import Decimal

import pytest
from django.db import connection, connections

from catalog.models import Movie
from ratings.models import Rating
from ratings.services import rating_upsert
from tests.conftest import require_postgres
from tests.factories import MovieFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _postgres() -> None:
    if connection.vendor != "postgresql":
        require_postgres("row locks are tested on Postgres (set DATABASE_URL)")


def _race(jobs: list[Callable[[], object]]) -> list[BaseException]:
    """Start every job at the same instant on its own connection; return the errors."""
    barrier = threading.Barrier(len(jobs))
    errors: list[BaseException] = []

    def run(job: Callable[[], object]) -> None:
        try:
            barrier.wait()
            job()
        except BaseException as exc:  # collected and asserted on by the test
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(job,)) for job in jobs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    return errors


def test_two_clients_rating_the_same_movie_at_once_leave_one_rating() -> None:
    user, movie = UserFactory(), MovieFactory()
    scores = ["2.0", "4.5"]

    for _ in range(5):
        errors = _race([lambda s=s: rating_upsert(user=user, movie=movie, score=s) for s in scores])
        assert errors == []
        assert Rating.objects.filter(user=user, movie=movie).count() == 1
        movie.refresh_from_db()
        assert movie.rating_count == 1
        assert Decimal(str(movie.rating_mean)) in {Decimal(s) for s in scores}


def test_many_users_rating_one_movie_at_once_keep_count_and_mean_exact() -> None:
    movie = MovieFactory()
    users = [UserFactory() for _ in range(8)]
    scores = [Decimal(n) / 2 for n in range(3, 11)]

    errors = _race(
        [
            lambda u=u, s=s: rating_upsert(user=u, movie=movie, score=s)
            for u, s in zip(users, scores, strict=True)
        ]
    )

    assert errors == []
    movie = Movie.objects.get(pk=movie.pk)
    assert movie.rating_count == len(users)
    assert movie.rating_mean == pytest.approx(float(sum(scores) / len(scores)))
