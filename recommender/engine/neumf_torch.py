"""NeuMF (He et al., WWW 2017) in PyTorch: autograd, hand-written lazy Adam, CUDA graphs on GPU."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray

from recommender.engine.config import NeuMFConfig
from recommender.engine.neumf_numpy import (
    ADAM_BETA1,
    ADAM_BETA2,
    ADAM_EPS,
    check_weights,
    dense_decay,
    dense_names,
    init_weights,
    tower_dims,
    weight_shapes,
)
from recommender.engine.threads import limit_torch_threads_from_env

# A process that sized its thread pools before torch came in (RECSITE_THREADS) sizes torch's too.
limit_torch_threads_from_env()

# Same model, weights layout and optimizer as NeuMFNumpy; the symbols follow
# docs/ncf-backprop.md. Dense weights are kept in the canonical `x @ W + b` layout ([in, out]),
# so no transpose is needed between the backends (an nn.Linear would hold W.T).

DeviceName = Literal["auto", "cpu", "cuda", "mps"]
EmbeddingUpdate = Literal["auto", "index", "masked"]
FloatArray = NDArray[np.floating]
_PREDICT_CHUNK = 1 << 18
_SCORE_CELLS = 1 << 22  # user x item pairs per scoring block on an accelerator
_SCORE_CELLS_CPU = 1 << 16  # smaller on a CPU, to stay inside its cache
_WARMUP_STEPS = 3  # CUDA graphs need a few eager steps on a side stream before capture


def pick_device(device: DeviceName | str = "auto") -> torch.device:
    """CUDA, then Apple MPS, then CPU for "auto"; otherwise the device named."""
    if device == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    return torch.device(device)


@dataclass
class _Graph:
    """One captured training step for a fixed batch size and its static inputs."""

    graph: torch.cuda.CUDAGraph
    ui: torch.Tensor  # [batch, 2] user and item rows, copied in before each replay
    y: torch.Tensor  # [batch]


class NeuMFTorch:
    """NeuMF / GMF / MLP on CPU, CUDA or MPS, numerically the same as NeuMFNumpy.

    Embedding rows get lazy Adam, the dense weights plain Adam, with one global step count. Two
    equivalent embedding updates: "index" (distinct rows via torch.unique: fastest on CPU) and
    "masked" (every row, untouched ones masked out: static shapes, so a whole step can be
    captured as a CUDA graph). "auto" picks index on CPU, masked elsewhere.
    """

    def __init__(
        self,
        n_users: int,
        n_items: int,
        config: NeuMFConfig,
        *,
        seed: int,
        device: DeviceName | str = "auto",
        embedding_update: EmbeddingUpdate = "auto",
        cuda_graphs: bool = True,
    ) -> None:
        self.config = config
        self.n_users = n_users
        self.n_items = n_items
        self.device = pick_device(device)
        if config.dtype == "float64" and self.device.type == "mps":
            raise ValueError("MPS has no float64; use dtype='float32' or another device")
        self.dtype = torch.float64 if config.dtype == "float64" else torch.float32
        if embedding_update == "auto":
            embedding_update = "index" if self.device.type == "cpu" else "masked"
        self.embedding_update: EmbeddingUpdate = embedding_update
        self.cuda_graphs = cuda_graphs and self.device.type == "cuda"
        self._gd, self._md = tower_dims(config)
        self._n_hidden = len(config.mlp_layers) - 1 if self._md else 0
        self._shapes = weight_shapes(n_users, n_items, config)
        self._dense_names = dense_names(config)
        width = self._gd + self._md
        self._user_table = self._zeros(n_users, width)  # [n_users, gmf + mlp]
        self._item_table = self._zeros(n_items, width)  # [n_items, gmf + mlp]
        sizes = [math.prod(self._shapes[n]) for n in self._dense_names]
        self._dense = self._zeros(sum(sizes))  # [n_dense] all dense weights, flat
        self._params: dict[str, torch.Tensor] = {}
        start = 0
        for name, size in zip(self._dense_names, sizes, strict=True):
            # A view of a tensor that needs no grad becomes a leaf: autograd gives its gradient
            # while Adam updates the flat buffer in one go.
            view = self._dense[start : start + size].view(self._shapes[name])
            self._params[name] = view.requires_grad_(True)
            start += size
        self._param_list = [self._params[n] for n in self._dense_names]
        decay = dense_decay(config)  # torch's coupled weight_decay, MLP weight matrices only
        self._decay = (
            None if decay is None else torch.as_tensor(decay, dtype=self.dtype).to(self.device)
        )  # [n_dense]
        self.lr = config.lr
        self._lr_dev = self._zeros() + config.lr  # the learning rate as seen by captured graphs
        self._user_m = torch.zeros_like(self._user_table)
        self._user_v = torch.zeros_like(self._user_table)
        self._item_m = torch.zeros_like(self._item_table)
        self._item_v = torch.zeros_like(self._item_table)
        self._dense_m = torch.zeros_like(self._dense)
        self._dense_v = torch.zeros_like(self._dense)
        # Scratch for the masked update: summed gradient plus a touch count per row.
        self._user_acc = self._zeros(n_users, width + 1)
        self._item_acc = self._zeros(n_items, width + 1)
        self._t = 0
        self._t_dev = self._zeros()  # the step count as seen by captured graphs
        self._loss_acc = self._zeros()
        self._graphs: dict[int, _Graph] = {}
        self._version = 0
        self._score_cache: tuple[int, dict[str, torch.Tensor]] | None = None
        self.set_weights(init_weights(n_users, n_items, config, seed=seed))

    def _zeros(self, *shape: int) -> torch.Tensor:
        return torch.zeros(shape, dtype=self.dtype, device=self.device)

    # -- weights -------------------------------------------------------------------------------

    def get_weights(self) -> dict[str, FloatArray]:
        gd = self._gd
        np_dtype = np.float64 if self.dtype == torch.float64 else np.float32
        with torch.no_grad():
            tensors: dict[str, torch.Tensor] = {}
            if gd:
                tensors["gmf_user"] = self._user_table[:, :gd]
                tensors["gmf_item"] = self._item_table[:, :gd]
            if self._md:
                tensors["mlp_user"] = self._user_table[:, gd:]
                tensors["mlp_item"] = self._item_table[:, gd:]
            tensors.update(self._params)
            return {
                name: tensors[name].detach().cpu().numpy().astype(np_dtype, copy=True)
                for name in self._shapes
            }

    def set_weights(self, weights: Mapping[str, NDArray[Any]]) -> None:
        """Load canonical weights (cast to config.dtype) and restart the optimizer state.

        Copies in place: captured CUDA graphs keep pointing at the same storage."""
        check_weights(weights, self._shapes)
        gd = self._gd

        def put(target: torch.Tensor, value: NDArray[Any]) -> None:
            target.copy_(torch.as_tensor(np.asarray(value), dtype=self.dtype))

        with torch.no_grad():
            if gd:
                put(self._user_table[:, :gd], weights["gmf_user"])
                put(self._item_table[:, :gd], weights["gmf_item"])
            if self._md:
                put(self._user_table[:, gd:], weights["mlp_user"])
                put(self._item_table[:, gd:], weights["mlp_item"])
            for name, param in self._params.items():
                put(param, weights[name])
            for state in (self._user_m, self._user_v, self._item_m, self._item_v):
                state.zero_()
            self._dense_m.zero_()
            self._dense_v.zero_()
        self._t = 0
        self._version += 1

    # -- forward -------------------------------------------------------------------------------

    def _mlp_layers(self, x: torch.Tensor, first: int) -> torch.Tensor:
        """x_L from x = x_{first-1}: x_k = relu(x_{k-1} @ mlp_W{k} + mlp_b{k}), k = first..L.
        Training, pair scoring and whole-catalogue scoring all run the layers through here."""
        params = self._params
        for k in range(first, self._n_hidden + 1):
            x = torch.relu(torch.addmm(params[f"mlp_b{k}"], x, params[f"mlp_W{k}"]))
        return x

    def _logits(self, eu: torch.Tensor, ei: torch.Tensor) -> torch.Tensor:
        """z for gathered rows eu, ei: [batch, gmf + mlp] each; returns [batch]."""
        gd, params = self._gd, self._params
        h_parts: list[torch.Tensor] = []
        if gd:
            h_parts.append(eu[:, :gd] * ei[:, :gd])  # [batch, gmf_dim] h_gmf
        if self._md:
            x = torch.cat((eu[:, gd:], ei[:, gd:]), dim=1)  # [batch, 2 * mlp_dim] x_0
            h_parts.append(self._mlp_layers(x, 1))  # [batch, layers[-1]] h_mlp
        h = h_parts[0] if len(h_parts) == 1 else torch.cat(h_parts, dim=1)  # [batch, F]
        return torch.addmm(params["out_b"], h, params["out_W"]).squeeze(1)  # [batch] z

    def _objective(
        self, eu: torch.Tensor, ei: torch.Tensor, y: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(sum of BCE over the batch, batch objective = mean BCE + L2 on the batch's rows)."""
        n = y.shape[0]
        bce_sum = F.binary_cross_entropy_with_logits(self._logits(eu, ei), y, reduction="sum")
        objective = bce_sum / n
        if self.config.l2:
            objective = objective + self.config.l2 / n * (eu.square().sum() + ei.square().sum())
        return bce_sum, objective

    def _batch_grads(
        self, u: torch.Tensor, i: torch.Tensor, y: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """bce_sum, d_eu, d_ei and the flat dense gradient [n_dense] for one batch."""
        eu = self._user_table.index_select(0, u).requires_grad_(True)  # [batch, gmf + mlp]
        ei = self._item_table.index_select(0, i).requires_grad_(True)  # [batch, gmf + mlp]
        bce_sum, objective = self._objective(eu, ei, y)
        d_eu, d_ei, *d_dense = torch.autograd.grad(objective, [eu, ei, *self._param_list])
        return bce_sum.detach(), d_eu, d_ei, torch.cat([g.reshape(-1) for g in d_dense])

    # -- optimizer -----------------------------------------------------------------------------

    def set_lr(self, lr: float) -> None:
        """The learning rate of the steps from now on (config.lr until set)."""
        self.lr = lr
        self._lr_dev.fill_(lr)

    def _dense_step(
        self, d_dense: torch.Tensor, step_size: float | torch.Tensor, bc2_sqrt: float | torch.Tensor
    ) -> None:
        """Adam on the flat dense weights, with torch's coupled weight decay on the MLP's."""
        if self._decay is not None:
            d_dense = d_dense + self._decay * self._dense
        _adam(self._dense, self._dense_m, self._dense_v, d_dense, step_size, bc2_sqrt)

    def _step_index(self, u: torch.Tensor, i: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        bce_sum, d_eu, d_ei, d_dense = self._batch_grads(u, i, y)
        self._t += 1
        step_size = self.lr / (1.0 - ADAM_BETA1**self._t)
        bc2_sqrt = math.sqrt(1.0 - ADAM_BETA2**self._t)
        with torch.no_grad():
            _lazy_adam_index(
                self._user_table, self._user_m, self._user_v, u, d_eu, step_size, bc2_sqrt
            )
            _lazy_adam_index(
                self._item_table, self._item_m, self._item_v, i, d_ei, step_size, bc2_sqrt
            )
            self._dense_step(d_dense, step_size, bc2_sqrt)
        return bce_sum

    def _step_masked(self, u: torch.Tensor, i: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Static-shape step: the step count and bias corrections stay on the device."""
        bce_sum, d_eu, d_ei, d_dense = self._batch_grads(u, i, y)
        with torch.no_grad():
            self._t_dev += 1.0
            step_size = self._lr_dev / (1.0 - torch.pow(ADAM_BETA1, self._t_dev))
            bc2_sqrt = torch.sqrt(1.0 - torch.pow(ADAM_BETA2, self._t_dev))
            _lazy_adam_masked(
                self._user_table,
                self._user_m,
                self._user_v,
                self._user_acc,
                u,
                d_eu,
                step_size,
                bc2_sqrt,
            )
            _lazy_adam_masked(
                self._item_table,
                self._item_m,
                self._item_v,
                self._item_acc,
                i,
                d_ei,
                step_size,
                bc2_sqrt,
            )
            self._dense_step(d_dense, step_size, bc2_sqrt)
        return bce_sum

    # -- training ------------------------------------------------------------------------------

    def _to_device(
        self, users: NDArray[np.int64], items: NDArray[np.int64], labels: FloatArray | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        u = np.ascontiguousarray(users, dtype=np.int64)
        i = np.ascontiguousarray(items, dtype=np.int64)
        np_dtype = np.float64 if self.dtype == torch.float64 else np.float32
        # Cast on the host: MPS cannot hold the float64 that labels often arrive in.
        y = np.ascontiguousarray(labels if labels is not None else [], dtype=np_dtype)
        if u.ndim != 1 or u.shape != i.shape or (labels is not None and y.shape != u.shape):
            raise ValueError("users, items (and labels) must be 1-D arrays of one length")
        if u.size and (u.min() < 0 or u.max() >= self.n_users):
            raise IndexError("user index out of range")
        if i.size and (i.min() < 0 or i.max() >= self.n_items):
            raise IndexError("item index out of range")
        return (
            torch.from_numpy(u).to(self.device),
            torch.from_numpy(i).to(self.device),
            torch.from_numpy(y).to(self.device),
        )

    def _train_rows(
        self, u: torch.Tensor, i: torch.Tensor, y: torch.Tensor, batch_size: int
    ) -> float:
        """Train on device tensors in the order given; mean BCE."""
        if batch_size < 1:
            raise ValueError("batch_size must be positive")
        n = u.shape[0]
        self._loss_acc.zero_()
        if self.embedding_update == "index":
            for start in range(0, n, batch_size):
                stop = start + batch_size
                self._loss_acc += self._step_index(u[start:stop], i[start:stop], y[start:stop])
        else:
            self._t_dev.fill_(self._t)
            full = n // batch_size
            tail = 0
            if self.cuda_graphs and full:
                graph = self._graph_for(batch_size)
                ui = torch.stack((u, i), dim=1)  # [n, 2]: one copy per replay instead of two
                for start in range(0, full * batch_size, batch_size):
                    graph.ui.copy_(ui[start : start + batch_size])
                    graph.y.copy_(y[start : start + batch_size])
                    graph.graph.replay()
                tail = full * batch_size
            for start in range(tail, n, batch_size):
                stop = start + batch_size
                self._loss_acc += self._step_masked(u[start:stop], i[start:stop], y[start:stop])
            self._t = round(float(self._t_dev.item()))
        self._version += 1
        return float(self._loss_acc.item()) / max(n, 1)

    def _graph_for(self, batch_size: int) -> _Graph:
        """Capture one masked step (forward, backward, Adam, loss sum) for this batch size."""
        if batch_size in self._graphs:
            return self._graphs[batch_size]
        ui = torch.zeros((batch_size, 2), dtype=torch.int64, device=self.device)
        y = torch.zeros(batch_size, dtype=self.dtype, device=self.device)
        state = [
            self._user_table,
            self._item_table,
            self._dense,
            self._user_m,
            self._user_v,
            self._item_m,
            self._item_v,
            self._dense_m,
            self._dense_v,
            self._t_dev,
            self._loss_acc,
        ]
        saved = [s.clone() for s in state]  # warm-up steps must leave no trace on training
        side = torch.cuda.Stream(device=self.device)  # type: ignore[no-untyped-call]
        side.wait_stream(torch.cuda.current_stream(self.device))
        with torch.cuda.stream(side):
            for _ in range(_WARMUP_STEPS):
                self._loss_acc += self._step_masked(ui[:, 0], ui[:, 1], y)
        torch.cuda.current_stream(self.device).wait_stream(side)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            self._loss_acc += self._step_masked(ui[:, 0], ui[:, 1], y)
        with torch.no_grad():
            for target, value in zip(state, saved, strict=True):
                target.copy_(value)
        self._graphs[batch_size] = _Graph(graph=graph, ui=ui, y=y)
        return self._graphs[batch_size]

    def train_epoch(
        self,
        users: NDArray[np.int64],
        items: NDArray[np.int64],
        labels: NDArray[np.floating],
        *,
        batch_size: int,
    ) -> float:
        """One pass over the rows in the order given, one Adam step per batch; mean BCE
        (without the L2 term) over all rows."""
        u, i, y = self._to_device(users, items, labels)
        return self._train_rows(u, i, y, batch_size)

    def train_epoch_sampled(
        self,
        pos_users: NDArray[np.int64],
        pos_items: NDArray[np.int64],
        *,
        negatives: int,
        batch_size: int,
        seed: int,
    ) -> float:
        """Draw `negatives` non-positive items per positive on the device, shuffle there, and
        train one epoch. pos_users, pos_items: [n_pos], all training positives. Mean BCE.

        Uses torch's generator on the device, so the draws differ from NeuMFNumpy's."""
        u, i, _ = self._to_device(pos_users, pos_items)
        gen = torch.Generator(device=self.device)
        gen.manual_seed(seed)
        neg_items = sample_negatives_torch(u, i, self.n_items, negatives, gen)
        users = torch.cat((u, u.repeat_interleave(negatives)))  # [n_pos * (1 + negatives)]
        items = torch.cat((i, neg_items))
        labels = torch.zeros(users.shape[0], dtype=self.dtype, device=self.device)
        labels[: u.shape[0]] = 1.0
        order = torch.randperm(users.shape[0], generator=gen, device=self.device)
        return self._train_rows(users[order], items[order], labels[order], batch_size)

    def loss_and_grads(
        self, users: NDArray[np.int64], items: NDArray[np.int64], labels: NDArray[np.floating]
    ) -> tuple[float, dict[str, FloatArray]]:
        """Batch objective (mean BCE + L2 term) and its autograd gradient per canonical weight,
        without stepping; the gather's backward does the embedding accumulation here."""
        u, i, y = self._to_device(users, items, labels)
        user_table = self._user_table.detach().clone().requires_grad_(True)
        item_table = self._item_table.detach().clone().requires_grad_(True)
        eu = user_table.index_select(0, u)  # [batch, gmf + mlp]
        ei = item_table.index_select(0, i)  # [batch, gmf + mlp]
        _, objective = self._objective(eu, ei, y)
        grads = torch.autograd.grad(objective, [user_table, item_table, *self._param_list])
        np_grads = [g.detach().cpu().numpy() for g in grads]
        gd = self._gd
        out: dict[str, FloatArray] = dict(zip(self._dense_names, np_grads[2:], strict=True))
        if gd:
            out["gmf_user"], out["gmf_item"] = np_grads[0][:, :gd], np_grads[1][:, :gd]
        if self._md:
            out["mlp_user"], out["mlp_item"] = np_grads[0][:, gd:], np_grads[1][:, gd:]
        return float(objective.item()), {name: out[name] for name in self._shapes}

    # -- inference -----------------------------------------------------------------------------

    def _logits_of(self, users: NDArray[np.int64], items: NDArray[np.int64]) -> torch.Tensor:
        u, i, _ = self._to_device(users, items)
        parts = []
        with torch.no_grad():
            for start in range(0, u.shape[0], _PREDICT_CHUNK):
                stop = start + _PREDICT_CHUNK
                eu = self._user_table.index_select(0, u[start:stop])  # [chunk, gmf + mlp]
                ei = self._item_table.index_select(0, i[start:stop])  # [chunk, gmf + mlp]
                parts.append(self._logits(eu, ei))
        return torch.cat(parts) if parts else self._zeros(0)

    def logits(self, users: NDArray[np.int64], items: NDArray[np.int64]) -> FloatArray:
        """Logits z in config.dtype for (user, item) pairs. users, items: [n]; returns [n]."""
        return self._logits_of(users, items).cpu().numpy()

    def predict(self, users: NDArray[np.int64], items: NDArray[np.int64]) -> NDArray[np.float32]:
        """Probabilities for (user, item) pairs. users, items: [n]; returns [n]."""
        return torch.sigmoid(self._logits_of(users, items)).float().cpu().numpy()

    def _item_side(self) -> dict[str, torch.Tensor]:
        """Per-item work shared by every user, cached until the weights change."""
        if self._score_cache is not None and self._score_cache[0] == self._version:
            return self._score_cache[1]
        gd, md, params = self._gd, self._md, self._params
        out_w = params["out_W"][:, 0]
        side: dict[str, torch.Tensor] = {}
        with torch.no_grad():
            if gd:
                side["gmf"] = self._item_table[:, :gd] * out_w[:gd]  # [n_items, gmf_dim]
            if md and self._n_hidden:
                w1_item = params["mlp_W1"][md:]  # [mlp_dim, l1]
                side["a1"] = torch.addmm(params["mlp_b1"], self._item_table[:, gd:], w1_item)
            elif md:
                side["mlp"] = self._item_table[:, gd:] @ out_w[gd + md :]  # [n_items]
        self._score_cache = (self._version, side)
        return side

    def score_users(self, users: NDArray[np.int64]) -> NDArray[np.float32]:
        """Scores of every item for each user: [len(users), n_items]; item side computed once."""
        user_idx = np.ascontiguousarray(users, dtype=np.int64)
        u, _, _ = self._to_device(user_idx, np.zeros_like(user_idx))
        gd, md, params = self._gd, self._md, self._params
        side = self._item_side()
        out = np.empty((u.shape[0], self.n_items), np.float32)
        cells = _SCORE_CELLS_CPU if self.device.type == "cpu" else _SCORE_CELLS
        block = max(1, cells // max(self.n_items, 1))
        with torch.no_grad():
            out_w = params["out_W"][:, 0]
            for start in range(0, u.shape[0], block):
                eu = self._user_table.index_select(0, u[start : start + block])  # [block, D]
                z = params["out_b"].expand(eu.shape[0], self.n_items).clone()  # [block, n_items]
                if gd:
                    z += eu[:, :gd] @ side["gmf"].T
                if md and self._n_hidden:
                    user_a1 = eu[:, gd:] @ params["mlp_W1"][:md]  # [block, l1]
                    x = torch.relu_(side["a1"][None, :, :] + user_a1[:, None, :])
                    h_mlp = self._mlp_layers(x.reshape(-1, x.shape[2]), 2)  # [block * n_items, l_L]
                    z += (h_mlp @ out_w[gd:]).view(eu.shape[0], self.n_items)
                elif md:
                    z += (eu[:, gd:] @ out_w[gd : gd + md])[:, None] + side["mlp"][None, :]
                out[start : start + eu.shape[0]] = torch.sigmoid_(z).float().cpu().numpy()
        return out


def sample_negatives_torch(
    pos_users: torch.Tensor,
    pos_items: torch.Tensor,
    n_items: int,
    negatives: int,
    gen: torch.Generator,
) -> torch.Tensor:
    """On-device twin of neumf_numpy.sample_negatives (same rank-to-item mapping, no rejection
    loop, so no host sync per round): [n_pos * negatives] items, none a positive of its user,
    user order = pos_users.repeat_interleave(negatives)."""
    keys = torch.unique(pos_users * n_items + pos_items)  # [n_pos] sorted by user, then item
    key_users = keys // n_items  # [n_pos]
    counts = torch.bincount(key_users)  # [max user + 1]
    if keys.numel() and int(counts.max()) >= n_items:
        raise ValueError("a user has every item as a positive: no negative can be drawn")
    starts = torch.cumsum(counts, 0) - counts  # [max user + 1]
    order = torch.arange(keys.shape[0], device=keys.device)
    gaps = keys - (order - starts[key_users])  # [n_pos] u * n + g_m, sorted
    users = pos_users.repeat_interleave(negatives)  # [n_pos * negatives]
    free = n_items - counts[users]  # [n_pos * negatives] non-positive items of the user
    # float64 leaves no visible bias in floor(uniform * free); MPS has only float32 (24 bits,
    # still a relative bias below 1e-3 for catalogues of a few thousand items).
    wide = torch.float32 if keys.device.type == "mps" else torch.float64
    uniform = torch.rand(users.shape, generator=gen, device=keys.device, dtype=wide)
    rank = torch.minimum((uniform * free).long(), free - 1)
    below = torch.searchsorted(gaps, users * n_items + rank, right=True) - starts[users]
    return rank + below


def _adam(
    param: torch.Tensor,
    m: torch.Tensor,
    v: torch.Tensor,
    g: torch.Tensor,
    step_size: float | torch.Tensor,
    bc2_sqrt: float | torch.Tensor,
) -> None:
    """torch.optim.Adam's update, in place; step_size = lr / (1 - beta1^t)."""
    m.lerp_(g, 1.0 - ADAM_BETA1)
    v.lerp_(g * g, 1.0 - ADAM_BETA2)
    denom = v.sqrt().div_(bc2_sqrt).add_(ADAM_EPS)
    param.sub_(m.div(denom).mul_(step_size))


def _lazy_adam_index(
    table: torch.Tensor,
    m: torch.Tensor,
    v: torch.Tensor,
    idx: torch.Tensor,
    grads: torch.Tensor,
    step_size: float,
    bc2_sqrt: float,
) -> None:
    """Lazy Adam on the distinct rows of idx; grads [batch, dim] summed per row first."""
    rows, inverse = torch.unique(idx, return_inverse=True)  # [n_rows], [batch]
    g = grads.new_zeros((rows.shape[0], grads.shape[1])).index_add_(0, inverse, grads)
    m_r = m.index_select(0, rows).lerp_(g, 1.0 - ADAM_BETA1)  # [n_rows, dim]
    m.index_copy_(0, rows, m_r)
    v_r = v.index_select(0, rows).lerp_(g * g, 1.0 - ADAM_BETA2)  # [n_rows, dim]
    v.index_copy_(0, rows, v_r)
    denom = v_r.sqrt_().div_(bc2_sqrt).add_(ADAM_EPS)
    table.index_add_(0, rows, m_r.div_(denom).mul_(-step_size))


def _lazy_adam_masked(
    table: torch.Tensor,
    m: torch.Tensor,
    v: torch.Tensor,
    acc: torch.Tensor,
    idx: torch.Tensor,
    grads: torch.Tensor,
    step_size: torch.Tensor,
    bc2_sqrt: torch.Tensor,
) -> None:
    """Lazy Adam over the whole table with untouched rows masked out: same result as
    _lazy_adam_index, but every shape is static. acc: [n_rows, dim + 1] scratch."""
    dim = grads.shape[1]
    acc.zero_()
    acc.index_add_(0, idx, torch.cat((grads, grads.new_ones((grads.shape[0], 1))), dim=1))
    g = acc[:, :dim]  # [n_rows, dim], zero on untouched rows
    touched = (acc[:, dim:] > 0).to(table.dtype)  # [n_rows, 1]
    # lerp with weight 0 returns m exactly, so untouched rows keep their moments bit for bit.
    m.lerp_(g, touched * (1.0 - ADAM_BETA1))
    v.lerp_(g * g, touched * (1.0 - ADAM_BETA2))
    denom = v.sqrt().div_(bc2_sqrt).add_(ADAM_EPS)
    table.sub_(m.div(denom).mul_(touched * step_size))
