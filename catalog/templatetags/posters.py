"""Template helpers for movie posters (TMDB or a generated SVG placeholder) and star widgets."""

from __future__ import annotations

import functools
import hashlib
import re
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


# The placeholder is 342 x 513 with 28 px margins: text lines get 286 px.
POSTER_TEXT_WIDTH = 342 - 2 * 28
# (font size, most lines) largest first: a short title gets a big face, a long one more lines.
TITLE_SIZES = ((46, 2), (40, 3), (34, 4), (30, 5), (26, 5))
GENRE_SIZE, GENRE_SPACING = 14, 2.0  # the genre line: 14 px capitals, letter-spacing 2
ELLIPSIS = "…"
# Rough advance widths in em of a heavy sans-serif (Inter, Helvetica, Arial bold). The SVG is
# drawn by the viewer's browser with whatever of those fonts it has, so the estimate errs wide.
_EM_NARROW = dict.fromkeys("iljI.,:;'!|`", 0.32)
_EM_SEMI = dict.fromkeys('frtJ()[]-/"', 0.42)
_EM_WIDE = dict.fromkeys("mwMW@%&", 0.95)


def text_width(text: str, size: float, spacing: float = 0.0) -> float:
    """Estimated width in px of `text` set at `size` px with `spacing` px between letters."""
    em = 0.0
    for char in text:
        if char == " ":
            em += 0.3
        elif char in _EM_NARROW:
            em += _EM_NARROW[char]
        elif char in _EM_SEMI:
            em += _EM_SEMI[char]
        elif char in _EM_WIDE:
            em += _EM_WIDE[char]
        elif char.isdigit():
            em += 0.6
        elif char.isupper():
            em += 0.76
        else:
            em += 0.62
    return em * size + spacing * len(text)


def ellipsize(text: str, size: float, width: float, spacing: float = 0.0) -> str:
    """`text`, or as much of it as fits in `width` followed by an ellipsis."""
    if text_width(text, size, spacing) <= width:
        return text
    while text and text_width(text.rstrip() + ELLIPSIS, size, spacing) > width:
        text = text[:-1]
    return text.rstrip(" ,:;-") + ELLIPSIS


def _wrap_words(text: str, size: float, width: float) -> list[str] | None:
    """Greedy wrap at spaces; None when one word alone is wider than a line."""
    lines: list[str] = []
    for word in text.split():
        if text_width(word, size) > width:
            return None
        if lines and text_width(f"{lines[-1]} {word}", size) <= width:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    return lines or [""]


def title_layout(title: str, width: float = POSTER_TEXT_WIDTH) -> tuple[int, list[str]]:
    """(font size, lines) of a placeholder's title: the largest size at which the title wraps
    between words into few enough lines. A title too long even at the smallest size keeps its
    first lines and ends in an ellipsis; a word wider than a line is cut with one."""
    for size, max_lines in TITLE_SIZES:
        lines = _wrap_words(title, size, width)
        if lines is not None and len(lines) <= max_lines:
            return size, lines
    size, max_lines = TITLE_SIZES[-1][0], 6
    lines = []
    for word in title.split():
        word = ellipsize(word, size, width)
        if lines and text_width(f"{lines[-1]} {word}", size) <= width:
            lines[-1] = f"{lines[-1]} {word}"
        else:
            lines.append(word)
    if len(lines) > max_lines:
        lines = [*lines[: max_lines - 1], ellipsize(lines[max_lines - 1] + ELLIPSIS, size, width)]
    return size, lines or [""]


def genre_line(names: Iterable[str], width: float = POSTER_TEXT_WIDTH) -> str:
    """The poster's genre line in capitals: as many whole genres as fit, then "+N" for the
    rest; a single genre too long for the line ends in an ellipsis."""
    names = [name.upper() for name in names]
    shown: list[str] = []
    for i, name in enumerate(names):
        rest = len(names) - i - 1
        candidate = " · ".join([*shown, name]) + (f" +{rest}" if rest else "")
        if text_width(candidate, GENRE_SIZE, GENRE_SPACING) > width:
            break
        shown.append(name)
    if not shown and names:
        return ellipsize(names[0], GENRE_SIZE, width, GENRE_SPACING)
    hidden = len(names) - len(shown)
    return " · ".join(shown) + (f" +{hidden}" if hidden else "")


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
