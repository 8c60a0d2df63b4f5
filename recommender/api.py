"""Recommender API: my recommendations, similar movies, and staff-only training and versions."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, QuerySet
from drf_spectacular.utils import (
    OpenApiExample,
    extend_schema,
    extend_schema_view,
)
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import APIException, NotFound, ValidationError
from rest_framework.permissions import AllowAny, IsAdminUser, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog.api import MOVIE_EXAMPLE
from catalog.selectors import movie_get
from catalog.serializers import MAX_ID_DIGITS
from recommender.models import ModelVersion, TrainingRun
from recommender.serializers import (
    ModelVersionSerializer,
    RecommendationQuerySerializer,
    RecommendedMovieSerializer,
    SimilarQuerySerializer,
    TrainingRunCreateSerializer,
    TrainingRunSerializer,
    UserSerializer,
    recommended_movies_data,
    validated_k_query,
)
from recommender.services.errors import BrokerUnavailable, ModelVersionError, TrainingAlreadyRunning
from recommender.services.training_runs import training_run_cancel, training_run_start
from recommender.services.versions import model_version_activate, model_version_rollback
from recommender.serving.edge import recommendations_for_user, similar_movies
from recsite.api_schema import error_response
from recsite.api_views import ApiViewMixin

ID_REGEX = rf"[0-9]{{1,{MAX_ID_DIGITS}}}"


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state."
    default_code = "conflict"


class ServiceUnavailable(APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "The task queue is unavailable; try again later."
    default_code = "broker_unavailable"


def _code(exc: Exception, default: str) -> str:
    """The service's stable error code, when it gives one."""
    return str(getattr(exc, "code", None) or default)


RECOMMENDATION_EXAMPLE = {
    "movie": MOVIE_EXAMPLE,
    "score": 0.93,
    "source": "ncf",
    "reason": "Because you rated Monsters, Inc. 5 stars",
}


class MyRecommendationsApi(ApiViewMixin, APIView):
    permission_classes = [IsAuthenticated]
    pagination_class = None  # k bounds the list

    @extend_schema(
        summary="My recommendations",
        description="The top k movies for the signed-in user, best first, never one already "
        "rated; each with its source (model, blend, cold start...) and a reason.",
        parameters=[RecommendationQuerySerializer],
        responses=RecommendedMovieSerializer(many=True),
        examples=[OpenApiExample("Top picks", value=RECOMMENDATION_EXAMPLE, response_only=True)],
        tags=["me"],
    )
    def get(self, request: Request) -> Response:
        query = validated_k_query(RecommendationQuerySerializer, request.query_params)
        items = recommendations_for_user(request.user, query["k"], genre=query.get("genre"))
        return Response(recommended_movies_data(items))


class SimilarMoviesApi(ApiViewMixin, APIView):
    permission_classes = [AllowAny]
    pagination_class = None  # k bounds the list

    @extend_schema(
        summary="Movies similar to this one",
        description="Nearest movies by who liked this one (the active model version's "
        "co-rating neighbours) blended with shared genres and decade, content weighing more the "
        "fewer ratings the movie has; by genres alone for a movie no one has rated yet.",
        parameters=[SimilarQuerySerializer],
        responses=RecommendedMovieSerializer(many=True),
        examples=[
            OpenApiExample(
                "More like this",
                value={
                    **RECOMMENDATION_EXAMPLE,
                    "reason": "Viewers who liked Toy Story also liked this",
                },
                response_only=True,
            )
        ],
        tags=["movies"],
    )
    def get(self, request: Request, pk: str) -> Response:
        query = validated_k_query(SimilarQuerySerializer, request.query_params)
        movie = movie_get(movie_id=int(pk))
        if movie is None:
            raise NotFound("No movie with this id.")
        items = similar_movies(movie, query["k"])
        return Response(recommended_movies_data(items))


# -- staff ------------------------------------------------------------------------------------

RUN_EXAMPLE = {
    "id": 7,
    "backend": "numpy",
    "status": "running",
    "config": {"gmf_dim": 8, "mlp_layers": [32, 16, 8], "epochs": 12, "lr": 0.001},
    "force": False,
    "cancel_requested": False,
    "epochs": [{"epoch": 1, "loss": 0.41, "val_hr": 0.52, "val_ndcg": 0.29, "seconds": 3.1}],
    "test_metrics": {},
    "device": "cpu",
    "error": "",
    "trigger": "api",
    "triggered_by": "admin",
    "n_users": 610,
    "n_items": 9724,
    "n_ratings": 100836,
    "created": "2026-11-26T19:00:00Z",
    "started": "2026-11-26T19:00:02Z",
    "finished": None,
    "model_version": None,
}
VERSION_EXAMPLE = {
    "id": 3,
    "training_run": 7,
    "backend": "numpy",
    "is_active": True,
    "activated_at": "2026-11-26T19:05:00Z",
    "precomputed_at": "2026-11-26T19:06:00Z",
    "metrics": {"hr@10": 0.61, "ndcg@10": 0.36},
    "n_users": 610,
    "n_items": 9724,
    "n_ratings": 100836,
    "checksum": "5f1d...e9",
    "created": "2026-11-26T19:04:58Z",
}
STAFF = "Staff only (is_staff); others get 403."


@extend_schema_view(
    list=extend_schema(
        summary="Training runs",
        description=STAFF,
        examples=[OpenApiExample("A page", value=RUN_EXAMPLE, response_only=True)],
        tags=["staff"],
    ),
    retrieve=extend_schema(
        summary="One training run, with per-epoch progress",
        description=STAFF,
        examples=[OpenApiExample("A run", value=RUN_EXAMPLE, response_only=True)],
        tags=["staff"],
    ),
)
class TrainingRunViewSet(
    ApiViewMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    permission_classes = [IsAdminUser]
    serializer_class = TrainingRunSerializer
    lookup_value_regex = ID_REGEX

    def get_queryset(self) -> QuerySet[TrainingRun]:
        return TrainingRun.objects.select_related("triggered_by", "model_version").order_by(
            "-created", "-id"
        )

    @extend_schema(
        summary="Start a retrain",
        description=f"{STAFF} Queues a run with the given backend and config (defaults for "
        "any left out); a worker trains it. One run at a time: 409 while one is queued or "
        "running; 503 when the task queue cannot be reached.",
        request=TrainingRunCreateSerializer,
        responses={
            201: TrainingRunSerializer,
            409: error_response(409, "A run is already queued or running."),
            503: error_response(503, "The task queue cannot be reached."),
        },
        examples=[
            OpenApiExample(
                "Ten epochs on the NumPy backend",
                value={"backend": "numpy", "config": {"epochs": 10}, "force": False},
                request_only=True,
            ),
            OpenApiExample(
                "Queued",
                value={**RUN_EXAMPLE, "status": "queued", "epochs": []},
                response_only=True,
            ),
        ],
        tags=["staff"],
    )
    def create(self, request: Request) -> Response:
        body = TrainingRunCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        try:
            run = training_run_start(
                backend=data["backend"],
                config=data.get("config"),
                trigger=TrainingRun.Trigger.API,
                user=request.user,
                force=data["force"],
            )
        except TrainingAlreadyRunning as exc:
            raise Conflict(str(exc), code=_code(exc, "training_in_progress")) from exc
        except BrokerUnavailable as exc:
            raise ServiceUnavailable(str(exc), code=_code(exc, "broker_unavailable")) from exc
        except ValueError as exc:
            # The service's last word on a config (e.g. a combination the fields allow).
            raise ValidationError({"config": [str(exc)]}, code="invalid_config") from exc
        return Response(TrainingRunSerializer(run).data, status=status.HTTP_201_CREATED)

    @extend_schema(
        summary="Cancel a training run",
        description=f"{STAFF} A queued run is cancelled at once, and so is a running one whose "
        "worker is gone (no heartbeat for RECSITE_TRAINING_STALE_SECONDS; its lock is freed); "
        "a running one with a live worker stops before its next epoch; a finished one is left "
        "as it is.",
        request=None,
        responses=TrainingRunSerializer,
        examples=[
            OpenApiExample(
                "Cancelled",
                value={**RUN_EXAMPLE, "status": "cancelled", "cancel_requested": True},
                response_only=True,
            )
        ],
        tags=["staff"],
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str) -> Response:
        run = training_run_cancel(training_run=self.get_object())
        return Response(TrainingRunSerializer(run).data)


@extend_schema_view(
    list=extend_schema(
        summary="Model versions",
        description=STAFF,
        examples=[OpenApiExample("A page", value=VERSION_EXAMPLE, response_only=True)],
        tags=["staff"],
    ),
    retrieve=extend_schema(
        summary="One model version",
        description=STAFF,
        examples=[OpenApiExample("A version", value=VERSION_EXAMPLE, response_only=True)],
        tags=["staff"],
    ),
)
class ModelVersionViewSet(
    ApiViewMixin, mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet
):
    permission_classes = [IsAdminUser]
    serializer_class = ModelVersionSerializer
    lookup_value_regex = ID_REGEX

    def get_queryset(self) -> QuerySet[ModelVersion]:
        return ModelVersion.objects.order_by("-created", "-id")

    @extend_schema(
        summary="Serve this version",
        description=f"{STAFF} Web processes switch within seconds, without a restart. 409 when "
        "its artifact is missing or does not match its checksum.",
        request=None,
        responses={
            200: ModelVersionSerializer,
            409: error_response(409, "The artifact is missing or corrupted."),
            503: error_response(503, "Activated, but its precompute could not be queued."),
        },
        examples=[OpenApiExample("Active", value=VERSION_EXAMPLE, response_only=True)],
        tags=["staff"],
    )
    @action(detail=True, methods=["post"])
    def activate(self, request: Request, pk: str) -> Response:
        return self._activated(lambda: model_version_activate(version=self.get_object()))

    @extend_schema(
        summary="Roll back to the previously active version",
        description=f"{STAFF} 409 when no other version was ever active.",
        request=None,
        responses={
            200: ModelVersionSerializer,
            409: error_response(409, "No earlier version, or its artifact is unusable."),
            503: error_response(503, "Activated, but its precompute could not be queued."),
        },
        examples=[OpenApiExample("Active again", value=VERSION_EXAMPLE, response_only=True)],
        tags=["staff"],
    )
    @action(detail=False, methods=["post"])
    def rollback(self, request: Request) -> Response:
        return self._activated(model_version_rollback)

    def _activated(self, activate: Callable[[], ModelVersion]) -> Response:
        try:
            version = activate()
        except ModelVersionError as exc:
            raise Conflict(str(exc), code=_code(exc, "model_version_error")) from exc
        except BrokerUnavailable as exc:
            raise ServiceUnavailable(
                "Activated, but its precompute could not be queued; it is scored online."
            ) from exc
        return Response(ModelVersionSerializer(version).data)


@extend_schema_view(
    list=extend_schema(
        summary="Users",
        description=f"{STAFF} With their rating counts.",
        examples=[
            OpenApiExample(
                "A page",
                value={
                    "id": 611,
                    "username": "ada",
                    "email": "ada@example.com",
                    "is_staff": False,
                    "is_active": True,
                    "date_joined": "2026-11-26T18:00:00Z",
                    "last_login": None,
                    "rating_count": 12,
                },
                response_only=True,
            )
        ],
        tags=["staff"],
    ),
)
class UserViewSet(ApiViewMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    permission_classes = [IsAdminUser]
    serializer_class = UserSerializer

    def get_queryset(self) -> QuerySet[AbstractBaseUser]:
        return get_user_model().objects.annotate(rating_count=Count("ratings")).order_by("id")
