"""Log-in throttling for the pages, the admin and the API's token endpoint: attempts counted per
client and per client and name, atomically, with the name as Django authenticates it.

Each attempt is counted before its password is checked (cache.add + cache.incr), and refused
once either count is over its limit, so parallel guesses cannot all pass a check made before
any of them was counted. A successful log-in gives its attempt back and clears the name's count.
The name is normalised as Django's log-in form normalises it (NFKC) and case-folded, so
fullwidth "alice" and "ALICE" share the count of "alice".
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import suppress
from functools import wraps
from types import SimpleNamespace

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from ratings.accounts import username_normalize
from recsite.api_throttles import ScopedRateThrottle, cache_count

View = Callable[..., HttpResponse]


def _keys(client: str, username: str) -> tuple[str, str]:
    name = username_normalize(username).casefold()[:150]
    return f"login-fail:ip:{client}", f"login-fail:user:{client}:{name}"


def login_attempt_admit(*, client: str, username: str) -> bool:
    """Count an attempt; False when the client or the client and name are over their limits."""
    by_client, by_name = _keys(client, username)
    window = settings.LOGIN_FAILURE_WINDOW_SECONDS
    client_count = cache_count(cache, by_client, timeout=window)
    name_count = cache_count(cache, by_name, timeout=window)
    return (
        client_count <= settings.LOGIN_FAILURES_PER_CLIENT
        and name_count <= settings.LOGIN_FAILURES_PER_NAME
    )


def login_attempt_succeeded(*, client: str, username: str) -> None:
    """A good log-in is not a failure: give its attempt back and clear the name's count."""
    by_client, by_name = _keys(client, username)
    cache.delete(by_name)
    with suppress(ValueError):  # expired meanwhile
        cache.decr(by_client)


def signup_refusal_wait(request: HttpRequest) -> int | None:
    """Count a sign-up attempt from this client in the API's "auth" scope (the page and the API
    share one count per address); the seconds to wait when it is over the rate, else None."""
    throttle = ScopedRateThrottle()
    if throttle.allow_request(request, SimpleNamespace(throttle_scope="auth")):  # type: ignore[arg-type]
        return None
    return int(throttle.wait())


def login_lockout_minutes() -> int:
    return max(1, settings.LOGIN_FAILURE_WINDOW_SECONDS // 60)


def _client(request: HttpRequest) -> str:
    # REMOTE_ADDR, never X-Forwarded-For: a client could pick a fresh header per guess.
    return request.META.get("REMOTE_ADDR", "unknown")


def throttle_login(view: View) -> View:
    """Wrap a login view: refuse with 429 past the limits; count attempts, clear on success."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        if request.method != "POST":
            return view(request, *args, **kwargs)
        client, username = _client(request), str(request.POST.get("username", ""))
        if not login_attempt_admit(client=client, username=username):
            return TemplateResponse(
                request,
                "registration/login_throttled.html",
                {"minutes": login_lockout_minutes()},
                status=429,
            )
        response = view(request, *args, **kwargs)
        # A login view redirects on success and re-renders the form (200) on failure.
        if 300 <= response.status_code < 400:
            login_attempt_succeeded(client=client, username=username)
        return response

    return wrapped
