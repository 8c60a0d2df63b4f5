"""Answers the fuzzer may never draw, checked against the schema by schemathesis' own checks
(status code, content type, response schema): state that only commands and schedules create, a
user without an email, and refusals made before any view runs (406, 414, 431). Runs in CI with
the rest of the suite, so a serializer or schema drift fails the build."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.core.cache import cache
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from rest_framework.authtoken.models import Token
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from recommender.models import TrainingRun
from recsite.api_errors import MAX_REQUEST_HEADER_BYTES, MAX_URL_LENGTH
from recsite.wsgi import application
from tests.api.conftest import World
from tests.factories import UserFactory

schema = schemathesis.openapi.from_wsgi("/api/v1/schema/", application)
CHECKS = [status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(autouse=True)
def _keep_the_test_transaction() -> Iterator[None]:
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    cache.clear()
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def _call(world: World, path: str, *, user: Any = None, **kwargs: Any) -> Any:
    operation = schema[path]["GET"]
    key = Token.objects.get_or_create(user=user or world.staff)[0].key
    headers = {"Authorization": f"Token {key}", **kwargs.pop("headers", {})}
    case = operation.Case(headers=headers, **kwargs)
    return case.call_and_validate(checks=CHECKS)


@pytest.mark.parametrize("trigger", ["command", "schedule", "auto"])
def test_runs_nobody_started_conform(world: World, trigger: str) -> None:
    run = TrainingRun.objects.create(trigger=trigger, triggered_by=None)
    _call(world, "/api/v1/staff/training-runs/")
    _call(world, "/api/v1/staff/training-runs/{id}/", path_parameters={"id": run.pk})


def test_a_user_without_an_email_conforms(world: World) -> None:
    UserFactory(username="no-address", email="")
    _call(world, "/api/v1/staff/users/", query={"page_size": 100})


@pytest.mark.parametrize("path", ["/api/v1/movies/", "/api/v1/me/ratings/", "/api/v1/genres/"])
def test_an_html_only_client_gets_a_documented_406(world: World, path: str) -> None:
    response = _call(world, path, user=world.rater, headers={"Accept": "text/html"})
    assert response.status_code == 406


def test_a_too_long_url_is_a_documented_json_414(world: World) -> None:
    response = _call(world, "/api/v1/movies/", query={"search": "x" * MAX_URL_LENGTH})
    assert response.status_code == 414
    assert response.json()["code"] == "uri_too_long"


def test_too_large_headers_are_a_documented_json_431(world: World) -> None:
    padding = {f"X-Pad-{n}": "y" * 1000 for n in range(MAX_REQUEST_HEADER_BYTES // 1000 + 1)}
    response = _call(world, "/api/v1/movies/", headers=padding)
    assert response.status_code == 431
    assert response.json()["code"] == "request_headers_too_large"


def test_gunicorn_lets_the_app_answer_its_own_limits() -> None:
    """gunicorn's limits sit above the app's, so the app's JSON 414 / 431 are what clients see
    first; gunicorn's HTML pages only answer requests past both."""
    import runpy
    from pathlib import Path

    conf = runpy.run_path(str(Path(__file__).resolve().parents[2] / "gunicorn.conf.py"))
    request_line_overhead = len("OPTIONS  HTTP/1.1")
    assert conf["limit_request_line"] >= MAX_URL_LENGTH + request_line_overhead
    assert conf["limit_request_field_size"] > MAX_REQUEST_HEADER_BYTES
    assert conf["limit_request_fields"] >= 100
