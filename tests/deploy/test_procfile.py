"""`make run`'s processes (Procfile) and how they stop: Ctrl-C ends with status 0, and the Celery
worker shuts down warm instead of losing its pool processes to honcho's group-wide SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import pytest

from tests.deploy.conftest import Start

pytestmark = pytest.mark.stack_independent  # own processes, settings and databases

ROOT = Path(__file__).resolve().parents[2]
PROCFILE_START = ROOT / "scripts" / "procfile_start.py"
OWN_GROUP = ROOT / "scripts" / "own_group.py"


def _procfile(path: Path) -> dict[str, str]:
    """Process name -> command, as honcho reads them (other lines are comments)."""
    return dict(re.findall(r"^([A-Za-z0-9_-]+):\s*(.+)$", path.read_text(), re.M))


def _wait_for_periodic_task(database: Path, name: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    query = "select 1 from django_celery_beat_periodictask where name = ?"
    while time.monotonic() < deadline:
        with closing(sqlite3.connect(database, timeout=5)) as connection:
            if connection.execute(query, (name,)).fetchone():
                return
        time.sleep(0.1)
    raise AssertionError(f"beat wrote no {name!r} entry in {timeout:.0f} s")


def test_only_the_development_server_runs_with_debug() -> None:
    processes = _procfile(ROOT / "Procfile")
    assert set(processes) == {"web", "worker", "beat", "ready"}
    assert "DJANGO_DEBUG=1" in processes["web"]
    assert "runserver 127.0.0.1:8000" in processes["web"]
    for name in ("worker", "beat", "ready"):
        assert "DJANGO_DEBUG" not in processes[name]
    production = _procfile(ROOT / "Procfile.production")
    assert not any("DJANGO_DEBUG" in command for command in production.values())


def test_the_workers_stop_through_own_group_and_the_site_announces_itself() -> None:
    for path in (ROOT / "Procfile", ROOT / "Procfile.production"):
        worker = _procfile(path)["worker"]
        assert "scripts/own_group.py -- .venv/bin/celery -A recsite worker" in worker
    ready = _procfile(ROOT / "Procfile")["ready"]
    assert "manage.py site_ready --url http://127.0.0.1:8000/" in ready
    assert "--stay" in ready  # honcho stops everything when one process ends
    assert "--timeout 0" in ready
    makefile = (ROOT / "Makefile").read_text()
    assert "\t$(PY) scripts/procfile_start.py -f Procfile\n" in makefile


# A stand-in for a Celery worker: a main process and a "pool" process in its group. Told to stop
# (SIGTERM), the main process ends the pool itself; the pool must never get SIGTERM directly.
FAKE_WORKER = """
import os, signal, sys, time
pool = os.fork()
if pool == 0:
    signal.signal(signal.SIGTERM, lambda *a: (print("pool: SIGTERM", flush=True), os._exit(1)))
    signal.signal(signal.SIGUSR1, lambda *a: os._exit(0))
    while True:
        time.sleep(1)
if sys.argv[1] == "obedient":
    def stop(signum, frame):
        print("main: SIGTERM", flush=True)
        os.kill(pool, signal.SIGUSR1)
        os.waitpid(pool, 0)
        sys.exit(0)
    signal.signal(signal.SIGTERM, stop)
else:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("pool", pool, flush=True)
while True:
    time.sleep(1)
"""


def test_own_group_tells_only_the_main_process_to_stop(start: Start) -> None:
    worker = start([sys.executable, str(OWN_GROUP), "--", sys.executable, "-c", FAKE_WORKER,
                    "obedient"])  # fmt: skip
    worker.wait_for(r"^pool \d+")
    os.killpg(worker.process.pid, signal.SIGTERM)  # what honcho does to each process
    assert worker.process.wait(timeout=10) == 0
    assert "main: SIGTERM" in worker.output
    assert "pool: SIGTERM" not in worker.output


def test_own_group_kills_the_whole_group_after_the_grace_period(start: Start) -> None:
    worker = start([sys.executable, str(OWN_GROUP), "--grace", "0.5", "--", sys.executable,
                    "-c", FAKE_WORKER, "stubborn"])  # fmt: skip
    worker.wait_for(r"^pool \d+")
    pool = int(re.search(r"^pool (\d+)", worker.output, re.M).group(1))
    started = time.monotonic()
    os.killpg(worker.process.pid, signal.SIGTERM)
    assert worker.process.wait(timeout=10) == 128 + signal.SIGKILL
    assert time.monotonic() - started < 5
    deadline = time.monotonic() + 5
    while _alive(pool):  # killed; reaped by init once its parent is gone
        assert time.monotonic() < deadline, "the pool process outlived its group's kill"
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(") ", 1)[1].startswith("Z"))


def test_an_interrupt_stops_every_process_with_status_0(start: Start, tmp_path: Path) -> None:
    procfile = tmp_path / "Procfile"
    procfile.write_text("one: sleep 60\ntwo: sleep 60\n")
    honcho = start([sys.executable, str(PROCFILE_START), "-f", str(procfile)])
    honcho.wait_for(r"one\.1 started")
    honcho.wait_for(r"two\.1 started")
    honcho.interrupt()
    assert honcho.process.wait(timeout=30) == 0, honcho.output
    assert "SIGINT received" in honcho.output


def test_a_process_that_fails_by_itself_still_fails(start: Start, tmp_path: Path) -> None:
    procfile = tmp_path / "Procfile"
    procfile.write_text("broken: sleep 0.5; exit 3\nfine: sleep 60\n")
    honcho = start([sys.executable, str(PROCFILE_START), "-f", str(procfile)])
    assert honcho.process.wait(timeout=30) == 3, honcho.output


@pytest.mark.slow
@pytest.mark.integration
def test_ctrl_c_stops_make_runs_worker_and_beat_cleanly(start: Start, tmp_path: Path) -> None:
    """The real Procfile's worker and beat on the default stack (SQLite, filesystem broker)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "CELERY_"))}
    env.update(
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        CELERY_DATA_DIR=str(tmp_path / "celery"),
        RECSITE_ARTIFACT_DIR=str(tmp_path / "artifacts"),
        CACHE_URL="locmemcache://procfile",
    )
    migrate = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--no-input", "-v0"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert migrate.returncode == 0, migrate.stderr[-3000:]

    honcho = start(
        [sys.executable, str(PROCFILE_START), "-f", str(ROOT / "Procfile"), "worker", "beat"],
        env=env,
    )
    honcho.wait_for(r"worker\.1 .*celery@\S+ ready\.", timeout=120)
    honcho.wait_for(r"beat\.1 .*beat: Starting", timeout=60)
    # Beat logs "Starting" before it builds its schedule, and Celery's own SIGTERM handler
    # builds one if none is there yet: a Ctrl-C inside that window of a second is Celery's race,
    # not the Procfile's. The schedule is built once beat has written its own cleanup entry.
    _wait_for_periodic_task(tmp_path / "db.sqlite3", "celery.backend_cleanup", timeout=60)
    stopping = time.monotonic()
    honcho.interrupt()
    assert honcho.process.wait(timeout=60) == 0, honcho.output
    output = honcho.output
    assert "Warm shutdown" in output
    assert "ERROR" not in output, output
    assert "exited with 'signal" not in output, output
    assert "SIGKILL" not in output, output  # nothing needed killing
    assert re.search(r"worker\.1 stopped \(rc=0\)", output), output
    assert time.monotonic() - stopping < 15
