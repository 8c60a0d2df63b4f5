"""A loaded model version laid over the catalog snapshot, cached on the version per snapshot."""

from __future__ import annotations

import logging
import time

import numpy as np

from recommender.engine import coldstart as cs
from recommender.engine.foldin import prepare_item_side
from recommender.registry import ServingModel
from recommender.serving.types import F32, AlignedModel, CatalogSnapshot, IntArray

logger = logging.getLogger(__name__)


def aligned_model(served: ServingModel, snapshot: CatalogSnapshot) -> AlignedModel:
    """The catalog-aligned view of a loaded version, cached on it per snapshot key."""
    cached = served.aligned
    if isinstance(cached, AlignedModel) and cached.snapshot_key == snapshot.key:
        return cached
    with served.lock:
        cached = served.aligned
        if isinstance(cached, AlignedModel) and cached.snapshot_key == snapshot.key:
            return cached
        started = time.perf_counter()
        model_rows = served.items.index(snapshot.movie_ids)  # [n_cat] row or -1
        in_model = model_rows >= 0
        table = np.zeros((snapshot.n, served.item_table.shape[1]), np.float32)
        vectors = np.zeros((snapshot.n, served.item_vectors.shape[1]), np.float32)
        table[in_model] = served.item_table[model_rows[in_model]]
        vectors[in_model] = served.item_vectors[model_rows[in_model]]
        new = np.flatnonzero(~in_model)
        known = np.flatnonzero(in_model)
        if new.shape[0] and known.shape[0]:
            for start in range(0, new.shape[0], 512):  # bounded [512, n_known] weight blocks
                chunk = new[start : start + 512]
                w = cs.content_weights(
                    snapshot.item_genres[known],
                    snapshot.decades[known],
                    snapshot.item_genres[chunk],
                    snapshot.decades[chunk],
                )  # [chunk, n_known]
                table[chunk] = w @ table[known]
                vectors[chunk] = w @ vectors[known]
        gd = served.weights["gmf_item"].shape[1] if "gmf_item" in served.weights else 0
        catalog_weights = dict(served.weights)
        if gd:
            catalog_weights["gmf_item"] = table[:, :gd]
        if "mlp_item" in served.weights:
            catalog_weights["mlp_item"] = table[:, gd:]
        neighbours, neighbour_sims = _aligned_neighbours(served, snapshot, model_rows)
        aligned = AlignedModel(
            version_id=served.version_id,
            snapshot_key=snapshot.key,
            in_model=in_model,
            scorer=cs.VectorScorer(served.weights, served.config, table),
            foldin_side=prepare_item_side(catalog_weights, served.config),
            unit=cs.unit_rows(vectors),
            neighbours=neighbours,
            neighbour_sims=neighbour_sims,
        )
        served.aligned = aligned
        logger.info(
            "model version %s aligned to %d movies (%d from content) in %.0f ms",
            served.version_id,
            snapshot.n,
            new.shape[0],
            (time.perf_counter() - started) * 1000,
        )
        return aligned


def _aligned_neighbours(
    served: ServingModel, snapshot: CatalogSnapshot, model_rows: IntArray
) -> tuple[IntArray | None, F32 | None]:
    """The version's co-rating neighbours moved onto catalog indices: [n_cat, k] each, a movie
    not in the model (or a neighbour gone from the catalog) left at -1 / 0."""
    nb, sims = served.neighbours, served.neighbour_sims
    if nb is None or sims is None:
        return None, None
    cat_of_row = snapshot.index(served.items.ids)  # [n_items] catalog index or -1
    out = np.full((snapshot.n, nb.shape[1]), -1, np.int64)
    out_sims = np.zeros((snapshot.n, nb.shape[1]), np.float32)
    in_model = model_rows >= 0
    rows = nb[model_rows[in_model]]  # [n_in, k] model rows
    mapped = np.where(rows >= 0, cat_of_row[np.maximum(rows, 0)], -1)
    out[in_model] = mapped
    out_sims[in_model] = np.where(mapped >= 0, sims[model_rows[in_model]], 0.0)
    return out, out_sims
