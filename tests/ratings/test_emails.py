"""Email addresses: optional, normalised (NFKC, trimmed, domain in lower case) and unique
ignoring case, on the API, the page, the admin and in the database."""

from __future__ import annotations

import importlib
import re
from typing import Any

import pytest
from django.apps import apps as django_apps
from django.contrib.auth import get_user_model
from django.db import IntegrityError, connection, transaction
from django.urls import reverse
from rest_framework.test import APIClient

from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_accounts")]
User = get_user_model()
PASSWORD = "a-long-unusual-passphrase-42"


def _api(username: str, email: str) -> Any:
    body = {"username": username, "email": email, "password": PASSWORD}
    return APIClient().post("/api/v1/auth/signup/", body, format="json")


@pytest.mark.parametrize(
    "duplicate", ["ann@example.com", "ANN@example.com", "ann@EXAMPLE.COM", " ann@example.com "]
)
def test_the_api_refuses_an_email_already_in_use(duplicate: str) -> None:
    UserFactory(username="ann", email="ann@example.com")
    response = _api("ann2", duplicate)
    assert response.status_code == 400, response.content
    assert response.json()["code"] == "unique"
    assert list(response.json()["errors"]) == ["email"]
    assert not User.objects.filter(username="ann2").exists()


def test_the_api_stores_the_normalised_email_and_allows_many_without_one() -> None:
    assert _api("bea", "Bea@Example.COM").status_code == 201
    assert User.objects.get(username="bea").email == "Bea@example.com"
    assert _api("cid", "").status_code == 201
    assert _api("dee", "").status_code == 201


def test_the_page_refuses_an_email_already_in_use(client: Any) -> None:
    UserFactory(username="eli", email="eli@example.com")
    data = {
        "username": "eli2",
        "email": "ELI@example.com",
        "password1": PASSWORD,
        "password2": PASSWORD,
    }
    response = client.post(reverse("ratings:signup"), data)
    assert response.status_code == 200
    assert "email" in response.context["form"].errors
    assert not User.objects.filter(username="eli2").exists()


def test_the_admin_refuses_an_email_already_in_use(client: Any) -> None:
    UserFactory(username="fay", email="fay@example.com")
    other = UserFactory(username="gus", email="")
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    url = reverse("admin:auth_user_change", args=[other.pk])
    form = client.get(url).context["adminform"].form
    data = {
        k: v
        for k, v in form.initial.items()
        if v is not None and k not in ("password", "last_login", "date_joined")
    }
    data.update(email="FAY@example.com", date_joined_0="2026-01-01", date_joined_1="00:00:00")
    data.pop("groups", None)
    data.pop("user_permissions", None)
    assert client.post(url, data).status_code == 200
    other.refresh_from_db()
    assert other.email == ""


def test_the_database_refuses_a_duplicate_email_in_any_case() -> None:
    UserFactory(username="hal", email="hal@example.com")
    User.objects.create(username="noemail1", email="")
    User.objects.create(username="noemail2", email="")  # empty is not an address
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create(username="hal2", email="HAL@example.com")


def test_the_migration_refuses_clearly_when_duplicate_emails_exist() -> None:
    migration = importlib.import_module("ratings.migrations.0003_email_unique_ignoring_case")
    with connection.cursor() as cursor:
        cursor.execute(f"DROP INDEX {migration.INDEX}")
    User.objects.create(username="ida", email="ida@example.com")
    User.objects.create(username="ida2", email="IDA@example.com")
    with pytest.raises(RuntimeError, match=re.escape("ida@example.com")):
        migration.refuse_duplicate_emails(django_apps, None)
