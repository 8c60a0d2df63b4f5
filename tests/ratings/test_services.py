"""rating_upsert / rating_delete: one rating per pair, counts and means kept exact."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from ratings.models import Rating
from ratings.services import rating_delete, rating_upsert, score_parse
from tests.factories import MovieFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_rating_again_updates_the_one_rating_instead_of_duplicating() -> None:
    user, movie = UserFactory(), MovieFactory()

    rating_upsert(user=user, movie=movie, score="3.0")
    rating_upsert(user=user, movie=movie, score=4.5)

    assert list(Rating.objects.filter(user=user, movie=movie).values_list("score", flat=True)) == [
        Decimal("4.5")
    ]
    movie.refresh_from_db()
    assert (movie.rating_count, movie.rating_mean) == (1, pytest.approx(4.5))


def test_counts_and_means_follow_upserts_and_deletes() -> None:
    movie = MovieFactory()
    alice, bob = UserFactory(), UserFactory()
    rating_upsert(user=alice, movie=movie, score="5.0")
    rating_upsert(user=bob, movie=movie, score="2.0")
    movie.refresh_from_db()
    assert (movie.rating_count, movie.rating_mean) == (2, pytest.approx(3.5))

    assert rating_delete(user=alice, movie=movie) is True
    assert rating_delete(user=alice, movie=movie) is False
    movie.refresh_from_db()
    assert (movie.rating_count, movie.rating_mean) == (1, pytest.approx(2.0))

    rating_delete(user=bob, movie=movie)
    movie.refresh_from_db()
    assert (movie.rating_count, movie.rating_mean) == (0, 0.0)


@pytest.mark.parametrize("value", ["6", "0.3", "abc", None, "4.25", "nan"])
def test_bad_scores_are_refused_with_a_reason(value: object) -> None:
    user, movie = UserFactory(), MovieFactory()
    with pytest.raises(ValidationError):
        rating_upsert(user=user, movie=movie, score=value)
    assert not Rating.objects.exists()


def test_score_parse_accepts_numbers_and_strings() -> None:
    assert score_parse(4) == Decimal("4.0")
    assert score_parse("0.5") == Decimal("0.5")
