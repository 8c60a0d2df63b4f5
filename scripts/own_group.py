"""Run a command in a process group of its own, and stop it by signalling its main process only.

honcho stops a Procfile process by sending SIGTERM to the process's whole group. A Celery
worker's pool processes share that group, so they die at once; the worker logs each one as an
error ("Process 'ForkPoolWorker-1' ... exited with 'signal 15 (SIGTERM)'") and forks new ones
while it shuts down. Behind this wrapper only the worker's main process gets the signal and it
shuts down warm, ending its pool itself. It has --grace seconds to finish (a running task is
waited for), after which its whole group is killed: scripts/procfile_start.py gives every
process 15 s before honcho kills what is left, and a group honcho cannot see would outlive it.

    .venv/bin/python scripts/own_group.py [--grace 10] -- .venv/bin/celery -A recsite worker

Status: the command's; 0 when it stopped by itself after being asked to (SIGTERM or SIGINT,
even if it died of that signal); 137 when it was killed after the grace period.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import time
from types import FrameType


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--grace", type=float, default=10.0, help="seconds between the signal and SIGKILL"
    )
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("no command given")

    child = subprocess.Popen(command, process_group=0)  # its group id is its pid
    stop_by: float | None = None

    def forward(signum: int, frame: FrameType | None) -> None:
        nonlocal stop_by
        if stop_by is None:
            stop_by = time.monotonic() + args.grace
            with contextlib.suppress(ProcessLookupError):
                child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)

    killed = False
    while True:
        try:
            code = child.wait(timeout=0.2)
            break
        except subprocess.TimeoutExpired:
            if stop_by is not None and time.monotonic() > stop_by and not killed:
                _kill_group(child.pid)
                killed = True
    if killed:
        return 128 + signal.SIGKILL
    if stop_by is not None and code in (0, -signal.SIGTERM, -signal.SIGINT):
        return 0
    return 128 - code if code < 0 else code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
