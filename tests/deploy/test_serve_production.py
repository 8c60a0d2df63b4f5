"""scripts/serve_production.sh (`make prod`), the README's production path, end to end: it
refuses to start without its settings, collects the static files, migrates, and serves pages
and hashed static files through a real gunicorn with DEBUG off, beside a real worker and beat;
SIGTERM (systemd's stop) stops them all cleanly."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.deploy.conftest import Start

pytestmark = pytest.mark.stack_independent  # own processes, settings and databases

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "serve_production.sh"
SEED = """
from catalog.models import Genre, Movie
drama = Genre.objects.create(name="Drama", slug="drama")
movie = Movie.objects.create(title="A Production Film", year=2001)
movie.genres.add(drama)
print("MOVIE", movie.pk)
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _base_env(tmp_path: Path) -> dict[str, str]:
    """No setting of this machine's own (CI's DATABASE_URL, a developer's DJANGO_DEBUG ...)."""
    own = ("DJANGO_", "DATABASE_URL", "CELERY_", "CACHE_URL", "EMAIL_", "GUNICORN_", "RECSITE_")
    env = {k: v for k, v in os.environ.items() if not k.startswith(own)}
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        DJANGO_STATIC_ROOT=str(tmp_path / "static"),
        CELERY_DATA_DIR=str(tmp_path / "celery"),
        RECSITE_ARTIFACT_DIR=str(tmp_path / "artifacts"),
        CACHE_URL="locmemcache://production",
    )
    return env


def _dotenv_sets(name: str) -> bool:
    dotenv = ROOT / ".env"
    return dotenv.exists() and bool(re.search(rf"^{name}=.", dotenv.read_text(), re.M))


def test_refuses_to_start_without_a_secret_key_and_hosts(tmp_path: Path) -> None:
    if _dotenv_sets("DJANGO_SECRET_KEY") or _dotenv_sets("DJANGO_ALLOWED_HOSTS"):
        pytest.skip(".env sets them")
    result = subprocess.run(
        [str(SCRIPT)], cwd=ROOT, env=_base_env(tmp_path), capture_output=True, text=True,
        timeout=60,
    )  # fmt: skip
    assert result.returncode == 2
    assert "set DJANGO_SECRET_KEY DJANGO_ALLOWED_HOSTS" in result.stderr
    assert not (tmp_path / "static").exists()  # nothing ran


def _get(url: str, **headers: str) -> tuple[int, dict[str, str], str]:
    request = urllib.request.Request(url, headers=headers)
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(request, timeout=20) as response:
            return response.status, dict(response.headers), response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read().decode()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


@pytest.mark.slow
@pytest.mark.integration
def test_serves_pages_and_static_files_through_gunicorn_with_debug_off(
    start: Start, tmp_path: Path
) -> None:
    env = _base_env(tmp_path)
    port = _free_port()
    env.update(
        DJANGO_SECRET_KEY="a-production-secret-" + "q" * 40,
        DJANGO_ALLOWED_HOSTS="127.0.0.1",
        DJANGO_DEBUG="1",  # asked for, and still off: production forces it off
        GUNICORN_BIND=f"127.0.0.1:{port}",
        GUNICORN_WORKERS="2",
    )
    prepare = [sys.executable, "manage.py"]
    migrate = subprocess.run([*prepare, "migrate", "--no-input", "-v0"], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=300)  # fmt: skip
    assert migrate.returncode == 0, migrate.stderr[-3000:]
    seeded = subprocess.run([*prepare, "shell", "-c", SEED], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=120)  # fmt: skip
    assert seeded.returncode == 0, seeded.stderr[-3000:]
    movie = seeded.stdout.split()[-1]

    server = start([str(SCRIPT)], env=env)
    try:
        server.wait_for(r"web\.1 .*Booting worker", timeout=180)
        # Each worker warms up (catalog, active model) before it takes traffic.
        server.wait_for(r"web\.1 .*warm-up: model version - and the catalog ready", timeout=60)
        server.wait_for(r"worker\.1 .*celery@\S+ ready\.", timeout=120)
        server.wait_for(r"beat\.1 .*beat: Starting", timeout=60)
        base = f"http://127.0.0.1:{port}"
        https = {"X-Forwarded-Proto": "https"}  # as the TLS-terminating proxy in front says

        pages = {path: _get(base + path, **https) for path in
                 ("/", f"/movies/{movie}/", "/admin/login/")}  # fmt: skip
        for path, (status, _, body) in pages.items():
            assert status == 200, (path, body[-2000:], server.output[-3000:])
        assert "A Production Film" in pages[f"/movies/{movie}/"][2]

        stylesheets = re.findall(r'href="(/static/[^"]+\.css)"', pages["/"][2])
        assert stylesheets, pages["/"][2]
        for stylesheet in stylesheets:
            assert re.search(r"\.[0-9a-f]{12}\.css$", stylesheet), stylesheet  # hashed names
            status, headers, _ = _get(base + stylesheet, **https)
            assert status == 200, stylesheet
            assert "immutable" in headers["Cache-Control"]
        admin_css = re.search(r'href="(/static/admin/css/base\.[0-9a-f]{12}\.css)"',
                              pages["/admin/login/"][2])  # fmt: skip
        assert admin_css, pages["/admin/login/"][2]
        assert _get(base + admin_css.group(1), **https)[0] == 200

        status, _, body = _get(base + "/no-such-page/", **https)
        assert status == 404
        assert "URLconf" not in body  # DEBUG's 404 page lists the URL patterns
        status, headers, _ = _get(base + "/")  # plain HTTP: sent to HTTPS
        assert status == 301
        assert headers["Location"] == f"https://127.0.0.1:{port}/"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(server.process.pid, signal.SIGTERM)  # systemd signals the main process
        code = server.process.wait(timeout=60)  # else the fixture kills the group
    output = server.output
    assert code == 0, output[-5000:]
    assert "static files copied" in output
    assert "Traceback" not in output, output[-5000:]
    assert "ERROR" not in output, output[-5000:]
    assert re.search(r"worker\.1 stopped \(rc=0\)", output), output[-3000:]
