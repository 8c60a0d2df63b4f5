"""The product sizes its thread pools where it trains and scores: training commands, workers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from threadpoolctl import threadpool_info

from recommender.engine.threads import ENV_VAR, LIBRARY_VARS
from recommender.models import TrainingRun
from tests.recommender.conftest import RatingWorld

ROOT = Path(__file__).resolve().parents[2]


pytestmark = pytest.mark.usefixtures("thread_pools_restored")


class PoolsAtEachLine(StringIO):
    """A command's stdout that notes the BLAS pools each time the command prints (each epoch)."""

    def __init__(self) -> None:
        super().__init__()
        self.blas_threads: list[int] = []

    def write(self, text: str) -> int:
        self.blas_threads += [
            i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"
        ]
        return super().write(text)


@pytest.mark.parametrize("command", ["train_ncf", "bootstrap_model"])
def test_training_commands_train_within_the_thread_limit(
    command: str, rating_world: RatingWorld, pipeline_settings
) -> None:
    out = PoolsAtEachLine()
    call_command(command, "--threads", "3", stdout=out, stderr=StringIO())
    assert "neumf epoch" in out.getvalue()
    assert TrainingRun.objects.get().status == TrainingRun.Status.SUCCEEDED
    assert out.blas_threads
    assert set(out.blas_threads) == {3}  # at every line the command printed, epochs included


@pytest.mark.django_db
@pytest.mark.parametrize("command", ["train_ncf", "bootstrap_model", "precompute"])
@pytest.mark.parametrize("value", ["0", "-1", "two"])
def test_a_bad_thread_count_is_refused_clearly(command: str, value: str, pipeline_settings) -> None:
    with pytest.raises(CommandError, match=r"--threads: a thread count must be a positive integer"):
        call_command(command, "--threads", value, stdout=StringIO(), stderr=StringIO())
    assert not TrainingRun.objects.exists()


@pytest.mark.parametrize("numpy_first", [True, False])
@pytest.mark.parametrize("signal", ["worker_init", "worker_process_init"])
def test_worker_processes_size_their_pools_from_recsite_threads(
    signal: str, numpy_first: bool
) -> None:
    """worker_init runs in the worker's main process (solo / threads pools train there),
    worker_process_init in each prefork child: both size the pools, whether NumPy is loaded
    already (threadpoolctl) or later (the variables it reads)."""
    code = (
        "import json, threadpoolctl\n"
        + ("import numpy\n" if numpy_first else "")
        + "import recsite.celery\n"
        f"from celery.signals import {signal} as signal\n"
        "signal.send(sender=None)\n"
        "import numpy\n"
        "print(json.dumps([i['num_threads'] for i in threadpoolctl.threadpool_info()"
        " if i['user_api'] == 'blas']))\n"
    )
    clean = {k: v for k, v in os.environ.items() if k not in (*LIBRARY_VARS, ENV_VAR)}
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**clean, ENV_VAR: "1"},
        check=True,
    )
    # 1, not the library's one per core (OpenBLAS caps a variable read at load at the cores).
    assert set(json.loads(out.stdout.strip().splitlines()[-1])) == {1}
