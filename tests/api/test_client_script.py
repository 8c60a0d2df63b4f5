"""examples/api_client.py run as a real process against a live server: sign up, rate, recommend."""

from __future__ import annotations

import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token

from ratings.models import Rating
from ratings.services import rating_upsert
from recommender.serving.edge import SOURCES
from tests.factories import GenreFactory, MovieFactory, UserFactory

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "api_client.py"
PICK_LINE = re.compile(
    r"^\s*(?P<rank>\d+)\. (?P<id>\d+) (?P<title>.+) \((?P<year>\d{4}|\?)\) "
    r"score=(?P<score>-?\d+\.\d{3}) source=(?P<source>\w+) reason=(?P<reason>.+)$"
)


def _catalog() -> list[Any]:
    """Twelve movies, each with one rating fewer than the one before: a strict popularity order."""
    comedy = GenreFactory(name="Comedy", slug="comedy")
    drama = GenreFactory(name="Drama", slug="drama")
    movies = [
        MovieFactory(title=f"Picture {i}", year=1980 + i, genres=[comedy if i % 2 else drama])
        for i in range(12)
    ]
    raters = [UserFactory(username=f"fan{j}") for j in range(len(movies))]
    for i, movie in enumerate(movies):
        for rater in raters[: len(movies) - i]:
            rating_upsert(user=rater, movie=movie, score=Decimal("4.0"))
    return movies


def _run(live_server: Any, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--base-url", live_server.url, *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.django_db(transaction=True)
def test_client_signs_up_rates_and_prints_recommendations(live_server: Any) -> None:
    movies = _catalog()
    done = _run(live_server, "--username", "script-user", "--scores", "5,4.5,1", "-k", "5")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()

    user = get_user_model().objects.get(username="script-user")
    assert lines[0] == f"signed up: script-user (id {user.pk})"

    # The three most popular movies were rated with the given scores, and the server kept them.
    rated = {r.movie_id: float(r.score) for r in Rating.objects.filter(user=user)}
    assert rated == {movies[0].pk: 5.0, movies[1].pk: 4.5, movies[2].pk: 1.0}
    assert lines[1:4] == [
        f"rated: {movies[0].pk} Picture 0 -> 5.0",
        f"rated: {movies[1].pk} Picture 1 -> 4.5",
        f"rated: {movies[2].pk} Picture 2 -> 1.0",
    ]

    assert lines[4] == "recommendations: 5"
    picks = [PICK_LINE.match(line) for line in lines[5:10]]
    assert all(picks), lines[5:10]
    ids = [int(p["id"]) for p in picks if p]
    assert len(set(ids)) == 5
    assert not set(ids) & set(rated), "rated movies are never recommended"
    titles = {m.pk: (m.title, str(m.year)) for m in movies}
    for pick in picks:
        assert pick is not None
        assert (pick["title"], pick["year"]) == titles[int(pick["id"])]
        assert pick["source"] in SOURCES
        assert pick["reason"].strip()
    assert [int(p["rank"]) for p in picks if p] == [1, 2, 3, 4, 5]

    assert lines[10:] == ["token revoked"]
    assert not Token.objects.filter(user=user).exists()


@pytest.mark.django_db(transaction=True)
def test_client_reports_the_api_error_and_fails(live_server: Any) -> None:
    _catalog()
    # Reserved prefix: the API refuses the sign-up; the script prints its JSON error and exits 1.
    done = _run(live_server, "--username", "movielens-42")
    assert done.returncode == 1
    assert done.stdout == ""
    assert "-> 400 reserved:" in done.stderr
    assert "'username'" in done.stderr
    assert not get_user_model().objects.filter(username="movielens-42").exists()


def test_client_says_when_the_server_cannot_be_reached() -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--base-url", "http://127.0.0.1:9"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "cannot reach http://127.0.0.1:9" in done.stderr
