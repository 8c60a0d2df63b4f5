"""Property-based fuzzing of the whole OpenAPI schema against the WSGI app: no 500s, every
answer documented and shaped as the schema says, anonymously and with a token."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
import schemathesis
from django.core.cache import cache
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from rest_framework.authtoken.models import Token
from schemathesis.specs.openapi.checks import positive_data_acceptance

from recsite.wsgi import application
from tests.api.conftest import World

# Loaded through the app itself, as a client would; the schema view needs no database.
schema = schemathesis.openapi.from_wsgi("/api/v1/schema/", application)

FUZZ = settings(
    # Bounded so the suite stays quick in CI; API_FUZZ_EXAMPLES=500 digs deeper locally.
    max_examples=int(os.environ.get("API_FUZZ_EXAMPLES", "20")),
    deadline=None,
    # CI replays the same examples every run, so a red build is a change, not luck; a local
    # run draws new ones each time and keeps finding what CI has not tried.
    derandomize=bool(os.environ.get("CI")),
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.function_scoped_fixture,
    ],
)

pytestmark = [pytest.mark.slow]


# Operations whose well-formed requests may still be refused with 400 by rules no schema can
# state; for them "valid data must be accepted" does not hold. Every other check still runs.
@pytest.fixture(autouse=True)
def _keep_the_test_transaction() -> Iterator[None]:
    """Requests go through the bare WSGI app, whose request signals close the DB connection
    (and with it the test's transaction, on Postgres); Django's test client stops that too."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


RULES_BEYOND_THE_SCHEMA = {
    "POST /api/v1/auth/signup/": "password strength, a taken username",
    "POST /api/v1/auth/token/": "wrong credentials",
    "PUT /api/v1/me/profile/": "a well-formed slug of no genre",
    "POST /api/v1/staff/training-runs/": "an odd first MLP layer (twice an embedding size)",
}


def _excluded_checks(case: schemathesis.Case) -> list:
    return [positive_data_acceptance] if case.operation.label in RULES_BEYOND_THE_SCHEMA else []


@schema.parametrize()
@FUZZ
def test_anonymous_requests_conform_to_the_schema(case: schemathesis.Case, world: World) -> None:
    cache.clear()  # throttling is tested on its own; here it would only hide the endpoints
    case.call_and_validate(excluded_checks=_excluded_checks(case))


@schema.parametrize()
@FUZZ
def test_token_requests_conform_to_the_schema(case: schemathesis.Case, world: World) -> None:
    cache.clear()
    # Re-made per example: a fuzzed DELETE /auth/token/ revokes it.
    key = Token.objects.get_or_create(user=world.rater)[0].key
    case.call_and_validate(
        headers={"Authorization": f"Token {key}"}, excluded_checks=_excluded_checks(case)
    )


@schema.include(path_regex="^/api/v1/staff/").parametrize()
@FUZZ
def test_staff_requests_conform_to_the_schema(case: schemathesis.Case, world: World) -> None:
    # Retrains are queued inside the test's transaction, which never commits: the after-commit
    # enqueue never runs, so no task reaches a broker and nothing trains. Activation finds no
    # artifact and answers 409.
    cache.clear()
    key = Token.objects.get_or_create(user=world.staff)[0].key
    case.call_and_validate(
        headers={"Authorization": f"Token {key}"}, excluded_checks=_excluded_checks(case)
    )
