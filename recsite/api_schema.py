"""The API's OpenAPI schema: every operation documents the errors it can answer."""

from __future__ import annotations

from collections.abc import Mapping

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import force_instance
from drf_spectacular.utils import OpenApiExample, OpenApiResponse
from rest_framework.permissions import SAFE_METHODS, AllowAny

from recsite.api_errors import (
    MAX_REQUEST_HEADER_BYTES,
    MAX_URL_LENGTH,
    NON_FIELD,
    ErrorSerializer,
    error_body,
)

_ERROR_TEXT: dict[int, tuple[str, str, str]] = {
    400: ("Invalid input.", "invalid", "The request is malformed or fails validation."),
    401: (
        "Authentication credentials were not provided.",
        "not_authenticated",
        "No valid session or token (a wrong token also answers 401).",
    ),
    403: (
        "You do not have permission to perform this action.",
        "permission_denied",
        "Signed in but not allowed (staff only, or a missing CSRF token with a session).",
    ),
    404: ("Not found.", "not_found", "No such object."),
    406: (
        "Could not satisfy the request Accept header.",
        "not_acceptable",
        "The Accept header allows no JSON: the API answers application/json only.",
    ),
    409: ("A training run is already queued or running.", "conflict", "Conflicts with state."),
    413: (
        "The request body is too large.",
        "payload_too_large",
        "The body exceeds DATA_UPLOAD_MAX_MEMORY_SIZE.",
    ),
    414: (
        f"The URL is longer than {MAX_URL_LENGTH} characters.",
        "uri_too_long",
        f"The path and query string exceed {MAX_URL_LENGTH} characters.",
    ),
    415: (
        'Unsupported media type "text/plain" in request.',
        "unsupported_media_type",
        "Send JSON (application/json).",
    ),
    429: (
        "Request was throttled. Expected available in 42 seconds.",
        "throttled",
        "Too many requests; see the Retry-After header.",
    ),
    431: (
        f"The request headers exceed {MAX_REQUEST_HEADER_BYTES} bytes.",
        "request_headers_too_large",
        f"The request headers exceed {MAX_REQUEST_HEADER_BYTES} bytes in all.",
    ),
    503: (
        "The task queue is unavailable; try again later.",
        "broker_unavailable",
        "A dependency is down.",
    ),
}


def error_response(
    status_code: int,
    description: str | None = None,
    *,
    code: str | None = None,
    errors: Mapping[str, list[str]] | None = None,
) -> OpenApiResponse:
    """A documented error response with an example of the shape (for 400, with `errors`)."""
    detail, default_code, default_description = _ERROR_TEXT[status_code]
    code = code or default_code
    if status_code == 400:
        value = error_body(detail, code, errors or {NON_FIELD: ["Invalid input."]})
    else:
        value = error_body(detail, code)
    return OpenApiResponse(
        response=ErrorSerializer,
        description=description or default_description,
        examples=[OpenApiExample(f"{status_code} {code}", value=value, status_codes=[status_code])],
    )


class ApiAutoSchema(AutoSchema):
    """Adds the error responses an operation can give, judged from the view's permissions,
    its path parameters and its body, so no endpoint forgets to document them."""

    def _error_codes(self) -> set[int]:
        # A bad token answers 401 even where anyone may read; every operation refuses an Accept
        # header without JSON (406), an over-long URL (414) and oversized headers (431).
        codes = {401, 406, 414, 429, 431}
        public = all(isinstance(p, AllowAny) for p in self.view.get_permissions())
        if not (public and self.method in SAFE_METHODS):
            codes.add(403)
        if "{" in self.path or (self._is_list_view() and self._get_paginator()):
            codes.add(404)  # no such object, or no such page
        if self.method in ("POST", "PUT", "PATCH"):
            codes |= {400, 413, 415}
        if self.method == "GET" and self._get_parameters():
            codes.add(400)
        return codes

    def _get_response_bodies(self, direction: str = "response") -> dict:  # type: ignore[override]
        responses = super()._get_response_bodies(direction)
        if direction != "response":
            return responses
        for status_code in sorted(self._error_codes()):
            key = str(status_code)
            if key not in responses:
                documented = (
                    self._bad_request() if status_code == 400 else error_response(status_code)
                )
                responses[key] = self._get_response_for_code(documented, key)
        return responses

    def _bad_request(self) -> OpenApiResponse:
        """A 400 whose example names one of this operation's own inputs."""
        if self.method in ("POST", "PUT", "PATCH"):
            serializer = force_instance(self.get_request_serializer())
            fields = getattr(serializer, "fields", {}) if serializer is not None else {}
            writable = [(n, f) for n, f in fields.items() if not f.read_only]
            required = [n for n, f in writable if f.required]
            if required:
                return error_response(
                    400, code="required", errors={required[0]: ["This field is required."]}
                )
            if writable:
                return error_response(
                    400, code="invalid", errors={writable[0][0]: ["Enter a valid value."]}
                )
        query = [p["name"] for p in self._get_parameters() if p.get("in") == "query"]
        if query:
            return error_response(400, code="invalid", errors={query[0]: ["Enter a valid value."]})
        return error_response(400)
