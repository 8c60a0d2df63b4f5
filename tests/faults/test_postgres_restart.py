"""Postgres restarted under load: while it is down every request answers quickly with a clean
503 (JSON with a reason under /api/, an HTML page elsewhere, never a 500 or a traceback), and
the same server process serves normally again once it is back, with no restart.

The test runs its own throwaway Postgres cluster (initdb + pg_ctl on a free port), so stopping
it disturbs nothing else, and the site in a real gunicorn process pointed at it."""

from __future__ import annotations

import contextlib
import glob
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.conftest import require_service

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.stack_independent]

ROOT = Path(__file__).resolve().parents[2]
SEED = """
from decimal import Decimal
from django.contrib.auth import get_user_model
from django.test import Client
from rest_framework.authtoken.models import Token
from catalog.models import Genre, Movie
from ratings.services import rating_upsert
drama = Genre.objects.create(name="Drama", slug="drama")
movies = [Movie.objects.create(title=f"Film {i}", year=2000 + i) for i in range(12)]
for movie in movies:
    movie.genres.add(drama)
user = get_user_model().objects.create_user("loader", password="correct-horse-battery")
for movie in movies[:3]:
    rating_upsert(user=user, movie=movie, score=Decimal("4.0"))
browser = Client()
browser.force_login(user)
print("TOKEN", Token.objects.create(user=user).key, "MOVIE", movies[5].pk,
      "SESSION", browser.cookies["sessionid"].value)
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cluster_port() -> int:
    """A free port below the kernel's ephemeral range. While the cluster is down every request
    connects to its port, and any outgoing connection on this machine may get that port as its
    source (a connect to the closed port can even meet itself, a TCP self-connect): Postgres
    would then fail to bind it again on restart, now and then."""
    low = 32768
    with contextlib.suppress(OSError, ValueError, IndexError):
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    candidates = list(range(max(1024, low - 8000), low))
    random.shuffle(candidates)
    for port in candidates[:200]:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    return _free_port()


def _pg_binary(name: str) -> str:
    found = shutil.which(name) or next(
        iter(sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)), None
    )
    if found is None:
        require_service("PostgreSQL server binaries", f"{name} is not installed")
    return str(found)


@dataclass
class Cluster:
    data: Path
    port: int
    as_postgres: list[str]

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/recsite"

    def ctl(self, *args: str) -> None:
        result = subprocess.run(
            [*self.as_postgres, _pg_binary("pg_ctl"), "-D", str(self.data), "-w", "-t", "30",
             *args],
            capture_output=True,
            text=True,
            timeout=60,
        )  # fmt: skip
        if result.returncode != 0:
            log = self.data / "server.log"
            server = log.read_text(errors="replace")[-3000:] if log.exists() else ""
            pytest.fail(f"pg_ctl {args[-1]} failed: {result.stdout}{result.stderr}\n{server}")

    def start(self) -> None:
        options = f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.data} -c fsync=off"
        self.ctl("-o", options, "-l", str(self.data / "server.log"), "start")

    def stop(self) -> None:
        self.ctl("-m", "fast", "stop")


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    initdb = _pg_binary("initdb")
    as_postgres: list[str] = []
    # Not under tmp_path: every pytest session that starts resets pytest-of-<user> to 0700, so a
    # second session on the machine would lock the postgres user out of its own data folder.
    home = Path(tempfile.mkdtemp(prefix="recsite-pg-"))
    home.chmod(0o755)
    if os.geteuid() == 0:  # initdb and postgres refuse to run as root
        runuser = shutil.which("runuser")
        if runuser is None:
            require_service("runuser", "needed to run Postgres as the postgres user")
        as_postgres = [str(runuser), "-u", "postgres", "--"]
        shutil.chown(home, "postgres")
    data = home / "data"
    subprocess.run(
        [*as_postgres, initdb, "-D", str(data), "-A", "trust", "-U", "postgres", "--no-sync"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    found = Cluster(data=data, port=_cluster_port(), as_postgres=as_postgres)
    found.start()
    try:
        subprocess.run(
            [*as_postgres, _pg_binary("createdb"), "-h", "127.0.0.1", "-p", str(found.port),
             "-U", "postgres", "recsite"],
            check=True,
            capture_output=True,
            timeout=60,
        )  # fmt: skip
        yield found
    finally:
        subprocess.run(
            [*as_postgres, _pg_binary("pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(home, ignore_errors=True)


@dataclass
class Outcome:
    at: float
    path: str
    status: int
    seconds: float
    content_type: str
    retry_after: str | None
    body: str


@dataclass
class Load:
    base: str
    token: str
    session: str
    paths: list[str]
    outcomes: list[Outcome] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def request(self, path: str) -> Outcome:
        started = time.monotonic()
        # The API with a token, pages as a signed-in user: the session and user lookups of the
        # middleware need the database too.
        if path.startswith("/api/"):
            headers = {"Authorization": f"Token {self.token}"}
        else:
            headers = {"Cookie": f"sessionid={self.session}"}
        request = urllib.request.Request(self.base + path, headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=20) as response:
                status, body, received = response.status, response.read(), response.headers
        except urllib.error.HTTPError as exc:
            status, body, received = exc.code, exc.read(), exc.headers
        except OSError:
            status, body, received = 0, b"", None
        return Outcome(
            at=started,
            path=path,
            status=status,
            seconds=time.monotonic() - started,
            content_type=received.get("Content-Type", "") if received else "",
            retry_after=received.get("Retry-After") if received else None,
            body=body.decode("utf-8", "replace"),
        )

    def client(self, offset: int) -> None:
        n = offset
        while not self.stop.is_set():
            self.outcomes.append(self.request(self.paths[n % len(self.paths)]))
            n += 1
            time.sleep(0.02)


def _manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_requests_fail_cleanly_while_postgres_is_down_and_recover_after(
    cluster: Cluster, tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": cluster.url,
        "DJANGO_DEBUG": "0",
        "CACHE_URL": "locmemcache://pg-restart",
        "RECSITE_ARTIFACT_DIR": str(tmp_path / "artifacts"),
        "RECSITE_RETRAIN_AFTER_RATINGS": "0",
        "API_THROTTLE_USER": "100000/min",
        "DATABASE_CONN_MAX_AGE": "60",  # kept connections, as in production
        "CELERY_BROKER_URL": f"filesystem://{tmp_path / 'broker'}",
    }
    _manage(env, "migrate", "--no-input", "-v0")
    seeded = _manage(env, "shell", "-c", SEED).split()
    token, movie_id = seeded[seeded.index("TOKEN") + 1], seeded[seeded.index("MOVIE") + 1]
    session = seeded[seeded.index("SESSION") + 1]

    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "recsite.wsgi", "-c", "gunicorn.conf.py",
         "--bind", f"127.0.0.1:{port}", "--workers", "2", "--access-logfile", "/dev/null"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "gunicorn.log", "wb"),  # noqa: SIM115 - closed with the process
    )  # fmt: skip
    load = Load(
        base=f"http://127.0.0.1:{port}",
        token=token,
        session=session,
        paths=[
            "/api/v1/movies/",
            "/api/v1/me/recommendations/?k=5",
            f"/movies/{movie_id}/",
            "/",
        ],
    )
    clients: list[threading.Thread] = []
    try:
        deadline = time.monotonic() + 60
        while load.request("/api/v1/movies/").status != 200:
            assert time.monotonic() < deadline, (tmp_path / "gunicorn.log").read_text()[-3000:]
            time.sleep(0.3)
        clients = [threading.Thread(target=load.client, args=(i,)) for i in range(4)]
        for thread in clients:
            thread.start()
        time.sleep(3)
        stopping = time.monotonic()
        cluster.stop()
        stopped = time.monotonic()
        time.sleep(4)
        starting = time.monotonic()
        cluster.start()
        started = time.monotonic()
        time.sleep(6)
        load.stop.set()
        for thread in clients:
            thread.join(timeout=30)

        # Restarted while idle: every kept connection (CONN_MAX_AGE) now points at a server that
        # is gone, and no request failed on it. Checked before use, it is replaced unnoticed.
        warm = [load.request(path) for path in load.paths * 3]
        cluster.stop()
        cluster.start()
        first = [load.request(path) for path in load.paths * 5]
    finally:
        load.stop.set()
        for thread in clients:
            thread.join(timeout=30)
        server.terminate()
        server.wait(timeout=30)
    log = (tmp_path / "gunicorn.log").read_text()

    before = [o for o in load.outcomes if o.at + o.seconds < stopping]
    down = [o for o in load.outcomes if o.at > stopped and o.at + o.seconds < starting]
    after = [o for o in load.outcomes if o.at > started + 1]
    assert len(before) > 20
    assert len(down) > 20
    assert len(after) > 20
    assert {o.status for o in before} == {200}, {(o.path, o.status) for o in before}

    # Down: every answer is a quick, clean 503 that says why; nothing hangs, nothing is a 500.
    assert {o.status for o in down} == {503}, sorted({(o.path, o.status) for o in down})
    assert max(o.seconds for o in down) < 5
    for outcome in down:
        assert "Traceback" not in outcome.body
        assert 'File "' not in outcome.body
        assert outcome.retry_after is not None
        assert int(outcome.retry_after) > 0
        if outcome.path.startswith("/api/"):
            assert outcome.content_type == "application/json"
            body = json.loads(outcome.body)
            assert body["code"] == "database_unavailable"
            assert body["detail"]
        else:
            assert outcome.content_type.startswith("text/html")
            assert "Back in a moment" in outcome.body
    assert {o.path for o in down} == set(load.paths)

    # Back: the same server process serves every path again, without a restart.
    assert {o.status for o in after} == {200}, sorted({(o.path, o.status) for o in after})
    assert {o.path for o in after} == set(load.paths)
    assert all("Log out" in o.body for o in after if not o.path.startswith("/api/"))  # signed in
    assert [o.status for o in warm] == [200] * len(warm)
    assert [o.status for o in first] == [200] * len(first), [(o.path, o.status) for o in first]
    assert server.returncode is not None  # terminated by us, not crashed earlier
    assert "Booting worker" in log
