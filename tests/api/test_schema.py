"""The OpenAPI schema is valid and complete: every operation documents its bodies, examples and
error responses in the one error shape; Swagger UI is served from our own static files."""

from __future__ import annotations

from typing import Any

import pytest
from drf_spectacular.validation import validate_schema
from rest_framework.test import APIClient

ERROR_REF = "#/components/schemas/Error"


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    response = APIClient().get("/api/v1/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return response.json()


def _operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
    ]


def test_the_schema_is_valid_openapi_3_and_versioned(schema: dict[str, Any]) -> None:
    validate_schema(schema)
    assert schema["openapi"].startswith("3.")
    assert schema["paths"]
    assert all(path.startswith("/api/v1/") for path in schema["paths"])


def test_every_operation_documents_bodies_and_examples(schema: dict[str, Any]) -> None:
    for method, path, operation in _operations(schema):
        label = f"{method} {path}"
        assert operation.get("summary"), label
        success = {code: r for code, r in operation["responses"].items() if code < "300"}
        assert len(success) == 1, label
        [(code, response)] = success.items()
        if code != "204":
            content = response["content"]["application/json"]
            assert content["schema"], label
            assert content["examples"], label
        body = operation.get("requestBody")
        if body is not None:
            content = body["content"]
            assert list(content) == ["application/json"], label  # JSON only
            assert content["application/json"]["examples"], label


def test_every_error_response_is_the_error_shape_with_an_example(schema: dict[str, Any]) -> None:
    for method, path, operation in _operations(schema):
        errors = {code: r for code, r in operation["responses"].items() if code >= "400"}
        assert {"401", "429"} <= set(errors), f"{method} {path}"
        for code, response in errors.items():
            content = response["content"]["application/json"]
            assert content["schema"] == {"$ref": ERROR_REF}, f"{method} {path} {code}"
            assert content["examples"], f"{method} {path} {code}"
        if "{" in path:
            assert "404" in errors, f"{method} {path}"
        if method in ("POST", "PUT"):
            assert "400" in errors, f"{method} {path}"
    error = schema["components"]["schemas"]["Error"]
    assert set(error["required"]) == {"detail", "code"}
    assert set(error["properties"]) == {"detail", "code", "errors"}


def test_staff_operations_say_so(schema: dict[str, Any]) -> None:
    staff = [(m, p, op) for m, p, op in _operations(schema) if p.startswith("/api/v1/staff/")]
    assert len(staff) == 9
    for method, path, operation in staff:
        assert "Staff only" in operation["description"], f"{method} {path}"
        assert "403" in operation["responses"], f"{method} {path}"


def test_retrain_documents_conflict_and_broker_down(schema: dict[str, Any]) -> None:
    responses = schema["paths"]["/api/v1/staff/training-runs/"]["post"]["responses"]
    assert {"201", "409", "503"} <= set(responses)


def test_token_auth_comes_first_and_public_reads_need_none(schema: dict[str, Any]) -> None:
    movies = schema["paths"]["/api/v1/movies/"]["get"]["security"]
    assert movies[0] == {"tokenAuth": []}
    assert {} in movies  # anonymous allowed
    assert {} not in schema["paths"]["/api/v1/me/ratings/"]["get"]["security"]
    assert schema["components"]["securitySchemes"]["tokenAuth"]["in"] == "header"


@pytest.mark.django_db
def test_swagger_ui_is_served_without_a_cdn() -> None:
    response = APIClient().get("/api/docs/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "/api/v1/schema/" in page
    assert "drf_spectacular_sidecar/swagger-ui-dist/" in page
    assert "cdn.jsdelivr.net" not in page
