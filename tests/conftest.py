"""Shared fixtures. Services that CI must have (Postgres, Redis) fail loudly there, never skip."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

IN_CI = bool(os.environ.get("CI"))
# CI runs the suite twice: on the default stack (RECSITE_TEST_STACK=sqlite, as `make run` uses)
# and on Postgres. On the first, the tests of Postgres-only behaviour skip by design.
SQLITE_STACK = os.environ.get("RECSITE_TEST_STACK") == "sqlite"


# CI's second run (Postgres and Redis) skips the tests whose outcome cannot depend on the stack
# under test: they ran on the first. Marked `stack_independent`, and the engine's (no Django).
SKIP_STACK_INDEPENDENT = os.environ.get("RECSITE_TEST_SKIP_STACK_INDEPENDENT") == "1"
ENGINE_TESTS = Path(__file__).resolve().parent / "engine"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip = pytest.mark.skip(reason="stack-independent: it ran on CI's first stack")
    for item in items:
        if item.path.is_relative_to(ENGINE_TESTS):
            item.add_marker(pytest.mark.stack_independent)
        if SKIP_STACK_INDEPENDENT and item.get_closest_marker("stack_independent"):
            item.add_marker(skip)


def require_service(name: str, reason: str) -> None:
    """Skip locally when a service is missing; fail in CI, where it must be there."""
    message = f"{name} is not available: {reason}"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)


def require_postgres(reason: str) -> None:
    """For tests of Postgres-only behaviour (row locks, COPY, real concurrency)."""
    if SQLITE_STACK:
        pytest.skip(f"Postgres-only, and this run is on the default SQLite stack: {reason}")
    require_service("Postgres", reason)


@pytest.fixture
def thread_pools_restored() -> Iterator[None]:
    """Commands and the CLI size this process's thread pools and set the thread variables:
    undo both after the test."""
    from threadpoolctl import threadpool_info, threadpool_limits

    from recommender.engine.threads import ENV_VAR, LIBRARY_VARS

    env = {name: os.environ.get(name) for name in (*LIBRARY_VARS, ENV_VAR)}
    pools = {info["prefix"]: info["num_threads"] for info in threadpool_info()}
    yield
    threadpool_limits(limits=pools)
    for name, value in env.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


_PROCESS_CACHES = (
    ("recommender.serving.edge", "result_memo_clear"),
    ("recommender.coldstart", "catalog_snapshot_clear"),
    ("recommender.services.precompute", "precompute_caches_clear"),
    ("recommender.serializers", "recommended_movies_data_clear"),
)


def _clear_process_caches() -> None:
    """Forget what this process memorised of an earlier test's database: recommendation lists
    and their API dicts, the catalog snapshot and the precompute's loaded model. They are keyed
    by ids, object identities or a (newest id, count) pair, and SQLite reuses ids between tests,
    so a memorised entry could match a new key; the catalog snapshot is also trusted for a
    second without any check. Looked up, not imported: the engine's tests run where Django is
    not installed."""
    for module, clear in _PROCESS_CACHES:
        loaded = sys.modules.get(module)
        if loaded is not None:
            getattr(loaded, clear)()


@pytest.fixture(autouse=True)
def _fresh_process_caches() -> Iterator[None]:
    """Each test starts as a new web or worker process would (see _clear_process_caches)."""
    _clear_process_caches()
    yield
    _clear_process_caches()


def reset_serving_state() -> None:
    """The recommender's per-process state as a new web process has it: no loaded model, no
    catalog snapshot, nothing cached. Imported here, not at the top: the engine's tests run
    where Django is not installed."""
    from django.core.cache import cache

    from recommender.coldstart import catalog_snapshot_clear
    from recommender.registry import registry

    registry.reset()
    catalog_snapshot_clear()
    cache.clear()


CHROMIUM = os.environ.get("RECSITE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """Debian's headless Chromium through Playwright's sync API, one for the whole session.

    Defined once here: Playwright allows one sync instance per thread, so a second definition
    (one per test package) would fail with "Sync API inside the asyncio loop".
    """
    if not shutil.which(CHROMIUM) and not os.path.exists(CHROMIUM):
        require_service("chromium", f"{CHROMIUM} is missing (apt-get install -y chromium)")
    # Playwright's sync API runs an event loop in this thread; Django's ORM refuses to run
    # beside one unless told it is safe, which it is in a test process.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True
        )
        yield launched
        launched.close()
