"""The database itself refuses bad ratings: one per user and movie, half stars 0.5 to 5.0."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction

from ratings.models import Rating
from tests.factories import MovieFactory, RatingFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_a_second_raw_rating_of_the_same_movie_by_the_same_user_is_refused() -> None:
    rating = RatingFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        RatingFactory(user=rating.user, movie=rating.movie, score=Decimal("2.0"))
    assert Rating.objects.filter(user=rating.user, movie=rating.movie).count() == 1


@pytest.mark.parametrize("score", ["6.0", "0.3", "0.0", "5.5", "-1.0", "2.2"])
def test_the_database_refuses_scores_off_the_half_star_scale(score: str) -> None:
    user, movie = UserFactory(), MovieFactory()
    with pytest.raises(IntegrityError), transaction.atomic():
        # bulk_create skips model validation: only the database constraint stands in the way.
        Rating.objects.bulk_create(
            [RatingFactory.build(user=user, movie=movie, score=Decimal(score))]
        )
    assert not Rating.objects.filter(user=user, movie=movie).exists()


@pytest.mark.parametrize("score", ["0.5", "1.0", "3.5", "5.0"])
def test_the_database_accepts_every_half_star(score: str) -> None:
    rating = RatingFactory(score=Decimal(score))
    rating.refresh_from_db()
    assert rating.score == Decimal(score)


def test_movielens_id_is_unique_but_may_be_missing() -> None:
    MovieFactory(movielens_id=None)
    MovieFactory(movielens_id=None)
    MovieFactory(movielens_id=7)
    with pytest.raises(IntegrityError), transaction.atomic():
        MovieFactory(movielens_id=7)
