"""Hostile titles render escaped on every page; fuzzed rating posts and searches never 500."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ratings.models import Rating
from recommender.models import TrainingRun
from tests.security.conftest import HOSTILE_ESCAPED, HOSTILE_TITLE, Site

pytestmark = pytest.mark.django_db

RAW_MARKUP = ("<script>alert(1)", "<img src=x onerror")


def _assert_escaped(html: str, where: str) -> None:
    for raw in RAW_MARKUP:
        assert raw not in html, where
    assert HOSTILE_ESCAPED in html, where


def test_a_hostile_title_is_escaped_on_every_page(site: Site) -> None:
    member = Client()
    member.force_login(site.member)
    pages = {
        "home": reverse("catalog:home"),
        "home rows": reverse("catalog:home-rows"),
        "detail": reverse("catalog:movie-detail", args=[site.hostile.pk]),
        "search": reverse("catalog:search") + "?q=script",
        "genre": reverse("catalog:genre-detail", args=[site.genre.slug]),
        "my ratings": reverse("ratings:my-ratings"),
    }
    for where, url in pages.items():
        response = member.get(url)
        assert response.status_code == 200, where
        _assert_escaped(response.content.decode(), where)
    # The onboarding grid leaves out films already rated: show it to someone who has not.
    other = Client()
    other.force_login(site.other)
    response = other.get(reverse("ratings:onboarding-rate"))
    assert response.status_code == 200
    _assert_escaped(response.content.decode(), "onboarding grid")
    # The title inside the detail page's <title> and the "More like this" of a neighbour too.
    neighbour = member.get(reverse("catalog:movie-detail", args=[site.movies[1].pk]))
    assert "<script>alert(1)" not in neighbour.content.decode()


def test_suggestions_json_carries_the_title_as_data_never_as_markup(site: Site) -> None:
    response = Client().get(reverse("catalog:suggest") + "?q=<script>")
    assert response["Content-Type"] == "application/json"
    assert response["X-Content-Type-Options"] == "nosniff"
    titles = [r["title"] for r in response.json()["results"]]
    assert titles == [HOSTILE_TITLE]  # exact, and rendered by app.js with textContent


def test_the_staff_dashboard_escapes_run_errors_and_titles(site: Site) -> None:
    TrainingRun.objects.create(backend="numpy", status="failed", error=HOSTILE_TITLE)
    staff = Client()
    staff.force_login(site.staff)
    html = staff.get(reverse("recommender:dashboard")).content.decode()
    _assert_escaped(html, "dashboard")
    status = staff.get(reverse("recommender:runs-status")).json()
    assert status["runs"][0]["error"] == HOSTILE_TITLE  # JSON data, set with textContent


scores = st.one_of(
    st.text(max_size=12),
    st.sampled_from(["", "0", "0.25", "5.5", "-1", "NaN", "inf", "1e308", "4,5", " 4 ", "٤"]),
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.integers().map(str),
)
queries = st.one_of(
    st.text(max_size=300),
    st.sampled_from(["%", "_", "\\", "' OR 1=1 --", "<script>", "a" * 5000, "\x00", "\ud800x"]),
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    score=scores,
    wants_json=st.booleans(),
    extra=st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=3),
)
def test_fuzzed_rating_posts_are_saved_or_refused_with_a_4xx(
    site: Site, score: str, wants_json: bool, extra: dict[str, str]
) -> None:
    client = Client()
    client.force_login(site.member)
    movie = site.movies[5]
    headers = {"HTTP_ACCEPT": "application/json"} if wants_json else {}
    try:
        response = client.post(
            reverse("ratings:rate", args=[movie.pk]), {**extra, "score": score}, **headers
        )
    except UnicodeEncodeError:
        return  # the test client cannot even encode a lone surrogate; no browser sends one
    assert response.status_code in (200, 302, 400), (score, response.status_code)
    saved = Rating.objects.filter(user=site.member, movie=movie).first()
    if response.status_code == 400:
        assert json.loads(response.content)["code"] == "invalid_score"
    if saved is not None:
        assert 0.5 <= float(saved.score) <= 5.0
        assert float(saved.score) * 2 == int(float(saved.score) * 2)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    q=queries, page=st.one_of(st.text(max_size=6), st.integers().map(str)), sort=st.text(max_size=8)
)
def test_fuzzed_search_and_genre_parameters_never_fail(
    site: Site, q: str, page: str, sort: str
) -> None:
    client = Client()
    urls = [
        (reverse("catalog:search"), {"q": q, "page": page}),
        (reverse("catalog:suggest"), {"q": q}),
        (reverse("catalog:genre-detail", args=[site.genre.slug]), {"page": page, "sort": sort}),
    ]
    for url, params in urls:
        try:
            response = client.get(url, params)
        except UnicodeEncodeError:
            continue
        assert response.status_code in (200, 400, 404), (url, params, response.status_code)
        if response.status_code == 200 and "html" in response["Content-Type"]:
            assert "<script>alert" not in response.content.decode()


def test_a_nul_in_the_search_box_is_dropped_not_a_500(site: Site) -> None:
    """Postgres refuses NUL in a query; the pages used to answer 500 (the API said 400)."""
    client = Client()
    page = client.get(reverse("catalog:search"), {"q": "calm\x00"})
    assert page.status_code == 200
    assert "Calm 1" in page.content.decode()
    suggest = client.get(reverse("catalog:suggest"), {"q": "\x00ca\x00lm"})
    assert suggest.status_code == 200
    assert suggest.json()["query"] == "calm"
    assert len(suggest.json()["results"]) == 7
