"""The OpenAPI schema is complete and honest: bodies, errors and examples everywhere, examples
valid against their own schemas; Swagger UI works without the internet."""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest
from django.contrib.staticfiles import finders
from drf_spectacular.validation import validate_schema
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from rest_framework.test import APIClient

METHODS = ("get", "put", "post", "delete", "patch")
ERROR_REF = "#/components/schemas/Error"


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    response = APIClient().get("/api/v1/schema/?format=json")
    assert response.status_code == 200
    return response.json()


def _operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method.upper(), path, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]


def _as_json_schema(node: Any) -> Any:
    """OpenAPI 3.0's `nullable` becomes JSON Schema's null type, so jsonschema can judge it."""
    if isinstance(node, list):
        return [_as_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _as_json_schema(value) for key, value in node.items()}
    if out.pop("nullable", False):
        if "type" in out:
            out["type"] = [out["type"], "null"]
            if "enum" in out:
                out["enum"] = [*out["enum"], None]
        else:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


def _validator(schema: dict[str, Any], target: dict[str, Any]) -> Draft202012Validator:
    document = _as_json_schema(copy.deepcopy(schema))
    registry = Registry().with_resource(
        "urn:api", Resource.from_contents(document, default_specification=DRAFT202012)
    )
    resolved = {"$ref": "urn:api#/" + target["$ref"].removeprefix("#/")} if "$ref" in target else {}
    return Draft202012Validator(
        resolved or {**_as_json_schema(target), "components": document["components"]},
        registry=registry,
    )


def test_schema_is_openapi_3_for_v1_only(schema: dict[str, Any]) -> None:
    assert schema["openapi"].startswith("3.")
    assert schema["paths"]
    assert all(path.startswith("/api/v1/") for path in schema["paths"])
    assert set(schema["components"]["securitySchemes"]) == {"tokenAuth", "cookieAuth"}


def test_every_operation_is_summarised_tagged_and_has_a_success_response(
    schema: dict[str, Any],
) -> None:
    for method, path, operation in _operations(schema):
        name = f"{method} {path}"
        assert operation.get("summary"), name
        assert operation.get("tags"), name
        assert any(code.startswith("2") for code in operation["responses"]), name


def test_every_request_body_has_a_schema_and_an_example(schema: dict[str, Any]) -> None:
    bodies = 0
    for method, path, operation in _operations(schema):
        if "requestBody" not in operation:
            continue
        bodies += 1
        content = operation["requestBody"]["content"]
        assert list(content) == ["application/json"], f"{method} {path}"
        media = content["application/json"]
        assert "$ref" in media["schema"], f"{method} {path}"
        assert media.get("examples"), f"{method} {path} has no request example"
    # sign-up, token, profile, rating, training run
    assert bodies >= 5


def test_every_response_with_a_body_has_an_example(schema: dict[str, Any]) -> None:
    for method, path, operation in _operations(schema):
        for code, response in operation["responses"].items():
            for media in response.get("content", {}).values():
                assert media.get("examples"), f"{method} {path} {code} has no example"


def test_every_error_is_documented_in_the_one_error_shape(schema: dict[str, Any]) -> None:
    error = schema["components"]["schemas"]["Error"]
    assert set(error["required"]) == {"detail", "code"}
    assert set(error["properties"]) == {"detail", "code", "errors"}
    for method, path, operation in _operations(schema):
        responses = operation["responses"]
        # Any request may carry a bad token or come too fast.
        assert {"401", "429"} <= set(responses), f"{method} {path}"
        if "{" in path:
            assert "404" in responses, f"{method} {path}"
        if "requestBody" in operation:
            assert {"400", "413", "415"} <= set(responses), f"{method} {path}"
        if path.startswith("/api/v1/staff/") or path.startswith("/api/v1/me/"):
            assert "403" in responses, f"{method} {path}"
        for code, response in responses.items():
            if int(code) >= 400:
                media = response["content"]["application/json"]
                assert media["schema"] == {"$ref": ERROR_REF}, f"{method} {path} {code}"


def test_conflicts_and_an_unreachable_broker_are_documented_for_the_pipeline(
    schema: dict[str, Any],
) -> None:
    start = schema["paths"]["/api/v1/staff/training-runs/"]["post"]["responses"]
    assert {"201", "409", "503"} <= set(start)
    for path in (
        "/api/v1/staff/model-versions/{id}/activate/",
        "/api/v1/staff/model-versions/rollback/",
    ):
        assert "409" in schema["paths"][path]["post"]["responses"]


def test_every_example_is_valid_against_its_own_schema(schema: dict[str, Any]) -> None:
    checked = 0
    for method, path, operation in _operations(schema):
        places = [("request", operation.get("requestBody", {}))] + [
            (code, response) for code, response in operation["responses"].items()
        ]
        for where, holder in places:
            for media in holder.get("content", {}).values():
                validator = _validator(schema, media["schema"])
                for name, example in media.get("examples", {}).items():
                    problems = [e.message for e in validator.iter_errors(example["value"])]
                    assert not problems, f"{method} {path} {where} example {name}: {problems}"
                    checked += 1
    assert checked > 50


def test_parameters_are_typed_and_bounded(schema: dict[str, Any]) -> None:
    movies = {p["name"]: p for p in schema["paths"]["/api/v1/movies/"]["get"]["parameters"]}
    assert {"search", "genre", "year_min", "year_max", "min_ratings", "ordering", "page"} <= set(
        movies
    )
    assert movies["page_size"]["schema"]["maximum"] == 100
    assert movies["year_min"]["schema"]["type"] == "integer"
    assert "popularity" in movies["ordering"]["schema"]["enum"]
    recs = {
        p["name"]: p for p in schema["paths"]["/api/v1/me/recommendations/"]["get"]["parameters"]
    }
    assert recs["k"]["schema"]["minimum"] == 1
    assert recs["k"]["schema"]["maximum"] == 100


def test_schema_is_public_and_yaml_by_default() -> None:
    response = APIClient().get("/api/v1/schema/")
    assert response.status_code == 200
    assert response.content.startswith(b"openapi: 3.")


def test_swagger_ui_works_offline() -> None:
    response = APIClient().get("/api/docs/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "swagger-ui" in page
    assert "/api/v1/schema/" in page
    sources = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert sources
    # Every script, stylesheet and icon comes from our static files, none from a CDN.
    for source in sources:
        assert source.startswith("/static/"), source
        assert finders.find(source.removeprefix("/static/")), f"{source} is not shipped"


def test_the_schema_passes_drf_spectacular_validation(schema: dict[str, Any]) -> None:
    validate_schema(schema)


def test_staff_operations_say_so(schema: dict[str, Any]) -> None:
    staff = [(m, p, op) for m, p, op in _operations(schema) if p.startswith("/api/v1/staff/")]
    assert len(staff) == 9
    for method, path, operation in staff:
        assert "Staff only" in operation["description"], f"{method} {path}"


def test_token_auth_comes_first_and_public_reads_need_none(schema: dict[str, Any]) -> None:
    movies = schema["paths"]["/api/v1/movies/"]["get"]["security"]
    assert movies[0] == {"tokenAuth": []}
    assert {} in movies  # anonymous allowed
    assert {} not in schema["paths"]["/api/v1/me/ratings/"]["get"]["security"]
    assert schema["components"]["securitySchemes"]["tokenAuth"]["in"] == "header"
