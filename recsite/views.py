"""Site-wide routes that belong to no app: /favicon.ico, which browsers ask for on every page."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponsePermanentRedirect
from django.templatetags.static import static
from django.views.decorators.http import require_GET


@require_GET
def favicon(request: HttpRequest) -> HttpResponsePermanentRedirect:
    """Browsers and the admin ask for /favicon.ico whatever the page says; send them to the
    static file (WhiteNoise serves it with a long cache lifetime)."""
    return HttpResponsePermanentRedirect(static("img/favicon.ico"))
