"""A small catalog with a hostile title, a member with ratings, another member and staff."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import AbstractBaseUser

from catalog.models import Genre, Movie
from ratings.services import movie_stats_refresh, rating_upsert
from tests.conftest import reset_serving_state
from tests.factories import GenreFactory, MovieFactory, UserFactory

HOSTILE_TITLE = "<script>alert(1)</script><img src=x onerror=alert(2)>"
HOSTILE_ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt;"
PASSWORD = "correct-horse-battery"


@dataclass
class Site:
    genre: Genre
    hostile: Movie
    movies: list[Movie]
    member: AbstractBaseUser  # rated the hostile movie and movies[1]
    other: AbstractBaseUser  # rated movies[2] only
    staff: AbstractBaseUser


@pytest.fixture(autouse=True)
def _fresh_state(settings: Any) -> Iterator[None]:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.RECSITE_REGISTRY_CHECK_SECONDS = 3600
    settings.RECSITE_CATALOG_CHECK_SECONDS = 3600
    reset_serving_state()
    yield
    reset_serving_state()


@pytest.fixture
def site(db: None) -> Site:
    genre = GenreFactory(name="Thriller", slug="thriller")
    hostile = MovieFactory(title=HOSTILE_TITLE, year=2001, genres=[genre])
    movies = [hostile] + [MovieFactory(title=f"Calm {i}", genres=[genre]) for i in range(1, 8)]
    member = UserFactory(username="member", password=PASSWORD)
    other = UserFactory(username="other", password=PASSWORD)
    staff = UserFactory(username="chief", password=PASSWORD, is_staff=True)
    rating_upsert(user=member, movie=hostile, score=Decimal("4.5"))
    rating_upsert(user=member, movie=movies[1], score=Decimal("3.0"))
    rating_upsert(user=other, movie=movies[2], score=Decimal("2.0"))
    movie_stats_refresh(movie_ids=[m.pk for m in movies])
    return Site(genre, hostile, movies, member, other, staff)
