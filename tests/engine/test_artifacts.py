"""Artifacts: identical scores after a round trip; corruption and mismatches raise ArtifactError."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from recommender.engine.artifacts import (
    ArtifactError,
    load_artifact,
    save_artifact,
    save_model_artifact,
)
from recommender.engine.config import NeuMFConfig
from recommender.engine.data import synthetic_planted
from recommender.engine.similarity import similar_items
from recommender.engine.train import FitResult, fit

CONFIG = NeuMFConfig(gmf_dim=4, mlp_layers=(16, 8, 4), epochs=1, lr=0.01)


@pytest.fixture(scope="module")
def result() -> FitResult:
    return fit(synthetic_planted(n_users=40, n_items=120, seed=1), CONFIG, seed=0)


@pytest.fixture
def saved(tmp_path: Path, result: FitResult) -> Path:
    return save_artifact(tmp_path / "model", result)


def test_round_trip_gives_identical_scores(saved: Path, result: FitResult) -> None:
    loaded = load_artifact(saved)
    users = np.arange(result.model.n_users)
    assert np.array_equal(loaded.score_users(users), result.model.score_users(users))
    assert loaded.config == result.config
    assert loaded.users == result.users
    assert loaded.items == result.items
    assert loaded.metrics == pytest.approx(result.metrics)
    assert loaded.fingerprint == result.fingerprint
    split = loaded.split()
    assert np.array_equal(split.test_candidates, result.split.test_candidates)
    assert np.array_equal(split.val_candidates, result.split.val_candidates)


def test_torch_backend_reads_a_numpy_artifact(saved: Path, result: FitResult) -> None:
    pytest.importorskip("torch")
    loaded = load_artifact(saved, backend="torch", device="cpu")
    users = np.arange(result.model.n_users)
    np.testing.assert_allclose(
        loaded.score_users(users), result.model.score_users(users), rtol=1e-5, atol=1e-6
    )


def test_meta_records_versions_history_and_checksum(saved: Path) -> None:
    meta = json.loads((saved / "meta.json").read_text())
    assert meta["format_version"] == 1
    assert {"python", "numpy"} <= set(meta["versions"])
    assert len(meta["history"]) == 1
    assert len(meta["weights"]["sha256"]) == 64
    assert not list(saved.parent.glob(".model.tmp-*"))  # the temporary directory is gone


def test_corrupted_weights_file_raises(saved: Path) -> None:
    path = saved / "weights.npz"
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))
    with pytest.raises(ArtifactError, match="checksum"):
        load_artifact(saved)


def test_wrong_checksum_in_meta_raises(saved: Path) -> None:
    meta = json.loads((saved / "meta.json").read_text())
    meta["weights"]["sha256"] = "0" * 64
    (saved / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ArtifactError, match="checksum"):
        load_artifact(saved)


def test_mismatched_shapes_raise(saved: Path, result: FitResult) -> None:
    weights = result.model.get_weights()
    weights["gmf_item"] = weights["gmf_item"][:-1]
    with pytest.raises(ArtifactError, match="do not match"):
        save_model_artifact(
            saved.parent / "bad", weights=weights, config=CONFIG, backend="numpy",
            users=result.users, items=result.items,
        )  # fmt: skip
    meta = json.loads((saved / "meta.json").read_text())
    meta["config"]["gmf_dim"] = 5  # weights on disk still have 4 factors
    (saved / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ArtifactError, match="shapes"):
        load_artifact(saved)


def test_truncated_npz_with_matching_checksum_raises(saved: Path) -> None:
    import hashlib

    path = saved / "weights.npz"
    path.write_bytes(path.read_bytes()[:100])
    meta = json.loads((saved / "meta.json").read_text())
    meta["weights"]["sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()
    (saved / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ArtifactError, match="cannot read"):
        load_artifact(saved)


def test_unknown_format_version_and_missing_meta_raise(saved: Path, tmp_path: Path) -> None:
    meta = json.loads((saved / "meta.json").read_text())
    meta["format_version"] = 99
    (saved / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ArtifactError, match="format version"):
        load_artifact(saved)
    with pytest.raises(ArtifactError, match=r"no meta\.json"):
        load_artifact(tmp_path / "nowhere")


def test_existing_directory_is_replaced_only_when_asked(saved: Path, result: FitResult) -> None:
    with pytest.raises(ArtifactError, match="exists"):
        save_artifact(saved, result)
    save_artifact(saved, result, overwrite=True)
    assert load_artifact(saved).users == result.users


def test_item_vectors_feed_similar_items(saved: Path, result: FitResult) -> None:
    loaded = load_artifact(saved)
    vectors = loaded.item_vectors()
    assert vectors.shape[0] == result.model.n_items
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    idx, sims = similar_items(vectors, 3, 5)
    assert 3 not in idx.tolist()
    assert np.all(np.diff(sims) <= 0)
    brute = vectors @ vectors[3]
    brute[3] = -np.inf
    assert idx[0] == int(np.argmax(brute))
