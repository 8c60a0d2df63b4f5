"""Login throttling for the pages and the admin: failed attempts counted per client and name."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

View = Callable[..., HttpResponse]


def _keys(request: HttpRequest) -> tuple[str, str]:
    # REMOTE_ADDR, never X-Forwarded-For: a client could pick a fresh header per guess.
    client = request.META.get("REMOTE_ADDR", "unknown")
    username = str(request.POST.get("username", "")).strip().lower()[:150]
    return f"login-fail:ip:{client}", f"login-fail:user:{client}:{username}"


def login_blocked(request: HttpRequest) -> bool:
    by_client, by_name = _keys(request)
    return (cache.get(by_client, 0) >= settings.LOGIN_FAILURES_PER_CLIENT) or (
        cache.get(by_name, 0) >= settings.LOGIN_FAILURES_PER_NAME
    )


def login_failure_record(request: HttpRequest) -> None:
    for key in _keys(request):
        cache.add(key, 0, timeout=settings.LOGIN_FAILURE_WINDOW_SECONDS)
        try:
            cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.set(key, 1, timeout=settings.LOGIN_FAILURE_WINDOW_SECONDS)


def login_failures_clear(request: HttpRequest) -> None:
    cache.delete(_keys(request)[1])


def throttle_login(view: View) -> View:
    """Wrap a login view: refuse with 429 past the limits; count failures, clear on success."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        if request.method != "POST":
            return view(request, *args, **kwargs)
        if login_blocked(request):
            minutes = max(1, settings.LOGIN_FAILURE_WINDOW_SECONDS // 60)
            return TemplateResponse(
                request,
                "registration/login_throttled.html",
                {"minutes": minutes},
                status=429,
            )
        response = view(request, *args, **kwargs)
        # A login view redirects on success and re-renders the form (200) on failure.
        if response.status_code == 200:
            login_failure_record(request)
        elif 300 <= response.status_code < 400:
            login_failures_clear(request)
        return response

    return wrapped
