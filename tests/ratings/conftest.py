"""Fixtures of the account tests."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.cache import cache


@pytest.fixture
def fast_accounts(settings: Any) -> None:
    """A cheap password hasher, and throttle counters that start from zero."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    cache.clear()
