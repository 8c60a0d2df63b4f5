"""The command line: train writes an artifact, evaluate reads it, benchmark writes a report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recommender.engine.artifacts import load_artifact
from recommender.engine.cli import build_parser, main


def _write_ml1m(root: Path) -> Path:
    from recommender.engine.data import synthetic_planted

    data = synthetic_planted(n_users=40, n_items=120, seed=3)
    users = data.users.raw(data.user_idx)
    items = data.items.raw(data.item_idx)
    lines = [f"{u}::{i}::4::{t}" for u, i, t in zip(users, items, data.timestamps, strict=True)]
    root.mkdir()
    (root / "ratings.dat").write_text("\n".join(lines) + "\n", encoding="latin-1")
    return root


def test_train_then_evaluate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = _write_ml1m(tmp_path / "ml-1m")
    out = tmp_path / "artifact"
    argv = ["train", "--data", str(data), "--format", "ml-1m", "--epochs", "2"]
    argv += ["--layers", "16,8,4", "--gmf-dim", "4", "--out", str(out)]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "epoch   2" in printed
    assert "artifact written" in printed
    assert len(load_artifact(out).history) == 2
    assert main(["evaluate", str(out)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["recomputed"]["test_hr"] == pytest.approx(report["saved"]["test_hr"])


def test_evaluate_reports_a_broken_artifact(tmp_path: Path) -> None:
    (tmp_path / "meta.json").write_text("{not json")
    assert main(["evaluate", str(tmp_path)]) == 2


def test_benchmark_writes_report_and_plots(tmp_path: Path) -> None:
    out = tmp_path / "bench" / "planted.md"
    argv = ["benchmark", "--synthetic", "planted", "--epochs", "1", "--backends", "numpy"]
    argv += ["--layers", "8,4", "--gmf-dim", "4", "--out", str(out)]
    assert main(argv) == 0
    text = out.read_text()
    assert "| NeuMF | numpy (cpu) |" in text
    assert "Popularity" in text
    assert "Item-kNN" in text
    assert {p.name for p in out.parent.glob("*.png")} == {
        "planted-loss.png",
        "planted-val-hr.png",
        "planted-seconds.png",
    }


def test_layers_must_be_even_integers() -> None:
    parser = build_parser()
    with pytest.raises(SystemExit):
        parser.parse_args(["train", "--synthetic", "planted", "--layers", "7,4"])
