"""A password change rotates the user's API token, whichever way the password was changed: the
old key answers 401 and /auth/token/ hands out a new one."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.tokens import default_token_generator
from django.urls import reverse
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from rest_framework.test import APIClient

from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_accounts")]
OLD = "a-long-unusual-passphrase-42"
NEW = "another-long-unusual-phrase-43"


def _token(username: str, password: str) -> str:
    response = APIClient().post(
        "/api/v1/auth/token/", {"username": username, "password": password}, format="json"
    )
    assert response.status_code == 200, response.content
    return response.json()["token"]


def _works(key: str) -> bool:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client.get("/api/v1/me/profile/").status_code == 200


def _by_page(client: Any, user: Any) -> None:
    client.force_login(user)
    response = client.post(
        reverse("password_change"),
        {"old_password": OLD, "new_password1": NEW, "new_password2": NEW},
    )
    assert response.status_code == 302


def _by_reset(client: Any, user: Any) -> None:
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    token = default_token_generator.make_token(user)
    url = reverse("password_reset_confirm", args=[uid, token])
    form_url = client.get(url)["Location"]  # Django swaps the token for a session marker
    response = client.post(form_url, {"new_password1": NEW, "new_password2": NEW})
    assert response.status_code == 302


def _by_admin(client: Any, user: Any) -> None:
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    url = reverse("admin:auth_user_password_change", args=[user.pk])
    response = client.post(url, {"password1": NEW, "password2": NEW, "usable_password": "true"})
    assert response.status_code == 302, response.content


def _by_code(client: Any, user: Any) -> None:
    user = get_user_model().objects.get(pk=user.pk)
    user.set_password(NEW)
    user.save()


@pytest.mark.parametrize("change", [_by_page, _by_reset, _by_admin, _by_code])
def test_a_password_change_rotates_the_api_token(client: Any, change: Any) -> None:
    user = UserFactory(username="kim", password=OLD)
    old_key = _token("kim", OLD)
    assert _works(old_key)

    change(client, user)

    assert not _works(old_key)
    new_key = _token("kim", NEW)
    assert new_key != old_key
    assert _works(new_key)


def test_saving_a_user_without_a_password_change_keeps_the_token() -> None:
    user = UserFactory(username="lee", password=OLD)
    key = _token("lee", OLD)
    user.first_name = "Lee"
    user.save()
    assert _works(key)
    assert _token("lee", OLD) == key


def test_a_hash_upgrade_at_log_in_is_not_a_password_change(settings: Any) -> None:
    user = UserFactory(username="max", password=OLD)  # hashed with MD5 (the fixture)
    key = _token("max", OLD)
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
        "django.contrib.auth.hashers.MD5PasswordHasher",
    ]
    assert _token("max", OLD) == key  # Django rehashed the password while checking it
    user.refresh_from_db()
    assert user.password.startswith("pbkdf2_sha1$")
    assert _works(key)
