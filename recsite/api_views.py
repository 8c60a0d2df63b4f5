"""What every API view shares beyond REST_FRAMEWORK's defaults: request checks DRF has no
setting for."""

from __future__ import annotations

from typing import Any

from rest_framework import exceptions
from rest_framework.request import Request

from recsite.api_errors import (
    MAX_REQUEST_HEADER_BYTES,
    MAX_URL_LENGTH,
    RequestHeadersTooLarge,
    UriTooLong,
    header_bytes,
)


class ApiViewMixin:
    """Checks every API view makes before DRF's own (authentication, content negotiation,
    throttles): 405 before 401, no repeated query parameter, and bounded URL and headers.

    The defaults (token then session authentication, JSON in and out, pagination, the schema
    class, throttles, the exception handler) are REST_FRAMEWORK's, in recsite/settings.py."""

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        # A method the endpoint lacks is 405 for everyone, before authentication can say 401.
        method = request.method.lower()
        if method not in self.http_method_names or not hasattr(self, method):
            raise exceptions.MethodNotAllowed(request.method)
        # No parameter of this API is a list: a repeated one is an error, not "the last wins".
        repeated = sorted(k for k, values in request.query_params.lists() if len(values) > 1)
        if repeated:
            raise exceptions.ValidationError(
                {name: ["Give this parameter once."] for name in repeated}, code="invalid"
            )
        if len(request.get_full_path()) > MAX_URL_LENGTH:
            raise UriTooLong()
        if header_bytes(request.META) > MAX_REQUEST_HEADER_BYTES:
            raise RequestHeadersTooLarge()
        super().initial(request, *args, **kwargs)  # type: ignore[misc]
