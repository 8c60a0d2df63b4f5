"""API token authentication: DRF's rules, one raw query per request."""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models.sql import Query
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions
from rest_framework.authtoken.models import Token

from recsite.db import prepared


class TokenAuthentication(authentication.TokenAuthentication):
    """`Authorization: Token <key>`, as DRF checks it (unknown key or inactive user: 401), with
    the user read in one raw SQL join. Every API call runs this: DRF's
    `Token.objects.select_related("user").get(key=...)` cost more to build than to run, and so
    did `User.objects.raw` (0.26 ms of CPU a call, against 0.11 ms for a cursor and
    `Model.from_db`; docs/benchmarks.md), and on Postgres it is a prepared statement, planned
    once per connection (recsite.db.prepared). `request.auth` is the Token, unsaved fields aside
    from key and user."""

    def authenticate_credentials(self, key: str) -> tuple[Any, Token]:
        query = _user_query(connection.vendor)
        with connection.cursor() as cursor:
            prepared.execute(cursor, "recsite_token_user", query.sql, [key])
            row = cursor.fetchone()
        if row is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        values = next(query.compiler.apply_converters([row], query.converters))
        user = get_user_model().from_db(connection.alias, query.attnames, values)
        if not user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        return user, Token(key=key, user=user)


class _UserQuery(NamedTuple):
    sql: str
    attnames: list[str]
    # The ORM's compiler and the converters it applies to these columns on loading them
    # (SQLite hands back text for a datetime and 0/1 for a boolean; Postgres needs none here).
    compiler: Any
    converters: dict[int, tuple[list[Any], Any]]


@functools.cache
def _user_query(vendor: str) -> _UserQuery:
    """The token's user, every column, for one kind of database (the same on every call)."""
    user_model = get_user_model()
    fields = user_model._meta.concrete_fields
    q = connection.ops.quote_name
    columns = ", ".join(f"u.{q(field.column)}" for field in fields)
    sql = (
        f"SELECT {columns} FROM {q(user_model._meta.db_table)} u "
        f"JOIN {q(Token._meta.db_table)} t "
        f"ON t.{q(Token._meta.get_field('user').column)} = u.{q(user_model._meta.pk.column)} "
        f"WHERE t.{q(Token._meta.pk.column)} = %s"
    )
    compiler = Query(user_model).get_compiler(connection=connection)
    converters = compiler.get_converters(
        [field.get_col(user_model._meta.db_table) for field in fields]
    )
    return _UserQuery(sql, [field.attname for field in fields], compiler, converters)
