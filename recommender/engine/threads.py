"""This process's BLAS, OpenMP and torch thread pools, sized so processes sharing cores coexist.

NumPy's BLAS and torch start one thread per core by default, and OpenBLAS threads spin while
they wait for work, so processes side by side oversubscribe the cores: on a 2-core machine two
NumPy trainings on ml-latest-small took 2.6-3.0 s an epoch at 2 threads each against 0.71 s at
1 thread each (alone, 2 threads gave 0.74 s against 0.72 s: NeuMF's matrices, batch 256 by a
few dozen columns, gain nothing from more). Every product entry point that trains or scores
(the engine's command line, the Celery worker, the training and precompute commands) calls
limit_threads() once at start.

The default, in order: RECSITE_THREADS; else the smallest of OMP_NUM_THREADS,
OPENBLAS_NUM_THREADS and MKL_NUM_THREADS that is set (a limit someone already chose); else half
the cores this process may run on, at least 1 and at most MAX_DEFAULT_THREADS, so that one
process never takes every core of a shared machine.
"""

from __future__ import annotations

import logging
import os
import sys

ENV_VAR = "RECSITE_THREADS"
LIBRARY_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
MAX_DEFAULT_THREADS = 4

logger = logging.getLogger(__name__)


def parse_threads(text: str) -> int:
    """A thread count: a positive integer, else ValueError naming the bad value."""
    try:
        n = int(text)
    except (TypeError, ValueError):
        raise ValueError(f"a thread count must be a positive integer, not {text!r}") from None
    if n < 1:
        raise ValueError(f"a thread count must be a positive integer, not {text!r}")
    return n


def available_cores() -> int:
    """Cores this process may run on (its CPU affinity where the OS tells it)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def default_threads() -> int:
    """The thread count when none is asked for (see the module docstring). Raises ValueError
    when RECSITE_THREADS is set to something else than a positive integer."""
    ours = os.environ.get(ENV_VAR, "").strip()
    if ours:
        try:
            return parse_threads(ours)
        except ValueError as exc:
            raise ValueError(f"{ENV_VAR}: {exc}") from None
    chosen = []
    for name in LIBRARY_VARS:
        try:
            chosen.append(parse_threads(os.environ.get(name, "")))
        except ValueError:
            continue  # unset, or a value that the library itself will judge
    if chosen:
        return min(chosen)
    return max(1, min(available_cores() // 2, MAX_DEFAULT_THREADS))


def limit_threads(threads: int | None = None) -> int:
    """Size this process's thread pools to `threads` (None: default_threads()); returns it.

    Sets the BLAS and OpenMP libraries loaded now (threadpoolctl), the environment variables
    that libraries loaded later and child processes read (LIBRARY_VARS and RECSITE_THREADS),
    and torch's intra-op and inter-op pools if torch is imported (neumf_torch applies
    RECSITE_THREADS when it is imported later)."""
    from threadpoolctl import threadpool_limits

    n = default_threads() if threads is None else threads
    if n < 1:
        raise ValueError(f"a thread count must be a positive integer, not {n!r}")
    os.environ.update({name: str(n) for name in (*LIBRARY_VARS, ENV_VAR)})
    threadpool_limits(limits=n)  # not as a context manager: the limit stays for the process
    if "torch" in sys.modules:
        limit_torch_threads(n)
    logger.info("thread pools: %d thread(s)", n)
    return n


def limit_torch_threads(threads: int) -> None:
    """torch.set_num_threads and, where torch still allows it, set_num_interop_threads (it can
    be set once per process, before torch's first inter-op parallel work)."""
    import torch

    torch.set_num_threads(threads)
    if torch.get_num_interop_threads() != threads:
        try:
            torch.set_num_interop_threads(threads)
        except RuntimeError as exc:
            logger.debug(
                "torch inter-op threads stay at %d: %s", torch.get_num_interop_threads(), exc
            )


def limit_torch_threads_from_env() -> None:
    """At torch's import: apply RECSITE_THREADS if a limit_threads() call (here or in a parent
    process) set it; otherwise leave torch's own defaults."""
    raw = os.environ.get(ENV_VAR, "").strip()
    if not raw:
        return
    try:
        limit_torch_threads(parse_threads(raw))
    except ValueError:
        logger.warning(
            "%s=%r is not a positive integer; torch keeps its thread pools", ENV_VAR, raw
        )
