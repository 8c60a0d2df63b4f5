"""Browser-test fixtures: Debian's headless Chromium driven by Playwright's sync API."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.conftest import reset_serving_state

# Playwright's sync API runs an event loop in this thread; Django's ORM (fixtures, checks)
# refuses to run beside one unless told it is safe, which it is in a test process.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"


@pytest.fixture
def page(browser, live_server) -> Iterator[object]:
    context = browser.new_context(viewport={"width": 1440, "height": 900}, base_url=live_server.url)
    context.set_default_timeout(10_000)
    # No internet here: any image from TMDB fails fast and the page falls back to the placeholder.
    context.route("https://image.tmdb.org/**", lambda route: route.abort())
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    yield page
    context.close()
    assert errors == [], f"JavaScript errors: {errors}"


@pytest.fixture(autouse=True)
def _fresh_serving_state(settings) -> Iterator[None]:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    reset_serving_state()
    yield
    reset_serving_state()
