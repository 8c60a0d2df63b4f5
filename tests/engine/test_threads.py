"""Thread pools: --threads and RECSITE_THREADS reach threadpoolctl and torch; bad values are
refused; the default never takes every core of a shared machine."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from recommender.engine.cli import build_parser
from recommender.engine.threads import (
    ENV_VAR,
    LIBRARY_VARS,
    MAX_DEFAULT_THREADS,
    available_cores,
    default_threads,
)

TINY = ["--epochs", "1", "--layers", "8,4", "--gmf-dim", "4"]
# Runs in a fresh process: the limits are process-wide and would outlive the test here.
PROBE = """
import json, sys
import threadpoolctl
from recommender.engine.cli import main
rc = main(json.loads(sys.argv[1]))
pools = {{i["internal_api"]: i["num_threads"] for i in threadpoolctl.threadpool_info()}}
torch = sys.modules.get("torch")
print(json.dumps({{
    "rc": rc, "pools": pools, "env": {{k: __import__("os").environ.get(k) for k in {names!r}}},
    "torch": None if torch is None else [torch.get_num_threads(), torch.get_num_interop_threads()],
}}))
"""


def _probe(argv: list[str], **env: str) -> dict:
    clean = {k: v for k, v in os.environ.items() if k not in (*LIBRARY_VARS, ENV_VAR)}
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(names=[*LIBRARY_VARS, ENV_VAR]), json.dumps(argv)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**clean, **env},
        check=True,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def test_threads_option_reaches_blas_openmp_and_torch() -> None:
    # 3: more than this machine's default and its library default (one per core) on 2 cores.
    report = _probe(["train", "--synthetic", "planted", "--backend", "torch", "--device", "cpu",
                     "--threads", "3", *TINY])  # fmt: skip
    assert report["rc"] == 0
    assert report["pools"]["openblas"] == 3
    assert report["pools"].get("openmp", 3) == 3  # torch's OpenMP, when its build has one
    assert report["torch"] == [3, 3]
    # Child processes (the benchmark's trainings) and libraries loaded later inherit it.
    assert set(report["env"].values()) == {"3"}


def test_recsite_threads_is_the_default_of_every_subcommand(tmp_path) -> None:
    report = _probe(["evaluate", str(tmp_path)], RECSITE_THREADS="3")  # a broken artifact
    assert report["rc"] == 2
    assert report["pools"]["openblas"] == 3
    assert report["torch"] is None  # the NumPy path never imports torch


@pytest.mark.parametrize("command", [
    ["train", "--synthetic", "planted"],
    ["benchmark", "--synthetic", "planted"],
    ["evaluate", "artifact"],
])  # fmt: skip
@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5"])
def test_a_bad_thread_count_is_a_clear_usage_error(
    command: list[str], value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args([*command, "--threads", value])
    assert exit_info.value.code == 2
    assert f"argument --threads: a thread count must be a positive integer, not '{value}'" in (
        capsys.readouterr().err
    )


def test_default_prefers_recsite_threads_then_an_existing_limit_then_half_the_cores(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in (*LIBRARY_VARS, ENV_VAR):
        monkeypatch.delenv(name, raising=False)
    half = max(1, min(available_cores() // 2, MAX_DEFAULT_THREADS))
    assert default_threads() == half
    assert default_threads() < available_cores() or available_cores() == 1
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "3")
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    monkeypatch.setenv("MKL_NUM_THREADS", "many")  # not ours to judge: ignored
    assert default_threads() == 2
    monkeypatch.setenv(ENV_VAR, "5")
    assert default_threads() == 5
    monkeypatch.setenv(ENV_VAR, "0")
    with pytest.raises(ValueError, match="RECSITE_THREADS: a thread count must be a positive"):
        default_threads()


def test_a_bad_recsite_threads_ends_the_cli_with_a_usage_error() -> None:
    clean = {k: v for k, v in os.environ.items() if k != ENV_VAR}
    out = subprocess.run(
        [sys.executable, "-m", "recommender.engine", "evaluate", "nowhere"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**clean, ENV_VAR: "lots"},
    )
    assert out.returncode == 2
    assert (
        out.stderr.strip()
        .splitlines()[-1]
        .endswith("error: RECSITE_THREADS: a thread count must be a positive integer, not 'lots'")
    )
    assert "Traceback" not in out.stderr


def test_torch_imported_before_the_limit_is_limited_too() -> None:
    pytest.importorskip("torch")
    code = (
        "import json, torch\n"
        "from recommender.engine.threads import limit_threads\n"
        "limit_threads(3)\n"
        "print(json.dumps([torch.get_num_threads(), torch.get_num_interop_threads()]))\n"
    )
    clean = {k: v for k, v in os.environ.items() if k not in (*LIBRARY_VARS, ENV_VAR)}
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=clean
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) == [3, 3]
