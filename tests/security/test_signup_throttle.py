"""The sign-up page is throttled like the API's sign-up (one shared per-client count), so it
can neither mint accounts in bulk nor be used to test many usernames quickly."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
PASSWORD = "a-long-unusual-passphrase-42"


@pytest.fixture(autouse=True)
def _clean(settings: Any) -> Iterator[None]:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    cache.clear()
    yield
    cache.clear()


def _limit(settings: Any) -> int:
    return int(settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]["auth"].split("/")[0])


def _page_signup(client: Client, username: str) -> int:
    data = {"username": username, "password1": PASSWORD, "password2": PASSWORD}
    response = client.post(reverse("ratings:signup"), data, REMOTE_ADDR="10.4.0.1")
    client.logout()
    return response.status_code


def test_one_client_cannot_open_accounts_in_a_row(client: Client, settings: Any) -> None:
    limit = _limit(settings)
    statuses = [_page_signup(client, f"bulk{n}") for n in range(limit + 5)]
    assert statuses == [302] * limit + [429] * 5
    assert get_user_model().objects.filter(username__startswith="bulk").count() == limit
    refused = client.post(reverse("ratings:signup"), {}, REMOTE_ADDR="10.4.0.1")
    assert "Too many" in refused.content.decode()
    assert int(refused["Retry-After"]) > 0


def test_probing_taken_names_is_throttled_too(client: Client, settings: Any) -> None:
    UserFactory(username="target")
    limit = _limit(settings)
    statuses = [_page_signup(client, "target") for _ in range(limit + 1)]
    assert statuses == [200] * limit + [429]


def test_the_page_and_the_api_share_one_count(client: Client, settings: Any) -> None:
    api = APIClient(REMOTE_ADDR="10.4.0.1")
    for n in range(_limit(settings)):
        body = {"username": f"api{n}", "password": PASSWORD}
        assert api.post("/api/v1/auth/signup/", body, format="json").status_code == 201
    assert _page_signup(client, "one-more") == 429
    assert client.get(reverse("ratings:signup"), REMOTE_ADDR="10.4.0.1").status_code == 200


def test_other_clients_can_still_sign_up(client: Client, settings: Any) -> None:
    for n in range(_limit(settings) + 1):
        _page_signup(client, f"flood{n}")
    other = client.post(
        reverse("ratings:signup"),
        {"username": "neighbour", "password1": PASSWORD, "password2": PASSWORD},
        REMOTE_ADDR="10.4.0.2",
    )
    assert other.status_code == 302
