"""The API's contract for failures: one JSON error shape, the one DRF exception handler that
answers in it, and the root URLconf's handlers that answer in it outside the API views."""

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
from rest_framework import exceptions, serializers, status
from rest_framework.fields import get_error_detail
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler
from rest_framework.views import set_rollback

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


def header_bytes(meta: Mapping[str, Any]) -> int:
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
