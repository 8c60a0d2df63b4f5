"""Redis as Django's cache, failing open: an outage costs a miss, never a 500.

Everything recsite keeps in the cache can be recomputed (recommendation lists, fold-in vectors)
or is a limit that may lapse while the cache is away (API throttles, log-in lock-outs), so an
unreachable Redis, or one that accepts connections and never answers, must not take pages and
the API down with it. Reads answer as misses, writes are dropped, counters start again; the
first failure is logged and, for RETRY_SECONDS after it, calls skip Redis at once instead of
each waiting for a socket timeout. The first success after an outage is logged too.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

RETRY_SECONDS = 5.0  # after a failure, how long calls skip Redis before it is tried again
SOCKET_TIMEOUT_SECONDS = 0.5  # connect and read timeouts set by recsite.settings
# INCR, and the expiry set by the count that created the key: atomic, as every script is.
COUNT_SCRIPT = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return n
"""


class ReusedRedisClient(RedisCacheClient):
    """Django's client, keeping one redis.Redis per connection pool where Django makes a new one
    for every call (its constructor fills some 170 response callbacks: 0.1-0.2 ms of each
    cached request). A redis.Redis is safe to share between threads; it takes a connection
    from its pool per command."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, Any] = {}

    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        pool = self._get_connection_pool(write)
        client = self._clients.get(id(pool))
        if client is None:
            client = self._clients[id(pool)] = self._client(connection_pool=pool)
        return client


class FailOpenRedisCache(RedisCache):
    """django.core.cache.backends.redis.RedisCache whose failures read as misses."""

    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self._class = ReusedRedisClient
        self._down_until = 0.0
        self._down = False
        self._lock = threading.Lock()
        self._count_script: Any = None

    def _call(self, name: str, fallback: Any, *args: Any, **kwargs: Any) -> Any:
        return self._guarded(getattr(super(), name), fallback, *args, **kwargs)

    def _guarded(self, call: Any, fallback: Any, *args: Any, **kwargs: Any) -> Any:
        if time.monotonic() < self._down_until:
            return fallback
        try:
            result = call(*args, **kwargs)
        except (RedisError, OSError) as exc:
            with self._lock:
                self._down_until = time.monotonic() + RETRY_SECONDS
                if not self._down:
                    self._down = True
                    logger.error(
                        "cache unavailable (%s: %s); serving without it, retrying every %.0f s",
                        type(exc).__name__,
                        exc,
                        RETRY_SECONDS,
                    )
            return fallback
        if self._down:
            with self._lock:
                if self._down:
                    self._down = False
                    logger.warning("cache reachable again")
        return result

    def get(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        return self._call("get", default, key, default, version)

    def get_many(self, keys: Any, version: int | None = None) -> dict[Any, Any]:
        return self._call("get_many", {}, keys, version)

    def has_key(self, key: Any, version: int | None = None) -> bool:
        return self._call("has_key", False, key, version)

    def set(
        self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None
    ) -> None:
        self._call("set", None, key, value, timeout, version)

    def set_many(self, data: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None) -> list[Any]:
        return self._call("set_many", [], data, timeout, version)

    def add(
        self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None
    ) -> bool:
        return self._call("add", False, key, value, timeout, version)

    def touch(self, key: Any, timeout: Any = DEFAULT_TIMEOUT, version: Any = None) -> bool:
        return self._call("touch", False, key, timeout, version)

    def incr(self, key: Any, delta: int = 1, version: int | None = None) -> int:
        return self._call("incr", delta, key, delta, version)

    def delete(self, key: Any, version: int | None = None) -> bool:
        return self._call("delete", False, key, version)

    def delete_many(self, keys: Any, version: int | None = None) -> None:
        self._call("delete_many", None, keys, version)

    def clear(self) -> bool:
        return self._call("clear", False)

    def count(self, key: Any, timeout: int, version: int | None = None) -> int:
        """Add one to the counter at key and return the new count: INCR, and the expiry set
        by the count that created the key, in one Lua script run atomically by Redis. One
        command and one round trip (add + incr cost three, Django's incr asking EXISTS first;
        a MULTI/EXEC of SET NX and INCR, four commands, cost 60 % more CPU in the client).
        While Redis is away every count is 1, so limits lapse, as with incr."""
        return int(self._guarded(self._count, 1, self.make_and_validate_key(key, version), timeout))

    def _count(self, key: str, timeout: int) -> int:
        client = self._cache.get_client(key, write=True)
        if self._count_script is None:
            self._count_script = client.register_script(COUNT_SCRIPT)
        return int(self._count_script(keys=[key], args=[max(1, int(timeout))], client=client))
