"""DRF's content negotiation, with the common case answered without parsing."""

from __future__ import annotations

from typing import Any

from rest_framework.negotiation import DefaultContentNegotiation


class ContentNegotiation(DefaultContentNegotiation):
    """DefaultContentNegotiation, except that a request with no format override and an Accept
    header that is absent, `*/*`, or exactly the first renderer's media type gets the first
    renderer at once, as DRF would give it (a test holds the two equal). That is nearly every
    API call; DRF builds the request's header mapping and parses the header into media types
    for it."""

    def select_renderer(
        self, request: Any, renderers: list[Any], format_suffix: str | None = None
    ) -> tuple[Any, str]:
        if renderers and not format_suffix:
            accept = request.META.get("HTTP_ACCEPT")
            first = renderers[0]
            # '*/*' (or none) takes any renderer, and DRF answers with the first one's own type.
            if (accept is None or accept == "*/*" or accept == first.media_type) and (
                self.settings.URL_FORMAT_OVERRIDE not in request.query_params
            ):
                return first, first.media_type
        return super().select_renderer(request, renderers, format_suffix)
