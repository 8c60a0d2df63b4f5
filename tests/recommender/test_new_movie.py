"""New movies reach their audience: a movie added in the Django admin with genres and no rating
is scored from its content for the users whose taste it matches, has a "More like this" from
its genres, and joins the model (and its co-rating neighbours) at the next retrain."""

from __future__ import annotations

from decimal import Decimal

from django.urls import reverse
from rest_framework.test import APIClient

from catalog.models import Movie
from ratings.services import rating_upsert
from recommender.registry import serving_model
from recommender.serving.edge import home_rows_for_user, recommendations_for_user, similar_movies
from tests.factories import UserFactory
from tests.recommender import fixtures
from tests.recommender.fixtures import SyntheticWorld, train_version

_fresh_serving_state = fixtures._fresh_serving_state
serving_settings = fixtures.serving_settings
world = fixtures.world

ADD = reverse("admin:catalog_movie_add")


def _admin_add_movie(client, title: str, year: int, genre_ids: list[int]) -> Movie:
    """POST the admin's add form as a staff member would fill it in: title, year, genre rows."""
    form = client.get(ADD)
    assert form.status_code == 200
    prefix = form.context["inline_admin_formsets"][0].formset.prefix
    data = {
        "title": title,
        "year": str(year),
        "movielens_id": "",
        "imdb_id": "",
        "tmdb_id": "",
        "poster_path": "",
        "overview": "",
        f"{prefix}-TOTAL_FORMS": str(len(genre_ids)),
        f"{prefix}-INITIAL_FORMS": "0",
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
        "_save": "Save",
    }
    for n, genre_id in enumerate(genre_ids):
        data[f"{prefix}-{n}-genre"] = str(genre_id)
    response = client.post(ADD, data)
    errors = response.context["adminform"].errors if response.context else None
    assert response.status_code == 302, errors
    return Movie.objects.get(title=title)


def _fan(world: SyntheticWorld, cluster: str, username: str):
    """12 films of the cluster rated 4.5 stars, 2 of another kind 1 star."""
    user = UserFactory(username=username)
    other = next(c for c in world.movies if c != cluster)
    for movie in world.movies[cluster][:12]:
        rating_upsert(user=user, movie=movie, score=Decimal("4.5"))
    for movie in world.movies[other][:2]:
        rating_upsert(user=user, movie=movie, score=Decimal("1.0"))
    return user


def test_a_movie_added_in_the_admin_reaches_its_audience_and_joins_the_model_at_retrain(
    world: SyntheticWorld, client
):
    train_version(world, seed=0)
    comedy_fan = _fan(world, "Comedy", "comedy-fan")
    action_fan = _fan(world, "Action", "action-fan")
    staff = UserFactory(username="editor", is_staff=True, is_superuser=True)
    client.force_login(staff)

    movie = _admin_add_movie(client, "Fresh comedy", 2025, [world.genres["Comedy"].pk])
    assert list(movie.genres.all()) == [world.genres["Comedy"]]
    assert movie.rating_count == 0

    # Its audience gets it from its content, through the API the apps read; others do not.
    api = APIClient()
    api.force_authenticate(comedy_fan)
    response = api.get("/api/v1/me/recommendations/?k=10")
    assert response.status_code == 200
    assert movie.pk in [row["movie"]["id"] for row in response.json()]
    assert movie.pk in [i.movie.pk for i in recommendations_for_user(comedy_fan, 10)]
    assert movie.pk not in [i.movie.pk for i in recommendations_for_user(action_fan, 10)]
    top_row = home_rows_for_user(comedy_fan)[0]
    assert movie.pk in [i.movie.pk for i in top_row.items], top_row.title

    # More like this, before any rating: its genres (the model never saw it).
    similar = similar_movies(movie, 8)
    assert len(similar) == 8
    assert {i.source for i in similar} == {"content"}
    assert all(world.cluster_of(i.movie.pk) == "Comedy" for i in similar)
    response = APIClient().get(f"/api/v1/movies/{movie.pk}/similar/?k=8")
    assert response.status_code == 200
    assert [row["movie"]["id"] for row in response.json()] == [i.movie.pk for i in similar]

    # Comedy raters like it; the next retrain takes it in, with co-rating neighbours.
    raters = world.users[2 * fixtures.USERS_PER_CLUSTER : 2 * fixtures.USERS_PER_CLUSTER + 8]
    for rater in raters:
        rating_upsert(user=rater, movie=movie, score=Decimal("4.5"))
    train_version(world, seed=1)
    served = serving_model()
    assert served is not None
    assert served.version_id == world.versions[-1].pk
    assert movie.pk in served.items.ids.tolist()
    similar = similar_movies(movie, 8)
    assert "ncf" in {i.source for i in similar}
    assert all(world.cluster_of(i.movie.pk) == "Comedy" for i in similar)
