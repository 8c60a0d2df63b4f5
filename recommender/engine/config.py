"""Frozen configuration and the backend protocol shared by the NumPy and PyTorch NeuMF."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

ModelKind = Literal["neumf", "gmf", "mlp"]
Backend = Literal["numpy", "torch"]


@dataclass(frozen=True)
class NeuMFConfig:
    """Architecture and training hyper-parameters (He et al., WWW 2017, section 3)."""

    model: ModelKind = "neumf"
    # The paper's public-code defaults. `tune`'s best configurations on MovieLens latest-small
    # were no better on validation beyond noise, and their lists followed synthetic taste users
    # less closely (docs/benchmarks.md, "Defaults from evidence").
    gmf_dim: int = 8  # predictive factors of the GMF tower
    mlp_layers: tuple[int, ...] = (64, 32, 16, 8)  # first layer = 2 x MLP embedding size
    negatives: int = 4  # sampled negatives per positive, fresh every epoch
    lr: float = 1e-3
    batch_size: int = 256
    epochs: int = 20
    l2: float = 0.0  # L2 penalty on the embedding rows of a batch
    # Coupled weight decay on the MLP tower's weight matrices (torch.optim.Adam's weight_decay:
    # each step adds weight_decay * W to their gradient); biases and the output layer are free.
    weight_decay: float = 0.0
    lr_decay: float = 1.0  # epoch e (from 0) of a phase trains at lr * lr_decay**e; 1 = constant
    dtype: Literal["float32", "float64"] = "float32"
    alpha: float = 0.5  # weight of GMF vs MLP when NeuMF starts from pre-trained towers
    patience: int | None = None  # early stopping on the selection metric; None trains all epochs
    top_k: int = 10
    # What picks the epoch (and what the pipeline's activation compares): "full" = NDCG@K of the
    # validation item among every item the user has not rated (Recall@K breaks ties); "sampled" =
    # HR@K among 99 sampled negatives, the NCF paper's protocol, which rewards popularity
    # (Krichene and Rendle, KDD 2020).
    selection: Literal["full", "sampled"] = "full"
    # Ratings below this many stars are not positives: they are left out of training and of the
    # held-out items (the pipeline and `train --min-rating` drop them before the split). None
    # counts every rating as a positive, as the NCF paper does with MovieLens.
    min_rating: float | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)

    @property
    def mlp_dim(self) -> int:
        """Embedding size of each side of the MLP tower."""
        return self.mlp_layers[0] // 2

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["mlp_layers"] = list(self.mlp_layers)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NeuMFConfig:
        data = dict(data)
        if "mlp_layers" in data:
            data["mlp_layers"] = tuple(int(x) for x in data["mlp_layers"])
        return cls(**data)

    @classmethod
    def from_overrides(cls, overrides: dict[str, Any] | None) -> NeuMFConfig:
        """The defaults with `overrides` applied, validated; ValueError names every problem."""
        overrides = dict(overrides or {})
        allowed = {f.name for f in fields(cls)}
        unknown = sorted(set(overrides) - allowed)
        if unknown:
            raise ValueError(f"Unknown config keys {unknown}; allowed: {sorted(allowed)}.")
        try:
            parsed = cls.from_dict({**cls().to_dict(), **overrides})
        except (TypeError, ValueError) as exc:
            raise ValueError(f"Invalid config: {exc}") from exc
        parsed.validate()
        return parsed

    def validate(self) -> None:
        """Raise ValueError listing every field out of its range."""
        problems = []
        for name in ("gmf_dim", "negatives", "batch_size", "epochs", "top_k"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                problems.append(f"{name} must be a positive integer")
        if not self.mlp_layers or any(int(x) < 1 for x in self.mlp_layers):
            problems.append("mlp_layers must be positive integers")
        elif self.mlp_layers[0] % 2:
            problems.append("the first of mlp_layers must be even (2 x the MLP embedding size)")
        if not _is_number(self.lr) or not self.lr > 0:
            problems.append("lr must be a positive number")
        for name in ("l2", "weight_decay"):
            value = getattr(self, name)
            if not _is_number(value) or not value >= 0:
                problems.append(f"{name} must be zero or more")
        if not _is_number(self.lr_decay) or not 0 < self.lr_decay <= 1:
            problems.append("lr_decay must be in (0, 1]")
        if self.model not in ("neumf", "gmf", "mlp"):
            problems.append("model must be neumf, gmf or mlp")
        if self.dtype not in ("float32", "float64"):
            problems.append("dtype must be float32 or float64")
        if self.patience is not None and (not isinstance(self.patience, int) or self.patience < 1):
            problems.append("patience must be a positive integer or null")
        if self.min_rating is not None and (
            not _is_number(self.min_rating) or not self.min_rating > 0
        ):
            problems.append("min_rating must be a positive number or null")
        if self.selection not in ("full", "sampled"):
            problems.append("selection must be full or sampled")
        if problems:
            raise ValueError("Invalid config: " + "; ".join(problems) + ".")


def read_config_file(path: str | Path) -> dict[str, Any]:
    """The config overrides in a JSON file: what `tune --out` writes ({"config": {...}, ...})
    or a plain {field: value} object. Raises ValueError (naming the file) for anything else;
    the values are checked by NeuMFConfig.from_overrides."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot read the config file {path}: {exc}") from exc
    if isinstance(data, dict) and isinstance(data.get("config"), dict):
        data = data["config"]
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object of config fields")
    data.pop("extra", None)
    return data


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


class NeuMFModel(Protocol):
    """What both backends implement. Weights use one canonical layout (see WEIGHT NAMES).

    WEIGHT NAMES (numpy arrays, shared by both backends, row-major, `x @ W + b` convention):
      gmf_user [n_users, gmf_dim]      gmf_item [n_items, gmf_dim]
      mlp_user [n_users, mlp_dim]      mlp_item [n_items, mlp_dim]
      mlp_W{k} [layers[k-1], layers[k]], mlp_b{k} [layers[k]]   for k = 1 .. len(layers) - 1
      out_W   [gmf_dim + layers[-1], 1], out_b [1]
    A GMF-only model has no mlp_* entries and out_W is [gmf_dim, 1]; MLP-only has no gmf_*.
    """

    config: NeuMFConfig
    n_users: int
    n_items: int

    def get_weights(self) -> dict[str, NDArray[np.floating]]: ...

    def set_weights(self, weights: dict[str, NDArray[np.floating]]) -> None: ...

    def set_lr(self, lr: float) -> None:
        """The learning rate of the steps from now on (config.lr until set)."""
        ...

    def train_epoch(
        self,
        users: NDArray[np.int64],
        items: NDArray[np.int64],
        labels: NDArray[np.floating],
        *,
        batch_size: int,
    ) -> float:
        """One pass over the rows in the order given, one Adam step per batch; mean BCE."""
        ...

    def predict(self, users: NDArray[np.int64], items: NDArray[np.int64]) -> NDArray[np.float32]:
        """Probabilities for (user, item) pairs. users, items: [n]; returns [n]."""
        ...

    def score_users(self, users: NDArray[np.int64]) -> NDArray[np.float32]:
        """Scores of every item for each user: [len(users), n_items]; item side computed once."""
        ...


# Optional capabilities, added by the backends' author: both NeuMFNumpy and NeuMFTorch offer them.
# Callers test with isinstance(model, SupportsSampledEpoch) (the protocols are runtime-checkable).


@runtime_checkable
class SupportsSampledEpoch(Protocol):
    """Negative sampling inside the backend (on the GPU for torch), so an epoch's rows never
    cross the host-device boundary."""

    def train_epoch_sampled(
        self,
        pos_users: NDArray[np.int64],
        pos_items: NDArray[np.int64],
        *,
        negatives: int,
        batch_size: int,
        seed: int,
    ) -> float:
        """Draw `negatives` items per positive (never one of the user's positives, i.e. any pair
        in pos_users/pos_items), shuffle, train one epoch; mean BCE. The random stream is the
        backend's own: equal seeds give equal epochs within one backend, not across backends."""
        ...


@runtime_checkable
class SupportsGradients(Protocol):
    """For gradient checks: the batch objective and its gradient without an optimizer step."""

    def loss_and_grads(
        self,
        users: NDArray[np.int64],
        items: NDArray[np.int64],
        labels: NDArray[np.floating],
    ) -> tuple[float, dict[str, NDArray[np.floating]]]:
        """(mean BCE + l2 * sum of squared embedding rows of the batch / batch, gradient per
        canonical weight name; embedding gradients are full tables, zero off the batch)."""
        ...
