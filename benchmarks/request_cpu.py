"""CPU time of one recommendations request in one process, whole and by phase.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/recsite_load87k \\
        .venv/bin/python benchmarks/request_cpu.py --requests 3000 [--production]

Calls Django's WSGI handler directly (no server, no network but the database's and Redis's)
with the token users that `benchmarks/load_recommendations.py setup` made for this database,
each user twice first (model load, fold-in, result cache), then `--requests` cached requests
round-robin over them. Reports the process's CPU time per request and, from timers wrapped
around the main steps, each step's share; nested steps are inside their parents' figures.
`--production` sets what `load_recommendations.py run --production` sets (DJANGO_PRODUCTION,
the cache on Redis).
"""

from __future__ import annotations

import argparse
import functools
import io
import json
import logging
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "recsite.settings")
API_PATH = "/api/v1/me/recommendations/"


def _timed(spent: dict[str, float], owner: Any, name: str, label: str) -> None:
    """Wrap owner.name so that the CPU time of its calls adds up under label."""
    original: Callable[..., Any] = getattr(owner, name)
    spent[label] = 0.0  # reported in the order wrapped

    @functools.wraps(original)
    def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.process_time()
        try:
            return original(*args, **kwargs)
        finally:
            spent[label] = spent.get(label, 0.0) + time.process_time() - started

    setattr(owner, name, timed)


def _steps(spent: dict[str, float]) -> None:
    from django.core.handlers.base import BaseHandler
    from django.db.backends.base.base import BaseDatabaseWrapper
    from django.urls.resolvers import URLResolver
    from rest_framework.settings import api_settings
    from rest_framework.views import APIView

    from recommender import api, selectors
    from recsite.authentication import TokenAuthentication

    _timed(spent, BaseHandler, "get_response", "Django, middleware and view")
    _timed(spent, URLResolver, "resolve", "  URL resolving (nested resolvers count again)")
    _timed(spent, APIView, "dispatch", "  DRF view")
    _timed(spent, APIView, "initial", "    authentication, permissions, throttles")
    _timed(spent, TokenAuthentication, "authenticate_credentials", "      token query")
    _timed(spent, BaseDatabaseWrapper, "close_if_health_check_failed", "        health check")
    _timed(spent, APIView, "check_throttles", "      throttles (Redis)")
    _timed(spent, api, "recommendations_for_user", "    recommendations_for_user")
    _timed(spent, selectors, "user_rating_stamp", "      rating stamp query")
    _timed(spent, selectors, "user_favourite_genre_ids", "      onboarding genres query")
    _timed(spent, api, "recommended_movies_data", "    serializer")
    _timed(spent, api_settings.DEFAULT_RENDERER_CLASSES[0], "render", "    JSON")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000)
    parser.add_argument("--production", action="store_true")
    args = parser.parse_args()
    if args.production:
        os.environ.setdefault("CACHE_URL", "redis://127.0.0.1:6379/14")
        os.environ.update(
            DJANGO_PRODUCTION="1",
            DJANGO_SECRET_KEY="request-cpu-" + "k" * 40,
            DJANGO_ALLOWED_HOSTS="127.0.0.1",
            DJANGO_SECURE_SSL_REDIRECT="0",
        )
    import django

    django.setup()
    logging.disable(logging.WARNING)
    from django.core.handlers.wsgi import WSGIHandler

    from benchmarks.load_recommendations import TOKENS_FILE

    tokens = json.loads(TOKENS_FILE.read_text())
    users = tokens["precomputed"] + tokens["online"]
    spent: dict[str, float] = {}
    _steps(spent)
    app = WSGIHandler()
    statuses: list[str] = []

    def request(token: str) -> None:
        environ = {
            "REQUEST_METHOD": "GET", "PATH_INFO": API_PATH, "QUERY_STRING": "k=20",
            "SERVER_NAME": "127.0.0.1", "SERVER_PORT": "80", "HTTP_HOST": "127.0.0.1",
            "HTTP_AUTHORIZATION": f"Token {token}", "REMOTE_ADDR": "127.0.0.1",
            "SERVER_PROTOCOL": "HTTP/1.1", "wsgi.input": io.BytesIO(b""),
            "wsgi.url_scheme": "http", "wsgi.errors": sys.stderr,
        }  # fmt: skip
        b"".join(app(environ, lambda status, headers, *_: statuses.append(status)))

    for token in users * 2:
        request(token)
    spent.update(dict.fromkeys(spent, 0.0))
    statuses.clear()
    started = time.process_time()
    for i in range(args.requests):
        request(users[i % len(users)])
    total = time.process_time() - started
    refused = sum(not s.startswith("200") for s in statuses)
    print(f"{args.requests} requests over {len(users)} users, {refused} not 200")
    print(f"CPU per request: {total / args.requests * 1e6:.0f} us (timers included)")
    for label, seconds in spent.items():
        print(f"  {label:48s} {seconds / args.requests * 1e6:6.0f} us")


if __name__ == "__main__":
    main()
