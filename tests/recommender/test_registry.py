"""The model registry: lazy per-process loading, hot swap on activation, fallback on corruption."""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.utils import timezone

from ratings.models import Rating
from ratings.services import rating_upsert
from recommender.models import ModelVersion, Recommendation
from recommender.registry import artifact_directory, registry, resolve_device, serving_model
from recommender.serving.edge import home_rows_for_user, recommendations_for_user, similar_movies
from tests.factories import UserFactory
from tests.recommender import fixtures
from tests.recommender.fixtures import SyntheticWorld, activate_version, train_version

_fresh_serving_state = fixtures._fresh_serving_state
serving_settings = fixtures.serving_settings
world = fixtures.world
trained_world = fixtures.trained_world

pytestmark = pytest.mark.django_db


def _rated_user(world: SyntheticWorld, cluster: str = "Action", n: int = 10) -> AbstractBaseUser:
    user = UserFactory()
    for movie in world.movies[cluster][:n]:
        rating_upsert(user=user, movie=movie, score=Decimal("4.5"))
    return user


def test_nothing_is_loaded_until_a_request_asks(trained_world: SyntheticWorld):
    assert registry._loaded == {}
    served = serving_model()
    assert served is not None
    assert served.version_id == trained_world.versions[0].pk
    assert served.device == "cpu"
    assert served.backend == "numpy"


def test_the_model_loads_once_and_the_active_check_is_cached(
    trained_world: SyntheticWorld, serving_settings, django_assert_num_queries
):
    serving_settings.RECSITE_REGISTRY_CHECK_SECONDS = 60
    first = serving_model()
    with django_assert_num_queries(0):
        again = serving_model()
    assert again is first


def test_activating_a_new_version_changes_what_a_running_process_serves(world: SyntheticWorld):
    old = train_version(world, seed=0)
    user = _rated_user(world)
    anchor = world.movies["Romance"][0]
    served_old = serving_model()
    before = [i.movie.pk for i in recommendations_for_user(user, 15)]
    similar_before = [i.movie.pk for i in similar_movies(anchor, 10)]
    assert served_old.version_id == old.pk

    new = train_version(world, seed=1, activate=False)
    assert serving_model() is served_old  # inactive versions are never loaded
    activate_version(new)

    served_new = serving_model()
    assert served_new.version_id == new.pk
    assert served_new is not served_old
    assert not np.allclose(served_new.item_table, served_old.item_table)
    # Co-rating neighbours depend on the ratings alone, which both versions share: the same
    # list, now read from the new version's aligned neighbours.
    assert [i.movie.pk for i in similar_movies(anchor, 10)] == similar_before
    assert served_new.aligned is not None
    assert served_new.aligned.version_id == new.pk
    after = [i.movie.pk for i in recommendations_for_user(user, 15)]
    assert after != before


def test_the_active_version_check_waits_its_interval(world: SyntheticWorld, serving_settings):
    old = train_version(world, seed=0)
    serving_settings.RECSITE_REGISTRY_CHECK_SECONDS = 3600
    assert serving_model().version_id == old.pk
    activate_version(train_version(world, seed=1, activate=False))
    assert serving_model().version_id == old.pk  # cached id: one cheap query per interval
    serving_settings.RECSITE_REGISTRY_CHECK_SECONDS = 0
    assert serving_model().version_id != old.pk


@pytest.mark.django_db(transaction=True)  # the loading thread reads with its own connection
def test_a_running_process_answers_with_its_model_while_a_new_one_loads(
    world: SyntheticWorld, serving_settings
):
    serving_settings.RECSITE_MODEL_SWAP_IN_BACKGROUND = True
    old = train_version(world, seed=0)
    user = _rated_user(world)
    served_old = serving_model()
    assert served_old.version_id == old.pk  # a process's first load is done in place
    new = train_version(world, seed=1, activate=False)
    activate_version(new)

    # The request that notices the activation does not wait for the load.
    assert serving_model() is served_old
    assert len(recommendations_for_user(user, 10)) == 10
    registry.wait_for_loads()
    served_new = serving_model()
    assert served_new.version_id == new.pk
    assert not np.allclose(served_new.item_table, served_old.item_table)


@pytest.mark.django_db(transaction=True)
def test_a_new_version_that_fails_to_load_in_the_background_leaves_the_old_one_serving(
    world: SyntheticWorld, serving_settings
):
    serving_settings.RECSITE_MODEL_SWAP_IN_BACKGROUND = True
    good = train_version(world, seed=0)
    assert serving_model().version_id == good.pk
    bad = train_version(world, seed=1, activate=False)
    _corrupt(bad)
    activate_version(bad)
    serving_model()
    registry.wait_for_loads()
    assert serving_model().version_id == good.pk
    assert bad.pk in registry.failed_versions


def _corrupt(version: ModelVersion) -> Path:
    weights = artifact_directory(version) / "weights.npz"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    return weights


def test_a_corrupted_artifact_falls_back_to_the_previous_version_and_logs(
    world: SyntheticWorld, caplog: pytest.LogCaptureFixture
):
    good = train_version(world, seed=0)
    user = _rated_user(world)
    serving_model()  # this process served the good version before the broken activation
    bad = train_version(world, seed=1, activate=False)
    _corrupt(bad)
    activate_version(bad)

    with caplog.at_level(logging.ERROR, logger="recommender.registry"):
        items = recommendations_for_user(user, 10)
        registry.wait_for_loads()
    assert len(items) == 10
    assert serving_model().version_id == good.pk
    assert bad.pk in registry.failed_versions
    assert any(f"model version {bad.pk} cannot be loaded" in r.getMessage() for r in caplog.records)


def test_a_fresh_process_with_a_broken_active_version_loads_the_previous_one(
    world: SyntheticWorld, caplog: pytest.LogCaptureFixture
):
    good = train_version(world, seed=0)
    bad = train_version(world, seed=1)
    shutil.rmtree(artifact_directory(bad))  # missing, not just corrupted
    registry.reset()  # a new worker process: nothing loaded yet
    user = _rated_user(world)

    with caplog.at_level(logging.WARNING, logger="recommender.registry"):
        items = recommendations_for_user(user, 10)
    assert len(items) == 10
    assert serving_model().version_id == good.pk
    assert any("cannot be loaded" in r.getMessage() for r in caplog.records)
    assert any(
        f"serving model version {good.pk}" in r.getMessage() and r.levelno == logging.WARNING
        for r in caplog.records
    )


def test_no_loadable_version_serves_cold_start(
    world: SyntheticWorld, caplog: pytest.LogCaptureFixture
):
    only = train_version(world, seed=0)
    _corrupt(only)
    user = _rated_user(world, "Comedy", n=3)
    with caplog.at_level(logging.ERROR, logger="recommender.registry"):
        items = recommendations_for_user(user, 10)
    assert len(items) == 10
    assert {i.source for i in items} == {"cold_start"}
    assert serving_model() is None
    assert any("cold-start" in r.getMessage() for r in caplog.records)


def test_a_diverged_model_with_nan_weights_is_refused_and_serving_goes_on(
    world: SyntheticWorld, caplog: pytest.LogCaptureFixture
):
    diverged = train_version(world, seed=0, poison=True)
    user = _rated_user(world, "Romance", n=4)
    with caplog.at_level(logging.ERROR, logger="recommender.registry"):
        items = recommendations_for_user(user, 10)
    assert len(items) == 10
    assert {i.source for i in items} == {"cold_start"}
    assert diverged.pk in registry.failed_versions
    assert "non-finite weights in out_W" in caplog.text

    similar = similar_movies(world.movies["Action"][0], 5)
    assert [i.source for i in similar] == ["content"] * 5
    rows = home_rows_for_user(user)
    assert [r.slug for r in rows][:1] == ["top-picks"]
    assert all(r.items for r in rows)


def test_precompute_finishing_after_activation_is_picked_up_without_a_reload(
    trained_world: SyntheticWorld,
):
    rater = trained_world.users[7]
    online = recommendations_for_user(rater, 5)
    served = serving_model()
    version = trained_world.versions[0]
    rated = set(Rating.objects.filter(user=rater).values_list("movie_id", flat=True))
    ids = [m.pk for m in trained_world.movies["Comedy"] if m.pk not in rated][-5:]
    Recommendation.objects.bulk_create(
        Recommendation(model_version=version, user=rater, movie_id=mid, rank=r, score=0.5)
        for r, mid in enumerate(ids, start=1)
    )
    ModelVersion.objects.filter(pk=version.pk).update(precomputed_at=timezone.now())

    precomputed = recommendations_for_user(rater, 5)
    assert serving_model() is served  # the same loaded model, not a reload
    assert [i.movie.pk for i in precomputed] == ids
    assert [i.movie.pk for i in precomputed] != [i.movie.pk for i in online]


def test_a_failed_version_is_not_retried_on_every_request(
    world: SyntheticWorld, django_assert_max_num_queries
):
    only = train_version(world, seed=0)
    _corrupt(only)
    assert serving_model() is None
    # The active-id check and the (empty) list of earlier versions; no reload of the artifact.
    with django_assert_max_num_queries(2):
        assert serving_model() is None


def test_an_artifact_path_may_be_absolute_or_relative_to_artifact_dir(
    trained_world: SyntheticWorld,
):
    version = trained_world.versions[0]
    relative = artifact_directory(version)
    assert relative == Path(settings.ARTIFACT_DIR) / version.artifact_path
    ModelVersion.objects.filter(pk=version.pk).update(artifact_path=str(relative))
    version.refresh_from_db()
    assert artifact_directory(version) == relative
    assert serving_model().version_id == version.pk


def test_device_resolution():
    import torch

    assert resolve_device("cpu") == "cpu"
    expected = "cuda" if torch.cuda.is_available() else None
    if expected is None and torch.backends.mps.is_available():
        expected = "mps"
    assert resolve_device("auto") == (expected or "cpu")
    if not torch.cuda.is_available():
        assert resolve_device("cuda") == "cpu"  # asked for, absent: the CPU, with a warning


def test_auto_on_a_host_without_an_accelerator_does_not_import_torch():
    """torch costs a web process about 180 MiB; on a host with no NVIDIA driver and no Apple
    silicon "auto" answers the CPU without importing it (a fresh interpreter, as a worker)."""
    code = (
        "import sys, django; django.setup()\n"
        "from recommender.registry import _accelerator_possible, resolve_device\n"
        "print(resolve_device('auto'), _accelerator_possible(), 'torch' in sys.modules)"
    )
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "recsite.settings"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                         cwd=settings.BASE_DIR, timeout=120, check=True)  # fmt: skip
    device, possible, imported = out.stdout.split()
    if possible == "False":
        assert (device, imported) == ("cpu", "False")
    else:
        assert imported == "True"  # it looked


@pytest.mark.gpu
def test_the_registry_loads_on_cuda_and_scores_like_the_cpu(
    trained_world: SyntheticWorld, serving_settings
):
    import torch

    if not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    cpu = serving_model()
    user_idx = np.arange(len(cpu.users))
    cpu_scores = cpu.loaded.score_users(user_idx)
    registry.reset()
    serving_settings.RECSITE_DEVICE = "auto"
    gpu = serving_model()
    assert gpu.device == "cuda"
    assert gpu.backend == "torch"
    np.testing.assert_allclose(gpu.loaded.score_users(user_idx), cpu_scores, atol=1e-5)


def test_serving_scores_match_the_engine_for_trained_users(trained_world: SyntheticWorld):
    served = serving_model()
    from recommender.coldstart import catalog_snapshot
    from recommender.serving.alignment import aligned_model

    snap = catalog_snapshot()
    aligned = aligned_model(served, snap)
    users = np.arange(len(served.users))
    engine = served.loaded.score_users(users)  # [n_users, n_items], model item order
    ours = aligned.scorer.scores(served.user_table)  # [n_users, n_catalog]
    cols = snap.index(served.items.ids)
    np.testing.assert_allclose(ours[:, cols], engine, atol=1e-5)


def test_the_serving_modules_leave_torch_and_django_out_of_the_engine():
    code = (
        "import sys; import recommender.engine.coldstart; "
        "assert 'django' not in sys.modules, 'django'; assert 'torch' not in sys.modules, 'torch'"
    )
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
