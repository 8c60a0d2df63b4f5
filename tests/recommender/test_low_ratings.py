"""Retrains treat low ratings as not-positive (RECSITE_MIN_RATING) and read a tuned config file."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import numpy as np
import pytest

from ratings.models import Rating
from recommender.models import ModelVersion, TrainingRun
from recommender.registry import load_version
from recommender.services import errors, training_runs
from tests.recommender.conftest import GOOD_CONFIG, USERS_PER_CLUSTER, RatingWorld

pytestmark = pytest.mark.django_db


def _start(captured, config: dict) -> TrainingRun:
    with captured(execute=True):
        run = training_runs.training_run_start(
            backend="numpy", config=config, trigger=TrainingRun.Trigger.COMMAND, force=True
        )
    run.refresh_from_db()
    assert run.status == TrainingRun.Status.SUCCEEDED, run.error
    return run


def _pan_six_horror_films(world: RatingWorld) -> tuple[list[int], list[int]]:
    """Every Action fan rates the same six Horror films 1 star, after their other ratings."""
    action_fans = world.users[:USERS_PER_CLUSTER]
    panned = world.movies["Horror"][:6]
    rows = []
    for user in action_fans:
        last = Rating.objects.filter(user=user).latest("rated_at").rated_at
        Rating.objects.filter(user=user, movie__in=panned).update(score=Decimal("1.0"))
        rated = set(Rating.objects.filter(user=user).values_list("movie_id", flat=True))
        rows += [
            Rating(user=user, movie=m, score=Decimal("1.0"), rated_at=last + timedelta(hours=n))
            for n, m in enumerate(panned, start=1)
            if m.pk not in rated
        ]
    Rating.objects.bulk_create(rows)
    return [u.pk for u in action_fans], [m.pk for m in panned]


def _mean_probability(run: TrainingRun, user_ids: list[int], movie_ids: list[int]) -> float:
    served = load_version(ModelVersion.objects.get(training_run=run))
    users = served.users.index(np.array(user_ids))
    items = served.items.index(np.array(movie_ids))
    assert (users >= 0).all()
    assert (items >= 0).all()  # a film rated only low is still known to the model
    pairs_u, pairs_i = np.repeat(users, items.size), np.tile(items, users.size)
    return float(served.loaded.predict(pairs_u, pairs_i).mean())


def test_films_a_user_panned_are_not_learned_as_liked(
    rating_world: RatingWorld, eager_celery, django_capture_on_commit_callbacks
):
    fans, panned = _pan_six_horror_films(rating_world)
    paper = _start(django_capture_on_commit_callbacks, {**GOOD_CONFIG, "min_rating": None})
    liked = _start(django_capture_on_commit_callbacks, {**GOOD_CONFIG, "min_rating": 3.5})
    assert paper.config["min_rating"] is None
    assert liked.config["min_rating"] == 3.5
    # Every rating a positive: the Action fans "like" the six films they rated 1 star.
    assert _mean_probability(paper, fans, panned) > 0.5
    assert _mean_probability(liked, fans, panned) < 0.5 * _mean_probability(paper, fans, panned)


def test_the_site_default_leaves_low_ratings_out_and_can_be_turned_off(settings):
    assert training_runs.training_config_parse({})["min_rating"] == 3.5
    settings.RECSITE_MIN_RATING = ""
    assert training_runs.training_config_parse({})["min_rating"] is None
    settings.RECSITE_MIN_RATING = "four"
    with pytest.raises(errors.InvalidTrainingConfig, match="RECSITE_MIN_RATING must be"):
        training_runs.training_config_parse({})


def test_a_tuned_config_file_sets_the_defaults_and_a_run_overrides_it(settings, tmp_path):
    tuned = tmp_path / "tuned.json"
    tuned.write_text(json.dumps({"config": {"gmf_dim": 32, "lr": 0.002}, "summary": {}}))
    settings.RECSITE_MODEL_CONFIG = str(tuned)
    parsed = training_runs.training_config_parse({"lr": 0.01})
    assert (parsed["gmf_dim"], parsed["lr"], parsed["min_rating"]) == (32, 0.01, 3.5)
    tuned.write_text(json.dumps({"config": {"gmf_dim": -1}}))
    with pytest.raises(errors.InvalidTrainingConfig, match="gmf_dim must be a positive"):
        training_runs.training_config_parse({})
    settings.RECSITE_MODEL_CONFIG = str(tmp_path / "missing.json")
    with pytest.raises(errors.InvalidTrainingConfig, match="RECSITE_MODEL_CONFIG: cannot read"):
        training_runs.training_config_parse({})
