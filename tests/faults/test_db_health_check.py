"""The health check of a kept Postgres connection (recsite.db.postgresql): no round trip while
the server keeps the session, and a connection the server ended is replaced before a request
uses it."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
from django.db import connection, connections

from tests.conftest import require_postgres

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def kept() -> Iterator[object]:
    """A second connection to the test database, in autocommit as between requests."""
    if connection.vendor != "postgresql":
        require_postgres("the health check under test is the Postgres backend's")
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


def test_the_backend_is_ours_and_still_postgres() -> None:
    if connection.vendor != "postgresql":
        require_postgres("the backend under test is Postgres's")
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
