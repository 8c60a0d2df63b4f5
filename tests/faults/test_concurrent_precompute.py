"""One precompute chunk delivered twice at once (an acks_late redelivery while the first copy
still runs): the copies must not collide on the list's unique ranks, and one list remains."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from recommender.models import Recommendation
from recommender.services import precompute
from tests.faults.conftest import train_and_activate
from tests.recommender.conftest import RatingWorld

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("postgres_db")]

COPIES = 4


def _lists(version_id: int) -> dict[int, list[tuple[int, int]]]:
    rows = Recommendation.objects.filter(model_version_id=version_id).order_by("user_id", "rank")
    lists: dict[int, list[tuple[int, int]]] = {}
    for user_id, rank, movie_id in rows.values_list("user_id", "rank", "movie_id"):
        lists.setdefault(user_id, []).append((rank, movie_id))
    return lists


def test_the_same_chunk_written_by_several_workers_at_once_leaves_one_complete_list(
    rating_world: RatingWorld, pipeline_settings
) -> None:
    version = train_and_activate()
    expected = _lists(version.pk)
    users = sorted(expected)
    assert len(users) == len(rating_world.users)
    Recommendation.objects.filter(model_version_id=version.pk).delete()

    def deliver(start: threading.Barrier, errors: list[BaseException]) -> None:
        try:
            start.wait()
            precompute.recommendations_precompute_chunk(model_version_id=version.pk, user_ids=users)
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)
        finally:
            connection.close()

    for _round in range(3):
        start = threading.Barrier(COPIES)
        errors: list[BaseException] = []
        threads = [threading.Thread(target=deliver, args=(start, errors)) for _ in range(COPIES)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert not errors, errors
        # Whatever order the copies committed in, each user has the one deterministic list.
        assert _lists(version.pk) == expected
