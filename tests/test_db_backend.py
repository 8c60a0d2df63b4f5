"""recsite.db.postgresql: the health check of a kept connection (no round trip while the server
keeps the session; a session the server ended is replaced before a request uses it) and the
prepared statements of recsite.db.prepared."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from django.db import connection, connections, transaction
from rest_framework.authtoken.models import Token

from recommender.selectors import user_favourite_genre_ids, user_rating_stamp
from recsite.authentication import TokenAuthentication
from recsite.db import prepared
from tests.conftest import require_postgres
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def on_postgres() -> None:
    """What these tests check is the Postgres backend's."""
    if connection.vendor != "postgresql":
        require_postgres("recsite.db.postgresql is the Postgres backend")


@pytest.fixture
def kept(on_postgres) -> Iterator[object]:
    """A second connection to the test database, in autocommit as between requests."""
    wrapper = connections.create_connection("default")
    wrapper.ensure_connection()
    yield wrapper
    wrapper.close()


def _last_statement(pid: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT query FROM pg_stat_activity WHERE pid = %s", [pid])
        return str(cursor.fetchone()[0])


def _backend_pid(wrapper) -> int:
    with wrapper.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return int(cursor.fetchone()[0])


def test_the_backend_is_ours_and_still_postgres(on_postgres) -> None:
    assert type(connections["default"]).__module__ == "recsite.db.postgresql.base"
    assert connection.settings_dict["CONN_HEALTH_CHECKS"] is True


def test_an_idle_kept_connection_is_usable_without_a_query(kept) -> None:
    pid = _backend_pid(kept)
    assert _last_statement(pid) == "SELECT pg_backend_pid()"
    assert kept.is_usable()
    assert _last_statement(pid) == "SELECT pg_backend_pid()"  # no SELECT 1 reached the server


def test_a_connection_in_a_transaction_is_asked(kept) -> None:
    pid = _backend_pid(kept)
    kept.set_autocommit(False)
    try:
        with kept.cursor() as cursor:
            cursor.execute("SELECT 2")
        assert kept.is_usable()
        assert _last_statement(pid) == "SELECT 1"
    finally:
        kept.rollback()
        kept.set_autocommit(True)


def test_a_session_the_server_ended_is_replaced_before_the_next_query(kept) -> None:
    pid = _backend_pid(kept)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
        assert cursor.fetchone()[0] is True
    deadline = time.monotonic() + 5
    while kept.is_usable():
        assert time.monotonic() < deadline, "the ended session still looked usable"
        time.sleep(0.05)
    # As at the start of a request: Django's health check closes it, the query reconnects.
    kept.health_check_done = False
    kept.close_if_health_check_failed()
    assert _backend_pid(kept) != pid


def _prepared_here() -> set[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT name FROM pg_prepared_statements")
        return {name for (name,) in cursor.fetchall()}


@pytest.fixture
def token_user():
    user = UserFactory()
    return user, Token.objects.create(user=user).key


def test_the_hot_queries_are_prepared_once_per_connection(on_postgres, token_user) -> None:
    user, key = token_user
    connection.close()  # a new connection: nothing prepared yet
    assert TokenAuthentication().authenticate_credentials(key)[0] == user
    assert user_rating_stamp(user_id=user.pk) == (0, None)
    assert user_favourite_genre_ids(user_id=user.pk) == []
    assert _prepared_here() == {
        "recsite_token_user",
        "recsite_rating_stamp",
        "recsite_favourite_genres",
    }
    assert connection.prepared_statements == _prepared_here()
    for _ in range(3):  # executed again, not prepared again (a second PREPARE would fail)
        assert TokenAuthentication().authenticate_credentials(key)[0] == user


def test_a_statement_prepared_in_a_rolled_back_transaction_is_still_there(
    on_postgres, token_user
) -> None:
    user, key = token_user
    connection.close()

    def authenticate_then_fail() -> None:
        with transaction.atomic():
            TokenAuthentication().authenticate_credentials(key)
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        authenticate_then_fail()
    assert "recsite_token_user" in _prepared_here()
    assert TokenAuthentication().authenticate_credentials(key)[0] == user


def test_a_new_connection_prepares_again(on_postgres, token_user) -> None:
    user, key = token_user
    TokenAuthentication().authenticate_credentials(key)
    old_pid = _backend_pid(connection)
    connection.close()
    assert TokenAuthentication().authenticate_credentials(key)[0] == user
    assert _backend_pid(connection) != old_pid
    assert _prepared_here() == {"recsite_token_user"}


def test_other_databases_run_the_statement_as_it_is(token_user) -> None:
    """SQLite (the default stack) has no PREPARE: the same call runs the plain statement."""
    user, _ = token_user
    if connection.vendor == "postgresql":
        pytest.skip("the plain path is the other databases'")
    with connection.cursor() as cursor:
        prepared.execute(cursor, "unused", "SELECT %s + %s", [2, 3])
        assert cursor.fetchone()[0] == 5
    assert user_rating_stamp(user_id=user.pk) == (0, None)
