"""Shapes of recommendations, training runs and model versions in the API; input validation."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.auth import get_user_model
from django.http import QueryDict
from rest_framework import serializers

from catalog.serializers import MovieSerializer, QueryIntegerField, QueryTextField
from recommender.models import Backend, ModelVersion, TrainingRun
from recommender.serving.edge import SOURCES, RecommendedMovie

MAX_K = 100

# The movie's dict, without the serializer's bound fields: reading self.fields["movie"] made DRF
# deep-copy the declared fields (the nested movie serializer with them) once per response.
_movie_representation = MovieSerializer().to_representation


class RecommendedMovieSerializer(serializers.Serializer):
    movie = MovieSerializer(read_only=True)
    score = serializers.FloatField(read_only=True, help_text="Higher is better; 0 to 1.")
    source = serializers.ChoiceField(
        choices=SOURCES,
        read_only=True,
        help_text="ncf: the model; blend: model and cold start; cold_start: genres and "
        "popularity for a new user; popular: no model yet; content: shared genres.",
    )
    reason = serializers.CharField(read_only=True, help_text="A short sentence for the card.")

    def to_representation(self, item: RecommendedMovie) -> dict[str, Any]:
        """The generic path's dict written out (a test holds them equal): see MovieSerializer."""
        return {
            "movie": _movie_representation(item.movie),
            "score": float(item.score),
            "source": item.source,
            "reason": item.reason,
        }


_recommendation_representation = RecommendedMovieSerializer().to_representation

# The dict of each RecommendedMovie served lately, keyed by the object's identity. A repeated
# request is answered from the result memo (recommender.serving.edge), which hands back the same
# immutable RecommendedMovie objects (frozen, their movies loaded once) for as long as the list
# is fresh, so their dicts are built once too: writing 20 movies out was the largest step of
# such a request after the database's. An entry holds its object, so an id is not reused while
# its entry lives. The dicts are shared between responses: read-only once a view returns them.
_DATA_MEMO_SIZE = 4096
_data_memo: dict[int, tuple[RecommendedMovie, dict[str, Any]]] = {}


def recommended_movies_data(items: Iterable[RecommendedMovie]) -> list[dict[str, Any]]:
    """`RecommendedMovieSerializer(items, many=True).data` (a test holds them equal), without a
    ListSerializer and a child serializer built for every response, and each item's dict built
    once while the result memo serves the same item (see _data_memo)."""
    data = []
    for item in items:
        entry = _data_memo.get(id(item))
        if entry is None or entry[0] is not item:
            if len(_data_memo) >= _DATA_MEMO_SIZE:
                _data_memo.clear()  # the lists still served rebuild theirs on their next request
            entry = _data_memo[id(item)] = (item, _recommendation_representation(item))
        data.append(entry[1])
    return data


def recommended_movies_data_clear() -> None:
    """Forget the built dicts (tests, where a setting the dicts read may change)."""
    _data_memo.clear()


class RecommendationQuerySerializer(serializers.Serializer):
    k = QueryIntegerField(required=False, default=20, min_value=1, max_value=MAX_K)
    genre = QueryTextField(
        required=False, max_length=64, allow_blank=True, help_text="Only this genre (slug/name)."
    )


class SimilarQuerySerializer(serializers.Serializer):
    k = QueryIntegerField(required=False, default=12, min_value=1, max_value=MAX_K)


def validated_k_query(
    serializer_class: type[RecommendationQuerySerializer | SimilarQuerySerializer],
    params: QueryDict,
) -> dict[str, Any]:
    """The validated query of a list of recommendations. Most requests give `k` alone, or
    nothing: those are read here, where the serializer deep-copies its fields and runs their
    validators on every call (0.2 ms of a 2.5 ms cached request); anything else goes through
    serializer_class, whose answers and errors are the API's (a test holds the two equal)."""
    k = serializer_class._declared_fields["k"]
    if not params:
        return {"k": k.default}
    if list(params) == ["k"]:
        raw = params["k"]
        digits = raw.isascii() and raw.isdigit() and len(raw) <= 9  # not "²", "+5" or " 5"
        if digits and k.min_value <= int(raw) <= k.max_value:
            return {"k": int(raw)}
    serializer = serializer_class(data=params.dict())
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class JsonIntegerField(serializers.IntegerField):
    """A JSON integer only: DRF would also take "10", 10.0 or true."""

    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class JsonNumberField(serializers.FloatField):
    """A JSON number only, not a numeric string."""

    def to_internal_value(self, data: Any) -> float:
        if isinstance(data, bool) or not isinstance(data, int | float):
            self.fail("invalid")
        return super().to_internal_value(data)


class JsonBooleanField(serializers.BooleanField):
    """true or false only: DRF would also take 0, "yes" or "on"."""

    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


class TrainingConfigSerializer(serializers.Serializer):
    """NeuMF hyper-parameters; any left out take the project's defaults."""

    model = serializers.ChoiceField(choices=["neumf", "gmf", "mlp"], required=False)
    gmf_dim = JsonIntegerField(min_value=1, max_value=512, required=False)
    mlp_layers = serializers.ListField(
        child=JsonIntegerField(min_value=1, max_value=4096),
        min_length=1,
        max_length=8,
        required=False,
        help_text="Layer widths; the first is twice the MLP embedding size.",
    )
    negatives = JsonIntegerField(min_value=1, max_value=50, required=False)
    lr = JsonNumberField(min_value=1e-6, max_value=1.0, required=False)
    batch_size = JsonIntegerField(min_value=1, max_value=65536, required=False)
    epochs = JsonIntegerField(min_value=1, max_value=500, required=False)
    l2 = JsonNumberField(min_value=0.0, max_value=1.0, required=False)
    patience = JsonIntegerField(min_value=1, max_value=500, required=False, allow_null=True)
    top_k = JsonIntegerField(min_value=1, max_value=100, required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        layers = attrs.get("mlp_layers")
        if layers and layers[0] % 2:
            raise serializers.ValidationError(
                {"mlp_layers": ["The first layer must be even (twice the embedding size)."]}
            )
        return attrs


class TrainingRunCreateSerializer(serializers.Serializer):
    backend = serializers.ChoiceField(choices=Backend.choices, default=Backend.NUMPY)
    config = TrainingConfigSerializer(required=False)
    force = JsonBooleanField(
        default=False, help_text="Activate even if not better than the active version."
    )


class TrainingRunSerializer(serializers.ModelSerializer):
    triggered_by = serializers.SlugRelatedField(
        slug_field="username",
        read_only=True,
        allow_null=True,
        help_text="Who started it; null for runs started by a command, the schedule or a trigger.",
    )
    epochs = serializers.ListField(
        child=serializers.DictField(),
        read_only=True,
        help_text="Per-epoch progress: loss, validation HR/NDCG, seconds.",
    )
    config = serializers.DictField(read_only=True)
    test_metrics = serializers.DictField(read_only=True)
    model_version = serializers.SerializerMethodField()

    class Meta:
        model = TrainingRun
        fields = (
            "id",
            "backend",
            "status",
            "config",
            "force",
            "cancel_requested",
            "epochs",
            "test_metrics",
            "device",
            "error",
            "trigger",
            "triggered_by",
            "n_users",
            "n_items",
            "n_ratings",
            "created",
            "started",
            "finished",
            "model_version",
        )
        read_only_fields = fields

    def get_model_version(self, run: TrainingRun) -> int | None:
        """The version this run produced, if any."""
        version = getattr(run, "model_version", None)
        return version.pk if version is not None else None


class ModelVersionSerializer(serializers.ModelSerializer):
    metrics = serializers.DictField(read_only=True)

    class Meta:
        model = ModelVersion
        fields = (
            "id",
            "training_run",
            "backend",
            "is_active",
            "activated_at",
            "precomputed_at",
            "metrics",
            "n_users",
            "n_items",
            "n_ratings",
            "checksum",
            "created",
        )
        read_only_fields = fields


class UserSerializer(serializers.ModelSerializer):
    rating_count = serializers.IntegerField(read_only=True)
    # Not format: email; accounts may have no address, and then it is "".
    email = serializers.CharField(read_only=True, help_text='The address, or "" when none.')

    class Meta:
        model = get_user_model()
        fields = (
            "id",
            "username",
            "email",
            "is_staff",
            "is_active",
            "date_joined",
            "last_login",
            "rating_count",
        )
        read_only_fields = fields
