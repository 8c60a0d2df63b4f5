"""Accounts: one service normalises (NFKC) a name before any check, for the page, the API and the
admin; the database keeps usernames unique whatever their case; the importer will not adopt a
real account whose name is a rater's."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps as django_apps
from django.contrib.auth import get_user_model
from django.db import IntegrityError, connection, transaction
from django.urls import reverse
from rest_framework.test import APIClient

from ratings.importer import movielens_import
from ratings.models import Rating
from ratings.movielens import MovieLensFormatError
from tests.factories import UserFactory
from tests.ratings import movielens_files as files

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("fast_accounts")]
User = get_user_model()
PASSWORD = "a-long-unusual-passphrase-42"


def fw(text: str) -> str:
    """Fullwidth letters and digits (what NFKC folds back to ASCII); "-" stays as it is."""
    return "".join(chr(ord(c) + 0xFEE0) if c.isalnum() else c for c in text)


def _api_signup(username: str) -> Any:
    body = {"username": username, "password": PASSWORD}
    return APIClient().post("/api/v1/auth/signup/", body, format="json")


def _page_signup(client: Any, username: str) -> Any:
    data = {"username": username, "password1": PASSWORD, "password2": PASSWORD}
    return client.post(reverse("ratings:signup"), data)


def _admin_add(client: Any, username: str) -> Any:
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    data = {
        "username": username,
        "password1": PASSWORD,
        "password2": PASSWORD,
        "usable_password": "true",
    }
    return client.post(reverse("admin:auth_user_add"), data)


@pytest.mark.parametrize(
    ("existing", "attempt", "code"),
    [
        ("alice", fw("alice"), "unique"),  # fullwidth: NFKC makes it "alice"
        ("bob", fw("BOB"), "unique"),  # NFKC makes it "BOB": a case duplicate
        ("carol", "CAROL", "unique"),
        (None, fw("movielens-12345"), "reserved"),
        (None, "MovieLens-7", "reserved"),
    ],
)
def test_api_sign_up_checks_the_normalised_name(
    existing: str | None, attempt: str, code: str
) -> None:
    if existing:
        UserFactory(username=existing)
    before = User.objects.count()
    response = _api_signup(attempt)
    assert response.status_code == 400, response.content
    assert response.json()["code"] == code
    assert list(response.json()["errors"]) == ["username"]
    assert User.objects.count() == before


def test_api_sign_up_stores_the_normalised_name() -> None:
    response = _api_signup(fw("ada"))
    assert response.status_code == 201, response.content
    assert response.json()["username"] == "ada"
    assert User.objects.filter(username="ada").exists()


@pytest.mark.parametrize(
    ("existing", "attempt"),
    [("alice", fw("alice")), ("bob", fw("BOB")), (None, fw("movielens-1"))],
)
def test_the_page_and_the_admin_refuse_the_same_names(
    client: Any, existing: str | None, attempt: str
) -> None:
    if existing:
        UserFactory(username=existing)
    before = User.objects.count()
    assert _page_signup(client, attempt).status_code == 200  # the form again, with the error
    assert User.objects.count() == before
    client.logout()
    response = _admin_add(client, attempt)
    assert response.status_code == 200  # the add form again, with the error
    assert "errornote" in response.content.decode()
    assert User.objects.count() == before + 1  # the superuser only


def test_the_admin_cannot_rename_an_account_to_a_case_duplicate(client: Any) -> None:
    UserFactory(username="dora")
    victim = UserFactory(username="eve")
    client.force_login(UserFactory(username="root", is_staff=True, is_superuser=True))
    url = reverse("admin:auth_user_change", args=[victim.pk])
    form = client.get(url).context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None and k != "password"}
    data.update(username="DORA", date_joined_0="2026-01-01", date_joined_1="00:00:00")
    data.pop("date_joined", None)
    data.pop("last_login", None)
    data.pop("groups", None)
    data.pop("user_permissions", None)
    response = client.post(url, data)
    assert response.status_code == 200
    victim.refresh_from_db()
    assert victim.username == "eve"


def test_the_database_refuses_a_case_duplicate_username() -> None:
    UserFactory(username="frank")
    with pytest.raises(IntegrityError), transaction.atomic():
        User.objects.create(username="FRANK")


def test_the_migration_refuses_clearly_when_case_duplicates_exist() -> None:
    migration = importlib.import_module("ratings.migrations.0002_username_unique_ignoring_case")
    with connection.cursor() as cursor:
        cursor.execute(f"DROP INDEX {migration.INDEX}")
    User.objects.create(username="gina")
    User.objects.create(username="GINA")
    with pytest.raises(RuntimeError, match="gina"):
        migration.refuse_case_duplicates(django_apps, None)
    # The test's transaction rolls back, index included (SQLite and Postgres DDL are transactional).


@pytest.mark.parametrize("name", ["movielens-2", "MovieLens-2"])
def test_the_importer_refuses_a_rater_whose_name_is_a_real_account(
    tmp_path: Path, name: str
) -> None:
    # An account made before names were checked after normalising: active, with a password.
    with connection.cursor() as cursor:
        cursor.execute(f"DROP INDEX IF EXISTS {_index()}")
    squatter = UserFactory(username=name)
    with pytest.raises(MovieLensFormatError) as caught:
        movielens_import(files.write_csv_release(tmp_path / "small"))
    assert caught.value.line == 4  # rater 2's first rating (line 1 is the header)
    assert "movielens-2" in caught.value.reason.lower()
    assert "account" in caught.value.reason
    assert not Rating.objects.exists()
    assert not squatter.ratings.exists()


def _index() -> str:
    return importlib.import_module("ratings.migrations.0002_username_unique_ignoring_case").INDEX
