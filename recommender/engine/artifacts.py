"""Pickle-free model artifacts: weights, split and neighbours (npz) and a checksummed meta.json."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import shutil
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from recommender.engine.config import NeuMFConfig, NeuMFModel
from recommender.engine.data import IdMap
from recommender.engine.neumf_numpy import weight_shapes
from recommender.engine.split import Split
from recommender.engine.train import EpochReport, FitResult, make_model

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
WEIGHTS_FILE = "weights.npz"
SPLIT_FILE = "split.npz"
NEIGHBOURS_FILE = "neighbours.npz"
META_FILE = "meta.json"
FloatArray = NDArray[np.floating]


class ArtifactError(Exception):
    """An artifact is missing, corrupted, or does not match its meta.json."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def library_versions(backend: str) -> dict[str, str]:
    """Versions that produced the numbers; torch only when it was used (or already loaded)."""
    versions = {"python": platform.python_version(), "numpy": np.__version__}
    if backend == "torch" or "torch" in sys.modules:
        import torch

        versions["torch"] = str(torch.__version__)
    return versions


def _write_npz(path: Path, arrays: dict[str, NDArray[Any]]) -> str:
    with path.open("wb") as fh:
        np.savez(fh, **arrays)  # type: ignore[arg-type]
        fh.flush()
        os.fsync(fh.fileno())
    return sha256_file(path)


def save_model_artifact(
    directory: str | Path,
    *,
    weights: dict[str, FloatArray],
    config: NeuMFConfig,
    backend: str,
    users: IdMap,
    items: IdMap,
    metrics: dict[str, float] | None = None,
    history: list[EpochReport] | None = None,
    fingerprint: str | None = None,
    split: Split | None = None,
    extra: dict[str, Any] | None = None,
    neighbours: tuple[NDArray[np.int64], NDArray[np.float32]] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write an artifact atomically: everything goes to a temporary sibling directory that is
    renamed into place, so a reader sees the whole artifact or none. Returns the directory.
    weights: canonical names -> arrays (see config.NeuMFModel). `extra` must be JSON values.
    neighbours: (indices [n_items, k] int64, -1 padding; sims [n_items, k] float32), the items'
    co-rating neighbours (similarity.co_rating_neighbours) in the id map's order."""
    target = Path(directory).resolve()
    if target.exists() and not overwrite:
        raise ArtifactError(f"{target} exists; pass overwrite=True to replace it")
    shapes = weight_shapes(len(users), len(items), config)
    if set(weights) != set(shapes) or any(tuple(weights[n].shape) != s for n, s in shapes.items()):
        raise ArtifactError("weights do not match the config and id maps")
    if neighbours is not None:
        _check_neighbours(neighbours[0], neighbours[1], len(items))
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.tmp-", dir=target.parent))
    try:
        meta: dict[str, Any] = {
            "format_version": FORMAT_VERSION,
            "created_at": datetime.now(UTC).isoformat(),
            "config": config.to_dict(),
            "backend": backend,
            "n_users": len(users),
            "n_items": len(items),
            "users": users.ids.tolist(),
            "items": items.ids.tolist(),
            "metrics": dict(metrics or {}),
            "history": [h.to_dict() for h in history or []],
            "data_fingerprint": fingerprint,
            "versions": library_versions(backend),
            "extra": dict(extra or {}),
        }
        arrays = {n: np.ascontiguousarray(weights[n]) for n in shapes}
        meta["weights"] = {
            "file": WEIGHTS_FILE,
            "sha256": _write_npz(tmp / WEIGHTS_FILE, arrays),
            "shapes": {n: list(s) for n, s in shapes.items()},
            "dtype": str(next(iter(arrays.values())).dtype),
        }
        if split is not None:
            meta["split"] = {
                "file": SPLIT_FILE,
                "sha256": _write_npz(tmp / SPLIT_FILE, dict(split.arrays())),
                "n_candidates": split.n_candidates,
            }
        if neighbours is not None:
            nb = np.ascontiguousarray(neighbours[0], dtype=np.int64)
            sims = np.ascontiguousarray(neighbours[1], dtype=np.float32)
            meta["neighbours"] = {
                "file": NEIGHBOURS_FILE,
                "sha256": _write_npz(tmp / NEIGHBOURS_FILE, {"neighbours": nb, "sims": sims}),
                "k": int(nb.shape[1]),
            }
        with (tmp / META_FILE).open("w", encoding="utf-8") as fh:
            json.dump(meta, fh, indent=1)
            fh.flush()
            os.fsync(fh.fileno())
        # mkdtemp makes the directory private (0700); a web worker running as another user must
        # read it. (os.umask would tell the caller's umask, but setting it races other threads.)
        tmp.chmod(0o755)
        if target.exists():
            # os.replace cannot swap onto a non-empty directory: move the old one aside first.
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
            os.replace(target, old / "artifact")
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    logger.info("saved artifact %s", target)
    return target


def save_artifact(
    directory: str | Path,
    result: FitResult,
    *,
    extra: dict[str, Any] | None = None,
    neighbours: tuple[NDArray[np.int64], NDArray[np.float32]] | None = None,
    overwrite: bool = False,
) -> Path:
    """Save a FitResult (best weights, config, id maps, metrics, history, split candidates),
    and the items' co-rating neighbours when given (see save_model_artifact)."""
    return save_model_artifact(
        directory,
        weights=result.model.get_weights(),
        config=result.config,
        backend=result.backend,
        users=result.users,
        items=result.items,
        metrics=result.metrics,
        history=result.history,
        fingerprint=result.fingerprint,
        split=result.split,
        extra={"best_epoch": result.best_epoch, "seed": result.seed, **(extra or {})},
        neighbours=neighbours,
        overwrite=overwrite,
    )


@dataclass
class LoadedModel:
    """A model read back from an artifact, ready to score."""

    directory: Path
    meta: dict[str, Any]
    config: NeuMFConfig
    backend: str
    users: IdMap
    items: IdMap
    model: NeuMFModel
    weights: dict[str, FloatArray] = field(repr=False)

    @property
    def metrics(self) -> dict[str, float]:
        return dict(self.meta.get("metrics", {}))

    @property
    def history(self) -> list[dict[str, Any]]:
        return list(self.meta.get("history", []))

    @property
    def fingerprint(self) -> str | None:
        value = self.meta.get("data_fingerprint")
        return None if value is None else str(value)

    def score_users(self, users: NDArray[np.int64]) -> NDArray[np.float32]:
        """Scores of every item for dense user indices: [len(users), n_items]."""
        return self.model.score_users(users)

    def predict(self, users: NDArray[np.int64], items: NDArray[np.int64]) -> NDArray[np.float32]:
        """Probabilities for dense (user, item) pairs: [n]."""
        return self.model.predict(users, items)

    def item_vectors(self) -> NDArray[np.float32]:
        """One vector per item for cosine similarity: [n_items, d].

        The GMF item embedding is scaled by the output weights (what the model actually uses of
        it) and the MLP item embedding taken as is; each part is unit-normalised per row before
        they are concatenated, so the cosine of two items is the mean of the towers' cosines.
        """
        parts: list[NDArray[np.float32]] = []
        gd = self.config.gmf_dim if "gmf_item" in self.weights else 0
        if gd:
            out_w = self.weights["out_W"][:gd, 0]  # [gmf_dim]
            parts.append((self.weights["gmf_item"] * out_w).astype(np.float32))
        if "mlp_item" in self.weights:
            parts.append(self.weights["mlp_item"].astype(np.float32))
        scaled = []
        for part in parts:
            norms = np.linalg.norm(part, axis=1, keepdims=True)  # [n_items, 1]
            scaled.append(part / np.maximum(norms, np.float32(1e-12)))
        vectors: NDArray[np.float32] = (
            np.concatenate(scaled, axis=1) / np.sqrt(len(scaled))
        ).astype(np.float32)  # [n_items, d]
        return vectors

    def neighbours(self) -> tuple[NDArray[np.int64], NDArray[np.float32]] | None:
        """The items' co-rating neighbours (indices [n_items, k], -1 padding; sims [n_items, k]),
        or None for an artifact saved without them (older versions)."""
        info = self.meta.get("neighbours")
        if not info:
            return None
        arrays = _load_npz(self.directory / info["file"], info["sha256"])
        try:
            nb, sims = arrays["neighbours"], arrays["sims"]
        except KeyError as exc:
            raise ArtifactError(f"{info['file']} lacks {exc}") from exc
        _check_neighbours(nb, sims, len(self.items))
        return nb.astype(np.int64), sims.astype(np.float32)

    def split(self) -> Split:
        """The train pairs and the fixed validation / test candidates of the training run."""
        info = self.meta.get("split")
        if not info:
            raise ArtifactError(f"{self.directory} holds no split")
        arrays = _load_npz(self.directory / info["file"], info["sha256"])
        return Split.from_arrays(len(self.users), len(self.items), arrays)


def _check_neighbours(nb: NDArray[Any], sims: NDArray[Any], n_items: int) -> None:
    if nb.ndim != 2 or nb.shape != sims.shape or nb.shape[0] != n_items:
        raise ArtifactError(
            f"neighbours {nb.shape} / sims {sims.shape} do not match {n_items} items"
        )
    if not np.issubdtype(nb.dtype, np.integer) or (
        nb.size and (nb.min() < -1 or nb.max() >= n_items)
    ):
        raise ArtifactError("neighbour indices are out of range")
    if not np.all(np.isfinite(sims)):
        raise ArtifactError("neighbour similarities are not finite")


def _load_npz(path: Path, sha256: str) -> dict[str, NDArray[Any]]:
    if not path.is_file():
        raise ArtifactError(f"missing {path}")
    actual = sha256_file(path)
    if actual != sha256:
        raise ArtifactError(f"checksum mismatch for {path}: {actual} != {sha256} in meta.json")
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {name: npz[name] for name in npz.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise ArtifactError(f"cannot read {path}: {exc}") from exc


def read_meta(directory: str | Path) -> dict[str, Any]:
    """meta.json of an artifact, with its format version checked."""
    path = Path(directory) / META_FILE
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ArtifactError(f"no {META_FILE} in {directory}") from exc
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"unreadable {path}: {exc}") from exc
    if not isinstance(meta, dict):
        raise ArtifactError(f"{path} is not a JSON object")
    if meta.get("format_version") != FORMAT_VERSION:
        raise ArtifactError(
            f"{path}: format version {meta.get('format_version')!r}, this code reads "
            f"{FORMAT_VERSION}"
        )
    return meta


def load_artifact(
    directory: str | Path, *, backend: str = "numpy", device: str = "auto"
) -> LoadedModel:
    """Load and verify an artifact (format version, checksum, names and shapes against meta.json
    and the config) into a model of `backend` (either backend reads either's artifacts).
    Raises ArtifactError on any mismatch or corruption."""
    root = Path(directory)
    meta = read_meta(root)
    try:
        config = NeuMFConfig.from_dict(meta["config"])
        users = IdMap(meta["users"])
        items = IdMap(meta["items"])
        info = meta["weights"]
        n_users, n_items = int(meta["n_users"]), int(meta["n_items"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ArtifactError(f"{root / META_FILE} is incomplete: {exc}") from exc
    if (len(users), len(items)) != (n_users, n_items):
        raise ArtifactError("id maps do not match n_users / n_items in meta.json")
    weights = _load_npz(root / info["file"], info["sha256"])
    expected = weight_shapes(n_users, n_items, config)
    recorded = {n: tuple(s) for n, s in info.get("shapes", {}).items()}
    if recorded != expected:
        raise ArtifactError("weight shapes in meta.json do not match its config and id maps")
    if set(weights) != set(expected):
        raise ArtifactError(
            f"weights.npz names {sorted(weights)} differ from the expected {sorted(expected)}"
        )
    for name, shape in expected.items():
        if tuple(weights[name].shape) != shape:
            raise ArtifactError(f"{name}: shape {weights[name].shape}, expected {shape}")
        if not np.issubdtype(weights[name].dtype, np.floating):
            raise ArtifactError(f"{name}: dtype {weights[name].dtype} is not floating point")
    model = make_model(backend, n_users, n_items, config, seed=0, device=device)
    model.set_weights(weights)
    return LoadedModel(
        directory=root,
        meta=meta,
        config=config,
        backend=backend,
        users=users,
        items=items,
        model=model,
        weights=weights,
    )
