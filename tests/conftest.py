"""Shared fixtures. Services that CI must have (Postgres, Redis) fail loudly there, never skip."""

from __future__ import annotations

import os

import pytest

IN_CI = bool(os.environ.get("CI"))


def require_service(name: str, reason: str) -> None:
    """Skip locally when a service is missing; fail in CI, where it must be there."""
    message = f"{name} is not available: {reason}"
    if IN_CI:
        pytest.fail(message)
    pytest.skip(message)
