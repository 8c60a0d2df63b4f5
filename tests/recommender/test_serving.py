"""Serving: precomputed and online lists, fold-in, reasons, home rows and "More like this"."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core.cache import cache
from django.db.models import Avg
from django.utils import timezone

from catalog.models import Movie
from ratings.models import Rating
from ratings.services import profile_set_favourite_genres, rating_upsert
from recommender.coldstart import catalog_snapshot
from recommender.models import ModelVersion, Recommendation
from recommender.registry import serving_model
from recommender.serving.alignment import aligned_model
from recommender.serving.edge import (
    SOURCES,
    home_rows_for_user,
    recommendations_for_user,
    result_memo_clear,
    similar_movies,
)
from tests.factories import MovieFactory, UserFactory
from tests.recommender import fixtures
from tests.recommender.fixtures import SyntheticWorld

# The shared fixtures, bound here because tests/recommender/conftest.py belongs to the pipeline.
_fresh_serving_state = fixtures._fresh_serving_state
serving_settings = fixtures.serving_settings
world = fixtures.world
trained_world = fixtures.trained_world

pytestmark = pytest.mark.django_db


def _share(world: SyntheticWorld, items: list, cluster: str) -> float:
    return sum(world.cluster_of(i.movie.pk) == cluster for i in items) / max(len(items), 1)


def test_fold_in_moves_a_new_users_list_toward_what_they_rated(trained_world: SyntheticWorld):
    user = UserFactory()
    before = recommendations_for_user(user, 10)
    for movie in trained_world.movies["Romance"][:10]:
        rating_upsert(user=user, movie=movie, score=Decimal("5.0"))
    after = recommendations_for_user(user, 10)

    assert {i.source for i in after} == {"ncf"}  # 10 ratings: the NCF weight has reached 1
    assert _share(trained_world, after, "Romance") >= 0.8
    assert _share(trained_world, after, "Romance") > _share(trained_world, before, "Romance")


def test_recommendations_change_right_after_each_rating(trained_world: SyntheticWorld):
    user = UserFactory()
    seen = []
    for movie in trained_world.movies["Comedy"][:3]:
        rating_upsert(user=user, movie=movie, score=Decimal("4.5"))
        seen.append([i.movie.pk for i in recommendations_for_user(user, 10)])
    assert seen[0] != seen[1] != seen[2]
    assert all(i.source == "blend" for i in recommendations_for_user(user, 10))


def test_a_rated_movie_never_appears_online_precomputed_or_in_rows(
    trained_world: SyntheticWorld,
):
    rater = trained_world.users[0]  # trained on, 12 ratings: pure NCF
    rated = set(Rating.objects.filter(user=rater).values_list("movie_id", flat=True))
    version = ModelVersion.objects.get(is_active=True)
    # A precomputed list that (wrongly) holds rated movies at the top must still not show them.
    all_ids = list(rated) + [
        m.pk for ms in trained_world.movies.values() for m in ms if m.pk not in rated
    ]
    Recommendation.objects.bulk_create(
        Recommendation(model_version=version, user=rater, movie_id=mid, rank=r, score=1.0 - r / 100)
        for r, mid in enumerate(all_ids[:40], start=1)
    )
    ModelVersion.objects.filter(pk=version.pk).update(precomputed_at=timezone.now())

    precomputed = recommendations_for_user(rater, 20)
    assert [i.source for i in precomputed] == ["ncf"] * 20
    assert [i.movie.pk for i in precomputed] == [m for m in all_ids if m not in rated][:20]

    online = recommendations_for_user(rater, 90)  # the whole catalogue: forces online scoring
    assert len(online) == 90 - len(rated)
    assert not rated & {i.movie.pk for i in online}
    for row in home_rows_for_user(rater):
        assert not rated & {i.movie.pk for i in row.items}, row.title


def test_precomputed_list_is_served_when_fresh_and_scored_online_after_a_rating(
    trained_world: SyntheticWorld, serving_settings, django_assert_num_queries
):
    rater = trained_world.users[5]
    version = ModelVersion.objects.get(is_active=True)
    rated = set(Rating.objects.filter(user=rater).values_list("movie_id", flat=True))
    # Deliberately the reverse of what the model would say, so the two paths are distinguishable.
    ids = [m.pk for m in reversed(trained_world.movies["Comedy"]) if m.pk not in rated][:10]
    Recommendation.objects.bulk_create(
        Recommendation(model_version=version, user=rater, movie_id=mid, rank=r, score=0.5)
        for r, mid in enumerate(ids, start=1)
    )
    ModelVersion.objects.filter(pk=version.pk).update(precomputed_at=timezone.now())
    serving_settings.RECSITE_REGISTRY_CHECK_SECONDS = 60  # as in production: cached checks
    serving_settings.RECSITE_CATALOG_CHECK_SECONDS = 60
    recommendations_for_user(rater, 10)  # warm: registry load and catalog snapshot
    cache.clear()
    result_memo_clear()

    # Rating count and latest (the result cache key), the user's ratings, the precomputed rows,
    # the movies and their genres.
    with django_assert_num_queries(5):
        fresh = recommendations_for_user(rater, 10)
    assert [i.movie.pk for i in fresh] == ids
    with django_assert_num_queries(1):  # a cache hit: only the key's rating count and latest
        again = recommendations_for_user(rater, 10)
    assert again == fresh
    result_memo_clear()  # another web process: a hit in the shared cache, still one query
    with django_assert_num_queries(1):
        assert recommendations_for_user(rater, 10) == fresh

    rating_upsert(user=rater, movie=Movie.objects.get(pk=ids[0]), score=Decimal("3.0"))
    online = recommendations_for_user(rater, 10)
    assert ids[0] not in {i.movie.pk for i in online}
    assert [i.movie.pk for i in online] != ids[1:11]  # scored by the model, not the stale list


def test_every_item_has_a_source_and_a_reason_naming_a_rated_movie(
    trained_world: SyntheticWorld,
):
    user = UserFactory()
    for movie in trained_world.movies["Action"][:10]:
        rating_upsert(user=user, movie=movie, score=Decimal("5.0"))
    items = recommendations_for_user(user, 10)
    titles = {m.title for m in trained_world.movies["Action"][:10]}
    for item in items:
        assert item.source in SOURCES
        assert item.reason.startswith("Because you rated ")
        assert item.reason.endswith(" 5 stars")
        named = item.reason.removeprefix("Because you rated ").removesuffix(" 5 stars")
        assert named in titles


def test_reasons_name_a_liked_co_rated_movie_never_a_low_rated_one(
    trained_world: SyntheticWorld,
):
    user = UserFactory()
    liked = trained_world.movies["Romance"][:10]
    for movie in liked:
        rating_upsert(user=user, movie=movie, score=Decimal("4.5"))
    # Low-rated films of the cluster the picks come from: never named as a reason.
    for movie in trained_world.movies["Romance"][10:14]:
        rating_upsert(user=user, movie=movie, score=Decimal("1.0"))
    items = recommendations_for_user(user, 10)
    titles = {m.title for m in liked}
    assert items
    for item in items:
        assert item.reason.startswith("Because you rated ")
        named = item.reason.removeprefix("Because you rated ").removesuffix(" 4.5 stars")
        assert named in titles


def test_genre_filter_only_returns_that_genre(trained_world: SyntheticWorld):
    user = UserFactory()
    for movie in trained_world.movies["Action"][:4]:
        rating_upsert(user=user, movie=movie, score=Decimal("4.0"))
    items = recommendations_for_user(user, 15, genre="romance")
    assert len(items) == 15
    assert all(trained_world.cluster_of(i.movie.pk) == "Romance" for i in items)
    assert recommendations_for_user(user, 5, genre="no-such-genre") == []


def test_signed_out_visitors_get_popular_rows(trained_world: SyntheticWorld):
    rows = home_rows_for_user(AnonymousUser())
    assert [r.title for r in rows] == ["Popular on recsite", "Trending now", "New arrivals"]
    popular = rows[0].items
    scores = [i.score for i in popular]
    assert scores == sorted(scores, reverse=True)
    catalogue_mean = Movie.objects.aggregate(m=Avg("rating_count"))["m"]
    assert sum(i.movie.rating_count for i in popular) / len(popular) > catalogue_mean
    assert {i.source for r in rows for i in r.items} == {"popular"}
    assert [i.source for i in recommendations_for_user(AnonymousUser(), 5)] == ["popular"] * 5


def test_home_rows_for_a_signed_in_user(
    trained_world: SyntheticWorld, serving_settings, django_assert_num_queries
):
    user = UserFactory()
    profile_set_favourite_genres(user=user, genres=[trained_world.genres["Comedy"]])
    favourite = trained_world.movies["Action"][3]
    rating_upsert(user=user, movie=favourite, score=Decimal("5.0"))
    rating_upsert(user=user, movie=trained_world.movies["Action"][4], score=Decimal("3.0"))
    serving_settings.RECSITE_REGISTRY_CHECK_SECONDS = 60
    serving_settings.RECSITE_CATALOG_CHECK_SECONDS = 60
    home_rows_for_user(user)  # warm the registry and snapshot
    # Ratings, favourite genres, then every row's movies and their genres at once.
    with django_assert_num_queries(4):
        rows = home_rows_for_user(user)
    titles = [r.title for r in rows]
    assert titles == [
        "Top picks for you",
        f"Because you liked {favourite.title}",
        "Trending now",
        "New arrivals",
        "Comedy",
    ]
    assert all(trained_world.cluster_of(i.movie.pk) == "Comedy" for i in rows[-1].items)
    assert len(rows[0].items) == 20
    assert all(r.items for r in rows)
    above_the_fold = [i.movie.pk for r in rows[:3] for i in r.items]
    assert len(above_the_fold) == len(set(above_the_fold))  # a film appears in one row only


def test_a_user_with_no_signal_gets_no_personal_row_above_trending(trained_world: SyntheticWorld):
    rows = home_rows_for_user(UserFactory())
    assert [r.slug for r in rows][:2] == ["popular", "trending"]
    assert "Top picks for you" not in [r.title for r in rows]
    popular = {i.movie.pk for i in rows[0].items}
    assert popular
    assert not popular & {i.movie.pk for i in rows[1].items}


def test_new_arrivals_include_movies_with_no_ratings(trained_world: SyntheticWorld):
    fresh = MovieFactory(title="Brand new", genres=[trained_world.genres["Action"]])
    rows = {r.slug: r for r in home_rows_for_user(AnonymousUser())}
    assert rows["new-arrivals"].items[0].movie == fresh
    assert fresh.rating_count == 0


def test_similar_movies_are_co_rated_movies_of_the_same_cluster(trained_world: SyntheticWorld):
    served = serving_model()
    assert served is not None
    assert served.neighbours is not None
    from_co_ratings = 0
    for cluster, movies in trained_world.movies.items():
        for anchor in movies[:10]:
            similar = similar_movies(anchor, 10)
            assert len(similar) == 10
            assert anchor.pk not in {i.movie.pk for i in similar}
            # Raters like their own cluster (4.5 stars) and rate two others 2 stars: the liked
            # co-ratings never leave the cluster (nor does the content fallback, by genre).
            assert _share(trained_world, similar, cluster) == 1.0
            if {i.source for i in similar} == {"ncf"}:
                from_co_ratings += 1
                assert similar[0].reason == f"Viewers who liked {anchor.title} also liked this"
                scores = [i.score for i in similar]
                assert scores == sorted(scores, reverse=True)
    # Co-rating picks lead; a movie liked by few raters mixes in films of its genre.
    assert from_co_ratings >= 25


def test_similar_movies_fill_a_short_co_rating_list_from_content(trained_world: SyntheticWorld):
    snap = catalog_snapshot()
    aligned = aligned_model(serving_model(), snap)
    lengths = {
        m: int((aligned.neighbours[snap.index(m.pk)] >= 0).sum())
        for m in trained_world.movies["Comedy"]
    }
    anchor, n = min(((m, n) for m, n in lengths.items() if n > 0), key=lambda mn: mn[1])
    assert n < 27  # the least liked movie of the cluster is co-rated with few others
    similar = similar_movies(anchor, n + 2)
    assert [i.source for i in similar] == ["ncf"] * n + ["content"] * 2
    assert len({i.movie.pk for i in similar}) == n + 2
    assert _share(trained_world, similar, "Comedy") == 1.0


def test_similar_movies_of_an_older_artifact_use_item_embeddings(world: SyntheticWorld):
    fixtures.train_version(world, seed=0, neighbours=False)
    served = serving_model()
    assert served is not None
    assert served.neighbours is None
    shares = []
    for cluster, movies in world.movies.items():
        for anchor in movies[:10]:
            similar = similar_movies(anchor, 10)
            assert len(similar) == 10
            assert {i.source for i in similar} == {"ncf"}
            shares.append(_share(world, similar, cluster))
    # Chance is one third; a tiny model trained for seconds still groups the clusters.
    assert sum(shares) / len(shares) >= 0.6


def test_similar_movies_fall_back_to_content_without_a_model(world: SyntheticWorld):
    anchor = world.movies["Comedy"][2]
    similar = similar_movies(anchor, 8)
    assert len(similar) == 8
    assert {i.source for i in similar} == {"content"}
    assert all(world.cluster_of(i.movie.pk) == "Comedy" for i in similar)


def test_similar_movies_for_a_movie_the_model_never_saw(trained_world: SyntheticWorld):
    newcomer = MovieFactory(title="Unseen romance", genres=[trained_world.genres["Romance"]])
    similar = similar_movies(newcomer, 5)
    assert {i.source for i in similar} == {"content"}
    assert all(trained_world.cluster_of(i.movie.pk) == "Romance" for i in similar)


def test_serving_without_any_model_falls_back_to_cold_start(world: SyntheticWorld):
    user = UserFactory()
    profile_set_favourite_genres(user=user, genres=[world.genres["Action"]])
    items = recommendations_for_user(user, 10)
    assert len(items) == 10
    assert {i.source for i in items} == {"cold_start"}
    assert all(world.cluster_of(i.movie.pk) == "Action" for i in items)
    assert items[0].reason == "Popular in Action, a genre you like"


def test_the_in_process_memo_is_bounded_and_each_key_gets_its_own_list(
    trained_world: SyntheticWorld, serving_settings
):
    from recommender.serving import edge

    serving_settings.RECSITE_RESULT_MEMO_SIZE = 2
    users = trained_world.users[:3]
    lists = [recommendations_for_user(user, 10) for user in users]
    assert len(edge._result_memo) == 2  # the oldest user's list was dropped
    # Served again (from the memo or the shared cache), each user still gets their own list.
    assert [recommendations_for_user(user, 10) for user in users] == lists
    assert lists[0] != lists[1]

    serving_settings.RECSITE_RESULT_MEMO_SIZE = 0
    result_memo_clear()
    assert recommendations_for_user(users[0], 10) == lists[0]
    assert len(edge._result_memo) == 0


def test_with_the_result_cache_off_every_request_computes_the_list(
    trained_world: SyntheticWorld, serving_settings, django_assert_max_num_queries
):
    from recommender.serving import edge

    serving_settings.RECSITE_RESULT_CACHE_SECONDS = 0
    user = trained_world.users[2]
    first = recommendations_for_user(user, 10)
    assert len(edge._result_memo) == 0
    # Computed again: the user's ratings, the list and the movies are read each time.
    with django_assert_max_num_queries(10) as queries:
        assert recommendations_for_user(user, 10) == first
    assert len(queries.captured_queries) >= 3


def test_a_recommended_films_page_says_why_it_is_recommended(trained_world: SyntheticWorld, client):
    user = UserFactory()
    for movie in trained_world.movies["Action"][:10]:
        rating_upsert(user=user, movie=movie, score=Decimal("5.0"))
    top = recommendations_for_user(user, 10)[0]
    client.force_login(user)
    page = client.get(f"/movies/{top.movie.pk}/").content.decode()
    assert f'<p class="recommended-because">{top.reason}</p>' in page
    assert top.reason.startswith("Because you rated ")
    # A film the user rated is no pick of theirs: its page gives no reason.
    rated = trained_world.movies["Action"][0]
    assert "recommended-because" not in client.get(f"/movies/{rated.pk}/").content.decode()
