"""The engine imports no Django, and its NumPy modules never pull in torch."""

from __future__ import annotations

import json
import subprocess
import sys

NUMPY_MODULES = [
    "recommender.engine",
    "recommender.engine.config",
    "recommender.engine.data",
    "recommender.engine.split",
    "recommender.engine.sampling",
    "recommender.engine.metrics",
    "recommender.engine.baselines",
    "recommender.engine.train",
    "recommender.engine.artifacts",
    "recommender.engine.foldin",
    "recommender.engine.similarity",
    "recommender.engine.benchmark",
    "recommender.engine.cli",
    "recommender.engine.neumf_numpy",
    "recommender.engine.threads",
]

PROBE = """
import importlib, json, sys
for name in {modules!r}:
    importlib.import_module(name)
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in ("django", "torch"))))
"""


def _loaded(code: str) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    return list(json.loads(out.stdout.strip().splitlines()[-1]))


def test_numpy_modules_load_neither_django_nor_torch() -> None:
    assert _loaded(PROBE.format(modules=NUMPY_MODULES)) == []


def test_a_numpy_fit_and_artifact_round_trip_stay_torch_free() -> None:
    code = """
import json, sys, tempfile
from recommender.engine.config import NeuMFConfig
from recommender.engine.data import synthetic_planted
from recommender.engine.train import fit
from recommender.engine.artifacts import save_artifact, load_artifact
r = fit(synthetic_planted(n_users=20, n_items=200, seed=0), NeuMFConfig(epochs=1))
d = tempfile.mkdtemp()
save_artifact(d + "/m", r)
load_artifact(d + "/m")
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in ("django", "torch"))))
"""
    assert _loaded(code) == []


def test_torch_backend_loads_torch_but_not_django() -> None:
    loaded = _loaded(PROBE.format(modules=["recommender.engine.neumf_torch"]))
    assert "torch" in loaded
    assert not any(m.startswith("django") for m in loaded)
