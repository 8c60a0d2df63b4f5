"""The API's contract for failures: one JSON error shape, its handler, and its OpenAPI schema."""

from __future__ import annotations

import logging
import sys
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig, SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.template import loader
from django.views import defaults
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.plumbing import force_instance
from drf_spectacular.utils import OpenApiExample, OpenApiResponse
from rest_framework import exceptions, serializers, status
from rest_framework.authentication import SessionAuthentication
from rest_framework.fields import get_error_detail
from rest_framework.pagination import PageNumberPagination
from rest_framework.permissions import SAFE_METHODS, AllowAny
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

from recsite.api_parsers import DepthLimitedJSONParser
from recsite.authentication import TokenAuthentication

logger = logging.getLogger(__name__)

NON_FIELD = "non_field_errors"
API_PREFIX = "/api/"


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is too large."
    default_code = "payload_too_large"


# Where the app can answer them (JSON), below gunicorn's own limits (gunicorn.conf.py), which
# answer in plain HTML before any Django code runs.
MAX_URL_LENGTH = 4096  # path and query string, in characters
MAX_REQUEST_HEADER_BYTES = 16 * 1024  # all header names and values together


class UriTooLong(exceptions.APIException):
    status_code = status.HTTP_414_REQUEST_URI_TOO_LONG
    default_detail = f"The URL is longer than {MAX_URL_LENGTH} characters."
    default_code = "uri_too_long"


class RequestHeadersTooLarge(exceptions.APIException):
    status_code = status.HTTP_431_REQUEST_HEADER_FIELDS_TOO_LARGE
    default_detail = f"The request headers exceed {MAX_REQUEST_HEADER_BYTES} bytes."
    default_code = "request_headers_too_large"


def _header_bytes(meta: Mapping[str, Any]) -> int:
    return sum(
        len(key) + len(str(value))
        for key, value in meta.items()
        if key.startswith("HTTP_") or key in ("CONTENT_TYPE", "CONTENT_LENGTH")
    )


class BadRequest(exceptions.APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = "Bad request."
    default_code = "bad_request"


class ErrorSerializer(serializers.Serializer):
    """Every non-2xx answer of the API; `errors` only on validation failures (400)."""

    detail = serializers.CharField(help_text="A sentence for people.")
    code = serializers.CharField(help_text="A stable token for programs, e.g. `not_found`.")
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="Messages per input field; `non_field_errors` for the body as a whole.",
    )


def error_body(detail: str, code: str, errors: Mapping[str, list[str]] | None = None) -> dict:
    body: dict[str, Any] = {"detail": detail, "code": code}
    if errors is not None:
        body["errors"] = dict(errors)
    return body


def _flatten(value: Any, prefix: str, out: dict[str, list[str]]) -> None:
    """DRF nests errors (lists of dicts, dicts keyed by list index); clients get `a.0.b` keys."""
    if isinstance(value, Mapping):
        for key, inner in value.items():
            _flatten(inner, f"{prefix}.{key}" if prefix else str(key), out)
    elif isinstance(value, list | tuple):
        for item in value:
            if isinstance(item, Mapping | list | tuple):
                _flatten(item, prefix, out)
            else:
                out.setdefault(prefix or NON_FIELD, []).append(str(item))
    else:
        out.setdefault(prefix or NON_FIELD, []).append(str(value))


def _first_code(detail: Any) -> str:
    if isinstance(detail, Mapping):
        detail = next(iter(detail.values()), None)
    if isinstance(detail, list | tuple):
        detail = detail[0] if detail else None
    if isinstance(detail, Mapping | list | tuple):
        return _first_code(detail)
    return str(getattr(detail, "code", None) or "invalid")


DATABASE_RETRY_AFTER_SECONDS = 5


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> HttpResponse:
    """REST_FRAMEWORK's EXCEPTION_HANDLER: every failure becomes {"detail", "code"[, "errors"]}."""
    if isinstance(exc, OperationalError | InterfaceError):
        # The database is down, restarting or unreachable: the same 503 as handler500 gives.
        logger.warning("database unavailable: %s", exc)
        set_rollback()
        return database_unavailable(context["request"])
    if isinstance(exc, DjangoValidationError):
        # Services raise Django's ValidationError (e.g. a score off the half-star scale).
        # get_error_detail keeps each message's own code (unique, reserved, ...).
        detail = get_error_detail(exc)
        exc = exceptions.ValidationError(
            detail if isinstance(detail, dict) else {NON_FIELD: detail},
            code=getattr(exc, "code", None) or "invalid",
        )
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge()
    elif isinstance(exc, SuspiciousOperation):
        # Django's own limits (too many parameters, ...): the client's fault, so 400, never 500.
        exc = BadRequest(str(exc) or None)

    response = drf_exception_handler(exc, context)
    if response is None:
        # An unexpected failure still answers in the API's shape; the traceback goes to the log.
        logger.exception("unhandled API error", exc_info=exc)
        set_rollback()
        return Response(
            error_body("Server error.", "server_error"),
            status=status.HTTP_500_INTERNAL_SERVER_ERROR,
        )

    assert isinstance(exc, exceptions.APIException)
    if isinstance(exc, exceptions.ValidationError):
        errors: dict[str, list[str]] = {}
        _flatten(exc.detail, "", errors)
        body = error_body("Invalid input.", _first_code(exc.detail), errors)
    else:
        detail = exc.detail
        text = str(detail) if not isinstance(detail, list | dict) else str(exc.default_detail)
        code = getattr(detail, "code", None) or exc.default_code
        body = error_body(text, str(code))
    response.data = body
    return response


@csrf_exempt  # it only ever answers 404; CSRF's HTML 403 would break the JSON promise
def api_not_found(request: HttpRequest, unmatched: str = "") -> JsonResponse:
    """The last route under /api/: unknown paths answer in the error shape, never HTML."""
    return JsonResponse(error_body("Not found.", "not_found"), status=404)


# -- the schema: every operation documents the errors it can answer ---------------------------

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
        UriTooLong.default_detail,
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
        RequestHeadersTooLarge.default_detail,
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


# -- what every API view shares --------------------------------------------------------------


class ApiPagination(PageNumberPagination):
    """Page numbers; `page_size` may be chosen by the client, up to a bound. A page size that
    is not a number from 1 to the bound is refused (DRF would quietly use the default)."""

    page_size_query_param = "page_size"
    max_page_size = 100

    def get_page_size(self, request: Request) -> int | None:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        size = raw.strip()
        if not size.isdecimal() or not 1 <= int(size) <= self.max_page_size:
            raise exceptions.ValidationError(
                {self.page_size_query_param: [f"A whole number from 1 to {self.max_page_size}."]},
                code="invalid",
            )
        return int(size)

    def get_page_number(self, request: Request, paginator: Any) -> int:
        # Strictly a number from 1: DRF would read "" as page 1 and take "last".
        raw = request.query_params.get(self.page_query_param)
        if raw is None:
            return 1
        if not raw.isdecimal() or int(raw) < 1:
            raise exceptions.NotFound(
                self.invalid_page_message.format(message="Not a page number.")
            )
        return int(raw)

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"].update(minimum=1, maximum=self.max_page_size)
            if parameter["name"] == self.page_query_param:
                parameter["schema"].update(minimum=1)
        return parameters


class ApiViewMixin:
    """Defaults of every API view. Token first: DRF answers 401 (not 403) with the first
    authenticator's WWW-Authenticate. JSON only, in and out: no HTML page, and one body format
    for the schema to describe (Swagger UI is the browser's way in)."""

    authentication_classes = [TokenAuthentication, SessionAuthentication]
    parser_classes = [DepthLimitedJSONParser]
    renderer_classes = [JSONRenderer]
    pagination_class = ApiPagination
    schema = ApiAutoSchema()

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
        if _header_bytes(request.META) > MAX_REQUEST_HEADER_BYTES:
            raise RequestHeadersTooLarge()
        super().initial(request, *args, **kwargs)  # type: ignore[misc]


# -- root URLconf handlers: failures outside any API view (a bad Host header, a crash in
# middleware) still answer JSON under /api/; the site's pages keep Django's HTML pages.


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    if request.path.startswith(API_PREFIX):
        return JsonResponse(error_body("Bad request.", "bad_request"), status=400)
    return defaults.bad_request(request, exception)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    if request.path.startswith(API_PREFIX):
        body = error_body(exceptions.PermissionDenied.default_detail, "permission_denied")
        return JsonResponse(body, status=403)
    return defaults.permission_denied(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500, called while Django handles the exception: a lost database (down, restarting,
    unreachable) is a 503 with Retry-After, not a server bug. This catches it wherever it was
    raised (a view, a template, a middleware saving the session), which a middleware's
    process_exception would not."""
    if isinstance(sys.exc_info()[1], (OperationalError, InterfaceError)):
        return database_unavailable(request)
    if request.path.startswith(API_PREFIX):
        return JsonResponse(error_body("Server error.", "server_error"), status=500)
    return defaults.server_error(request)


def database_unavailable(request: HttpRequest | Request) -> HttpResponse:
    """503 with Retry-After for a lost database, from DRF's handler or from handler500."""
    if request.path.startswith(API_PREFIX):
        body = error_body(
            "The database is unavailable; try again in a few seconds.", "database_unavailable"
        )
        response: HttpResponse = JsonResponse(body, status=503)
    else:
        # No request context: the context processors would ask the database for the user.
        response = HttpResponse(loader.render_to_string("503.html"), status=503)
    response["Retry-After"] = str(DATABASE_RETRY_AFTER_SECONDS)
    return response
