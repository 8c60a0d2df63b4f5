"""Deeply nested JSON is refused as a parse error (400), never a RecursionError (500)."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from recsite.api_parsers import MAX_JSON_DEPTH
from tests.api.conftest import World, token_client
from tests.api.test_errors import assert_error


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 940, 100_000])
@pytest.mark.parametrize("path", ["/api/v1/auth/signup/", "/api/v1/auth/token/"])
def test_deeply_nested_json_is_a_400_parse_error_anonymously(
    world: World, path: str, depth: int
) -> None:
    response = APIClient().generic("POST", path, _nested(depth), content_type="application/json")
    body = assert_error(response, 400, "parse_error")
    assert str(MAX_JSON_DEPTH) in body["detail"]


def test_deeply_nested_json_is_a_400_for_a_signed_in_writer(world: World) -> None:
    body = '{"score": ' + _nested(940) + "}"
    response = token_client(world.rater).generic(
        "PUT", f"/api/v1/me/ratings/{world.movies[2].pk}/", body, content_type="application/json"
    )
    assert_error(response, 400, "parse_error")


def test_json_at_the_depth_limit_is_parsed(world: World) -> None:
    # The body's own object is level 1: a score nested MAX_JSON_DEPTH - 1 lists deep parses,
    # and is then refused by the field (not a number), not by the parser.
    body = '{"score": ' + _nested(MAX_JSON_DEPTH - 1) + "}"
    response = token_client(world.rater).generic(
        "PUT", f"/api/v1/me/ratings/{world.movies[2].pk}/", body, content_type="application/json"
    )
    assert_error(response, 400, "invalid")
