"""Branded error pages, the favicon route, and the TMDB credit only where TMDB data is shown."""

from __future__ import annotations

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db


def test_missing_page_is_the_sites_404_with_a_way_back(settings) -> None:
    settings.DEBUG = False
    response = Client().get("/movies/999999999/")
    assert response.status_code == 404
    body = response.content.decode()
    assert "This page is not here" in body
    assert 'href="/"' in body or "Back to the home page" in body
    assert "site.css" in body  # the site's design, not Django's bare "Not Found"


def test_favicon_route_points_at_the_static_icon() -> None:
    response = Client().get("/favicon.ico")
    assert response.status_code == 301
    assert response["Location"].endswith("img/favicon.ico")


def test_tmdb_credit_shows_only_with_tmdb_credentials(settings) -> None:
    settings.TMDB_API_KEY = ""
    settings.TMDB_READ_TOKEN = ""
    assert "TMDB API" not in Client().get("/").content.decode()
    settings.TMDB_API_KEY = "key"
    assert "TMDB API" in Client().get("/").content.decode()
