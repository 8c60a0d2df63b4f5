"""Throttles hold under parallel requests (their counters are atomic cache increments), and the
log-in lock-out counts a name as Django authenticates it (after NFKC), not as typed."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.core.cache import cache
from django.db import connection, connections
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient, APIRequestFactory

from ratings.api import AuthTokenApi, SignUpApi
from tests.conftest import require_postgres
from tests.factories import UserFactory

PASSWORD = "correct-horse-battery"


def fw(text: str) -> str:
    """Fullwidth letters and digits, which NFKC folds back to ASCII."""
    return "".join(chr(ord(c) + 0xFEE0) if c.isalnum() else c for c in text)


@pytest.fixture(autouse=True)
def _clean_cache(settings: Any) -> Iterator[None]:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.LOGIN_FAILURES_PER_NAME = 3
    settings.LOGIN_FAILURES_PER_CLIENT = 5
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def busy_interpreter() -> Iterator[None]:
    """Switch threads as often as possible, so a read-then-write race shows up every time."""
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(interval)


def _in_parallel(n: int, job: Callable[[int], object]) -> list[object]:
    barrier = threading.Barrier(n)
    results: list[object] = []
    lock = threading.Lock()

    def run(i: int) -> None:
        try:
            barrier.wait()
            result = job(i)
            with lock:
                results.append(result)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


@pytest.mark.parametrize(("view_class", "parallel"), [(AuthTokenApi, 40), (SignUpApi, 20)])
def test_the_auth_throttle_admits_no_more_than_its_rate_in_parallel(
    settings: Any, busy_interpreter: None, view_class: type, parallel: int
) -> None:
    limit = int(settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["auth"].split("/")[0])
    view = view_class()
    view.throttle_scope = "auth"
    request = view.initialize_request(APIRequestFactory().post("/", REMOTE_ADDR="10.3.0.1"))

    for _round in range(3):
        cache.clear()
        admitted = _in_parallel(
            parallel,
            lambda _i: all(t.allow_request(request, view) for t in view.get_throttles()),
        )
        assert admitted.count(True) == limit


@pytest.mark.django_db
def test_a_fullwidth_spelling_does_not_escape_the_per_name_lock_out() -> None:
    UserFactory(username="alice", password=PASSWORD)
    client = Client(REMOTE_ADDR="10.3.0.2")
    url = reverse("login")
    for _ in range(3):
        assert client.post(url, {"username": "alice", "password": "x"}).status_code == 200
    for spelling in (fw("alice"), "ALICE", " alice "):
        blocked = client.post(url, {"username": spelling, "password": PASSWORD})
        assert blocked.status_code == 429, spelling
    assert "_auth_user_id" not in client.session


@pytest.mark.django_db
def test_the_api_token_endpoint_locks_a_name_out_too(settings: Any) -> None:
    rates = dict(settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], auth="1000/min")
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    UserFactory(username="bruno", password=PASSWORD)
    client = APIClient(REMOTE_ADDR="10.3.0.3")
    url = "/api/v1/auth/token/"
    for _ in range(3):
        wrong = client.post(url, {"username": "bruno", "password": "x"}, format="json")
        assert wrong.status_code == 400
    right = client.post(url, {"username": fw("bruno"), "password": PASSWORD}, format="json")
    assert right.status_code == 429
    assert right.json()["code"] == "throttled"
    assert int(right["Retry-After"]) > 0


@pytest.mark.django_db(transaction=True)
def test_parallel_wrong_passwords_on_the_log_in_page_stop_at_the_limit() -> None:
    if connection.vendor != "postgresql":
        require_postgres("parallel log-ins need real connections (set DATABASE_URL)")
    UserFactory(username="carla", password=PASSWORD)
    url = reverse("login")

    def attempt(_i: int) -> int:
        client = Client(REMOTE_ADDR="10.3.0.4")
        return client.post(url, {"username": "carla", "password": "wrong"}).status_code

    statuses = _in_parallel(20, attempt)
    assert statuses.count(200) == 3  # the form again: a counted failure
    assert statuses.count(429) == 17
