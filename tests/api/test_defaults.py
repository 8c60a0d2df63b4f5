"""The API's defaults are REST_FRAMEWORK's, where DRF users look for them: no view overrides
authentication, parsing, rendering or the schema class, and token authentication comes first
(a missing or bad token gets 401 with a `Token` challenge, not 403)."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import URLPattern, URLResolver, get_resolver
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from recsite.api_parsers import DepthLimitedJSONParser
from recsite.api_schema import ApiAutoSchema
from recsite.authentication import TokenAuthentication


def _api_views() -> list[type[APIView]]:
    views: list[type[APIView]] = []

    def walk(patterns: list[Any]) -> None:
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns)
            elif isinstance(pattern, URLPattern):
                cls = getattr(pattern.callback, "cls", None)
                if (
                    cls is not None
                    and issubclass(cls, APIView)
                    and "drf_spectacular" not in cls.__module__
                ):
                    views.append(cls)

    walk(get_resolver().url_patterns)
    return sorted(set(views), key=lambda cls: cls.__name__)


def test_token_authentication_comes_first_in_the_settings() -> None:
    assert api_settings.DEFAULT_AUTHENTICATION_CLASSES[0] is TokenAuthentication
    assert [DepthLimitedJSONParser] == api_settings.DEFAULT_PARSER_CLASSES
    assert isinstance(api_settings.DEFAULT_SCHEMA_CLASS(), ApiAutoSchema)


@pytest.mark.parametrize("view", _api_views(), ids=lambda cls: cls.__name__)
def test_no_api_view_overrides_the_settings(view: type[APIView]) -> None:
    for attribute, default in [
        ("authentication_classes", api_settings.DEFAULT_AUTHENTICATION_CLASSES),
        ("parser_classes", api_settings.DEFAULT_PARSER_CLASSES),
        ("renderer_classes", api_settings.DEFAULT_RENDERER_CLASSES),
    ]:
        assert list(getattr(view, attribute)) == list(default), (view, attribute)
    assert type(view.schema) is api_settings.DEFAULT_SCHEMA_CLASS or view.schema is None
