"""No secret is committed; the TMDB key never reaches a page, an API response or the logs."""

from __future__ import annotations

import logging
import re
import socket
import subprocess
from pathlib import Path

import pytest
from django.test import Client
from django.urls import reverse
from pytest_httpserver import HTTPServer

from catalog.models import Movie
from catalog.services import movie_posters_fetch
from catalog.tmdb import TmdbClient
from recsite import settings as project_settings
from tests.security.conftest import Site

ROOT = Path(__file__).resolve().parents[2]
SENTINEL_KEY = "f00dfacecafebabe0123456789abcdef"  # 32 hex characters, like a TMDB v3 key
SENTINEL_TOKEN = "eyJhbGciOiJIUzI1NiJ9.sentinel-read-token-payload.c2lnbmF0dXJl"

# Known non-secrets that look like one: MovieLens file checksums (documented MD5s) and the
# token from DRF's own documentation, used as an API schema example.
NOT_SECRETS = {"9944b09199c62bcf9418ad846dd0e4bb"}
CHECKSUM_TABLES = {"data/ml-latest-small/README.md"}

# A TMDB v3 API key is 32 hex characters; a v4 read token is a JWT.
HEX32 = re.compile(r"(?<![0-9a-fA-F])[0-9a-f]{32}(?![0-9a-fA-F])")
JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")
SECRET_ASSIGNMENT = re.compile(r"SECRET_KEY[ \t]*[=:][ \t]*['\"]?([^'\"\s#,)]{30,})")


def _tracked_text_files() -> dict[str, str]:
    names = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    files = {}
    for raw in filter(None, names):
        path = ROOT / raw.decode()
        if not path.is_file() or path.stat().st_size > 2_000_000:
            continue
        data = path.read_bytes()
        if b"\0" not in data[:8192]:  # binaries (PNGs) cannot hold a pasted key readably
            files[raw.decode()] = data.decode(errors="replace")
    return files


def test_no_secret_is_committed() -> None:
    files = _tracked_text_files()
    assert "recsite/settings.py" in files
    assert len(files) > 50
    assert ".env" not in files, ".env holds real settings and must stay untracked"
    found = []
    for name, text in files.items():
        if name == "tests/security/test_secrets.py":
            continue  # this file's sentinels
        for value in SECRET_ASSIGNMENT.findall(text):
            if value != project_settings._DEV_SECRET_KEY and "change-me" not in value:
                found.append((name, "SECRET_KEY", value))
        found += [(name, "JWT-like token", value) for value in JWT.findall(text)]
        if name not in CHECKSUM_TABLES:
            found += [
                (name, "32-hex key", value)
                for value in HEX32.findall(text)
                if value not in NOT_SECRETS
            ]
        for match in re.finditer(r"django-insecure-[^'\"\s]+", text):
            if match.group(0) != project_settings._DEV_SECRET_KEY:
                found.append((name, "Django key", match.group(0)))
    assert found == [], "\n".join(map(str, found))


def test_the_scanner_would_catch_a_pasted_key() -> None:
    """The patterns above are live: each kind of leak is caught in a sample line."""
    assert HEX32.findall(f"TMDB_API_KEY={SENTINEL_KEY}") == [SENTINEL_KEY]
    assert HEX32.findall(f'api_key = "{SENTINEL_KEY}"') == [SENTINEL_KEY]
    assert JWT.findall(f"Bearer {SENTINEL_TOKEN}") == [SENTINEL_TOKEN]
    assert SECRET_ASSIGNMENT.findall('SECRET_KEY = "k8%2m!x9-very-long-real-looking-secret-key"')


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.django_db
def test_the_tmdb_key_never_reaches_pages_api_or_logs(
    httpserver: HTTPServer, site: Site, settings, caplog: pytest.LogCaptureFixture
) -> None:
    settings.TMDB_API_KEY = SENTINEL_KEY
    settings.TMDB_READ_TOKEN = ""
    settings.TMDB_API_URL = httpserver.url_for("/3")
    first, second, third, fourth = site.movies[1:5]
    Movie.objects.filter(pk=first.pk).update(tmdb_id=11)
    Movie.objects.filter(pk=second.pk).update(tmdb_id=12)
    Movie.objects.filter(pk=third.pk).update(tmdb_id=13)
    httpserver.expect_request("/3/movie/11").respond_with_json(
        {"id": 11, "poster_path": "/ok.jpg", "overview": "Fine."}
    )
    httpserver.expect_request("/3/movie/12").respond_with_data("oops", status=500)
    httpserver.expect_request("/3/movie/13").respond_with_data("no", status=401)
    httpserver.expect_request("/3/search/movie").respond_with_data("{not json", status=200)

    with caplog.at_level(logging.DEBUG):
        outcomes = movie_posters_fetch(
            movie_ids=[first.pk, second.pk, third.pk, fourth.pk],
            client=TmdbClient.from_settings(backoff=0.0, max_retries=1),
        )
        unreachable = movie_posters_fetch(
            movie_ids=[site.movies[5].pk],
            client=TmdbClient.from_settings(
                base_url=f"http://127.0.0.1:{_closed_port()}/3", backoff=0.0, max_retries=0
            ),
        )
        client = Client()
        client.force_login(site.member)
        urls = [
            reverse("catalog:home"),
            reverse("catalog:movie-detail", args=[first.pk]),
            reverse("catalog:search") + "?q=calm",
            reverse("catalog:suggest") + "?q=calm",
            reverse("ratings:my-ratings"),
            "/api/v1/movies/",
            f"/api/v1/movies/{first.pk}/",
            "/api/v1/me/recommendations/",
            "/api/v1/schema/",
        ]
        bodies = [client.get(url) for url in urls]

    # The fake TMDB did see the key (so it was in use), and answered every case.
    assert all(req.args.get("api_key") == SENTINEL_KEY for req, _ in httpserver.log)
    assert outcomes == {"found": 1, "failed": 3}
    assert unreachable == {"failed": 1}
    assert any("TMDB lookup of movie" in r.getMessage() for r in caplog.records)
    assert any("ok.jpg" in response.content.decode() for response in bodies)
    for url, response in zip(urls, bodies, strict=True):
        assert response.status_code == 200, url
        assert SENTINEL_KEY not in response.content.decode(), url
        assert SENTINEL_KEY not in str(response.headers), url
    # Our process's logs at DEBUG; werkzeug's lines are the fake TMDB server's access log.
    ours = [r for r in caplog.records if not r.name.startswith("werkzeug")]
    assert ours, "nothing was logged: the capture is not working"
    for record in ours:
        assert SENTINEL_KEY not in record.getMessage(), record.name
        assert SENTINEL_KEY not in str(record.exc_text or ""), record.name
