"""gunicorn settings for production: `gunicorn recsite.wsgi` picks this file up."""

import multiprocessing
import os

# Scoring is a few small matrix products per request: BLAS threads only fight the workers for
# the cores (measured: 15 ms instead of 0.1 ms per product with threaded BLAS on 2 cores).
# Set before the workers import NumPy, which happens after the fork (no preload).
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
# Serving is CPU-bound: one sync worker per core plus one to cover database waits. gunicorn's
# usual 2 x cores + 1 (5 on 2 cores) gave about 15 % fewer requests per second and a higher p95
# than 2 or 3 workers under 20 concurrent clients (docs/benchmarks.md, "Production
# configuration"); more workers also each hold the model and the catalogue.
workers = int(os.environ.get("GUNICORN_WORKERS", multiprocessing.cpu_count() + 1))
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
accesslog = "-"
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1")

# Request size limits. gunicorn refuses past these before Django runs, in plain HTML (414 for a
# long request line, 431 for headers). The app's own limits are lower (recsite/api_errors.py:
# a URL of 4,096 characters, 16 KiB of headers in all), so under /api/ most oversized requests
# get the API's JSON 414 / 431 instead; only beyond these does gunicorn's page answer.
limit_request_line = int(os.environ.get("GUNICORN_LIMIT_REQUEST_LINE", "8190"))  # its maximum
limit_request_fields = int(os.environ.get("GUNICORN_LIMIT_REQUEST_FIELDS", "100"))
limit_request_field_size = int(os.environ.get("GUNICORN_LIMIT_REQUEST_FIELD_SIZE", "32768"))


def post_worker_init(worker: object) -> None:
    """Before a worker takes traffic: load the active model and the catalog, so no request waits
    the second or more that takes (later activations load in the background, see
    recommender/registry.py). recsite.wsgi has set Django up by now; an app that starts it
    lazily (the load benchmark's) has it set up here."""
    import django
    from django.apps import apps

    if not apps.ready:
        django.setup()
    from recommender.serving.edge import serving_warm_up

    serving_warm_up()
