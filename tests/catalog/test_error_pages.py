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


def test_a_form_sent_without_its_csrf_token_gets_the_branded_expired_page(settings) -> None:
    settings.DEBUG = False
    client = Client(enforce_csrf_checks=True)
    response = client.post("/accounts/login/", {"username": "someone", "password": "wrong"})
    assert response.status_code == 403
    body = response.content.decode()
    assert "That form has expired" in body
    assert 'class="error-card"' in body
    assert "site.css" in body
    assert "CSRF verification failed" not in body  # not Django's own page


def test_permission_denied_is_the_sites_403_with_a_way_to_log_in(settings, monkeypatch) -> None:
    from django.core.exceptions import PermissionDenied

    def refuse(*args, **kwargs):
        raise PermissionDenied

    settings.DEBUG = False
    monkeypatch.setattr("catalog.views.page_feed", refuse)
    response = Client().get("/")
    assert response.status_code == 403
    body = response.content.decode()
    assert "You cannot open this page" in body
    assert "/accounts/login/?next=/" in body
    assert 'class="error-code"' in body


def test_a_crash_is_the_sites_500_without_a_request_context(settings, monkeypatch) -> None:
    def crash(*args, **kwargs):
        raise RuntimeError("boom")

    settings.DEBUG = False
    monkeypatch.setattr("catalog.views.page_feed", crash)
    response = Client(raise_request_exception=False).get("/")
    assert response.status_code == 500
    body = response.content.decode()
    assert "Something went wrong on our side" in body
    assert 'class="error-actions"' in body
    assert "boom" not in body


def test_error_page_classes_are_styled() -> None:
    from pathlib import Path

    from django.conf import settings

    css = (Path(settings.BASE_DIR) / "static" / "css" / "site.css").read_text()
    for selector in (".error-card", ".error-code", ".error-actions", ".empty-state"):
        assert f"\n{selector} {{" in css or f"\n{selector}," in css, selector


def test_a_lost_database_is_the_sites_503_page(settings, monkeypatch) -> None:
    from django.db import OperationalError

    def lost(*args, **kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    settings.DEBUG = False
    monkeypatch.setattr("catalog.views.page_feed", lost)
    response = Client(raise_request_exception=False).get("/")
    assert response.status_code == 503
    assert response["Retry-After"]
    body = response.content.decode()
    assert "Back in a moment" in body
    assert 'class="error-card"' in body
    assert "server closed the connection" not in body
