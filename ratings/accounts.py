"""Accounts: the one place that opens them (the sign-up page, the API and the admin all come
here) and that hands out API tokens.

A username is normalised (NFKC, as Django's forms and log-in do) before any check, so a check
and the row it guards see the same name; the database's unique index on lower(username)
(migration ratings 0002) is the last word when two sign-ups race. Email addresses are
optional, normalised and unique ignoring case the same way (migration ratings 0003).
"""

from __future__ import annotations

import unicodedata

from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.base_user import BaseUserManager
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from rest_framework.authtoken.models import Token

from ratings.services import profile_get_or_create

# The importer names MovieLens raters movielens-<id>; nobody else may hold such a name.
MOVIELENS_USERNAME_PREFIX = "movielens-"
USERNAME_TAKEN = "That username is taken."
USERNAME_RESERVED = (
    f'Usernames starting with "{MOVIELENS_USERNAME_PREFIX}" are reserved for imported MovieLens '
    "raters."
)


def username_normalize(username: str) -> str:
    """What the account will be called: NFKC (fullwidth "\uff41lice" is "alice"), trimmed."""
    return unicodedata.normalize("NFKC", str(username)).strip()


def username_is_reserved(username: str) -> bool:
    return username_normalize(username).casefold().startswith(MOVIELENS_USERNAME_PREFIX)


def username_validate(username: str, *, exclude_pk: int | None = None) -> str:
    """The normalised name, or ValidationError (code `reserved`, `unique`, or the field's own)."""
    name = username_normalize(username)
    field = get_user_model()._meta.get_field("username")
    field.run_validators(name)
    if len(name) > field.max_length:
        raise ValidationError(f"At most {field.max_length} characters.", code="max_length")
    if username_is_reserved(name):
        raise ValidationError(USERNAME_RESERVED, code="reserved")
    if _taken(exclude_pk, username__iexact=name):
        raise ValidationError(USERNAME_TAKEN, code="unique")
    return name


EMAIL_TAKEN = "An account with this email address exists."


def email_normalize(email: str) -> str:
    """NFKC, trimmed, the domain in lower case ("" stays "": no address)."""
    text = unicodedata.normalize("NFKC", str(email or "")).strip()
    return BaseUserManager.normalize_email(text)


def email_validate(email: str, *, exclude_pk: int | None = None) -> str:
    """The normalised address, or ValidationError `unique` when another account has it (in
    any case). Many accounts may have none."""
    address = email_normalize(email)
    if not address:
        return ""
    if _taken(exclude_pk, email__iexact=address):
        raise ValidationError(EMAIL_TAKEN, code="unique")
    return address


def _taken(exclude_pk: int | None, **lookup: str) -> bool:
    """Whether an account other than `exclude_pk` matches the lookup."""
    return get_user_model().objects.filter(**lookup).exclude(pk=exclude_pk).exists()


@transaction.atomic
def account_create(*, username: str, password: str, email: str = "") -> AbstractBaseUser:
    """A new active account and its profile. The password is checked by the caller's form;
    the name here, again, after normalising. Raises ValidationError keyed by field."""
    errors: dict[str, list[ValidationError]] = {}
    name = address = ""
    try:
        name = username_validate(username)
    except ValidationError as exc:
        errors["username"] = exc.error_list
    try:
        address = email_validate(email)
    except ValidationError as exc:
        errors["email"] = exc.error_list
    if errors:
        raise ValidationError(errors)
    try:
        with transaction.atomic():
            user = get_user_model().objects.create_user(
                username=name, email=address, password=password
            )
    except IntegrityError as exc:
        # Another sign-up took the name or the address between our checks and the insert.
        if get_user_model().objects.filter(username__iexact=name).exists():
            raise ValidationError(
                {"username": [ValidationError(USERNAME_TAKEN, code="unique")]}
            ) from exc
        raise ValidationError({"email": [ValidationError(EMAIL_TAKEN, code="unique")]}) from exc
    profile_get_or_create(user=user)
    return user


class LoginThrottled(Exception):
    """Too many log-in attempts from this client, or for this name from it."""

    def __init__(self, wait_seconds: int) -> None:
        super().__init__(f"Too many attempts; try again in {wait_seconds} seconds.")
        self.wait_seconds = wait_seconds


def token_obtain(
    *, request: HttpRequest | None, client: str, username: str, password: str
) -> Token | None:
    """The user's token for a username and password, or None when they are wrong. Counted by
    the same per-client and per-name lock-out as the log-in pages (LoginThrottled past it)."""
    from ratings.throttle import (  # the throttle keys names with username_normalize
        login_attempt_admit,
        login_attempt_succeeded,
        login_lockout_minutes,
    )

    name = username_normalize(username)
    if not login_attempt_admit(client=client, username=name):
        raise LoginThrottled(login_lockout_minutes() * 60)
    user = authenticate(request, username=name, password=password)
    if user is None:
        return None
    login_attempt_succeeded(client=client, username=name)
    return token_get_or_create(user=user)


def token_get_or_create(*, user: AbstractBaseUser) -> Token:
    token, _ = Token.objects.get_or_create(user=user)
    return token


def token_delete(*, user: AbstractBaseUser) -> None:
    Token.objects.filter(user=user).delete()


def token_rotate(*, user: AbstractBaseUser) -> None:
    """A new key for a user who has a token (the old one answers 401 from now on)."""
    with transaction.atomic():
        if Token.objects.filter(user=user).delete()[0]:
            Token.objects.create(user=user)


def rotate_token_after_password_change(
    sender: type, instance: AbstractBaseUser, created: bool, **kwargs: object
) -> None:
    """post_save of the user model, connected in RatingsConfig.ready.

    A password is changed by Django's own views (password change, password reset), the admin's
    password form, `manage.py changepassword` and our code, and all of them end in
    `set_password()` then `save()`; `_password` holds the new password until that save is over.
    Hooking the save is the one place that sees every path, including views this project does
    not own, so no path can forget to revoke a token that a stolen password gave out."""
    if not created and getattr(instance, "_password", None) is not None:
        token_rotate(user=instance)
