"""Model versions: whether a new one replaces the active one, activation and rollback."""

from __future__ import annotations

import logging

import numpy as np
from django.db import transaction
from django.utils import timezone

from recommender.engine.artifacts import META_FILE, sha256_file
from recommender.engine.train import SELECTION_METRIC, FitResult, Validator, evaluate
from recommender.models import ModelVersion
from recommender.registry import artifact_directory, load_version
from recommender.services.errors import ModelVersionError
from recommender.services.precompute import precompute_enqueue

logger = logging.getLogger(__name__)


def activation_decision(
    result: FitResult, active: ModelVersion | None, *, force: bool
) -> tuple[bool, str, dict[str, float]]:
    """Activate when no version is active, when forced, or when the new model is not worse than
    the active version on the new run's own validation items, by the metric that chose its
    epoch (config.selection: full-catalogue NDCG@K by default, the paper's sampled HR@K
    otherwise). Selection looks at validation only: both test figures are recorded and shown but
    never decide, so the test figure stays an unbiased report of the served model."""
    k = result.config.top_k
    if active is None:
        return True, "Activated: no version was active.", {}
    if force:
        return True, f"Activated (forced) over version {active.pk}.", {}
    try:
        baseline = _evaluate_version_on_split(active, result)
    except Exception as exc:
        logger.exception("active version %s could not be evaluated", active.pk)
        reason = str(exc)[:200]  # the decision column holds 300 characters
        return True, f"Activated: active version {active.pk} cannot be evaluated ({reason}).", {}
    name = SELECTION_METRIC[result.config.selection]
    label = {
        "val_hr": f"validation HR@{k} (99 sampled negatives)",
        "val_full_ndcg": f"full-catalogue validation NDCG@{k}",
    }[name]
    new_val, old_val = float(result.metrics[name]), baseline[f"active_{name}"]
    reported = (
        f"test HR@{k} {float(result.metrics['test_hr']):.4f} vs "
        f"{baseline['active_test_hr']:.4f}, not used to decide"
    )
    if new_val >= old_val:
        return (
            True,
            f"Activated: {label} {new_val:.4f} >= {old_val:.4f} of version {active.pk} "
            f"({reported}).",
            baseline,
        )
    return (
        False,
        f"Not activated: {label} {new_val:.4f} < {old_val:.4f} of active version {active.pk} "
        f"({reported}).",
        baseline,
    )


def _evaluate_version_on_split(version: ModelVersion, result: FitResult) -> dict[str, float]:
    """A stored version on a new run's split: on its validation items (active_val_*, sampled
    and full-catalogue; what the decision compares) and its test items (active_test_*,
    reported). Users and movies the older model never saw score -inf: it cannot recommend
    them, and ties count as misses."""
    served = load_version(version)
    user_map = served.users.index(result.users.ids)  # [new n_users]: old index or -1
    item_map = served.items.index(result.items.ids)  # [new n_items]
    known_items = item_map >= 0

    def predict(users: np.ndarray, items: np.ndarray) -> np.ndarray:
        ou, oi = user_map[users], item_map[items]
        known = (ou >= 0) & (oi >= 0)
        out = np.full(users.shape[0], -np.inf, dtype=np.float64)  # [n]
        if known.any():
            out[known] = served.loaded.predict(ou[known], oi[known])
        return out

    def score_users(users: np.ndarray) -> np.ndarray:
        ou = user_map[users]
        out = np.full((users.shape[0], item_map.shape[0]), -np.inf, dtype=np.float32)
        rows = ou >= 0
        if rows.any():
            old = served.loaded.score_users(ou[rows])  # [n_known, old n_items]
            out[np.ix_(rows, known_items)] = old[:, item_map[known_items]]
        return out

    split, k = result.split, result.config.top_k
    val = Validator(split, k, seed=result.seed).score(predict, score_users)
    test = evaluate(predict, score_users, split, k, full=True)
    return {
        "active_val_hr": val.hr,
        "active_val_ndcg": val.ndcg,
        "active_val_full_recall": val.full_recall,
        "active_val_full_ndcg": val.full_ndcg,
        **{f"active_{name}": float(value) for name, value in test.items()},
    }


def model_version_activate(*, version: ModelVersion, precompute: bool = True) -> ModelVersion:
    """Make `version` the one active version (the DB allows at most one); its artifact must be
    the one recorded. Queues its top-k precompute after commit unless it is done already."""
    directory = artifact_directory(version)
    meta = directory / META_FILE
    if not meta.is_file():
        raise ModelVersionError(f"Version {version.pk}: its artifact {directory} is missing.")
    if version.checksum and sha256_file(meta) != version.checksum:
        raise ModelVersionError(f"Version {version.pk}: {meta} does not match its checksum.")
    now = timezone.now()
    with transaction.atomic():
        # Deactivate first: the partial unique index is checked per statement.
        ModelVersion.objects.filter(is_active=True).exclude(pk=version.pk).update(is_active=False)
        ModelVersion.objects.filter(pk=version.pk).update(is_active=True, activated_at=now)
        version.refresh_from_db()
        if precompute and version.precomputed_at is None:
            transaction.on_commit(lambda: precompute_enqueue(version.pk))
    logger.info("model version %s activated", version.pk)
    return version


def model_version_rollback() -> ModelVersion:
    """Re-activate the version that was active before the current one."""
    active = ModelVersion.objects.filter(is_active=True).first()
    previous = (
        ModelVersion.objects.filter(activated_at__isnull=False)
        .exclude(pk=active.pk if active else None)
        .order_by("-activated_at", "-pk")
        .first()
    )
    if previous is None:
        raise ModelVersionError("There is no earlier active version to roll back to.")
    return model_version_activate(version=previous)
