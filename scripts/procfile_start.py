"""`honcho start` for `make run` and scripts/serve_production.sh, where Ctrl-C or SIGTERM is
the normal way to stop: that ends with status 0, not honcho's 130 or 143 (which make reports
as "Error 130"). Any other status (a process that died by itself) passes through.

    .venv/bin/python scripts/procfile_start.py -f Procfile [process ...]

honcho SIGKILLs what is still running 5 s after the first process stops; an idle Celery
worker on the filesystem broker needs about 6.5 s for its warm shutdown (its loop polls the
broker with a 2 s timeout, then it closes its pool), so it would die mid-shutdown every time.
STOP_SECONDS gives it longer; scripts/own_group.py kills a worker that takes longer still.
"""

from __future__ import annotations

import sys

import honcho.manager
from honcho.command import main as honcho_main

STOP_SECONDS = 15  # > own_group.py's default grace, so the worker's own kill comes first
# honcho's status after its own SIGINT / SIGTERM handler stopped every process.
STOPPED_BY_SIGNAL = {130, 143}


def main(argv: list[str]) -> int:
    honcho.manager.KILL_WAIT = STOP_SECONDS  # read by Manager.loop() at each check
    try:
        honcho_main(["start", *argv])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1 if exc.code else 0
        return 0 if code in STOPPED_BY_SIGNAL else code
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
