"""Ratings API: the signed-in user's ratings and profile, token auth and sign-up."""

from __future__ import annotations

from django.db import transaction
from django.db.models import QuerySet
from drf_spectacular.utils import OpenApiExample, OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.exceptions import NotFound, Throttled, ValidationError
from rest_framework.permissions import AllowAny, BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import BaseThrottle
from rest_framework.views import APIView

from catalog.models import Movie
from catalog.selectors import movie_get
from catalog.serializers import MAX_ID_DIGITS
from ratings.accounts import (
    LoginThrottled,
    account_create,
    token_delete,
    token_get_or_create,
    token_obtain,
)
from ratings.models import Rating
from ratings.selectors import rating_get, rating_list_for_user
from ratings.serializers import (
    AccountSerializer,
    ProfileSerializer,
    ProfileWriteSerializer,
    RatingSerializer,
    RatingWriteSerializer,
    SignUpSerializer,
    TokenRequestSerializer,
    TokenSerializer,
)
from ratings.services import (
    profile_get_or_create,
    profile_set_favourite_genres,
    rating_delete,
    rating_upsert,
)
from recsite.api_schema import error_response
from recsite.api_throttles import AnonRateThrottle, ScopedRateThrottle, UserRateThrottle
from recsite.api_views import ApiViewMixin

RATING_EXAMPLE = {
    "movie": {"id": 1, "title": "Toy Story", "year": 1995},
    "score": 4.5,
    "rated_at": "2026-11-26T19:00:00Z",
}
AUTH_THROTTLES = [AnonRateThrottle, UserRateThrottle, ScopedRateThrottle]


def _movie_or_404(movie_id: str) -> Movie:
    movie = movie_get(movie_id=int(movie_id))
    if movie is None:
        raise NotFound("No movie with this id.")
    return movie


class MyRatingViewSet(
    ApiViewMixin,
    mixins.ListModelMixin,
    viewsets.GenericViewSet,
):
    """The signed-in user's ratings; nobody can address another user's."""

    permission_classes = [IsAuthenticated]
    serializer_class = RatingSerializer
    queryset = Rating.objects.none()  # for the schema; get_queryset serves
    lookup_field = "movie_id"
    lookup_value_regex = rf"[0-9]{{1,{MAX_ID_DIGITS}}}"

    def get_queryset(self) -> QuerySet[Rating]:
        return rating_list_for_user(user=self.request.user)

    @extend_schema(
        summary="My ratings",
        description="Newest first, paginated.",
        examples=[OpenApiExample("A page", value=RATING_EXAMPLE, response_only=True)],
        tags=["me"],
    )
    def list(self, request: Request, *args: object, **kwargs: object) -> Response:
        return super().list(request, *args, **kwargs)

    @extend_schema(
        summary="My rating of a movie",
        examples=[OpenApiExample("A rating", value=RATING_EXAMPLE, response_only=True)],
        responses={200: RatingSerializer, 404: error_response(404, "Movie unknown or not rated.")},
        tags=["me"],
    )
    def retrieve(self, request: Request, movie_id: str) -> Response:
        movie = _movie_or_404(movie_id)
        rating = rating_get(user=request.user, movie_id=movie.pk)
        if rating is None:
            raise NotFound("You have not rated this movie.")
        return Response(RatingSerializer(rating).data)

    @extend_schema(
        summary="Rate a movie (create or replace)",
        request=RatingWriteSerializer,
        responses={200: RatingSerializer, 404: error_response(404, "No movie with this id.")},
        examples=[
            OpenApiExample("Four and a half stars", value={"score": 4.5}, request_only=True),
            OpenApiExample("The stored rating", value=RATING_EXAMPLE, response_only=True),
        ],
        tags=["me"],
    )
    def update(self, request: Request, movie_id: str) -> Response:
        movie = _movie_or_404(movie_id)
        body = RatingWriteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        rating = rating_upsert(user=request.user, movie=movie, score=body.validated_data["score"])
        rating.movie = movie
        return Response(RatingSerializer(rating).data)

    @extend_schema(
        summary="Remove my rating of a movie",
        responses={204: None, 404: error_response(404, "Movie unknown or not rated.")},
        tags=["me"],
    )
    def destroy(self, request: Request, movie_id: str) -> Response:
        movie = _movie_or_404(movie_id)
        if not rating_delete(user=request.user, movie=movie):
            raise NotFound("You have not rated this movie.")
        return Response(status=status.HTTP_204_NO_CONTENT)


PROFILE_EXAMPLE = {"username": "ada", "favourite_genres": ["comedy", "sci-fi"], "onboarded": True}


class MyProfileApi(ApiViewMixin, APIView):
    """The signed-in user's profile: favourite genres (by slug) steer cold-start picks."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        summary="My profile",
        responses=ProfileSerializer,
        examples=[OpenApiExample("A profile", value=PROFILE_EXAMPLE, response_only=True)],
        tags=["me"],
    )
    def get(self, request: Request) -> Response:
        profile = profile_get_or_create(user=request.user)
        return Response(ProfileSerializer(profile).data)

    @extend_schema(
        summary="Set my favourite genres",
        request=ProfileWriteSerializer,
        responses=ProfileSerializer,
        examples=[
            OpenApiExample(
                "Two genres", value={"favourite_genres": ["comedy", "sci-fi"]}, request_only=True
            ),
            OpenApiExample("The profile", value=PROFILE_EXAMPLE, response_only=True),
        ],
        tags=["me"],
    )
    def put(self, request: Request) -> Response:
        body = ProfileWriteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        profile = profile_set_favourite_genres(
            user=request.user, genres=body.validated_data["favourite_genres"]
        )
        return Response(ProfileSerializer(profile).data)


class _PostIsPublic(BasePermission):
    """Anyone may ask for a token; revoking one needs the token (or session) itself."""

    def has_permission(self, request: Request, view: APIView) -> bool:
        return request.method == "POST" or bool(request.user and request.user.is_authenticated)


class AuthTokenApi(ApiViewMixin, APIView):
    permission_classes = [_PostIsPublic]
    throttle_classes = AUTH_THROTTLES
    throttle_scope = "auth"

    @extend_schema(
        summary="Obtain a token",
        description="Exchange a username and password for a token; send it as "
        '"Authorization: Token <token>". The same token is returned until it is revoked or '
        "the password changes (any way: site, admin, reset); then the old key answers 401 and "
        "this returns a new one.",
        request=TokenRequestSerializer,
        responses={
            200: TokenSerializer,
            400: error_response(
                400,
                "Wrong username or password (or a malformed body).",
                code="authorization",
                errors={"non_field_errors": ["Unable to log in with these credentials."]},
            ),
        },
        examples=[
            OpenApiExample(
                "Credentials",
                value={"username": "ada", "password": "correct-horse-battery"},
                request_only=True,
            ),
            OpenApiExample(
                "A token",
                value={"token": "9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b"},
                response_only=True,
            ),
        ],
        auth=[],
        tags=["auth"],
    )
    def post(self, request: Request) -> Response:
        body = TokenRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            token = token_obtain(
                request=request._request,
                client=BaseThrottle().get_ident(request),
                username=body.validated_data["username"],
                password=body.validated_data["password"],
            )
        except LoginThrottled as exc:
            raise Throttled(wait=exc.wait_seconds) from exc
        if token is None:
            raise ValidationError(
                {"non_field_errors": ["Unable to log in with these credentials."]},
                code="authorization",
            )
        return Response(TokenSerializer({"token": token.key}).data)

    @extend_schema(
        summary="Revoke my token",
        description="Deletes the caller's token; the next request with it answers 401.",
        request=None,
        responses={204: OpenApiResponse(description="Revoked (or there was none).")},
        tags=["auth"],
    )
    def delete(self, request: Request) -> Response:
        token_delete(user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class SignUpApi(ApiViewMixin, APIView):
    """Open a new account; the answer carries a token, so a client can go on at once."""

    permission_classes = [AllowAny]
    throttle_classes = AUTH_THROTTLES
    throttle_scope = "auth"

    @extend_schema(
        summary="Sign up",
        description='Django\'s password validators apply; usernames starting with "movielens-" '
        "are reserved for imported raters.",
        request=SignUpSerializer,
        responses={201: AccountSerializer},
        examples=[
            OpenApiExample(
                "A new account",
                value={"username": "ada", "email": "ada@example.com", "password": "an-0dd-Pass"},
                request_only=True,
            ),
            OpenApiExample(
                "Created",
                value={"id": 611, "username": "ada", "token": "9944b09199c62bcf9418ad846dd0e4bb"},
                response_only=True,
            ),
        ],
        auth=[],
        tags=["auth"],
    )
    def post(self, request: Request) -> Response:
        body = SignUpSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data = body.validated_data
        with transaction.atomic():
            user = account_create(
                username=data["username"], email=data.get("email", ""), password=data["password"]
            )
            token = token_get_or_create(user=user)
        account = {"id": user.pk, "username": user.get_username(), "token": token.key}
        return Response(AccountSerializer(account).data, status=status.HTTP_201_CREATED)
