"""The serving core is NumPy only: importing it loads no Django, no torch and no project app;
catalog, the base app, imports nothing of the recommender."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
CORE_MODULES = [
    "recommender.serving",
    "recommender.serving.types",
    "recommender.serving.taste",
    "recommender.serving.similar",
    "recommender.serving.reasons",
    "recommender.serving.ranking",
]
PROBE = """
import importlib, json, sys
for name in {modules!r}:
    importlib.import_module(name)
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in ("django", "torch",
    "catalog", "ratings", "recsite") or m.startswith("recommender.serving.edge"))))
"""


def test_the_serving_core_imports_no_django_and_no_app():
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(modules=CORE_MODULES)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        cwd=ROOT,
    )
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_catalog_imports_nothing_of_the_recommender():
    offenders = {
        str(path.relative_to(ROOT)): sorted(
            m for m in _imported_modules(path) if m.split(".")[0] == "recommender"
        )
        for path in (ROOT / "catalog").rglob("*.py")
    }
    assert {path: mods for path, mods in offenders.items() if mods} == {}


def test_registry_and_coldstart_do_not_import_each_other():
    registry = _imported_modules(ROOT / "recommender" / "registry.py")
    coldstart = _imported_modules(ROOT / "recommender" / "coldstart.py")
    assert "recommender.coldstart" not in registry
    assert "recommender.registry" not in coldstart
