"""The one place that loads model artifacts: the active ModelVersion, lazily, once per process."""

from __future__ import annotations

import logging
import platform
import sys
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
from django.conf import settings
from django.db import DatabaseError, connections
from numpy.typing import NDArray

from recommender.engine.config import NeuMFConfig
from recommender.engine.data import IdMap
from recommender.models import ModelVersion

logger = logging.getLogger(__name__)

F32 = NDArray[np.float32]

# A version that failed to load is retried after this long: an artifact being copied into place
# may be complete a minute later, a corrupted one stays skipped without a load per request.
RETRY_FAILED_SECONDS = 300.0
KEEP_LOADED = 2  # the active version and the one before it, so a rollback is instant


@dataclass(eq=False)
class ServingModel:
    """A loaded version in the layout serving needs (NumPy rows; the engine model on its device)."""

    version_id: int
    backend: str
    device: str
    loaded: Any  # the engine's LoadedModel
    config: NeuMFConfig
    users: IdMap
    items: IdMap
    weights: dict[str, F32]
    user_table: F32  # [n_users, gmf + mlp]
    item_table: F32  # [n_items, gmf + mlp]
    item_vectors: F32  # [n_items, d] for cosine similarity
    mean_user: F32  # [gmf + mlp]: the starting point of a fold-in
    trained_until: datetime | None  # ratings after this are not in the user rows
    precomputed_at: datetime | None
    # The serving package's view of this version over the catalog (serving/alignment.py),
    # cached here so it lives and dies with the version; the registry does not look inside.
    aligned: object | None = None
    # Co-rating neighbours in the model's item order ([n_items, k], -1 padding) and their
    # similarities ([n_items, k]); None for an artifact saved before they were (embedding cosine).
    neighbours: NDArray[np.int64] | None = None
    neighbour_sims: F32 | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def user_row(self, user_id: int) -> F32 | None:
        idx = self.users.index_of(user_id)
        return None if idx < 0 else self.user_table[idx]


def _accelerator_possible() -> bool:
    """An NVIDIA driver is loaded or this is Apple silicon: only then is torch worth importing
    to look (an import costs a web process about 180 MiB)."""
    nvidia = Path("/proc/driver/nvidia/version").exists() or Path("/dev/nvidiactl").exists()
    return nvidia or (sys.platform == "darwin" and platform.machine() == "arm64")


def resolve_device(requested: str) -> str:
    """settings.RECSITE_DEVICE to a device: auto tries CUDA, then MPS, then the CPU."""
    name = (requested or "auto").strip().lower()
    if name == "cpu" or (name == "auto" and not _accelerator_possible()):
        return "cpu"
    try:
        import torch  # the registry and the torch backend are the only places that import it
    except ImportError:
        logger.warning("RECSITE_DEVICE=%s but torch is not installed; using the CPU", name)
        return "cpu"
    if name in ("auto", "cuda") and torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if name in ("auto", "mps") and mps is not None and mps.is_available():
        return "mps"
    if name != "auto":
        logger.warning("RECSITE_DEVICE=%s is not available here; using the CPU", name)
    return "cpu"


def artifact_directory(version: ModelVersion) -> Path:
    path = Path(version.artifact_path)
    return path if path.is_absolute() else Path(settings.ARTIFACT_DIR) / path


def _tables(weights: dict[str, F32], prefix: str) -> F32:
    parts = [weights[name] for name in (f"gmf_{prefix}", f"mlp_{prefix}") if name in weights]
    return np.ascontiguousarray(np.concatenate(parts, axis=1), dtype=np.float32)


def load_version(version: ModelVersion) -> ServingModel:
    """Load one version's artifact on the configured device; raises on any failure."""
    from recommender.engine.artifacts import load_artifact

    device = resolve_device(settings.RECSITE_DEVICE)
    backend = "numpy" if device == "cpu" else "torch"
    started = time.perf_counter()
    loaded = load_artifact(artifact_directory(version), backend=backend, device=device)
    weights = {k: np.asarray(v, dtype=np.float32) for k, v in loaded.weights.items()}
    broken = sorted(k for k, v in weights.items() if not np.all(np.isfinite(v)))
    if broken:
        # A diverged run can write a well-formed artifact; its NaNs would rank at random.
        raise ValueError(f"non-finite weights in {', '.join(broken)}")
    user_table = _tables(weights, "user")
    item_table = _tables(weights, "item")
    item_vectors_fn = getattr(loaded, "item_vectors", None)
    item_vectors = (
        np.asarray(item_vectors_fn(), dtype=np.float32) if callable(item_vectors_fn) else item_table
    )
    if item_vectors.shape[0] != len(loaded.items) or item_table.shape[0] != len(loaded.items):
        raise ValueError("artifact item tables disagree with its item id map")
    neighbours_fn = getattr(loaded, "neighbours", None)
    neighbours = neighbours_fn() if callable(neighbours_fn) else None
    run = version.training_run
    served = ServingModel(
        version_id=version.pk,
        backend=backend,
        device=device,
        loaded=loaded,
        config=loaded.config,
        users=loaded.users,
        items=loaded.items,
        weights=weights,
        user_table=user_table,
        item_table=item_table,
        item_vectors=item_vectors,
        mean_user=(
            user_table.mean(axis=0) if user_table.shape[0] else np.zeros(user_table.shape[1])
        ).astype(np.float32),
        trained_until=run.ratings_until if run is not None else None,
        precomputed_at=version.precomputed_at,
        neighbours=None if neighbours is None else neighbours[0],
        neighbour_sims=None if neighbours is None else neighbours[1],
    )
    logger.info(
        "loaded model version %s (%s on %s): %d users, %d items in %.0f ms",
        version.pk,
        backend,
        device,
        len(loaded.users),
        len(loaded.items),
        (time.perf_counter() - started) * 1000,
    )
    return served


class ModelRegistry:
    """Per-process cache of loaded versions, keyed by ModelVersion id.

    Each request asks `current()`; at most every `RECSITE_REGISTRY_CHECK_SECONDS` it reads the
    active version's id (one indexed query), so an activation reaches running processes within
    that time. A version that fails to load is logged and skipped; serving keeps the previous
    loadable version, or none (cold start).

    With RECSITE_MODEL_SWAP_IN_BACKGROUND, a process already serving a version loads a newly
    activated one in a thread and keeps answering with the one it has until the load is done:
    no request waits the second or more a load takes. The first load of a process is done in
    place (gunicorn's post_worker_init does it before the worker takes traffic).
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._loaded: OrderedDict[int, ServingModel] = OrderedDict()
        self._failed: dict[int, float] = {}
        self._serving: ServingModel | None = None
        self._checked_at = -float("inf")
        self._active: tuple[int, datetime | None] | None = None
        self._loading: dict[int, threading.Thread] = {}

    def reset(self) -> None:
        with self._lock:
            self._loaded.clear()
            self._failed.clear()
            self._serving = None
            self._checked_at = -float("inf")
            self._active = None
            self._loading.clear()  # a thread still running finds its version unwanted

    def wait_for_loads(self, timeout: float = 60.0) -> None:
        """Wait for background loads started so far (tests, and the warm-up)."""
        for thread in list(self._loading.values()):
            thread.join(timeout)

    @property
    def failed_versions(self) -> list[int]:
        return list(self._failed)

    def current(self) -> ServingModel | None:
        """The model to serve with, or None for cold start; never raises."""
        check_every = float(getattr(settings, "RECSITE_REGISTRY_CHECK_SECONDS", 2.0))
        now = time.monotonic()
        if now - self._checked_at < check_every:
            return self._serving
        try:
            row = (
                ModelVersion.objects.filter(is_active=True)
                .values_list("id", "precomputed_at")
                .first()
            )
        except DatabaseError:
            logger.exception("could not read the active model version; serving what is loaded")
            return self._serving
        with self._lock:
            self._checked_at = now
            self._active = row
            self._serving = self._resolve(row, now)
            return self._serving

    def _resolve(self, row: tuple[int, datetime | None] | None, now: float) -> ServingModel | None:
        if row is None:
            return None  # nothing active: an admin deactivated it, or no model trained yet
        active_id, precomputed_at = row
        served = self._loaded.get(active_id)
        if served is None and now - self._failed.get(active_id, -float("inf")) >= (
            RETRY_FAILED_SECONDS
        ):
            previous = self._serving
            if previous is not None and settings.RECSITE_MODEL_SWAP_IN_BACKGROUND:
                self._load_in_background(active_id)
                return previous
            served = self._try_load(active_id)
        if served is not None:
            # Precompute finishes after activation: pick up its timestamp without a reload.
            served.precomputed_at = precomputed_at
            self._loaded.move_to_end(active_id)
            return served
        return self._fallback(active_id, now)

    def _fallback(self, active_id: int, now: float) -> ServingModel | None:
        serving = self._serving
        if serving is not None and serving.version_id != active_id:
            return serving  # keep what this process served before the broken activation
        for version_id in reversed(self._loaded):
            if version_id != active_id:
                return self._loaded[version_id]
        try:
            candidates = list(
                ModelVersion.objects.exclude(pk=active_id)
                .filter(activated_at__isnull=False)
                .order_by("-activated_at", "-id")
                .values_list("id", flat=True)[:5]
            )
        except DatabaseError:
            logger.exception("could not list earlier model versions")
            return None
        for version_id in candidates:
            if now - self._failed.get(version_id, -float("inf")) < RETRY_FAILED_SECONDS:
                continue
            served = self._try_load(version_id)
            if served is not None:
                logger.warning(
                    "serving model version %s: active version %s cannot be loaded",
                    version_id,
                    active_id,
                )
                return served
        logger.error("no loadable model version; serving cold-start recommendations")
        return None

    def _load_in_background(self, version_id: int) -> None:
        if version_id in self._loading:
            return
        thread = threading.Thread(
            target=self._background_load,
            args=(version_id,),
            name=f"recsite-load-version-{version_id}",
            daemon=True,
        )
        self._loading[version_id] = thread
        thread.start()

    def _background_load(self, version_id: int) -> None:
        try:
            served = _load_or_none(version_id)
            with self._lock:
                if self._loading.pop(version_id, None) is None:
                    return  # reset() since it started: the registry no longer wants it
                self._remember(version_id, served)
                self._checked_at = -float("inf")  # the next request switches to it
        finally:
            connections.close_all()  # this thread's own connection

    def _try_load(self, version_id: int) -> ServingModel | None:
        served = _load_or_none(version_id)
        with self._lock:
            self._remember(version_id, served)
        return served

    def _remember(self, version_id: int, served: ServingModel | None) -> None:
        if served is None:
            self._failed[version_id] = time.monotonic()
            return
        self._failed.pop(version_id, None)
        self._loaded[version_id] = served
        while len(self._loaded) > KEEP_LOADED:
            self._loaded.popitem(last=False)


def _load_or_none(version_id: int) -> ServingModel | None:
    try:
        version = ModelVersion.objects.select_related("training_run").get(pk=version_id)
        return load_version(version)
    except Exception:
        # Any failure (missing file, checksum, shapes, device) must not reach a request.
        logger.exception("model version %s cannot be loaded; skipped", version_id)
        return None


registry = ModelRegistry()


def serving_model() -> ServingModel | None:
    """The loaded model for this request, or None: serve cold-start recommendations."""
    return registry.current()
