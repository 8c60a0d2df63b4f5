"""Shapes of ratings, profiles and accounts in the API; input validation, no business rules."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib.auth import get_user_model, password_validation
from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.fields import get_error_detail

from catalog.models import Genre
from catalog.selectors import genre_list
from catalog.serializers import MovieBriefSerializer
from ratings.accounts import email_validate, username_validate
from ratings.models import Profile, Rating
from ratings.services import score_parse

User = get_user_model()


@extend_schema_field(
    {"type": "number", "minimum": 0.5, "maximum": 5.0, "multipleOf": 0.5, "example": 4.5}
)
class ScoreField(serializers.Field):
    """Half stars from 0.5 to 5.0, as a JSON number."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, bool) or not isinstance(data, int | float):
            raise serializers.ValidationError("A score must be a number.", code="invalid")
        try:
            return score_parse(data)
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages, code=exc.code) from exc

    def to_representation(self, value: Any) -> float:
        return float(value)


class StrictCharField(serializers.CharField):
    """Text that must arrive as a JSON string: DRF would quietly turn 0 into "0"."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class RatingSerializer(serializers.ModelSerializer):
    movie = MovieBriefSerializer(read_only=True)
    score = ScoreField(read_only=True)

    class Meta:
        model = Rating
        fields = ("movie", "score", "rated_at")
        read_only_fields = fields


class RatingWriteSerializer(serializers.Serializer):
    score = ScoreField()


class ProfileSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.get_username", read_only=True)
    favourite_genres = serializers.SerializerMethodField()

    class Meta:
        model = Profile
        fields = ("username", "favourite_genres", "onboarded")
        read_only_fields = fields

    def get_favourite_genres(self, profile: Profile) -> list[str]:
        return sorted(genre.slug for genre in profile.favourite_genres.all())


class ProfileWriteSerializer(serializers.Serializer):
    favourite_genres = serializers.ListField(
        child=serializers.SlugField(max_length=64),
        max_length=50,
        help_text="Genre slugs (GET /api/v1/genres/ lists them); replaces the current set.",
    )

    def validate_favourite_genres(self, slugs: list[str]) -> list[Genre]:
        genres = list(genre_list().filter(slug__in=set(slugs)))
        unknown = sorted(set(slugs) - {genre.slug for genre in genres})
        if unknown:
            raise serializers.ValidationError(
                f"Unknown genre: {', '.join(unknown)}.", code="unknown_genre"
            )
        return genres


class TokenRequestSerializer(serializers.Serializer):
    username = StrictCharField(max_length=150)
    password = StrictCharField(max_length=128, style={"input_type": "password"})


class TokenSerializer(serializers.Serializer):
    token = serializers.CharField(help_text='Send as "Authorization: Token <token>".')


class SignUpSerializer(serializers.Serializer):
    username = StrictCharField(
        max_length=150,
        help_text="Letters, digits and @.+-_; compared after NFKC normalisation and ignoring case.",
    )
    email = serializers.EmailField(
        required=False,
        allow_blank=True,
        max_length=254,
        help_text="Optional; one account per address (compared ignoring case).",
    )
    password = StrictCharField(max_length=128, write_only=True, style={"input_type": "password"})

    def validate_username(self, username: str) -> str:
        # The account service normalises first, then checks: what it checks is what is stored.
        return _with_drf_error(username_validate, username)

    def validate_email(self, email: str) -> str:
        return _with_drf_error(email_validate, email)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        # The password validators compare the password with the username and email.
        candidate = User(username=attrs.get("username", ""), email=attrs.get("email", ""))
        try:
            password_validation.validate_password(attrs.get("password", ""), user=candidate)
        except DjangoValidationError as exc:
            # get_error_detail keeps each validator's code (password_too_short, ...).
            raise serializers.ValidationError({"password": get_error_detail(exc)}) from exc
        return attrs


class AccountSerializer(serializers.Serializer):
    id = serializers.IntegerField(read_only=True)
    username = serializers.CharField(read_only=True)
    token = serializers.CharField(read_only=True, help_text="A token for this account.")


def _with_drf_error(check: Callable[[str], str], value: str) -> str:
    """The account service's check, its Django ValidationError as DRF's (code kept)."""
    try:
        return check(value)
    except DjangoValidationError as exc:
        raise serializers.ValidationError(
            exc.messages, code=exc.error_list[0].code or "invalid"
        ) from exc
