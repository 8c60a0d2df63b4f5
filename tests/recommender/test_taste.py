"""Picks follow a user's taste in a catalog where one kind of film is popular with everyone:
online after many ratings, and in the precomputed list after a retrain that includes them."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model

from ratings.models import Rating
from ratings.services import movie_stats_refresh, rating_upsert
from recommender.services.precompute import model_version_precompute
from recommender.serving.edge import recommendations_for_user
from tests.factories import UserFactory
from tests.recommender import fixtures
from tests.recommender.fixtures import SyntheticWorld, train_version

_fresh_serving_state = fixtures._fresh_serving_state
serving_settings = fixtures.serving_settings
world = fixtures.world
POPULAR_RATERS = 60


@pytest.fixture
def blockbuster_world(world: SyntheticWorld) -> SyntheticWorld:
    """The clustered world plus raters who rate only the Action films: Action is what
    everyone has seen, so the bare model ranks it first for nearly anybody."""
    users = get_user_model().objects.bulk_create(
        get_user_model()(username=f"ml-fan-{u}", is_active=False, password="!")
        for u in range(POPULAR_RATERS)
    )
    if users[0].pk is None:
        users = list(get_user_model().objects.filter(username__startswith="ml-fan-"))
    action = world.movies["Action"]
    rows = [
        Rating(
            user=user,
            movie=movie,
            score=Decimal("4.0"),
            rated_at=world.trained_until - timedelta(minutes=u * 20 + j + 1),
        )
        for u, user in enumerate(users)
        for j, movie in enumerate(action[:15])
    ]
    Rating.objects.bulk_create(rows)
    movie_stats_refresh(movie_ids=[m.pk for m in action])
    return world


def _taste_user(world: SyntheticWorld):
    """12 Comedy films rated highly, 3 Action films 1 star."""
    user = UserFactory()
    liked = world.movies["Comedy"][:12]
    disliked = world.movies["Action"][:3]
    for movie in liked:
        rating_upsert(user=user, movie=movie, score=Decimal("4.5"))
    for movie in disliked:
        rating_upsert(user=user, movie=movie, score=Decimal("1.0"))
    return user, {m.pk for m in liked + disliked}


def _matches(world: SyntheticWorld, items) -> int:
    return sum(world.cluster_of(i.movie.pk) == "Comedy" for i in items)


def test_online_picks_follow_the_taste_after_many_ratings(blockbuster_world: SyntheticWorld):
    train_version(blockbuster_world, seed=0)
    user, rated = _taste_user(blockbuster_world)
    items = recommendations_for_user(user, 10)
    assert len(items) == 10
    assert {i.source for i in items} == {"ncf"}  # past the cold-start ramp: the model decides
    assert not rated & {i.movie.pk for i in items}
    assert _matches(blockbuster_world, items) >= 7, [i.movie.title for i in items]


def test_precomputed_picks_follow_the_taste_after_a_retrain(blockbuster_world: SyntheticWorld):
    user, rated = _taste_user(blockbuster_world)
    version = train_version(blockbuster_world, seed=0)  # the retrain includes the user
    model_version_precompute(model_version_id=version.pk)
    items = recommendations_for_user(user, 10)
    served_ids = [i.movie.pk for i in items]
    assert (
        served_ids
        == list(
            version.recommendations.filter(user=user)
            .order_by("rank")
            .values_list("movie_id", flat=True)
        )[:10]
    )  # the precomputed list, not an online score
    assert {i.source for i in items} == {"ncf"}
    assert not rated & {i.movie.pk for i in items}
    assert _matches(blockbuster_world, items) >= 7, [i.movie.title for i in items]


def test_a_new_movie_reaches_the_users_whose_taste_it_matches(world: SyntheticWorld):
    """A movie added with genres and no rating is scored from its content: on the home page
    (rows top to bottom) it comes before the other new movie for the users of its kind."""
    from tests.factories import MovieFactory

    train_version(world, seed=0)
    new_comedy = MovieFactory(title="Fresh comedy", genres=[world.genres["Comedy"]])
    new_action = MovieFactory(title="Fresh action", genres=[world.genres["Action"]])
    comedy_fan, _ = _taste_user(world)
    action_fan = UserFactory()
    for movie in world.movies["Action"][:12]:
        rating_upsert(user=action_fan, movie=movie, score=Decimal("4.5"))

    from recommender.serving.edge import home_rows_for_user

    def arrivals(user) -> list[int]:
        ids = [i.movie.pk for r in home_rows_for_user(user) for i in r.items]
        return list(dict.fromkeys(pk for pk in ids if pk in (new_comedy.pk, new_action.pk)))

    assert arrivals(comedy_fan) == [new_comedy.pk, new_action.pk]
    assert arrivals(action_fan) == [new_action.pk, new_comedy.pk]
    top = [i.movie.pk for i in recommendations_for_user(comedy_fan, 20)]
    assert new_action.pk not in top
