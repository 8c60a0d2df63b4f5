"""Streaming readers for every MovieLens release, from a folder or a GroupLens zip.

Each reader yields parsed rows and raises MovieLensFormatError naming the file, the line number
and the reason at the first bad line. Nothing here touches the database.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Literal

Layout = Literal["csv", "dat", "100k"]

# u.item's 19 genre flags, in the order of the release's u.genre file.
ML100K_GENRES = (
    "(no genres listed)",
    "Action",
    "Adventure",
    "Animation",
    "Children",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
)
NO_GENRES = "(no genres listed)"
MAX_LINE_BYTES = 64 * 1024  # the longest real MovieLens line is a few hundred bytes
GENRE_ALIASES = {"Children's": "Children"}  # 100K and 1M spell it so; later releases do not
VALID_SCORES = frozenset(n / 2 for n in range(1, 11))
_TITLE_YEAR = re.compile(r"^(?P<title>.*?)\s*\((?P<year>\d{4})(?:\s*[-\u2013]\s*\d{0,4})?\)\s*$")
_TRAILING_ARTICLE = re.compile(r"^(?P<rest>.+), (?P<article>The|A|An)$")


class MovieLensFormatError(ValueError):
    """A file that cannot be read: which file, which line, and why."""

    def __init__(self, file: str, line: int | None, reason: str) -> None:
        self.file = file
        self.line = line
        self.reason = reason
        where = f"{file} line {line}" if line is not None else file
        super().__init__(f"{where}: {reason}")


@dataclass(frozen=True, slots=True)
class MovieRow:
    movielens_id: int
    title: str
    year: int | None
    genres: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class LinkRow:
    movielens_id: int
    imdb_id: str
    tmdb_id: int | None


def split_title(raw: str) -> tuple[str, int | None]:
    """'Matrix, The (1999)' -> ('The Matrix', 1999); titles without a year keep None."""
    raw = raw.strip()
    match = _TITLE_YEAR.match(raw)
    title, year = (match["title"], int(match["year"])) if match else (raw, None)
    article = _TRAILING_ARTICLE.match(title)
    if article:
        title = f"{article['article']} {article['rest']}"
    return title.strip() or raw, year


def _genres(raw: str) -> tuple[str, ...]:
    names = (GENRE_ALIASES.get(g.strip(), g.strip()) for g in raw.split("|"))
    return tuple(dict.fromkeys(g for g in names if g and g != NO_GENRES))  # ordered, no repeats


class DatasetSource:
    """A MovieLens release in a folder or a zip; files are found by their base name."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise MovieLensFormatError(str(path), None, "no such file or folder")
        self._zip: zipfile.ZipFile | None = None
        self.bytes_read = 0  # raw bytes consumed by lines(), for progress bars
        self._members: dict[str, str] = {}
        if self.path.is_file():
            if not zipfile.is_zipfile(self.path):
                raise MovieLensFormatError(str(path), None, "not a folder and not a zip file")
            self._zip = zipfile.ZipFile(self.path)
            for name in self._zip.namelist():
                if not name.endswith("/"):
                    self._members.setdefault(PurePosixPath(name).name, name)
        else:
            for child in self.path.iterdir():
                if child.is_file():
                    self._members[child.name] = str(child)

    def close(self) -> None:
        if self._zip is not None:
            self._zip.close()

    def has(self, name: str) -> bool:
        return name in self._members

    def size(self, name: str) -> int:
        if self._zip is not None:
            return self._zip.getinfo(self._members[name]).file_size
        return Path(self._members[name]).stat().st_size

    def layout(self) -> Layout:
        if self.has("ratings.csv") and self.has("movies.csv"):
            return "csv"
        if self.has("ratings.dat") and self.has("movies.dat"):
            return "dat"
        if self.has("u.data") and self.has("u.item"):
            return "100k"
        raise MovieLensFormatError(
            str(self.path),
            None,
            "no MovieLens files found (expected ratings.csv + movies.csv, "
            "ratings.dat + movies.dat, or u.data + u.item)",
        )

    @contextmanager
    def open_binary(self, name: str) -> Iterator[IO[bytes]]:
        if name not in self._members:
            raise MovieLensFormatError(name, None, f"missing from {self.path}")
        if self._zip is not None:
            with self._zip.open(self._members[name]) as handle:
                yield handle
        else:
            with open(self._members[name], "rb") as handle:
                yield handle

    def lines(self, name: str, *, encoding: str) -> Iterator[tuple[int, str]]:
        """(line number, text without newline); an undecodable or huge line is an error."""
        with self.open_binary(name) as handle:
            number = 0
            while True:
                try:
                    # A bounded read: a file with no newlines must not be loaded whole.
                    raw = handle.readline(MAX_LINE_BYTES + 1)
                except (zipfile.BadZipFile, EOFError, OSError) as exc:
                    raise MovieLensFormatError(
                        name, number + 1, f"the file is truncated or corrupt ({exc})"
                    ) from exc
                if not raw:
                    return
                number += 1
                self.bytes_read += len(raw)
                if len(raw) > MAX_LINE_BYTES:
                    raise MovieLensFormatError(
                        name, number, f"line is longer than {MAX_LINE_BYTES:,} bytes"
                    )
                try:
                    text = raw.decode(encoding)
                except UnicodeDecodeError as exc:
                    raise MovieLensFormatError(
                        name, number, f"not valid {encoding} text ({exc.reason})"
                    ) from exc
                yield number, text.rstrip("\r\n")


def _int(file: str, line: int, field: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise MovieLensFormatError(file, line, f"{field} {value!r} is not an integer") from None


def _score(file: str, line: int, value: str) -> float:
    try:
        score = float(value)
    except ValueError:
        raise MovieLensFormatError(file, line, f"rating {value!r} is not a number") from None
    if score not in VALID_SCORES:
        raise MovieLensFormatError(
            file, line, f"rating {value!r} is not 0.5 to 5.0 in half-star steps"
        )
    return score


class MovieLensReader:
    """Rows of one release: movies, links (csv releases only) and ratings, streamed."""

    def __init__(self, source: DatasetSource) -> None:
        self.source = source
        self.layout = source.layout()

    @property
    def ratings_file(self) -> str:
        return {"csv": "ratings.csv", "dat": "ratings.dat", "100k": "u.data"}[self.layout]

    def movies(self) -> Iterator[MovieRow]:
        if self.layout == "csv":
            yield from self._movies_csv()
        elif self.layout == "dat":
            yield from self._movies_dat()
        else:
            yield from self._movies_100k()

    def _movies_csv(self) -> Iterator[MovieRow]:
        name = "movies.csv"
        text = (line + "\n" for _, line in self.source.lines(name, encoding="utf-8"))
        reader = csv.reader(text)
        header = next(reader, None)
        if header != ["movieId", "title", "genres"]:
            raise MovieLensFormatError(name, 1, f"unexpected header {header!r}")
        for fields in reader:
            line = reader.line_num
            if len(fields) != 3:
                raise MovieLensFormatError(name, line, f"expected 3 fields, got {len(fields)}")
            movie_id = _int(name, line, "movieId", fields[0])
            title, year = split_title(fields[1])
            yield MovieRow(movie_id, title, year, _genres(fields[2]))

    def _movies_dat(self) -> Iterator[MovieRow]:
        name = "movies.dat"
        for line, text in self.source.lines(name, encoding="latin-1"):
            if not text.strip():
                continue
            fields = text.split("::")
            if len(fields) != 3:
                raise MovieLensFormatError(
                    name, line, f"expected 3 fields separated by '::', got {len(fields)}"
                )
            title, year = split_title(fields[1])
            yield MovieRow(_int(name, line, "MovieID", fields[0]), title, year, _genres(fields[2]))

    def _movies_100k(self) -> Iterator[MovieRow]:
        name = "u.item"
        for line, text in self.source.lines(name, encoding="latin-1"):
            if not text.strip():
                continue
            fields = text.split("|")
            if len(fields) != 5 + len(ML100K_GENRES):
                raise MovieLensFormatError(
                    name, line, f"expected {5 + len(ML100K_GENRES)} fields, got {len(fields)}"
                )
            flags = fields[5:]
            if any(flag not in ("0", "1") for flag in flags):
                raise MovieLensFormatError(name, line, "genre flags must be 0 or 1")
            genres = tuple(g for g, flag in zip(ML100K_GENRES, flags, strict=True) if flag == "1")
            title, year = split_title(fields[1])
            yield MovieRow(
                _int(name, line, "movie id", fields[0]),
                title,
                year,
                tuple(g for g in genres if g != NO_GENRES),
            )

    def links(self) -> Iterator[LinkRow]:
        if self.layout != "csv" or not self.source.has("links.csv"):
            return
        name = "links.csv"
        for line, text in self.source.lines(name, encoding="utf-8"):
            if line == 1:
                if text.split(",") != ["movieId", "imdbId", "tmdbId"]:
                    raise MovieLensFormatError(name, 1, f"unexpected header {text!r}")
                continue
            if not text:
                continue
            fields = text.split(",")
            if len(fields) != 3:
                raise MovieLensFormatError(name, line, f"expected 3 fields, got {len(fields)}")
            movie_id = _int(name, line, "movieId", fields[0])
            imdb = f"tt{_int(name, line, 'imdbId', fields[1]):07d}" if fields[1] else ""
            tmdb = _int(name, line, "tmdbId", fields[2]) if fields[2] else None
            yield LinkRow(movie_id, imdb, tmdb)

    def ratings(self) -> Iterator[tuple[int, int, int, float, int]]:
        """(line number, user id, movie id, score, unix timestamp) for every rating."""
        name = self.ratings_file
        if self.layout == "csv":
            separator, fields_expected, encoding = ",", 4, "utf-8"
        elif self.layout == "dat":
            separator, fields_expected, encoding = "::", 4, "latin-1"
        else:
            separator, fields_expected, encoding = "\t", 4, "latin-1"
        for line, text in self.source.lines(name, encoding=encoding):
            if self.layout == "csv" and line == 1:
                if text.split(",") != ["userId", "movieId", "rating", "timestamp"]:
                    raise MovieLensFormatError(name, 1, f"unexpected header {text!r}")
                continue
            if not text:
                continue
            fields = text.split(separator)
            if len(fields) != fields_expected:
                raise MovieLensFormatError(
                    name,
                    line,
                    f"expected {fields_expected} fields separated by {separator!r}, "
                    f"got {len(fields)}",
                )
            user = _int(name, line, "user id", fields[0])
            movie = _int(name, line, "movie id", fields[1])
            score = _score(name, line, fields[2])
            timestamp = _int(name, line, "timestamp", fields[3])
            if user <= 0 or movie <= 0 or timestamp < 0:
                raise MovieLensFormatError(name, line, "ids must be positive, timestamps >= 0")
            yield line, user, movie, score, timestamp


class IteratorFile(io.RawIOBase):
    """A read-only file over an iterator of str chunks, for COPY FROM STDIN."""

    def __init__(self, chunks: Iterator[str]) -> None:
        self._chunks = chunks
        self._buffer = b""
        # The database driver wraps errors raised inside read(); keep ours to re-raise them.
        self.error: Exception | None = None

    def readable(self) -> bool:
        return True

    def readinto(self, target: bytearray | memoryview) -> int:  # type: ignore[override]
        while len(self._buffer) < len(target):
            try:
                self._buffer += next(self._chunks).encode()
            except StopIteration:
                break
            except Exception as exc:
                self.error = exc
                raise
        size = min(len(target), len(self._buffer))
        target[:size] = self._buffer[:size]
        self._buffer = self._buffer[size:]
        return size
