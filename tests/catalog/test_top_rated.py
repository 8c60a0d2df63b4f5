"""A genre's "Top rated" ranks by a damped (Bayesian) mean, not the raw mean."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from catalog.selectors import movie_list
from ratings.services import rating_upsert
from tests.factories import GenreFactory, MovieFactory, UserFactory


@pytest.mark.django_db
def test_two_five_star_ratings_do_not_outrank_thirty_good_ones(client) -> None:
    drama = GenreFactory(name="Drama", slug="drama")
    few = MovieFactory(title="Two Fans Only", genres=[drama])
    many = MovieFactory(title="Loved By Many", genres=[drama])
    panned = MovieFactory(title="Widely Panned", genres=[drama])
    raters = [UserFactory() for _ in range(30)]
    for user in raters[:2]:
        rating_upsert(user=user, movie=few, score=Decimal("5.0"))
    for user in raters:
        rating_upsert(user=user, movie=many, score=Decimal("4.5"))
        rating_upsert(user=user, movie=panned, score=Decimal("2.0"))

    ranked = [m.title for m in movie_list(genre="drama", ordering="rating")]
    assert ranked == ["Loved By Many", "Two Fans Only", "Widely Panned"]

    page = client.get(reverse("catalog:genre-detail", args=["drama"]), {"sort": "rating"})
    html = page.content.decode()
    assert page.status_code == 200
    assert html.index("Loved By Many") < html.index("Two Fans Only") < html.index("Widely Panned")
