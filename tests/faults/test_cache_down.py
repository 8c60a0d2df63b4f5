"""Redis as the cache (CACHE_URL=redis://...) down or silent: pages and the API keep serving."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Iterator
from decimal import Decimal

import pytest
from django.core.cache import cache
from django.test import Client
from rest_framework.authtoken.models import Token

from ratings.services import rating_upsert
from tests.conftest import require_service
from tests.factories import MovieFactory, UserFactory
from tests.faults.conftest import closed_port

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

REDIS_URL = "redis://127.0.0.1:6379/8"  # DB 8 belongs to these tests
PASSWORD = "a-long-unusual-passphrase-42"


def _redis_cache(settings, url: str) -> None:
    """CACHES as recsite.settings builds it from CACHE_URL=redis://... (Django reconnects)."""
    settings.CACHES = {
        "default": {
            "BACKEND": "recsite.cache.FailOpenRedisCache",
            "LOCATION": url,
            "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
        }
    }


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A TCP server that accepts connections and never answers, as a hung Redis does."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
                held.append(conn)
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield int(server.getsockname()[1])
    stop.set()
    thread.join(timeout=2)
    for conn in held:
        conn.close()
    server.close()


@pytest.fixture
def site() -> dict[str, object]:
    movies = [MovieFactory(title=f"Cached film {i}") for i in range(12)]
    member = UserFactory(username="member")
    member.set_password(PASSWORD)
    member.save()
    for movie in movies[:3]:
        rating_upsert(user=member, movie=movie, score=Decimal("4.0"))
    return {"member": member, "token": Token.objects.create(user=member).key, "movie": movies[5]}


def _visit(site: dict[str, object]) -> list[tuple[str, int]]:
    """What people do: browse anonymously, use the API with a token, log in (a wrong password
    first, which counts against the lock-out), and open pages signed in."""
    anon, api, member = Client(), Client(HTTP_AUTHORIZATION=f"Token {site['token']}"), Client()
    seen = [
        ("/", anon.get("/").status_code),
        ("/api/v1/movies/", anon.get("/api/v1/movies/").status_code),
        ("/api/v1/me/recommendations/", api.get("/api/v1/me/recommendations/?k=5").status_code),
    ]
    wrong = member.post("/accounts/login/", {"username": "member", "password": "nope"})
    seen.append(("login, wrong password", wrong.status_code))
    right = member.post("/accounts/login/", {"username": "member", "password": PASSWORD})
    seen.append(("login", right.status_code))
    seen.append(("/ signed in", member.get("/").status_code))
    seen.append(("movie page", member.get(f"/movies/{site['movie'].pk}/").status_code))
    return seen


def test_cache_unreachable_serves_everything_and_logs_once(settings, site, caplog) -> None:
    _redis_cache(settings, f"redis://127.0.0.1:{closed_port()}/0")  # nothing listens there
    with caplog.at_level(logging.ERROR, logger="recsite.cache"):
        seen = _visit(site) + _visit(site)
    assert seen == [(path, 302 if path == "login" else 200) for path, _ in seen], (
        seen
    )  # a wrong password re-renders the form (200); the right one redirects
    outages = [r for r in caplog.records if "cache unavailable" in r.getMessage()]
    assert len(outages) == 1


def test_cache_that_never_answers_costs_one_timeout_not_one_per_call(
    settings, site, silent_server
) -> None:
    _redis_cache(settings, f"redis://127.0.0.1:{silent_server}/0")
    started = time.monotonic()
    seen = _visit(site) + _visit(site)
    elapsed = time.monotonic() - started
    assert all(status in (200, 302) for _, status in seen), seen
    # Some 40 cache calls: at 0.5 s each they would take 20 s; the outage is noticed once.
    assert elapsed < 5.0, f"{elapsed:.1f} s"


def test_a_reachable_redis_is_used_as_the_cache(settings, site) -> None:
    try:
        import redis

        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).flushdb()
    except Exception as exc:
        require_service("Redis", f"{REDIS_URL}: {exc}")
    _redis_cache(settings, REDIS_URL)
    cache.set("recsite:probe", {"a": 1}, 30)
    assert cache.get("recsite:probe") == {"a": 1}
    assert cache.add("recsite:count", 0, 30) is True
    assert cache.incr("recsite:count") == 1
    assert all(status in (200, 302) for _, status in _visit(site))
    assert redis.Redis.from_url(REDIS_URL).dbsize() > 2  # the throttles and lists went there


def test_counting_on_redis_is_atomic_expires_and_fails_open(settings) -> None:
    """The throttles' counter on Redis: one script call per count, every count distinct under
    parallel clients, the window's expiry set, and a count of 1 while Redis is away."""
    try:
        import redis

        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).flushdb()
    except Exception as exc:
        require_service("Redis", f"{REDIS_URL}: {exc}")
    from concurrent.futures import ThreadPoolExecutor

    from recsite.api_throttles import cache_count

    _redis_cache(settings, REDIS_URL)
    with ThreadPoolExecutor(8) as pool:
        counts = list(pool.map(lambda _: cache_count(cache, "recsite:window", 30), range(200)))
    assert sorted(counts) == list(range(1, 201))
    assert cache.get("recsite:window") == 200  # Django's own reads see the counter
    ttl = redis.Redis.from_url(REDIS_URL).ttl(cache.make_key("recsite:window"))
    assert 0 < ttl <= 30

    _redis_cache(settings, f"redis://127.0.0.1:{closed_port()}/0")
    assert [cache_count(cache, "recsite:window", 30) for _ in range(3)] == [1, 1, 1]
