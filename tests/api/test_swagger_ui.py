"""Swagger UI in headless Chromium with the internet cut off: it renders every operation and can
call the API."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.api.conftest import World

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def offline_page(browser: Any, live_server: Any) -> Iterator[tuple[Any, list[str], list[str]]]:
    """A page that may reach only the live server; every other request is aborted and noted."""
    context = browser.new_context(base_url=live_server.url)
    context.set_default_timeout(15_000)
    here = urlsplit(live_server.url).netloc
    outside: list[str] = []
    problems: list[str] = []

    def route(route: Any) -> None:
        url = route.request.url
        if urlsplit(url).netloc == here or url.startswith("data:"):
            route.continue_()
        else:
            outside.append(url)
            route.abort()

    context.route("**/*", route)
    page = context.new_page()
    page.on("pageerror", lambda exc: problems.append(f"error: {exc}"))
    page.on(
        "console",
        lambda msg: (
            problems.append(f"console {msg.type}: {msg.text}") if msg.type == "error" else None
        ),
    )
    yield page, outside, problems
    context.close()


def test_swagger_ui_renders_every_operation_and_calls_the_api_offline(
    world: World, offline_page: tuple[Any, list[str], list[str]], live_server: Any
) -> None:
    page, outside, problems = offline_page
    schema = page.request.get(f"{live_server.url}/api/v1/schema/?format=json").json()
    operations = sum(
        method in ("get", "post", "put", "patch", "delete")
        for item in schema["paths"].values()
        for method in item
    )

    page.goto("/api/docs/")
    page.wait_for_selector(".opblock")
    assert page.locator(".opblock").count() == operations
    assert page.locator(".info .title").inner_text().startswith("recsite API")

    # Try it out: list movies from the page, as a reader of the docs would.
    block = page.locator("#operations-movies-v1_movies_list")
    block.locator(".opblock-summary").click()
    block.get_by_role("button", name="Try it out").click()
    block.get_by_role("button", name="Execute").click()
    status = block.locator(".live-responses-table .response .response-col_status").first
    status.wait_for()
    assert status.inner_text().strip() == "200"
    assert "Film 0" in block.locator(".live-responses-table .microlight").first.inner_text()

    assert outside == [], f"requests left the server: {outside}"
    assert problems == []
