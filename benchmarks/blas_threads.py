"""A benchmark's `--threads N` applied before NumPy loads: BLAS reads its thread count once, at
import, so setting it afterwards has no effect. Import this first, then NumPy."""

from __future__ import annotations

import os

LIBRARY_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")


def threads_from_argv(argv: list[str], default: str) -> str:
    """The value of --threads in argv (either `--threads N` or `--threads=N`), else default."""
    for k, arg in enumerate(argv):
        if arg.startswith("--threads="):
            return arg.split("=", 1)[1]
        if arg == "--threads" and k + 1 < len(argv):
            return argv[k + 1]
    return default


def pin_threads(argv: list[str], default: str, *, override: bool) -> None:
    """Set the thread variables from argv's --threads; keep ones already set unless override."""
    value = threads_from_argv(argv, default)
    for name in LIBRARY_VARS:
        if override:
            os.environ[name] = value
        else:
            os.environ.setdefault(name, value)
