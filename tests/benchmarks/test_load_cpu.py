"""The load benchmark's CPU accounting (benchmarks/load_recommendations.py): what it reads of
/proc for the server's processes, and how it counts a process that started during a run."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from benchmarks.load_recommendations import _cpu_by_role, _cpu_spent, _process_cpu

# A "server" whose child spins: the web role is the server and its children.
SPINNING_SERVER = (
    "import subprocess, sys; subprocess.Popen([sys.executable, '-c', 'while True: pass']).wait()"
)


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            seen = _process_cpu(int(entry))
            if seen is not None and seen[1] == pid:
                found.append(int(entry))
    return found


def test_a_process_reads_as_its_name_parent_and_growing_cpu_time() -> None:
    name, parent, before = _process_cpu(os.getpid())
    deadline = time.process_time() + 0.3
    while time.process_time() < deadline:
        pass
    _, _, after = _process_cpu(os.getpid())
    assert parent == os.getppid()
    assert name  # the kernel's short name of this interpreter
    assert 0.2 <= after - before <= 2.0
    assert _process_cpu(2**22 + 12345) is None  # beyond pid_max: gone


def test_the_web_role_counts_the_server_and_its_workers() -> None:
    server = subprocess.Popen([sys.executable, "-c", SPINNING_SERVER])
    try:
        deadline = time.monotonic() + 10
        while not _children(server.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        (worker,) = _children(server.pid)
        before, started = _cpu_by_role(server.pid), time.monotonic()
        # Until the worker has spun for half a second of CPU (sooner on an idle machine).
        while _process_cpu(worker)[2] - before["web"][worker] < 0.5:
            assert time.monotonic() < started + 20, "the spinning worker got no CPU"
            time.sleep(0.05)
        after, wall = _cpu_by_role(server.pid), time.monotonic() - started
        assert {server.pid, worker} <= set(after["web"])
        spent = _cpu_spent(before, after)
        assert 0.5 <= spent["web"] <= wall + 0.1  # one spinning process: at most one core
        assert set(spent) == {"web", "postgres", "redis"}
    finally:
        for pid in _children(server.pid):
            os.kill(pid, 9)
        server.wait(timeout=10)


def test_a_process_that_started_during_the_run_counts_from_zero() -> None:
    before = {"web": {1: 5.0}, "postgres": {2: 1.0}, "redis": {}}
    after = {"web": {1: 6.5, 3: 0.25}, "postgres": {2: 1.5}, "redis": {4: 0.1}}
    assert _cpu_spent(before, after) == {"web": 1.75, "postgres": 0.5, "redis": 0.1}
