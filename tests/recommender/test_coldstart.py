"""Hybrid cold start: the alpha ramp, normalised blending, popularity, genres, new movies."""

from __future__ import annotations

from decimal import Decimal

import numpy as np
import pytest
from django.contrib.auth.models import AnonymousUser

from ratings.services import profile_set_favourite_genres, rating_upsert
from recommender.coldstart import catalog_snapshot
from recommender.engine import coldstart as cs
from recommender.registry import serving_model
from recommender.serving import ranking
from recommender.serving.alignment import aligned_model
from recommender.serving.edge import recommendations_for_user, user_state, user_vector
from recommender.serving.taste import cold_scores_for
from tests.factories import MovieFactory, UserFactory
from tests.recommender import fixtures
from tests.recommender.fixtures import SyntheticWorld

_fresh_serving_state = fixtures._fresh_serving_state
serving_settings = fixtures.serving_settings
world = fixtures.world
trained_world = fixtures.trained_world


# -- pure math -------------------------------------------------------------------------------


def test_alpha_rises_linearly_over_the_first_ratings():
    assert [cs.blend_alpha(n, 10) for n in (0, 5, 10, 25)] == [0.0, 0.5, 1.0, 1.0]
    assert cs.blend_alpha(3, 0) == 1.0


def test_blend_mixes_normalised_scores_with_alpha():
    rng = np.random.default_rng(0)
    ncf = rng.normal(size=50) * 1e-3 + 0.999  # probabilities crowded near 1
    cold = rng.exponential(size=50) * 1000  # heavy-tailed popularity
    assert np.array_equal(cs.blend(ncf, cold, 0.0), cs.normalise(cold))
    assert np.array_equal(cs.blend(ncf, cold, 1.0), cs.normalise(ncf))
    half = cs.blend(ncf, cold, 0.5)
    np.testing.assert_allclose(half, 0.5 * cs.normalise(ncf) + 0.5 * cs.normalise(cold))
    for scores in (cs.normalise(ncf), cs.normalise(cold)):
        assert scores.min() == 0.0
        assert scores.max() == 1.0


def test_normalise_keeps_order_and_ties_and_puts_never_at_the_bottom():
    out = cs.normalise(np.array([3.0, -np.inf, 3.0, 10.0, 1.0]))
    assert out.tolist() == [
        pytest.approx(2 / 3),
        0.0,
        pytest.approx(2 / 3),
        1.0,
        pytest.approx(1 / 3),
    ]
    assert cs.normalise(np.array([2.0, 2.0])).tolist() == [0.5, 0.5]


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_normalise_is_the_dense_rank_over_the_largest_rank(dtype):
    rng = np.random.default_rng(1)
    scores = rng.integers(0, 300, size=5_000).astype(dtype)  # many ties
    if dtype != np.int64:
        scores[::97] = -np.inf
    finite = np.where(np.isfinite(scores), scores, scores[np.isfinite(scores)].min() - 1)
    uniq, inverse = np.unique(finite.astype(np.float64), return_inverse=True)
    out = cs.normalise(scores)
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, (inverse / (uniq.shape[0] - 1)).astype(np.float32))
    assert cs.normalise(np.zeros(0)).shape == (0,)


def test_popularity_damps_a_mean_from_few_ratings():
    counts = np.array([2.0, 1000.0, 50.0, 0.0])
    means = np.array([5.0, 4.3, 2.0, 0.0])
    pop = cs.popularity_scores(counts, means, recent=np.zeros(4))
    assert pop[1] > pop[0] > pop[3]
    assert pop[1] > pop[2]
    trending = cs.popularity_scores(counts, means, recent=np.array([0.0, 0.0, 0.0, 40.0]))
    assert trending[3] > pop[3]


def test_genre_profile_counts_favourites_and_dislikes():
    item_genres = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0]], dtype=np.float32)
    favourite = np.array([False, False, True])
    profile = cs.genre_profile(item_genres, favourite, np.array([0, 1]), np.array([5.0, 0.5]))
    assert profile[0] > 0 > profile[1]
    assert profile[2] > 0
    assert np.isclose(np.linalg.norm(profile), 1.0)
    affinity = cs.genre_affinity(item_genres, profile)
    assert affinity[2] > affinity[1]
    assert affinity[0] > affinity[1]


def test_content_weights_prefer_shared_genres_then_the_same_decade():
    known = np.array([[1, 0], [1, 0], [0, 1], [1, 1]], dtype=np.float32)
    decades = np.array([1990, 2000, 1990, 1990])
    new = np.array([[1, 0], [0, 0]], dtype=np.float32)
    w = cs.content_weights(known, decades, new, np.array([1990, -1]))
    np.testing.assert_allclose(w.sum(axis=1), 1.0, rtol=1e-6)
    assert w[0, 2] == 0.0  # no shared genre
    assert w[0, 0] == pytest.approx(2 * w[0, 1])  # same decade counts double
    np.testing.assert_allclose(w[1], 0.25)  # no genres: the mean of every trained item


# -- serving ---------------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("n_ratings", "source", "alpha"), [(0, "popular", 0.0), (5, "blend", 0.5), (10, "ncf", 1.0)]
)
def test_alpha_blending_at_0_5_and_10_ratings(
    trained_world: SyntheticWorld, n_ratings: int, source: str, alpha: float
):
    user = UserFactory()
    for movie in trained_world.movies["Comedy"][:n_ratings]:
        rating_upsert(user=user, movie=movie, score=Decimal("4.0"))
    items = recommendations_for_user(user, 10)
    assert {i.source for i in items} == {source}

    state, served, latest = user_state(user)
    state.vector = user_vector(state, served, latest)
    blended = ranking.scores(state)
    assert state.alpha == alpha
    cold, affinity = cold_scores_for(
        state.snapshot,
        favourite_genre_ids=[],
        rated_idx=state.rated_idx,
        rated_scores=state.rated_idx_scores,
    )
    idx = state.snapshot.index([i.movie.pk for i in items])
    if n_ratings == 0:
        assert [i.movie.pk for i in recommendations_for_user(AnonymousUser(), 10)] == [
            i.movie.pk for i in items
        ]
        np.testing.assert_allclose(blended, cs.normalise(cold))
    else:
        ncf = state.aligned.scorer.logits(state.vector)[0]
        ncf = cs.with_taste(ncf, affinity)  # the user's genres shift the model's scores
        expected = alpha * cs.normalise(ncf) + (1 - alpha) * cs.normalise(cold)
        np.testing.assert_allclose(blended, expected, rtol=1e-6)
    np.testing.assert_allclose([i.score for i in items], blended[idx], rtol=1e-6)


@pytest.mark.django_db
def test_onboarding_genres_steer_a_user_with_no_ratings(trained_world: SyntheticWorld):
    user = UserFactory()
    profile_set_favourite_genres(user=user, genres=[trained_world.genres["Romance"]])
    items = recommendations_for_user(user, 10)
    assert {i.source for i in items} == {"cold_start"}
    assert all(trained_world.cluster_of(i.movie.pk) == "Romance" for i in items)
    assert all(i.reason == "Popular in Romance, a genre you like" for i in items)


@pytest.mark.django_db
def test_choosing_onboarding_genres_changes_the_list_at_once(trained_world: SyntheticWorld):
    user = UserFactory()
    before = recommendations_for_user(user, 10)
    assert {i.source for i in before} == {"popular"}
    profile_set_favourite_genres(user=user, genres=[trained_world.genres["Comedy"]])
    after = recommendations_for_user(user, 10)  # not the cached list of a moment ago
    assert {i.source for i in after} == {"cold_start"}
    assert all(trained_world.cluster_of(i.movie.pk) == "Comedy" for i in after)


@pytest.mark.django_db
def test_a_new_movie_with_no_ratings_can_be_recommended(trained_world: SyntheticWorld):
    newcomer = MovieFactory(
        title="Fresh action", year=1995, genres=[trained_world.genres["Action"]]
    )
    user = UserFactory()
    for movie in trained_world.movies["Action"][:10]:
        rating_upsert(user=user, movie=movie, score=Decimal("5.0"))

    snap = catalog_snapshot()
    aligned = aligned_model(serving_model(), snap)
    assert not aligned.in_model[snap.index(newcomer.pk)]  # the model never saw it

    everything = recommendations_for_user(user, snap.n)
    ranked = [i.movie.pk for i in everything]
    assert newcomer.pk in ranked
    romance = {m.pk for m in trained_world.movies["Romance"]}
    romance_ranks = [r for r, pk in enumerate(ranked) if pk in romance]
    # Its content vector sits among the action films the user likes: above every romance film.
    assert ranked.index(newcomer.pk) < min(romance_ranks)
    assert everything[ranked.index(newcomer.pk)].source == "ncf"


@pytest.mark.django_db
def test_rated_new_movies_count_toward_the_fold_in(trained_world: SyntheticWorld):
    newcomers = [
        MovieFactory(title=f"New romance {i}", genres=[trained_world.genres["Romance"]])
        for i in range(10)
    ]
    user = UserFactory()
    for movie in newcomers:
        rating_upsert(user=user, movie=movie, score=Decimal("5.0"))
    items = recommendations_for_user(user, 10)
    assert {i.source for i in items} == {"ncf"}
    share = sum(trained_world.cluster_of(i.movie.pk) == "Romance" for i in items) / len(items)
    assert share >= 0.7
