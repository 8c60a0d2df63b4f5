"""The rating stamp that keys every cached recommendation list (COUNT and MAX(rated_at) of a
user's ratings, recommender.selectors.user_rating_stamp) is answered from an index alone on
Postgres, however many films the user rated: no row of the table is read."""

from __future__ import annotations

import json

import pytest
from django.db import connection

from recommender import selectors
from tests.conftest import require_postgres
from tests.factories import MovieFactory, RatingFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


def _plan_nodes(plan: dict) -> list[dict]:
    nodes = [plan]
    for child in plan.get("Plans", []):
        nodes += _plan_nodes(child)
    return nodes


def test_the_rating_stamp_reads_the_user_and_rated_at_index_only() -> None:
    if connection.vendor != "postgresql":
        require_postgres("index-only scans are a Postgres plan (set DATABASE_URL)")
    user = UserFactory()
    for movie in MovieFactory.create_batch(30):
        RatingFactory(user=user, movie=movie)
    RatingFactory.create_batch(20)  # other users' ratings
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE ratings_rating")  # the visibility map: all rows visible
        # The tables of a test are tiny, where reading them whole is cheapest: ask whether the
        # index can answer, not whether the planner prefers it at this size.
        cursor.execute("SET enable_seqscan = off")
        cursor.execute("SET enable_bitmapscan = off")
        try:
            cursor.execute(
                "EXPLAIN (ANALYZE, FORMAT JSON) SELECT COUNT(*), MAX(rated_at) "
                "FROM ratings_rating WHERE user_id = %s",
                [user.pk],
            )
            (plan,) = cursor.fetchone()[0]
        finally:
            cursor.execute("RESET enable_seqscan")
            cursor.execute("RESET enable_bitmapscan")
    if isinstance(plan, str):
        plan = json.loads(plan)
    scans = [n for n in _plan_nodes(plan["Plan"]) if "Scan" in n["Node Type"]]
    assert [(n["Node Type"], n["Index Name"]) for n in scans] == [
        ("Index Only Scan", "rating_user_rated_at_idx")
    ]
    assert scans[0]["Heap Fetches"] == 0
    assert selectors.user_rating_stamp(user_id=user.pk)[0] == 30
