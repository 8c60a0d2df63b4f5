"""The API's JSON renderer (recsite.api_renderers) writes the bytes DRF's own JSONRenderer
writes: for the API's real answers and for every type DRF's encoder converts. Pretty-printing
and values orjson cannot hold go through DRF's renderer."""

from __future__ import annotations

import datetime
import decimal
import uuid

import numpy as np
import pytest
from django.utils.translation import gettext_lazy
from rest_framework import renderers

from recsite.api_renderers import JSONRenderer
from tests.api.conftest import World, token_client

MINE, DRFS = JSONRenderer(), renderers.JSONRenderer()

VALUES = {
    "text": 'Amélie \u2603 \U0001f3ac, "quoted" \\ and \n new line',
    "separators": "line\u2028para\u2029end",
    "numbers": [0, -1, 2**63 - 1, 0.1, 3.5225, 1.0, -0.0, 123456.789],
    "nothing": [None, True, False, [], {}],
    "aware": datetime.datetime(2026, 12, 6, 20, 53, 12, 345678, tzinfo=datetime.UTC),
    "naive": datetime.datetime(2001, 2, 3, 4, 5, 6),
    "date": datetime.date(1999, 12, 31),
    "time": datetime.time(23, 59, 1, 500),
    "interval": datetime.timedelta(hours=1, microseconds=5),
    "decimal": decimal.Decimal("4.5"),
    "uuid": uuid.UUID("12345678-1234-5678-1234-567812345678"),
    "lazy": gettext_lazy("Invalid token."),
    "numpy": [np.float32(0.25), np.int64(7), np.arange(3)],
    "tuple": (1, "two"),
    "int keys": {1: "one", 2: "two"},
}


@pytest.mark.parametrize("name", sorted(VALUES))
def test_each_kind_of_value_renders_as_drf_renders_it(name: str) -> None:
    data = {name: VALUES[name]}
    assert MINE.render(data) == DRFS.render(data)


def test_the_apis_answers_render_as_drf_renders_them(world: World) -> None:
    client = token_client(world.rater)
    paths = [
        "/api/v1/me/recommendations/?k=5",
        f"/api/v1/movies/{world.movies[2].pk}/",
        "/api/v1/movies/?page_size=5",
        "/api/v1/genres/",
        "/api/v1/me/ratings/",
        "/api/v1/movies/999999999/",  # DRF's 404
        "/api/v1/me/recommendations/?k=0",  # a validation error
    ]
    for path in paths:
        response = client.get(path)
        assert response.data is not None, path
        assert response.content == DRFS.render(response.data), path


def test_pretty_printing_and_big_integers_go_through_drf() -> None:
    data = {"a": [1, 2], "big": 2**70}
    assert MINE.render(data) == DRFS.render(data)  # beyond orjson's 64 bits
    pretty = MINE.render({"a": [1, 2]}, "application/json; indent=2")
    assert pretty == DRFS.render({"a": [1, 2]}, "application/json; indent=2")
    assert b"\n  " in pretty
    assert MINE.render(None) == b""


def test_a_value_nobody_can_encode_fails_as_with_drf() -> None:
    with pytest.raises(TypeError):
        DRFS.render({"x": object()})
    with pytest.raises(TypeError):
        MINE.render({"x": object()})


def test_a_nan_score_is_null_where_drf_failed_the_request() -> None:
    with pytest.raises(ValueError, match="Out of range float values"):
        DRFS.render({"score": float("nan")})
    assert MINE.render({"score": float("nan"), "top": float("inf")}) == b'{"score":null,"top":null}'
