"""The one DRF router: every endpoint lives under /api/v1/; the schema and docs beside it."""

from __future__ import annotations

from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.routers import SimpleRouter

from catalog.api import GenreViewSet, MovieViewSet
from ratings.api import AuthTokenApi, MyProfileApi, MyRatingViewSet, SignUpApi
from recommender.api import (
    ID_REGEX,
    ModelVersionViewSet,
    MyRecommendationsApi,
    SimilarMoviesApi,
    TrainingRunViewSet,
    UserViewSet,
)
from recsite.api_errors import api_not_found

router = SimpleRouter()
router.register("movies", MovieViewSet, basename="movie")
router.register("genres", GenreViewSet, basename="genre")
router.register("me/ratings", MyRatingViewSet, basename="my-rating")
router.register("staff/training-runs", TrainingRunViewSet, basename="training-run")
router.register("staff/model-versions", ModelVersionViewSet, basename="model-version")
router.register("staff/users", UserViewSet, basename="user")

v1 = [
    # First: the endpoint every signed-in client calls most (none below matches its path).
    path("me/recommendations/", MyRecommendationsApi.as_view(), name="my-recommendations"),
    *router.urls,
    re_path(
        rf"^movies/(?P<pk>{ID_REGEX})/similar/$", SimilarMoviesApi.as_view(), name="movie-similar"
    ),
    path("me/profile/", MyProfileApi.as_view(), name="my-profile"),
    path("auth/token/", AuthTokenApi.as_view(), name="auth-token"),
    path("auth/signup/", SignUpApi.as_view(), name="auth-signup"),
    path("schema/", SpectacularAPIView.as_view(api_version="v1"), name="schema"),
]

app_name = "api"
urlpatterns = [
    path("v1/", include((v1, "v1"))),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api:v1:schema"), name="docs"),
    # Last: anything else under /api/ is a JSON 404, never Django's HTML page.
    re_path(r"^(?P<unmatched>[\s\S]*)$", api_not_found),  # newlines too
]
