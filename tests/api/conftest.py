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
from recommender.registry import registry
from tests.factories import GenreFactory, MovieFactory, UserFactory

PASSWORD = "correct-horse-battery"


@pytest.fixture(autouse=True)
def _fresh_throttles() -> None:
    """Throttle counters live in the cache; each test starts with none (429s are tested apart)."""
    cache.clear()


@pytest.fixture(autouse=True)
def _fresh_registry() -> None:
    """The model registry is a per-process cache keyed by version ids; each API test starts
    with none loaded (tests/conftest.py clears the catalog snapshot for every test)."""
    registry.reset()


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
