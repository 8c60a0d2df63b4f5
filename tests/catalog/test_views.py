"""Catalog pages: home rows, detail, search and suggestions, genres, placeholders, query counts."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.urls import reverse
from django.utils import timezone

from catalog.models import Genre, Movie
from ratings.models import Rating
from ratings.services import movie_stats_refresh, profile_set_favourite_genres
from tests.conftest import reset_serving_state
from tests.factories import GenreFactory, MovieFactory, UserFactory

pytestmark = pytest.mark.django_db

XSS_TITLE = '<script>alert("x")</script> & Friends'


@dataclass
class Catalog:
    genres: dict[str, Genre]
    movies: list[Movie]
    raters: list


def build_catalog(n_movies: int = 40, n_raters: int = 12) -> Catalog:
    """A small catalog: three genres, movies with a popularity gradient, imported-style raters."""
    genres = {name: GenreFactory(name=name) for name in ("Action", "Comedy", "Drama")}
    names = list(genres)
    movies = []
    for i in range(n_movies):
        title = XSS_TITLE if i == 3 else f"Film {i:02d}"
        movie = MovieFactory(
            title=title,
            year=1980 + i % 40,
            genres=[genres[names[i % 3]], *([genres[names[(i + 1) % 3]]] if i % 4 == 0 else [])],
        )
        movies.append(movie)
    raters = [UserFactory(username=f"movielens-{n}", is_active=False) for n in range(n_raters)]
    now = timezone.now()
    rows = []
    for r, user in enumerate(raters):
        # Movie i is rated by users r < n_raters - i // 4: lower ids are more popular.
        for i, movie in enumerate(movies):
            if r < n_raters - i // 4:
                score = Decimal(str(1 + (i + r) % 9 / 2))
                rows.append(
                    Rating(user=user, movie=movie, score=score, rated_at=now - timedelta(hours=i))
                )
    Rating.objects.bulk_create(rows)
    movie_stats_refresh(movie_ids=[m.pk for m in movies])
    for movie in movies:
        movie.refresh_from_db()
    return Catalog(genres=genres, movies=movies, raters=raters)


@pytest.fixture(autouse=True)
def _fresh_serving_state(settings) -> Iterator[None]:
    """A cold recommender per test, and no periodic re-checks inside one test's requests."""
    settings.RECSITE_REGISTRY_CHECK_SECONDS = 3600
    settings.RECSITE_CATALOG_CHECK_SECONDS = 3600
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    reset_serving_state()
    yield
    reset_serving_state()


@pytest.fixture
def catalog() -> Catalog:
    return build_catalog()


@pytest.fixture
def member(client):
    user = UserFactory(username="alice")
    client.force_login(user)
    return user


def _warm(client, url: str) -> None:
    """First request builds the process-wide catalog snapshot; pin the steady state after it."""
    assert client.get(url).status_code == 200
    cache.clear()


def test_home_signed_out_shows_popular_rows_and_a_sign_up_call(client, catalog):
    response = client.get(reverse("catalog:home"))
    assert response.status_code == 200
    html = response.content.decode()
    assert reverse("ratings:signup") in html
    titles = [row.title for row in response.context["rows"]]
    assert titles[0] == "Popular on recsite"
    assert "Trending now" in titles
    assert "New arrivals" in titles
    # The hero banner is the popular row's first pick, and it is rendered.
    hero = response.context["hero"].movie
    assert hero == response.context["rows"][0].items[0].movie
    assert f'<h1 id="hero-title" class="hero-title">{hero.title}</h1>' in html


def test_home_signed_in_has_top_picks_because_you_liked_and_genre_rows(client, catalog, member):
    from ratings.services import rating_upsert

    profile_set_favourite_genres(user=member, genres=[catalog.genres["Comedy"]])
    rating_upsert(user=member, movie=catalog.movies[0], score="5.0")
    response = client.get(reverse("catalog:home"))
    titles = [row.title for row in response.context["rows"]]
    assert titles[0] == "Top picks for you"
    assert f"Because you liked {catalog.movies[0].title}" in titles
    assert "Comedy" in titles
    top = [item.movie for item in response.context["rows"][0].items]
    assert catalog.movies[0] not in top  # a rated movie is never a pick


def test_titles_with_html_render_escaped_everywhere(client, catalog, member):
    movie = catalog.movies[3]
    pages = [
        reverse("catalog:home"),
        reverse("catalog:movie-detail", args=[movie.pk]),
        reverse("catalog:search") + "?q=script",
        reverse("catalog:genre-detail", args=[catalog.genres["Action"].slug]),
    ]
    for url in pages:
        html = client.get(url).content.decode()
        assert "<script>alert" not in html, url
        assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; Friends" in html, url
    svg = client.get(reverse("catalog:poster-placeholder", args=[movie.pk])).content.decode()
    assert "<script>" not in svg
    assert "&lt;script&gt;" in svg


def test_movie_detail_shows_stats_own_rating_and_more_like_this(client, catalog, member):
    from ratings.services import rating_upsert

    movie = catalog.movies[1]
    rating_upsert(user=member, movie=movie, score="3.5")
    response = client.get(reverse("catalog:movie-detail", args=[movie.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert movie.title in html
    assert f"{movie.rating_count}" in html
    assert 'value="3.5" id="detail-' in html
    assert "checked" in html
    similar = response.context["similar"]
    assert similar
    assert movie not in [item.movie for item in similar]
    assert "More like this" in html


def test_movie_detail_404(client, catalog):
    assert client.get(reverse("catalog:movie-detail", args=[999_999])).status_code == 404


def test_search_results_page_works_without_javascript(client, catalog):
    response = client.get(reverse("catalog:search"), {"q": "film 1"})
    assert response.status_code == 200
    found = {m.title for m in response.context["page"]}
    assert found == {f"Film {i}" for i in range(10, 20)}


def test_search_suggestions_json_most_rated_first(client, catalog):
    response = client.get(reverse("catalog:suggest"), {"q": "film 1"})
    data = response.json()
    assert data["query"] == "film 1"
    titles = [r["title"] for r in data["results"]]
    assert titles[0] == "Film 10"  # the most rated match
    assert len(titles) == 8
    first = data["results"][0]
    assert first["url"] == reverse("catalog:movie-detail", args=[first["id"]])
    assert first["poster"] == reverse("catalog:poster-placeholder", args=[first["id"]])
    assert client.get(reverse("catalog:suggest"), {"q": "f"}).json()["results"] == []


def test_genre_pages_paginate_and_sort(client, catalog):
    response = client.get(reverse("catalog:genre-list"))
    assert [g.name for g in response.context["genres"]] == ["Action", "Comedy", "Drama"]
    action = catalog.genres["Action"]
    first = client.get(reverse("catalog:genre-detail", args=[action.slug]), {"sort": "title"})
    page = first.context["page"]
    in_genre = Movie.objects.filter(genres=action).count()
    assert page.paginator.count == in_genre
    titles = [m.title for m in page]
    assert titles == sorted(titles)
    assert client.get(reverse("catalog:genre-detail", args=["nope"])).status_code == 404


def test_genre_pagination_second_page(client, settings):
    genre = GenreFactory(name="Horror")
    for i in range(30):
        MovieFactory(title=f"Scary {i:02d}", genres=[genre])
    url = reverse("catalog:genre-detail", args=[genre.slug])
    second = client.get(url, {"page": 2, "sort": "title"})
    assert [m.title for m in second.context["page"]] == [f"Scary {i:02d}" for i in range(24, 30)]
    assert "sort=title&amp;page=1" in second.content.decode()


def test_placeholder_poster_is_svg_with_title_year_and_genre_colour(client, catalog):
    movie = catalog.movies[0]
    response = client.get(reverse("catalog:poster-placeholder", args=[movie.pk]))
    assert response["Content-Type"].startswith("image/svg+xml")
    assert "max-age=86400" in response["Cache-Control"]
    svg = response.content.decode()
    assert "Film 00" in svg
    assert str(movie.year) in svg
    top = re.search(r'<stop offset="0" stop-color="hsl\((\d+), ', svg)
    assert top is not None
    # Action's hue (8) leads the gradient, nudged at most 15 degrees per title.
    assert min(abs(int(top[1]) - 8), 360 - abs(int(top[1]) - 8)) <= 15


def test_placeholder_drops_movielens_alternate_titles_and_varies_its_art(client, catalog):
    from catalog.templatetags.posters import MOTIFS

    movie = MovieFactory(title="Léon: The Professional (a.k.a. The Professional) (Léon)")
    svg = client.get(reverse("catalog:poster-placeholder", args=[movie.pk])).content.decode()
    texts = re.findall(r"<text [^>]*font-weight=\"800\"[^>]*>([^<]*)</text>", svg)
    assert " ".join(texts) == "Léon: The Professional"
    assert 'aria-label="Léon: The Professional (a.k.a. The Professional) (Léon)"' in svg
    # Across a catalog every backdrop shape turns up, so a row is not one poster repeated.
    seen = set()
    for other in catalog.movies:
        url = reverse("catalog:poster-placeholder", args=[other.pk])
        seen.update(re.findall(r"<!-- motif: (\w+) -->", client.get(url).content.decode()))
    assert seen == set(MOTIFS)


def test_fast_card_urls_match_reverse(catalog):
    from catalog.templatetags.posters import movie_url, placeholder_url

    for movie in catalog.movies[:3]:
        assert movie_url(movie) == reverse("catalog:movie-detail", args=[movie.pk])
        assert placeholder_url(movie) == reverse("catalog:poster-placeholder", args=[movie.pk])


def test_cards_use_tmdb_image_when_the_poster_is_known(client, catalog, settings):
    movie = catalog.movies[0]
    movie.poster_path = "/abc123.jpg"
    movie.save()
    settings.TMDB_IMAGE_URL = "https://image.tmdb.org/t/p/"
    html = client.get(reverse("catalog:movie-detail", args=[movie.pk])).content.decode()
    assert 'src="https://image.tmdb.org/t/p/w342/abc123.jpg"' in html
    # Offline the browser swaps in the generated poster.
    assert f'data-fallback="{reverse("catalog:poster-placeholder", args=[movie.pk])}"' in html


def test_tmdb_key_never_reaches_the_page(client, catalog, settings):
    settings.TMDB_API_KEY = "secret-key-123"
    settings.TMDB_READ_TOKEN = "secret-token-456"
    for url in (reverse("catalog:home"), reverse("catalog:movie-detail", args=[1])):
        html = client.get(url).content.decode()
        assert "secret-key-123" not in html
        assert "secret-token-456" not in html


def test_footer_carries_tmdb_attribution_when_tmdb_is_configured(client, catalog, settings):
    settings.TMDB_READ_TOKEN = "token"
    html = client.get(reverse("catalog:home")).content.decode()
    assert "This product uses the TMDB API but is not endorsed or certified by TMDB" in html


def test_staff_see_dashboard_and_admin_links(client, catalog):
    user = UserFactory(username="boss", is_staff=True)
    client.force_login(user)
    html = client.get(reverse("catalog:genre-list")).content.decode()
    assert 'href="/staff/"' in html
    assert f'href="{reverse("admin:index")}"' in html
    client.force_login(UserFactory(username="pleb"))
    html = client.get(reverse("catalog:genre-list")).content.decode()
    assert 'href="/staff/"' not in html


def test_rows_fragment_renders_without_the_page_chrome(client, catalog, member):
    response = client.get(reverse("catalog:home-rows"))
    html = response.content.decode()
    assert "Popular on recsite" in html  # a member with no rating and no genre yet
    assert "<html" not in html
    assert "site-footer" not in html


# -- query counts: pinned on every listing page -----------------------------------------------


@pytest.mark.parametrize(
    ("name", "args", "query", "signed_in", "queries"),
    [
        ("catalog:home", [], {}, False, 2),
        ("catalog:home", [], {}, True, 8),  # 7 and the rating count of the prompt to rate
        ("catalog:home-rows", [], {}, True, 7),
        ("catalog:search", [], {"q": "Film"}, True, 6),
        ("catalog:genre-list", [], {}, False, 1),
        ("catalog:genre-detail", ["action"], {}, True, 7),
        ("catalog:genre-detail", ["action"], {"page": 2}, False, 4),
        ("catalog:suggest", [], {"q": "Film"}, False, 2),
    ],
)
def test_listing_query_counts(
    client, catalog, django_assert_num_queries, name, args, query, signed_in, queries
):
    if signed_in:
        user = UserFactory(username="counted")
        profile_set_favourite_genres(user=user, genres=[catalog.genres["Drama"]])
        client.force_login(user)
    url = reverse(name, args=args)
    _warm(client, url + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else ""))
    with django_assert_num_queries(queries):
        assert client.get(url, query).status_code == 200


def test_movie_detail_query_count(client, catalog, member, django_assert_num_queries):
    url = reverse("catalog:movie-detail", args=[catalog.movies[2].pk])
    _warm(client, url)
    # 8 for the page and More like this, 2 for the reason line: the user's cached picks are
    # looked up by their key (rating count and latest, onboarding genres during cold start).
    with django_assert_num_queries(10):
        client.get(url)


def test_pages_render_under_100_ms(client, catalog, member):
    from ratings.services import rating_upsert

    for movie in catalog.movies[:5]:
        rating_upsert(user=member, movie=movie, score="4.0")
    urls = [
        reverse("catalog:home"),
        reverse("catalog:movie-detail", args=[catalog.movies[7].pk]),
        reverse("catalog:search") + "?q=Film",
        reverse("catalog:genre-detail", args=["drama"]),
        reverse("ratings:my-ratings"),
    ]
    for url in urls:
        client.get(url)  # warm: snapshot, templates
        timings = []
        for _ in range(5):
            started = time.perf_counter()
            assert client.get(url).status_code == 200
            timings.append(time.perf_counter() - started)
        assert min(timings) < 0.1, (url, timings)


# -- issue 16: empty states, one search box, posters that fit ---------------------------------


def test_a_search_without_results_says_so_and_offers_the_next_step(client, catalog):
    html = client.get(reverse("catalog:search"), {"q": "zzqx"}).content.decode()
    assert "No films match “zzqx”" in html
    assert reverse("catalog:genre-list") in html  # browse instead
    assert 'class="empty-state"' in html


def test_the_search_page_has_one_search_box(client, catalog):
    for query in ({}, {"q": "film"}, {"q": "zzqx"}):
        html = client.get(reverse("catalog:search"), query).content.decode()
        assert html.count('role="search"') == 1, query
    # Every other page keeps the header's search box.
    assert 'role="search"' in client.get(reverse("catalog:genre-list")).content.decode()


def test_a_member_who_skipped_onboarding_is_asked_to_rate(client, catalog, member):
    from ratings.services import profile_mark_onboarded, rating_upsert

    profile_mark_onboarded(user=member)  # skipped: onboarded with no ratings
    html = client.get(reverse("catalog:home")).content.decode()
    assert "You have not rated any films yet" in html
    assert reverse("ratings:onboarding-rate") in html
    assert "Top pick for you" not in html  # the hero is the popular pick, and says so

    for movie in catalog.movies[:2]:
        rating_upsert(user=member, movie=movie, score="4.0")
    assert "You have rated 2 films so far" in client.get(reverse("catalog:home")).content.decode()
    for movie in catalog.movies[2:5]:
        rating_upsert(user=member, movie=movie, score="4.0")
    html = client.get(reverse("catalog:home")).content.decode()
    assert 'class="prompt"' not in html  # five ratings: no more nagging


def test_visitors_get_the_sign_up_call_not_the_prompt_to_rate(client, catalog):
    html = client.get(reverse("catalog:home")).content.decode()
    assert 'class="prompt"' not in html


def _poster_texts(client, movie) -> tuple[list[str], str, int]:
    svg = client.get(reverse("catalog:poster-placeholder", args=[movie.pk])).content.decode()
    sizes = re.findall(r'font-size="(\d+)" font-weight="800"', svg)
    titles = re.findall(r'<text [^>]*font-weight="800"[^>]*>([^<]*)</text>', svg)
    genres = re.search(r'<text x="28" y="478">([^<]*)</text>', svg)
    assert genres is not None
    return titles, genres[1], int(sizes[0])


def test_poster_titles_wrap_between_words_and_never_split_one(client, catalog):
    from catalog.templatetags.posters import POSTER_TEXT_WIDTH, text_width

    short = MovieFactory(title="Ratatouille", year=2007)
    titles, _, size = _poster_texts(client, short)
    assert titles == ["Ratatouille"]  # was "Ratatouill" / "e"
    assert size >= 40

    long_title = "Dr. Strangelove or: How I Learned to Stop Worrying and Love the Bomb"
    titles, _, size = _poster_texts(client, MovieFactory(title=long_title))
    assert " ".join(titles) == long_title  # every word, whole, in order
    assert all(text_width(line, size) <= POSTER_TEXT_WIDTH for line in titles)


def test_poster_text_that_cannot_fit_ends_in_an_ellipsis(client, catalog):
    from catalog.templatetags.posters import POSTER_TEXT_WIDTH, genre_line, text_width

    endless = " ".join(["Attack of the Return of the Revenge"] * 6)
    titles, _, size = _poster_texts(client, MovieFactory(title=endless))
    assert titles[-1].endswith("…")
    assert all(text_width(line, size) <= POSTER_TEXT_WIDTH for line in titles)
    titles, _, size = _poster_texts(
        client, MovieFactory(title="Supercalifragilisticexpialidocious")
    )
    assert titles[0].endswith("…")

    names = ["Adventure", "Animation", "Children", "Comedy", "Fantasy"]
    movie = MovieFactory(title="Toy Story", genres=[GenreFactory(name=n) for n in names])
    _, genres, _ = _poster_texts(client, movie)
    assert genres.startswith("ADVENTURE · ANIMATION")
    assert genres.endswith(" +3")  # the genres left out are counted, not cut mid-word
    assert text_width(genres, 14, 2.0) <= POSTER_TEXT_WIDTH
    assert genre_line(["Averyveryverylonggenrenamethatneverends"]).endswith("…")
