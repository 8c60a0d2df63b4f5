"""recsite.api_negotiation answers exactly as DRF's DefaultContentNegotiation, fast path or not,
and the API still refuses what it cannot render."""

from __future__ import annotations

import itertools

import pytest
from drf_spectacular.renderers import OpenApiJsonRenderer, OpenApiYamlRenderer
from rest_framework import exceptions
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BrowsableAPIRenderer
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from recsite.api_negotiation import ContentNegotiation
from recsite.api_renderers import JSONRenderer

ACCEPTS = [
    None,
    "*/*",
    "application/json",
    "application/json; indent=4",
    "application/*",
    "text/html",
    "text/html, */*;q=0.1",
    "application/vnd.oai.openapi",
    "application/xml",
    "",
    " */*",
    "*/*, application/json",
]
QUERIES = ["", "format=json", "format=openapi", "format=", "k=5"]
RENDERER_LISTS = [
    [JSONRenderer()],
    [JSONRenderer(), BrowsableAPIRenderer()],
    [OpenApiYamlRenderer(), OpenApiJsonRenderer()],
]


def _answer(negotiation, accept, query, renderers, suffix):
    headers = {} if accept is None else {"HTTP_ACCEPT": accept}
    request = Request(APIRequestFactory().get(f"/api/v1/x/?{query}", **headers))
    try:
        renderer, media_type = negotiation.select_renderer(request, renderers, suffix)
    except (exceptions.NotAcceptable, exceptions.NotFound) as exc:
        return type(exc).__name__
    except Exception as exc:  # Http404 from filter_renderers
        return type(exc).__name__
    return type(renderer).__name__, media_type


@pytest.mark.parametrize("renderers", RENDERER_LISTS, ids=lambda r: type(r[0]).__name__)
def test_the_answer_is_drfs_for_every_accept_header_and_format(renderers) -> None:
    for accept, query, suffix in itertools.product(ACCEPTS, QUERIES, [None, "json"]):
        ours = _answer(ContentNegotiation(), accept, query, renderers, suffix)
        assert ours == _answer(DefaultContentNegotiation(), accept, query, renderers, suffix), (
            accept,
            query,
            suffix,
        )


def test_the_usual_requests_take_the_fast_path() -> None:
    """Without parsing: the request's header mapping is never built."""
    for accept in (None, "*/*", "application/json"):
        headers = {} if accept is None else {"HTTP_ACCEPT": accept}
        request = Request(APIRequestFactory().get("/api/v1/x/?k=3", **headers))
        renderer, media_type = ContentNegotiation().select_renderer(request, [JSONRenderer()])
        assert (type(renderer), media_type) == (JSONRenderer, "application/json")
        assert "headers" not in request._request.__dict__


@pytest.mark.django_db
def test_the_api_still_refuses_what_it_cannot_render(client) -> None:
    response = client.get("/api/v1/genres/", HTTP_ACCEPT="text/html")
    assert response.status_code == 406
    assert client.get("/api/v1/genres/", HTTP_ACCEPT="*/*").status_code == 200
