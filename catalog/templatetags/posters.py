"""Template helpers for movie posters (TMDB or a generated SVG placeholder) and star widgets."""

from __future__ import annotations

import functools
import hashlib
import re
import textwrap
from collections.abc import Iterable

from django import template
from django.conf import settings
from django.urls import get_script_prefix, get_urlconf, reverse

from catalog.models import Genre, Movie

register = template.Library()

POSTER_SIZE = "w342"
# One hue per MovieLens genre, so a wall of placeholders still reads by mood.
GENRE_HUES = {
    "action": 8,
    "adventure": 32,
    "animation": 190,
    "children": 48,
    "comedy": 44,
    "crime": 350,
    "documentary": 160,
    "drama": 265,
    "fantasy": 285,
    "film-noir": 220,
    "horror": 0,
    "imax": 200,
    "musical": 320,
    "mystery": 240,
    "romance": 335,
    "sci-fi": 180,
    "thriller": 15,
    "war": 95,
    "western": 28,
}


def _hue(name: str) -> int:
    key = name.strip().lower()
    if key in GENRE_HUES:
        return GENRE_HUES[key]
    return int(hashlib.blake2b(key.encode(), digest_size=2).hexdigest(), 16) % 360


def poster_colours(movie: Movie, genres: Iterable[Genre] | None = None) -> dict[str, str]:
    """Gradient stops and an accent from the movie's first two genres, nudged by a hash of the
    title so a row of same-genre films does not look like one poster repeated."""
    names = [g.name for g in (genres if genres is not None else movie.genres.all())]
    nudge = _hue(movie.title) % 31 - 15
    first = ((_hue(names[0]) if names else _hue(movie.title)) + nudge) % 360
    second = ((_hue(names[1]) if len(names) > 1 else first + 40) + nudge) % 360
    # Yellows and greens turn olive when dark: give them more light and saturation.
    lift = 8 if 35 <= first <= 110 else 0
    return {
        "top": f"hsl({first}, {68 + lift}%, {38 + lift}%)",
        "bottom": f"hsl({second}, 65%, 10%)",
        "accent": f"hsl({first}, 95%, {70 + lift // 2}%)",
        "ring_x": str(200 + _hue(movie.title + "x") % 140),
        "ring_y": str(20 + _hue(movie.title + "y") % 120),
    }


MOTIFS = ("rings", "bands", "sun", "beam")


def poster_motif(movie: Movie) -> str:
    """One of a few backdrop shapes, fixed per title, so neighbouring placeholders differ."""
    return MOTIFS[_hue(movie.title + "motif") % len(MOTIFS)]


_TRAILING_PARENS = re.compile(r"\s*\([^()]*\)\s*$")


def display_title(title: str) -> str:
    """The title for the poster art: MovieLens alternates ("(a.k.a. X)", "(Léon)") dropped."""
    shown = title.strip()
    while True:
        shorter = _TRAILING_PARENS.sub("", shown)
        if shorter == shown or not shorter:
            return shown
        shown = shorter


def title_lines(title: str, width: int = 14, max_lines: int = 5) -> list[str]:
    """The title wrapped for the placeholder; an over-long one ends in an ellipsis."""
    lines = textwrap.wrap(title, width=width, break_long_words=True) or [""]
    if len(lines) > max_lines:
        lines = [*lines[: max_lines - 1], lines[max_lines - 1][: width - 1] + "…"]
    return lines


_SENTINEL = 987654321


@functools.lru_cache(maxsize=64)
def _url_around_pk(name: str, urlconf: str | None, script_prefix: str) -> tuple[str, str]:
    head, _, tail = reverse(name, args=[_SENTINEL]).partition(str(_SENTINEL))
    return head, tail


def pk_url(name: str, pk: int) -> str:
    """reverse(name, args=[pk]) for a one-integer URL, without reverse()'s cost per call: a
    home page links some 400 cards and posters, and reverse() was half its render time."""
    head, tail = _url_around_pk(name, get_urlconf(), get_script_prefix())
    return f"{head}{int(pk)}{tail}"


@register.simple_tag
def movie_url(movie: Movie) -> str:
    return pk_url("catalog:movie-detail", movie.pk)


@register.simple_tag
def poster_url(movie: Movie) -> str:
    """TMDB's w342 image when the poster is known, else the generated placeholder."""
    if movie.poster_path:
        return f"{settings.TMDB_IMAGE_URL}{POSTER_SIZE}{movie.poster_path}"
    return pk_url("catalog:poster-placeholder", movie.pk)


@register.simple_tag
def placeholder_url(movie: Movie) -> str:
    return pk_url("catalog:poster-placeholder", movie.pk)


STAR_VALUES = tuple((f"{n / 2:.1f}", n % 2 == 1) for n in range(10, 0, -1))


@register.simple_tag
def star_values() -> tuple[tuple[str, bool], ...]:
    """(value, is_left_half) from 5.0 down to 0.5: the widget lays them out right to left."""
    return STAR_VALUES


@register.filter
def score_str(score: object) -> str:
    """A score as the widget's radio values spell it ("4.5"), or "" for none."""
    if score is None or score == "":
        return ""
    return f"{float(score):.1f}"  # type: ignore[arg-type]


@register.filter
def get_item(mapping: dict[object, object] | None, key: object) -> object:
    """mapping[key] or None: the user's score of a card's movie."""
    return mapping.get(key) if mapping else None


@register.simple_tag
def tmdb_in_use() -> bool:
    """Whether pages show TMDB's posters and overviews, and so owe TMDB its credit: only with
    TMDB credentials configured; without them every poster is generated here."""
    return bool(settings.TMDB_API_KEY or settings.TMDB_READ_TOKEN)
