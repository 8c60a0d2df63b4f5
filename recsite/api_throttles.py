"""The API's throttles: DRF's rates and keys, counted atomically.

DRF's SimpleRateThrottle reads a list of timestamps from the cache, decides, and writes the list
back: parallel requests all read the same list, so 40 at once let 13-17 through a 10/min limit.
Here each request adds one to a counter per fixed window, atomically (one Lua script on Redis,
cache.add + cache.incr elsewhere), and is admitted only while the count it got is within the
rate. A window is the rate's period (a minute for "10/min"), aligned to the clock.
"""

from __future__ import annotations

import math
from typing import Any

from rest_framework import throttling
from rest_framework.request import Request


def cache_count(cache: Any, key: str, timeout: int) -> int:
    """Add one to a counter in the cache and return the new count, atomically. On Redis in one
    round trip (recsite.cache.FailOpenRedisCache.count); elsewhere add, then incr."""
    count = getattr(cache, "count", None)
    if count is not None:
        return int(count(key, timeout))
    cache.add(key, 0, timeout=timeout)
    try:
        return int(cache.incr(key))
    except ValueError:  # it expired between add and incr: this request starts a new count
        cache.add(key, 1, timeout=timeout)
        return 1


class AtomicRateMixin:
    """allow_request and wait of SimpleRateThrottle, as a fixed-window counter."""

    cache: Any
    rate: str | None
    num_requests: int
    duration: int
    timer: Any
    key: str | None
    window_end: float

    def allow_request(self, request: Request, view: Any) -> bool:
        if self.rate is None:
            return True
        self.key = self.get_cache_key(request, view)  # type: ignore[attr-defined]
        if self.key is None:
            return True
        now = self.timer()
        window = int(now // self.duration)
        self.window_end = (window + 1) * self.duration
        self.now = now
        count = cache_count(self.cache, f"{self.key}:w{window}", timeout=self.duration + 1)
        return count <= self.num_requests

    def wait(self) -> float:
        return max(1, math.ceil(self.window_end - self.now))


class AnonRateThrottle(AtomicRateMixin, throttling.AnonRateThrottle):
    pass


class UserRateThrottle(AtomicRateMixin, throttling.UserRateThrottle):
    pass


class ScopedRateThrottle(AtomicRateMixin, throttling.ScopedRateThrottle):
    def allow_request(self, request: Request, view: Any) -> bool:
        # DRF's ScopedRateThrottle learns its rate from the view here, not in __init__.
        self.scope = getattr(view, self.scope_attr, None)
        if not self.scope:
            return True
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)
        return super().allow_request(request, view)
