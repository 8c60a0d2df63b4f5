"""Scores are exact half steps from 0.5 to 5.0: anything off the grid is refused, never rounded."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from rest_framework.test import APIClient

from ratings.forms import RatingForm
from ratings.models import Rating
from ratings.services import score_parse
from tests.factories import MovieFactory, UserFactory

OFF_GRID = ["4.96", "0.46", "4.75", "4.51", "4.55", "0.54", "5.04", "4.50001", "1e0001"]
ON_GRID = [
    ("4.5", Decimal("4.5")),
    ("5", Decimal("5.0")),
    ("0.50", Decimal("0.5")),
    ("3.000", Decimal("3.0")),
]


@pytest.mark.parametrize("raw", OFF_GRID)
def test_an_off_grid_score_is_refused_not_rounded(raw: str) -> None:
    with pytest.raises(ValidationError):
        score_parse(raw)


@pytest.mark.parametrize(("raw", "expected"), ON_GRID)
def test_exact_half_steps_are_accepted_in_any_spelling(raw: str, expected: Decimal) -> None:
    assert score_parse(raw) == expected
    assert str(score_parse(raw)) == str(expected)


@pytest.mark.django_db
@pytest.mark.parametrize("score", [4.96, 0.46, 4.75, 4.999999])
def test_the_api_refuses_off_grid_scores(score: float) -> None:
    user, movie = UserFactory(), MovieFactory()
    client = APIClient()
    client.force_authenticate(user)
    response = client.put(f"/api/v1/me/ratings/{movie.pk}/", {"score": score}, format="json")
    assert response.status_code == 400, response.content
    assert list(response.json()["errors"]) == ["score"]
    assert not Rating.objects.filter(user=user, movie=movie).exists()


@pytest.mark.django_db
@pytest.mark.parametrize("raw", ["4.96", "0.46", "4.75"])
def test_the_page_refuses_off_grid_scores(client, raw: str) -> None:
    user, movie = UserFactory(), MovieFactory()
    client.force_login(user)
    response = client.post(
        reverse("ratings:rate", args=[movie.pk]), {"score": raw}, HTTP_ACCEPT="application/json"
    )
    assert response.status_code == 400
    assert not RatingForm(data={"score": raw}).is_valid()
    assert not Rating.objects.filter(user=user, movie=movie).exists()
