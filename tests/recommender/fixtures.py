"""Shared model-version fixtures: a clustered synthetic catalog and tiny NeuMF versions on disk."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from catalog.models import Genre, Movie
from ratings.models import Rating
from ratings.services import movie_stats_refresh
from recommender.adapters import ratings_snapshot
from recommender.engine.artifacts import save_artifact, save_model_artifact
from recommender.engine.config import NeuMFConfig
from recommender.engine.data import Interactions
from recommender.engine.similarity import co_rating_neighbours
from recommender.engine.split import leave_one_out
from recommender.engine.train import fit
from recommender.models import ModelVersion, TrainingRun
from tests.conftest import reset_serving_state
from tests.factories import GenreFactory, MovieFactory

CLUSTERS = ("Action", "Romance", "Comedy")
MOVIES_PER_CLUSTER = 30
USERS_PER_CLUSTER = 20
RATINGS_PER_USER = 12  # 10 inside the user's cluster, 2 outside
TINY_CONFIG = NeuMFConfig(
    gmf_dim=8, mlp_layers=(16, 8), epochs=15, batch_size=128, lr=0.01, negatives=4, top_k=10
)


@dataclass
class SyntheticWorld:
    """Movies in genre clusters and MovieLens-style users who mostly rate inside one cluster."""

    genres: dict[str, Genre]
    movies: dict[str, list[Movie]]  # cluster name -> movies
    users: list  # imported raters, USERS_PER_CLUSTER per cluster in CLUSTERS order
    trained_until: datetime
    versions: list[ModelVersion] = field(default_factory=list)

    def cluster_of(self, movie_id: int) -> str | None:
        for name, movies in self.movies.items():
            if any(m.pk == movie_id for m in movies):
                return name
        return None


@pytest.fixture(autouse=True)
def _fresh_serving_state() -> Iterator[None]:
    """Each test starts with a cold registry, snapshot and fold-in cache, as a new process."""
    reset_serving_state()
    yield
    reset_serving_state()


@pytest.fixture
def serving_settings(settings, tmp_path: Path):
    """A tmp ARTIFACT_DIR and no caching of the active-version check or the catalog key."""
    settings.ARTIFACT_DIR = tmp_path / "artifacts"
    settings.RECSITE_DEVICE = "cpu"
    settings.RECSITE_REGISTRY_CHECK_SECONDS = 0
    settings.RECSITE_CATALOG_CHECK_SECONDS = 0
    # A new activation loads in place: a loading thread has its own connection, which cannot
    # see a test's uncommitted versions (test_registry tests the background swap on its own).
    settings.RECSITE_MODEL_SWAP_IN_BACKGROUND = False
    settings.RECSITE_COLD_START_RATINGS = 10
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed only
    return settings


def _build_world(seed: int = 7) -> SyntheticWorld:
    rng = np.random.default_rng(seed)
    genres = {name: GenreFactory(name=name, slug=name.lower()) for name in CLUSTERS}
    movies = {
        name: [
            MovieFactory(title=f"{name} film {i}", year=1990 + i % 20, genres=[genres[name]])
            for i in range(MOVIES_PER_CLUSTER)
        ]
        for name in CLUSTERS
    }
    start = datetime(2015, 1, 1, tzinfo=UTC)
    rows: list[Rating] = []
    user_model = get_user_model()
    # Imported raters cannot log in: no password to hash, so one bulk insert.
    users = user_model.objects.bulk_create(
        user_model(username=f"ml-{name.lower()}-{u}", is_active=False, password="!")
        for name in CLUSTERS
        for u in range(USERS_PER_CLUSTER)
    )
    if users[0].pk is None:  # backends that do not return ids from bulk_create
        users = list(user_model.objects.filter(username__startswith="ml-").order_by("id"))
    for c, name in enumerate(CLUSTERS):
        others = [m for other in CLUSTERS if other != name for m in movies[other]]
        for u in range(USERS_PER_CLUSTER):
            user = users[c * USERS_PER_CLUSTER + u]
            # Popular films within a cluster are its first ten: everyone in it rates some.
            weights = np.linspace(2.0, 0.5, MOVIES_PER_CLUSTER)
            inside = rng.choice(
                MOVIES_PER_CLUSTER,
                size=RATINGS_PER_USER - 2,
                replace=False,
                p=weights / weights.sum(),
            )
            outside = rng.choice(len(others), size=2, replace=False)
            picks = [(movies[name][j], Decimal("4.5")) for j in inside]
            picks += [(others[j], Decimal("2.0")) for j in outside]
            # Shuffled, so the held-out latest ratings are mostly inside the cluster, as in life.
            picks = [picks[j] for j in rng.permutation(len(picks))]
            for n, (movie, score) in enumerate(picks):
                rated_at = start + timedelta(days=c * 100 + u, minutes=n)
                rows.append(Rating(user=user, movie=movie, score=score, rated_at=rated_at))
    Rating.objects.bulk_create(rows)
    movie_stats_refresh(movie_ids=[m.pk for ms in movies.values() for m in ms])
    trained_until = max(r.rated_at for r in rows)
    return SyntheticWorld(genres=genres, movies=movies, users=users, trained_until=trained_until)


def train_version(
    world: SyntheticWorld,
    *,
    seed: int = 0,
    activate: bool = True,
    config: NeuMFConfig = TINY_CONFIG,
    poison: bool = False,
    neighbours: bool = True,
) -> ModelVersion:
    """Train on every rating in the DB with the engine's fit(), save the artifact into
    ARTIFACT_DIR, and record the TrainingRun and ModelVersion rows as the pipeline would.
    poison: save NaN output weights in a well-formed artifact (a diverged training run).
    neighbours: save the co-rating neighbours (False: an artifact from before they existed)."""
    from django.conf import settings

    triples = list(Rating.objects.values_list("user_id", "movie_id", "rated_at"))
    data = Interactions.from_arrays(
        [t[0] for t in triples], [t[1] for t in triples], [int(t[2].timestamp()) for t in triples]
    )
    split = leave_one_out(data, n_candidates=20, seed=seed)
    result = fit(data, config, backend="numpy", seed=seed, split=split)
    name = f"v-test-{seed}-{len(world.versions)}"
    if poison:
        weights = result.model.get_weights()
        weights["out_W"] = np.full_like(weights["out_W"], np.nan)
        save_model_artifact(
            Path(settings.ARTIFACT_DIR) / name,
            weights=weights,
            config=config,
            backend="numpy",
            users=result.users,
            items=result.items,
        )
    elif not neighbours:
        save_artifact(Path(settings.ARTIFACT_DIR) / name, result)
    else:
        # The pipeline's "more like this" neighbours, from the same ratings (liked co-ratings).
        snapshot = ratings_snapshot()
        neighbours = co_rating_neighbours(
            snapshot.interactions.user_idx,
            snapshot.interactions.item_idx,
            snapshot.interactions.n_users,
            snapshot.interactions.n_items,
            scores=snapshot.scores,
        )
        assert snapshot.interactions.items == result.items
        save_artifact(Path(settings.ARTIFACT_DIR) / name, result, neighbours=neighbours)
    now = timezone.now()
    run = TrainingRun.objects.create(
        status=TrainingRun.Status.SUCCEEDED,
        config=config.to_dict(),
        n_users=data.n_users,
        n_items=data.n_items,
        n_ratings=len(data),
        ratings_until=max(t[2] for t in triples),
        started=now,
        finished=now,
    )
    version = ModelVersion.objects.create(
        training_run=run,
        backend="numpy",
        artifact_path=name,
        checksum=result.fingerprint,
        metrics=result.metrics,
        n_users=data.n_users,
        n_items=data.n_items,
        n_ratings=len(data),
    )
    if activate:
        activate_version(version)
    world.versions.append(version)
    return version


def activate_version(version: ModelVersion) -> None:
    """Make `version` the one active version (what the pipeline's activation service does)."""
    ModelVersion.objects.filter(is_active=True).exclude(pk=version.pk).update(is_active=False)
    ModelVersion.objects.filter(pk=version.pk).update(is_active=True, activated_at=timezone.now())
    version.refresh_from_db()


@pytest.fixture
def world(db, serving_settings) -> SyntheticWorld:
    """The synthetic catalog and raters, no model yet."""
    return _build_world()


@pytest.fixture
def trained_world(world: SyntheticWorld) -> SyntheticWorld:
    """The synthetic world with one tiny active model version."""
    train_version(world, seed=0)
    return world


@pytest.fixture
def make_version(world: SyntheticWorld) -> Callable[..., ModelVersion]:
    def make(**kwargs: object) -> ModelVersion:
        return train_version(world, **kwargs)  # type: ignore[arg-type]

    return make
