"""TMDB client: poster and overview lookups with retries, Retry-After and a rate limiter."""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests
from django.conf import settings

logger = logging.getLogger(__name__)

DEFAULT_RATE = 40.0  # TMDB's documented ceiling is about 40 requests per second
MAX_RETRY_AFTER = 60.0  # never let a hostile header park a worker for hours
_ARTICLE_SUFFIX = re.compile(r"^(?P<rest>.+), (?P<article>The|A|An|Les|La|Le|L'|Il|Die|Der|Das)$")
_POSTER_PATH = re.compile(r"/[A-Za-z0-9_-]{1,190}\.(?:jpg|jpeg|png|webp)")
_ALT_TITLE = re.compile(r"\s*\((?:a\.k\.a\.|aka)?[^)]*\)\s*$", re.IGNORECASE)


class TmdbError(Exception):
    """TMDB could not answer: misconfigured, refused, unreachable or malformed."""


class TmdbNotConfigured(TmdbError):
    """Neither TMDB_API_KEY nor TMDB_READ_TOKEN is set."""


@dataclass(frozen=True)
class TmdbMovie:
    tmdb_id: int | None
    poster_path: str
    overview: str


class TokenBucket:
    """A token bucket: tokens refill at `rate` per second up to `capacity`, and each call takes
    one, sleeping until it is due when the bucket is empty. A capacity of 1 (the default) allows
    no burst, so no one-second window ever holds more than `rate` calls. Thread-safe: a caller
    reserves its token under the lock (the count may go negative, a debt later callers queue
    behind) and sleeps outside it."""

    def __init__(
        self,
        rate: float,
        *,
        capacity: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.rate = rate
        self.capacity = max(capacity, 1.0)
        self._clock = clock
        self._sleep = sleep
        self._tokens = self.capacity
        self._stamp: float | None = None
        self._lock = threading.Lock()

    def wait(self) -> None:
        if self.rate <= 0:
            return
        with self._lock:
            now = self._clock()
            elapsed = 0.0 if self._stamp is None else now - self._stamp
            self._stamp = now
            self._tokens = min(self.capacity, self._tokens + elapsed * self.rate) - 1.0
            delay = -self._tokens / self.rate if self._tokens < 0 else 0.0
        if delay > 0:
            self._sleep(delay)


RateLimiter = TokenBucket  # the name the client and its callers know it by


def imdb_id_normalise(raw: str) -> str:
    """MovieLens stores IMDb ids as bare digits ("0114709"); TMDB wants "tt0114709"."""
    raw = raw.strip()
    if not raw:
        return ""
    digits = raw[2:] if raw.lower().startswith("tt") else raw
    return f"tt{digits.zfill(7)}" if digits.isdigit() else ""


def search_title(title: str) -> str:
    """A MovieLens title as people write it: "Matrix, The (a.k.a. X)" -> "The Matrix"."""
    title = _ALT_TITLE.sub("", title.strip())
    match = _ARTICLE_SUFFIX.match(title)
    if match:
        article = match["article"]
        sep = "" if article.endswith("'") else " "
        title = f"{article}{sep}{match['rest']}"
    return title


class TmdbClient:
    """Looks a movie up by TMDB id, else IMDb id, else title and year."""

    def __init__(
        self,
        *,
        api_key: str = "",
        read_token: str = "",
        base_url: str = "https://api.themoviedb.org/3",
        rate: float = DEFAULT_RATE,
        max_retries: int = 4,
        backoff: float = 0.5,
        timeout: float = 10.0,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.api_key = api_key
        self.read_token = read_token
        self.base_url = base_url.rstrip("/")
        self.max_retries = max_retries
        self.backoff = backoff
        self.timeout = timeout
        self.session = session or requests.Session()
        self._sleep = sleep
        self.limiter = TokenBucket(rate, sleep=sleep)

    @classmethod
    def from_settings(cls, **overrides: Any) -> TmdbClient:
        options: dict[str, Any] = {
            "api_key": settings.TMDB_API_KEY,
            "read_token": settings.TMDB_READ_TOKEN,
            "base_url": settings.TMDB_API_URL,
        }
        options.update(overrides)
        return cls(**options)

    @property
    def configured(self) -> bool:
        return bool(self.api_key or self.read_token)

    # -- lookups -------------------------------------------------------------------------------

    def lookup(
        self, *, tmdb_id: int | None, imdb_id: str, title: str, year: int | None
    ) -> TmdbMovie | None:
        """The first of: /movie/{tmdb_id}, /find/{imdb_id}, /search/movie; None if none match."""
        if tmdb_id:
            found = self.movie(tmdb_id)
            if found is not None:
                return found
        imdb = imdb_id_normalise(imdb_id)
        if imdb:
            found = self.find_imdb(imdb)
            if found is not None:
                return found
        if title:
            return self.search(title, year)
        return None

    def movie(self, tmdb_id: int) -> TmdbMovie | None:
        data = self._get(f"/movie/{int(tmdb_id)}")
        return _movie_from(data) if data is not None else None

    def find_imdb(self, imdb_id: str) -> TmdbMovie | None:
        data = self._get(f"/find/{imdb_id}", {"external_source": "imdb_id"})
        if data is None:
            return None
        results = data.get("movie_results")
        if not isinstance(results, list) or not results:
            return None
        return _movie_from(results[0])

    def search(self, title: str, year: int | None) -> TmdbMovie | None:
        params: dict[str, Any] = {"query": search_title(title), "include_adult": "false"}
        if year:
            params["year"] = year
        data = self._get("/search/movie", params)
        if data is None:
            return None
        results = data.get("results")
        if not isinstance(results, list) or not results:
            return None
        return _movie_from(results[0])

    # -- transport -----------------------------------------------------------------------------

    def _get(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any] | None:
        """GET a JSON object; None on 404. Retries 5xx and network errors with exponential
        backoff and honours 429 Retry-After; raises TmdbError when it gives up."""
        if not self.configured:
            raise TmdbNotConfigured("Set TMDB_API_KEY or TMDB_READ_TOKEN to fetch posters.")
        query = dict(params or {})
        headers = {"Accept": "application/json"}
        if self.read_token:
            headers["Authorization"] = f"Bearer {self.read_token}"
        else:
            query["api_key"] = self.api_key
        url = f"{self.base_url}{path}"
        for attempt in range(self.max_retries + 1):
            last = attempt == self.max_retries
            self.limiter.wait()
            try:
                response = self.session.get(
                    url, params=query, headers=headers, timeout=self.timeout
                )
            except (requests.ConnectionError, requests.Timeout) as exc:
                if last:
                    raise TmdbError(f"TMDB unreachable: {type(exc).__name__}") from exc
                self._sleep(self.backoff * 2**attempt)
                continue
            status = response.status_code
            if status == 404:
                return None
            if status == 429:
                if last:
                    raise TmdbError("TMDB rate limit: gave up after retries")
                delay = _retry_after(response.headers.get("Retry-After"), self.backoff * 2**attempt)
                logger.info("TMDB 429 on %s; waiting %.1f s", path, delay)
                self._sleep(delay)
                continue
            if status >= 500:
                if last:
                    raise TmdbError(f"TMDB server error {status} on {path}")
                self._sleep(self.backoff * 2**attempt)
                continue
            if status >= 400:
                # 401/403 and other client errors will not heal by retrying.
                raise TmdbError(f"TMDB refused {path}: HTTP {status}")
            try:
                data = response.json()
            except ValueError as exc:
                raise TmdbError(f"TMDB sent malformed JSON for {path}") from exc
            if not isinstance(data, dict):
                raise TmdbError(f"TMDB sent unexpected JSON for {path}")
            return data
        raise TmdbError("unreachable")  # pragma: no cover - the loop returns or raises


def _retry_after(header: str | None, default: float) -> float:
    if header is None:
        return default
    try:
        seconds = float(header)
    except ValueError:
        return default  # an HTTP date: rare from TMDB; backing off is good enough
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


def _movie_from(data: object) -> TmdbMovie | None:
    if not isinstance(data, dict):
        return None
    raw_id = data.get("id")
    poster = data.get("poster_path")
    overview = data.get("overview")
    # The path lands in an <img src>: accept only TMDB's own shape ("/abc123.jpg").
    poster_ok = isinstance(poster, str) and bool(_POSTER_PATH.fullmatch(poster))
    return TmdbMovie(
        tmdb_id=raw_id if isinstance(raw_id, int) and raw_id > 0 else None,
        poster_path=poster if poster_ok else "",
        overview=overview.strip() if isinstance(overview, str) else "",
    )
