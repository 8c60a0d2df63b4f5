"""Catalog pages: home rows, movie detail, search and suggestions, genres, poster placeholders."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.core.paginator import Page, Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET

from catalog.feeds import page_feed
from catalog.selectors import MOVIE_ORDERINGS, genre_list, movie_get, movie_list
from catalog.templatetags.posters import (
    display_title,
    genre_line,
    poster_colours,
    poster_motif,
    poster_url,
    title_layout,
)
from ratings.selectors import rating_count_for_user, rating_get, rating_scores_for_user

PAGE_SIZE = 24
SUGGESTION_COUNT = 8
SORTS = {"popularity": "Most rated", "rating": "Top rated", "-year": "Newest", "title": "A-Z"}


# -- pages --------------------------------------------------------------------------------------


def _feed_context(request: HttpRequest) -> dict[str, Any]:
    rows = page_feed(request.user).rows
    hero = next((row.items[0] for row in rows if row.items), None)
    movie_ids = [item.movie.pk for row in rows for item in row.items]
    return {
        "rows": rows,
        "hero": hero,
        "hero_row": rows[0] if rows else None,
        "my_scores": rating_scores_for_user(user=request.user, movie_ids=movie_ids),
    }


# Below this many ratings a member's home page invites them to rate more: the onboarding asks
# for as many, and a member who skipped it would otherwise never be asked again.
RATE_PROMPT_BELOW = 5


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    context = _feed_context(request)
    if request.user.is_authenticated:
        rated = rating_count_for_user(user=request.user)
        context |= {"rated": rated, "rate_prompt": rated < RATE_PROMPT_BELOW}
    return render(request, "catalog/movie_home.html", context)


@require_GET
def home_rows(request: HttpRequest) -> HttpResponse:
    """The hero and rows alone: the rating widget swaps them in after a rating."""
    return render(request, "catalog/_feed.html", _feed_context(request))


@require_GET
def movie_detail(request: HttpRequest, pk: int) -> HttpResponse:
    movie = movie_get(movie_id=pk)
    if movie is None:
        raise Http404("No such movie.")
    feed = page_feed(request.user, movie)
    similar = list(feed.rows[0].items) if feed.rows else []
    rating = rating_get(user=request.user, movie_id=movie.pk)
    return render(
        request,
        "catalog/movie_detail.html",
        {
            "movie": movie,
            "rating": rating,
            "similar": similar,
            "recommended_because": feed.reason,
            "my_scores": rating_scores_for_user(
                user=request.user, movie_ids=[item.movie.pk for item in similar]
            ),
        },
    )


def _page(request: HttpRequest, movies: Any) -> Page:
    return Paginator(movies, PAGE_SIZE).get_page(request.GET.get("page"))


def _page_scores(request: HttpRequest, page: Page) -> dict[int, float]:
    return rating_scores_for_user(user=request.user, movie_ids=[m.pk for m in page.object_list])


def _query(request: HttpRequest) -> str:
    # No title holds NUL, and Postgres refuses it in a query (a 500): drop it.
    return request.GET.get("q", "").replace("\x00", "").strip()[:100]


@require_GET
def search(request: HttpRequest) -> HttpResponse:
    query = _query(request)
    page = _page(request, movie_list(search=query)) if query else None
    return render(
        request,
        "catalog/movie_search.html",
        {
            "query": query,
            "page": page,
            "extra_query": urlencode({"q": query}),
            "my_scores": _page_scores(request, page) if page else {},
        },
    )


@require_GET
def suggest(request: HttpRequest) -> JsonResponse:
    """Search-as-you-type: the most rated titles containing the query (2 characters or more)."""
    query = _query(request)
    movies = list(movie_list(search=query)[:SUGGESTION_COUNT]) if len(query) >= 2 else []
    return JsonResponse(
        {
            "query": query,
            "results": [
                {
                    "id": m.pk,
                    "title": m.title,
                    "year": m.year,
                    "url": reverse("catalog:movie-detail", args=[m.pk]),
                    "poster": poster_url(m),
                }
                for m in movies
            ],
        }
    )


@require_GET
def genre_index(request: HttpRequest) -> HttpResponse:
    return render(request, "catalog/genre_list.html", {"genres": genre_list()})


@require_GET
def genre_detail(request: HttpRequest, slug: str) -> HttpResponse:
    genre = get_object_or_404(genre_list(), slug=slug)
    sort = request.GET.get("sort", "popularity")
    if sort not in SORTS or sort not in MOVIE_ORDERINGS:
        sort = "popularity"
    page = _page(request, movie_list(genre=genre.slug, ordering=sort))
    return render(
        request,
        "catalog/genre_detail.html",
        {
            "genre": genre,
            "page": page,
            "sort": sort,
            "extra_query": urlencode({"sort": sort}),
            "sorts": SORTS,
            "my_scores": _page_scores(request, page),
        },
    )


@require_GET
@cache_control(public=True, max_age=86400)
def poster_placeholder(request: HttpRequest, pk: int) -> HttpResponse:
    """A generated SVG poster (title, year, genre colours) for movies without a TMDB poster."""
    movie = movie_get(movie_id=pk)
    if movie is None:
        raise Http404("No such movie.")
    genres = list(movie.genres.all())
    # The biggest face at which the title wraps between words; the block is centred on y = 250.
    size, lines = title_layout(display_title(movie.title))
    leading = size + 4
    first_y = 250 - (len(lines) - 1) * leading // 2
    return render(
        request,
        "catalog/movie_poster.svg",
        {
            "movie": movie,
            "genre_line": genre_line(genre.name for genre in genres),
            "colours": poster_colours(movie, genres),
            "motif": poster_motif(movie),
            "font_size": size,
            "lines": [(first_y + leading * i, text) for i, text in enumerate(lines)],
            "year_y": first_y + leading * len(lines) + 12,
        },
        content_type="image/svg+xml",
    )
