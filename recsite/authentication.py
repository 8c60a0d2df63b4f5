"""API token authentication: DRF's rules, one raw query per request."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions
from rest_framework.authtoken.models import Token


class TokenAuthentication(authentication.TokenAuthentication):
    """`Authorization: Token <key>`, as DRF checks it (unknown key or inactive user: 401), with
    the user read in one raw SQL join. Every API call runs this, and building DRF's
    `Token.objects.select_related("user").get(key=...)` cost more than running it (measured in
    docs/benchmarks.md). `request.auth` is the Token, unsaved fields aside from key and user."""

    def authenticate_credentials(self, key: str) -> tuple[Any, Token]:
        user_model = get_user_model()
        q = connection.ops.quote_name
        sql = (
            f"SELECT u.* FROM {q(user_model._meta.db_table)} u "
            f"JOIN {q(Token._meta.db_table)} t "
            f"ON t.{q(Token._meta.get_field('user').column)} = u.{q(user_model._meta.pk.column)} "
            f"WHERE t.{q(Token._meta.pk.column)} = %s"
        )
        user = next(iter(user_model.objects.raw(sql, [key])), None)
        if user is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        if not user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        return user, Token(key=key, user=user)
