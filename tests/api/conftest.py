"""Fixtures of the API tests: a small catalog, a rater, another user, staff, token clients."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import AbstractBaseUser
from django.core.cache import cache
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from catalog.models import Genre, Movie
from ratings.services import rating_upsert
from recommender.coldstart import catalog_snapshot_clear
from recommender.registry import registry
from tests.factories import GenreFactory, MovieFactory, UserFactory

PASSWORD = "correct-horse-battery"


@pytest.fixture(autouse=True)
def _fresh_throttles() -> None:
    """Throttle counters live in the cache; each test starts with none (429s are tested apart)."""
    cache.clear()


@pytest.fixture(autouse=True)
def _fresh_serving_state() -> None:
    """The catalog snapshot and the model registry are per-process caches keyed by movie ids;
    on Postgres ids are not reused between tests, so a snapshot left by the last test would
    know none of this test's movies."""
    registry.reset()
    catalog_snapshot_clear()


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: Any) -> None:
    # PBKDF2 costs a second per test here; the tests are about the API, not hashing.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@dataclass
class World:
    comedy: Genre
    drama: Genre
    movies: list[Movie]
    rater: AbstractBaseUser  # has rated movies[0] 4.5 and movies[1] 3.0
    other: AbstractBaseUser
    staff: AbstractBaseUser


@pytest.fixture
def world(db: None) -> World:
    comedy = GenreFactory(name="Comedy", slug="comedy")
    drama = GenreFactory(name="Drama", slug="drama")
    movies = [
        MovieFactory(title=f"Film {i}", year=1990 + i, genres=[comedy if i % 2 else drama])
        for i in range(6)
    ]
    rater = UserFactory(username="rater", password=PASSWORD)
    other = UserFactory(username="other", password=PASSWORD)
    staff = UserFactory(username="boss", password=PASSWORD, is_staff=True)
    rating_upsert(user=rater, movie=movies[0], score=Decimal("4.5"))
    rating_upsert(user=rater, movie=movies[1], score=Decimal("3.0"))
    return World(comedy, drama, movies, rater, other, staff)


def token_client(user: AbstractBaseUser | None) -> APIClient:
    client = APIClient()
    if user is not None:
        token, _ = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client
