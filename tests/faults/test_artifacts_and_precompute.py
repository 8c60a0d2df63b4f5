"""A full artifact disk, and a precompute cut off midway: the serving model never changes."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import pytest

from recommender.models import ModelVersion, Recommendation, TrainingRun
from recommender.registry import registry, serving_model
from recommender.services import precompute, training, training_runs
from recommender.serving.edge import recommendations_for_user
from tests.faults.conftest import GOOD_CONFIG, train_and_activate
from tests.recommender.conftest import RatingWorld

pytestmark = pytest.mark.django_db
# A differently shaped model than GOOD_CONFIG: its lists differ from the old version's.
NEW_CONFIG = {**GOOD_CONFIG, "gmf_dim": 4, "mlp_layers": [8, 4], "epochs": 2, "lr": 0.05}


def _picks(user) -> list[tuple[int, str]]:
    return [(item.movie.pk, item.source) for item in recommendations_for_user(user, 10)]


def _fill(filler: BinaryIO) -> None:
    """Write until the disk refuses: ENOSPC, for real."""
    while True:
        filler.write(b"\0" * 4096)


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 8 MiB tmpfs: room for one small model, then ENOSPC."""
    mount = tmp_path / "disk"
    mount.mkdir()
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_artifact_disk_fails_the_run_and_the_active_model_keeps_serving(
    rating_world: RatingWorld, pipeline_settings, tiny_disk: Path
) -> None:
    pipeline_settings.ARTIFACT_DIR = tiny_disk / "artifacts"
    first = train_and_activate()
    user = rating_world.users[0]
    before = _picks(user)
    assert before
    # Fill what is left of the disk.
    with (
        (tiny_disk / "filler").open("wb", buffering=0) as filler,
        pytest.raises(OSError, match="No space left on device"),
    ):
        _fill(filler)
    names_before = sorted(p.name for p in (tiny_disk / "artifacts").iterdir())

    run = training_runs.training_run_create(
        backend="numpy", config=GOOD_CONFIG, trigger="command", force=True
    )
    training.training_run_execute(training_run_id=run.pk)
    run.refresh_from_db()

    assert run.status == TrainingRun.Status.FAILED
    assert "No space left on device" in run.error
    assert not ModelVersion.objects.filter(training_run=run).exists()
    assert ModelVersion.objects.get(is_active=True).pk == first.pk
    # No half-written artifact left behind, and a fresh process loads the old one from disk.
    assert sorted(p.name for p in (tiny_disk / "artifacts").iterdir()) == names_before
    registry.reset()
    served = serving_model()
    assert served is not None
    assert served.version_id == first.pk
    assert _picks(user) == before
    # Space again: the next run succeeds.
    (tiny_disk / "filler").unlink()
    assert train_and_activate(force=True).is_active


def test_a_precompute_cut_off_midway_never_serves_a_partial_or_mixed_list(
    rating_world: RatingWorld, pipeline_settings
) -> None:
    pipeline_settings.RECSITE_COLD_START_RATINGS = 1  # pure NCF: the precomputed path applies
    old = train_and_activate()
    assert old.precomputed_at is not None
    users = rating_world.users
    old_lists = {u.pk: _picks(u) for u in users[:30]}
    assert {src for picks in old_lists.values() for _, src in picks} == {"ncf"}

    # A new version is trained and activated; its precompute dies after one chunk of users.
    run = training_runs.training_run_create(
        backend="numpy", config=NEW_CONFIG, trigger="command", force=True
    )
    training.training_run_execute(training_run_id=run.pk)
    new = ModelVersion.objects.get(training_run=run)
    assert new.is_active
    assert new.precomputed_at is None
    chunks = precompute.model_version_precompute_chunks(model_version_id=new.pk)
    first_chunk = [u for u in chunks[0] if u in old_lists][:10] or chunks[0][:10]
    online = {u.pk: _picks(u) for u in users[:30]}  # before any row of the new version exists
    precompute.recommendations_precompute_chunk(model_version_id=new.pk, user_ids=first_chunk)
    registry.reset()
    assert Recommendation.objects.filter(model_version=new).exists()
    assert ModelVersion.objects.get(pk=new.pk).precomputed_at is None

    # Serving ignores the half-written rows: every list is the new model's full online list,
    # identical whether or not the user's chunk was written; no list mixes versions.
    for user in users[:30]:
        assert _picks(user) == online[user.pk]
        assert len(online[user.pk]) == 10
    assert any(online[u] != old_lists[u] for u in online), "precondition: a different model"

    # The precompute is rerun to the end: lists come from the new version's rows, complete.
    precompute.model_version_precompute(model_version_id=new.pk)
    registry.reset()
    for user in users[:30]:
        rows = list(
            Recommendation.objects.filter(model_version=new, user=user)
            .order_by("rank")
            .values_list("movie_id", flat=True)
        )
        assert len(rows) == len(set(rows)) == pipeline_settings.RECSITE_TOP_K
        picks = _picks(user)
        assert [src for _, src in picks] == ["ncf"] * 10
        assert [pk for pk, _ in picks] == rows[:10]
        # What was served mid-precompute is exactly the new version's complete list.
        assert [pk for pk, _ in online[user.pk]] == rows[:10]
