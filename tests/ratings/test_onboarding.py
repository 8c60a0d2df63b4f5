"""Onboarding step 2: starter films from the picked genres, and a counter that makes sense."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from ratings.models import Rating
from ratings.services import movie_stats_refresh, rating_upsert
from tests.catalog.test_views import _fresh_serving_state  # noqa: F401
from tests.factories import GenreFactory, MovieFactory, UserFactory

pytestmark = pytest.mark.django_db
RATE_URL = "ratings:onboarding-rate"


@pytest.fixture
def member(client):
    user = UserFactory(username="alice")
    client.force_login(user)
    return user


def _with_ratings(movies, counts):
    """Give each movie the given number of ratings from imported-style raters."""
    raters = [UserFactory(username=f"ml-{n}", is_active=False) for n in range(max(counts))]
    now = timezone.now()
    rows = [
        Rating(user=raters[r], movie=movie, score=Decimal("4.0"), rated_at=now - timedelta(hours=r))
        for movie, count in zip(movies, counts, strict=True)
        for r in range(count)
    ]
    Rating.objects.bulk_create(rows)
    movie_stats_refresh(movie_ids=[m.pk for m in movies])


@pytest.fixture
def shelf():
    """30 popular dramas above 10 animated, 10 children's and 4 animated children's films."""
    drama, animation, children = (GenreFactory(name=n) for n in ("Drama", "Animation", "Children"))
    dramas = [MovieFactory(title=f"Drama {i}", genres=[drama]) for i in range(30)]
    animated = [MovieFactory(title=f"Animated {i}", genres=[animation]) for i in range(10)]
    kids = [MovieFactory(title=f"Kids {i}", genres=[children]) for i in range(10)]
    both = [MovieFactory(title=f"Family {i}", genres=[animation, children]) for i in range(4)]
    movies = dramas + animated + kids + both
    _with_ratings(movies, [40 - i for i in range(30)] + [9] * 10 + [8] * 10 + [7] * 4)
    return {"drama": drama, "animation": animation, "children": children, "movies": movies}


def _pick(client, *genres):
    response = client.post(reverse("ratings:onboarding"), {"genres": [g.pk for g in genres]})
    assert response["Location"] == reverse(RATE_URL)


def _genre_names(movie):
    return {g.name for g in movie.genres.all()}


def test_starter_films_come_from_the_picked_genres_in_a_mix(client, member, shelf):
    _pick(client, shelf["animation"], shelf["children"])
    movies = client.get(reverse(RATE_URL)).context["movies"]
    assert len(movies) == 24
    assert all(_genre_names(m) & {"Animation", "Children"} for m in movies)
    # Both genres are in the first few films, not one genre first and the other after it.
    first = movies[:6]
    assert any("Animation" in _genre_names(m) and "Children" not in _genre_names(m) for m in first)
    assert any("Children" in _genre_names(m) and "Animation" not in _genre_names(m) for m in first)
    assert len({m.pk for m in movies}) == len(movies)


def test_starter_films_are_most_rated_first_within_a_genre(client, member, shelf):
    _pick(client, shelf["children"])
    movies = client.get(reverse(RATE_URL)).context["movies"]
    kids = [m for m in movies if "Children" in _genre_names(m)]
    assert len(kids) == 14
    assert [m.rating_count for m in kids] == sorted((m.rating_count for m in kids), reverse=True)
    # Too few children's films for the grid: the most-rated other films fill it up, after them.
    assert movies[:14] == kids
    assert [m.title for m in movies[14:]] == [f"Drama {i}" for i in range(10)]


def test_films_already_rated_are_not_offered(client, member, shelf):
    animated = [m for m in shelf["movies"] if m.title.startswith("Animated")][:3]
    for movie in animated:
        rating_upsert(user=member, movie=movie, score=Decimal("4.5"))
    _pick(client, shelf["animation"])
    movies = client.get(reverse(RATE_URL)).context["movies"]
    assert not {m.pk for m in movies} & {m.pk for m in animated}
    assert sum("Animation" in _genre_names(m) for m in movies) == 11


def test_without_a_pick_the_most_rated_films_are_offered(client, member, shelf):
    for movie in shelf["movies"][:2]:
        rating_upsert(user=member, movie=movie, score=Decimal("3.0"))
    movies = client.get(reverse(RATE_URL)).context["movies"]
    assert [m.title for m in movies] == [f"Drama {i}" for i in range(2, 26)]


def _progress_text(response) -> str:
    html = response.content.decode()
    match = re.search(r"<p [^>]*data-onboarding-progress[^>]*>(.*?)</p>", html, re.S)
    assert match, "no progress counter on the page"
    return " ".join(re.sub(r"<[^>]+>", "", match.group(1)).split())


@pytest.mark.parametrize(
    ("n_rated", "text", "done"),
    [
        (0, "0 of 5 rated — 5 to go", False),
        (3, "3 of 5 rated — 2 to go", False),
        (5, "5 of 5 rated — you're set", True),
        (14, "5 of 5 rated — you're set (14 so far)", True),
    ],
)
def test_the_counter_counts_up_to_the_goal(client, member, shelf, n_rated, text, done):
    for movie in shelf["movies"][:n_rated]:
        rating_upsert(user=member, movie=movie, score=Decimal("4.0"))
    response = client.get(reverse(RATE_URL))
    assert _progress_text(response) == text
    assert response.context["can_finish"] is done
    assert ('class="progress done"' in response.content.decode()) is done
