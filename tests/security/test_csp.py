"""Every response carries a strict Content-Security-Policy; inline scripts need its nonce."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from django.test import Client
from django.urls import reverse

from tests.security.conftest import Site

STRICT = {
    "default-src": "'self'",
    "img-src": "'self' data: https://image.tmdb.org",
    "style-src": "'self'",
    "frame-ancestors": "'none'",
    "form-action": "'self'",
    "base-uri": "'self'",
    "object-src": "'none'",
}


def policy(response) -> dict[str, str]:
    header = response["Content-Security-Policy"]
    pairs = (part.strip().split(" ", 1) for part in header.split(";") if part.strip())
    return {pair[0]: pair[1] for pair in pairs}


class InlineCode(HTMLParser):
    """Collects inline <script>s (with their nonce), <style> elements and on* handlers."""

    def __init__(self) -> None:
        super().__init__()
        self.script_nonces: list[str | None] = []
        self.styles = 0
        self.handlers: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        self.handlers += [name for name, _ in attrs if name.startswith("on")]
        if tag == "script" and "src" not in named and named.get("type") != "application/json":
            self.script_nonces.append(named.get("nonce"))
        if tag == "style":
            self.styles += 1


def _pages(site: Site) -> dict[str, list[str]]:
    movie = site.hostile.pk
    public = [
        reverse("catalog:home"),
        reverse("catalog:home-rows"),
        reverse("catalog:movie-detail", args=[movie]),
        reverse("catalog:search") + "?q=calm",
        reverse("catalog:genre-list"),
        reverse("catalog:genre-detail", args=[site.genre.slug]),
        reverse("login"),
        reverse("ratings:signup"),
        reverse("password_reset"),
        "/no-such-page/",
    ]
    member = [
        reverse("catalog:home"),
        reverse("catalog:movie-detail", args=[movie]),
        reverse("ratings:my-ratings"),
        reverse("ratings:onboarding"),
        reverse("ratings:onboarding-rate"),
        reverse("password_change"),
    ]
    staff = [reverse("recommender:dashboard"), reverse("admin:index")]
    return {"anonymous": public, "member": member, "staff": staff}


def _client_for(site: Site, who: str) -> Client:
    client = Client()
    if who != "anonymous":
        client.force_login(site.member if who == "member" else site.staff)
    return client


@pytest.mark.django_db
def test_every_page_has_the_strict_policy_and_no_unapproved_inline_code(site: Site) -> None:
    checked = inline_scripts = 0
    for who, urls in _pages(site).items():
        client = _client_for(site, who)
        for url in urls:
            response = client.get(url)
            assert response.status_code in (200, 404), (who, url, response.status_code)
            found = policy(response)
            for name, value in STRICT.items():
                assert found[name] == value, (who, url, name, found)
            nonce = re.fullmatch(r"'self' 'nonce-([A-Za-z0-9_-]{16,})'", found["script-src"])
            assert nonce, (url, found["script-src"])
            assert "unsafe-inline" not in found["script-src"]
            code = InlineCode()
            code.feed(response.content.decode())
            # Each inline script carries this response's nonce; nothing else inline may run.
            assert all(n == nonce.group(1) for n in code.script_nonces), (url, code.script_nonces)
            assert code.styles == 0, url
            assert code.handlers == [], (url, code.handlers)
            checked += 1
            inline_scripts += len(code.script_nonces)
    assert inline_scripts > 0  # the parser does see base.html's and the dashboard's scripts
    assert checked == sum(len(urls) for urls in _pages(site).values())


@pytest.mark.django_db
def test_the_nonce_is_fresh_on_every_response(client: Client, site: Site) -> None:
    first = policy(client.get(reverse("catalog:home")))["script-src"]
    second = policy(client.get(reverse("catalog:home")))["script-src"]
    assert first != second


@pytest.mark.django_db
def test_json_svg_and_api_responses_carry_the_policy_too(client: Client, site: Site) -> None:
    client.force_login(site.member)
    urls = [
        reverse("catalog:suggest") + "?q=calm",
        reverse("catalog:poster-placeholder", args=[site.hostile.pk]),
        "/api/v1/movies/",
        f"/api/v1/movies/{site.hostile.pk}/",
        "/api/v1/me/ratings/",
        "/api/v1/me/recommendations/",
        "/api/v1/schema/",
        "/api/v1/nowhere/",  # the API's JSON 404
    ]
    for url in urls:
        response = client.get(url)
        assert response.status_code in (200, 404), (url, response.status_code)
        assert policy(response)["default-src"] == "'self'", url
        assert policy(response)["frame-ancestors"] == "'none'", url
    # Refusals too: an anonymous API call.
    anonymous = Client().get("/api/v1/me/ratings/")
    assert anonymous.status_code == 401
    assert policy(anonymous)["script-src"].startswith("'self' 'nonce-")


@pytest.mark.django_db
def test_swagger_ui_gets_its_own_policy_and_still_no_other_origin(client: Client) -> None:
    response = client.get(reverse("api:docs"))
    assert response.status_code == 200
    found = policy(response)
    # Its inline bootstrap embeds the CSRF token, so it cannot be hashed; same origin only.
    assert found["script-src"] == "'self' 'unsafe-inline'"
    assert found["default-src"] == "'self'"
    assert found["frame-ancestors"] == "'none'"
    html = response.content.decode()
    assert not re.search(r'src="https?://', html)  # the sidecar serves Swagger UI itself
