"""Writes of the recommender, one module per topic; import from the module itself.

- ``errors``: the pipeline's exceptions (their ``code`` is the API's error code).
- ``training_runs``: queue, enqueue, cancel and reap training runs.
- ``training_lock``: the one expiring lock that lets a single run train at a time, and the
  heartbeat that tells a live worker from a dead one.
- ``training``: execute a queued run: snapshot, fit, artifact, version.
- ``versions``: the activation decision, activation and rollback of model versions.
- ``precompute``: the precomputed top-k lists of a version (the chunks of a Celery chord).
- ``triggers``: the scheduled retrain and the retrain after N new ratings.
"""
