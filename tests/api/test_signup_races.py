"""Parallel sign-ups with one name, on Postgres with real connections: one account, one 201, and
400 `unique` for every other (never a 500), whatever the case of each attempt."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.db import connection, connections
from rest_framework.test import APIClient

from tests.conftest import require_postgres

pytestmark = pytest.mark.django_db(transaction=True)
PASSWORD = "a-l0ng-Unusual-pass"


@pytest.fixture(autouse=True)
def _postgres_and_no_throttle(settings: Any) -> None:
    if connection.vendor != "postgresql":
        require_postgres("parallel sign-ups race on real connections (set DATABASE_URL)")
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    rates = dict(settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"], auth="1000/min")
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}


def _parallel_signups(names: list[str]) -> list[tuple[int, dict]]:
    barrier = threading.Barrier(len(names))
    results: list[tuple[int, dict]] = []
    lock = threading.Lock()

    def sign_up(name: str, n: int) -> None:
        client = APIClient(REMOTE_ADDR=f"10.1.0.{n}")
        try:
            barrier.wait()
            response = client.post(
                "/api/v1/auth/signup/", {"username": name, "password": PASSWORD}, format="json"
            )
            with lock:
                results.append((response.status_code, response.json()))
        finally:
            connections.close_all()

    threads = [threading.Thread(target=sign_up, args=(name, n)) for n, name in enumerate(names)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


@pytest.mark.parametrize(
    "names", [["hazel"] * 8, ["ivan", "IVAN"] * 4], ids=["same name", "alternating case"]
)
def test_parallel_sign_ups_with_one_name_make_one_account(names: list[str]) -> None:
    for _ in range(3):
        results = _parallel_signups(names)
        statuses = sorted(status for status, _ in results)
        assert statuses == [201] + [400] * (len(names) - 1), results
        assert {body["code"] for status, body in results if status == 400} == {"unique"}
        assert get_user_model().objects.filter(username__iexact=names[0]).count() == 1
        get_user_model().objects.filter(username__iexact=names[0]).delete()
