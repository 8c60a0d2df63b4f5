"""Log-in throttling: guesses past the limit are refused with 429, on the pages and the admin."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.urls import reverse

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db
PASSWORD = "correct-horse-battery"


@pytest.fixture(autouse=True)
def _limits(settings):
    settings.LOGIN_FAILURES_PER_NAME = 3
    settings.LOGIN_FAILURES_PER_CLIENT = 5
    cache.clear()
    yield
    cache.clear()


def _login(client, url: str, username: str, password: str, addr: str = "10.0.0.1"):
    return client.post(url, {"username": username, "password": password}, REMOTE_ADDR=addr)


@pytest.mark.parametrize("url_name", ["login", "admin:login"])
def test_guesses_past_the_limit_are_refused_even_with_the_right_password(client, url_name) -> None:
    UserFactory(username="alice", is_staff=True)
    url = reverse(url_name)

    statuses = [_login(client, url, "alice", "wrong").status_code for _ in range(3)]
    blocked = _login(client, url, "alice", PASSWORD)

    assert statuses == [200, 200, 200]
    assert blocked.status_code == 429
    assert "Too many attempts" in blocked.content.decode()
    assert "_auth_user_id" not in client.session


def test_a_good_login_clears_the_count_for_that_name(client) -> None:
    UserFactory(username="bob")
    url = reverse("login")
    for _ in range(2):
        _login(client, url, "bob", "wrong")

    assert _login(client, url, "bob", PASSWORD).status_code == 302
    client.logout()
    assert [_login(client, url, "bob", "wrong").status_code for _ in range(2)] == [200, 200]


def test_one_client_cannot_spray_guesses_across_many_names(client) -> None:
    url = reverse("login")
    statuses = [_login(client, url, f"user{n}", "wrong").status_code for n in range(6)]
    assert statuses[:5] == [200] * 5
    assert statuses[5] == 429


def test_forwarded_headers_do_not_reset_the_count(client) -> None:
    UserFactory(username="carol")
    url = reverse("login")
    statuses = [
        client.post(
            url,
            {"username": "carol", "password": "wrong"},
            REMOTE_ADDR="10.0.0.9",
            HTTP_X_FORWARDED_FOR=f"192.0.2.{n}",
        ).status_code
        for n in range(4)
    ]
    assert statuses == [200, 200, 200, 429]


def test_other_clients_are_not_blocked(client) -> None:
    UserFactory(username="dave")
    url = reverse("login")
    for _ in range(3):
        _login(client, url, "dave", "wrong", addr="10.0.0.2")
    assert _login(client, url, "dave", PASSWORD, addr="10.0.0.3").status_code == 302
