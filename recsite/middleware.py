"""Content-Security-Policy on every response (Django 5.2 has no built-in CSP).

Pages get a strict policy: scripts, styles and frames from our own origin only, posters from
TMDB's image host. The two inline scripts (the poster fallback in base.html and the staff
dashboard's poller) carry the per-request nonce in ``request.csp_nonce``; nothing else inline
may run. Inline ``style=""`` attributes (the hero backdrop's poster URL) are allowed through
``style-src-attr`` only: they cannot run code, and ``<style>`` elements stay forbidden.
Swagger UI at /api/docs/ renders an inline script with the CSRF token and sets styles from
JavaScript, so that one page gets a relaxed policy of its own.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

from django.http import HttpRequest, HttpResponse

HEADER = "Content-Security-Policy"


def _join(directives: dict[str, str]) -> str:
    return "; ".join(f"{name} {value}" for name, value in directives.items())


def page_policy(nonce: str) -> str:
    return _join(
        {
            "default-src": "'self'",
            "img-src": "'self' data: https://image.tmdb.org",
            "script-src": f"'self' 'nonce-{nonce}'",
            "style-src": "'self'",
            "style-src-attr": "'unsafe-inline'",
            "frame-ancestors": "'none'",
            "form-action": "'self'",
            "base-uri": "'self'",
            "object-src": "'none'",
        }
    )


# drf-spectacular's Swagger UI: inline bootstrap script (it embeds the CSRF token, so no fixed
# hash), inline <style>, and styles set by the bundle at run time. Same origin otherwise.
SWAGGER_POLICY = _join(
    {
        "default-src": "'self'",
        "img-src": "'self' data:",
        "script-src": "'self' 'unsafe-inline'",
        "style-src": "'self' 'unsafe-inline'",
        "frame-ancestors": "'none'",
        "form-action": "'self'",
        "base-uri": "'self'",
        "object-src": "'none'",
    }
)
SWAGGER_VIEW = "api:docs"


class ContentSecurityPolicyMiddleware:
    """Sets ``request.csp_nonce`` and a CSP header on every response that lacks one."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        nonce = secrets.token_urlsafe(16)
        request.csp_nonce = nonce  # type: ignore[attr-defined]
        response = self.get_response(request)
        if HEADER not in response:
            match = getattr(request, "resolver_match", None)
            swagger = match is not None and match.view_name == SWAGGER_VIEW
            response[HEADER] = SWAGGER_POLICY if swagger else page_policy(nonce)
        return response
