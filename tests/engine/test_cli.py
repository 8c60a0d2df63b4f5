"""The command line: train writes an artifact, evaluate reads it, benchmark writes a report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from recommender.engine.artifacts import load_artifact
from recommender.engine.cli import build_parser, main

TINY = ["--epochs", "2", "--layers", "16,8,4", "--gmf-dim", "4"]


pytestmark = pytest.mark.usefixtures("thread_pools_restored")


def _error_lines(err: str) -> list[str]:
    """stderr without the progress bar: the lines a person reads."""
    lines = (line.strip() for line in err.replace("\r", "\n").splitlines())
    return [line for line in lines if line and "epoch/s" not in line and "it/s" not in line]


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
    saved = load_artifact(out)
    assert f"best epoch {saved.meta['extra']['best_epoch']}" in printed
    assert f"val HR@10 {saved.metrics['val_hr']:.4f}" in printed
    assert len(load_artifact(out).history) == 2
    assert main(["evaluate", str(out)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["recomputed"]["test_hr"] == pytest.approx(report["saved"]["test_hr"])


def test_evaluate_reports_a_broken_artifact(tmp_path: Path) -> None:
    (tmp_path / "meta.json").write_text("{not json")
    assert main(["evaluate", str(tmp_path)]) == 2


def test_evaluate_refuses_other_data_naming_both_fingerprints(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from recommender.engine.data import load_movielens

    data = _write_ml1m(tmp_path / "ml-1m")
    out = tmp_path / "artifact"
    assert main(["train", "--data", str(data), *TINY, "--out", str(out)]) == 0
    assert main(["evaluate", str(out), "--data", str(data)]) == 0  # its own data: fine
    other = tmp_path / "other"
    other.mkdir()
    lines = (data / "ratings.dat").read_text(encoding="latin-1").splitlines()
    (other / "ratings.dat").write_text("\n".join(lines[:-1]) + "\n", encoding="latin-1")
    capsys.readouterr()

    assert main(["evaluate", str(out), "--data", str(other)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""  # no metrics of the wrong data
    [line] = _error_lines(captured.err)
    assert line.startswith(f"error: {out} was trained on other data than {other}")
    assert load_artifact(out).fingerprint in line
    assert load_movielens(other).fingerprint() in line


@pytest.mark.parametrize("command", ["train", "evaluate"])
def test_unreadable_data_is_one_clear_line_not_a_traceback(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _write_ml1m(tmp_path / "ml-1m")
    artifact = tmp_path / "artifact"
    assert main(["train", "--data", str(data), *TINY, "--out", str(artifact)]) == 0
    empty = tmp_path / "empty"
    empty.mkdir()
    head = ["train", *TINY] if command == "train" else ["evaluate", str(artifact)]
    ratings = data / "ratings.dat"
    cases = {
        "no ratings file": (
            ["--data", str(empty)],
            f"no ratings.csv, ratings.dat or u.data in {empty}",
        ),
        "missing path": (["--data", str(tmp_path / "nope")], "does not exist"),
        "format without its file": (["--data", str(data), "--format", "ml-100k"], "no u.data in"),
        "file in another format": (["--data", str(ratings), "--format", "ml-100k"], "as ml-100k"),
    }
    for name, (argv, expected) in cases.items():
        capsys.readouterr()
        assert main([*head, *argv]) == 2, name
        [line] = _error_lines(capsys.readouterr().err)
        assert line.startswith("error: cannot load --data "), name
        assert expected in line, name


def test_a_diverged_training_exits_non_zero_without_metrics_or_artifact(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "artifact"
    argv = ["train", "--synthetic", "planted", *TINY, "--lr", "1e10", "--out", str(out)]
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert _error_lines(captured.err) == [
        "error: training diverged in neumf epoch 1: the loss is nan (lr 1e+10; try a smaller "
        "learning rate); no metrics, no artifact"
    ]
    assert "val_hr" not in captured.out
    assert "HR@10 1.0000" not in captured.out
    assert not out.exists()


def test_benchmark_of_a_diverging_config_exits_non_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "bench" / "planted.md"
    argv = ["benchmark", "--synthetic", "planted", *TINY, "--lr", "1e10", "--backends", "numpy"]
    assert main([*argv, "--no-baselines", "--out", str(out)]) == 1
    [line] = _error_lines(capsys.readouterr().err)
    assert line.startswith("error: numpy: training diverged in neumf epoch 1: the loss is nan")
    assert not out.exists()


@pytest.mark.parametrize(
    ("extra", "meaning"),
    [([], "the untrained start"), (["--pretrain"], "the fused pre-trained towers")],
)
def test_best_epoch_0_is_printed_with_its_validation_score_and_meaning(
    extra: list[str], meaning: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # lr 100 (with many small steps, unregularised) throws the weights off at once, so no
    # epoch beats the start on validation.
    wild = ["--lr", "100", "--l2", "0", "--batch-size", "256", "--negatives", "4"]
    argv = ["train", "--synthetic", "planted", *TINY, *wild, *extra]
    assert main(argv) == 0
    printed = capsys.readouterr().out.splitlines()
    [best] = [line for line in printed if line.startswith("best epoch")]
    metrics = json.loads(printed[printed.index(best) + 1])
    assert best == (
        f"best epoch 0 ({meaning}: no neumf epoch beat it on validation): "
        f"val HR@10 {metrics['val_hr']:.4f}  NDCG@10 {metrics['val_ndcg']:.4f}  "
        f"full Recall@10 {metrics['val_full_recall']:.4f}  "
        f"NDCG@10 {metrics['val_full_ndcg']:.4f}  (chosen on full-catalogue NDCG)"
    )


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
