"""Serving recommendations: a pure NumPy core and a thin Django edge.

Core (no Django; tests/recommender/test_serving_isolation.py checks it): `types` (the catalog
snapshot, the aligned model, a user's state), `taste` (genre affinity and cold scores), `similar`
(co-rating and content similarity), `reasons`, `ranking` (candidates -> scores -> blend ->
diversify -> reasons, for one list, "More like this" or the home rows).

Edge (Django): `catalog` (the cached catalog snapshot), `alignment` (a loaded version laid over
the catalog), `edge` (state from the database and the caches, one call into the core,
materialised movies: the public functions), `feed` (what the catalog pages are given).
This module imports nothing, so importing the core loads no Django.
"""
