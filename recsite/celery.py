"""The Celery app; tasks are discovered in each Django app's tasks.py."""

import os
from pathlib import Path

from celery import Celery
from celery.signals import worker_init, worker_process_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "recsite.settings")

app = Celery("recsite")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_configure.connect
def _embedded_broker_folders(sender: Celery, **kwargs: object) -> None:
    """kombu's filesystem transport needs its folders to exist before anyone publishes."""
    options = sender.conf.broker_transport_options or {}
    for key in ("data_folder_in", "data_folder_out", "control_folder"):
        if options.get(key):
            Path(options[key]).mkdir(parents=True, exist_ok=True)
    backend = str(sender.conf.result_backend or "")
    if backend.startswith("file://"):
        Path(backend.removeprefix("file://")).mkdir(parents=True, exist_ok=True)


@worker_init.connect
@worker_process_init.connect
def _thread_pools(**kwargs: object) -> None:
    """Size the worker's BLAS / OpenMP / torch pools (RECSITE_THREADS, else the engine's default):
    worker_init in the main process (the solo and threads pools train there), worker_process_init
    in each prefork child, so that --concurrency processes do not each take every core."""
    from recommender.engine.threads import limit_threads

    limit_threads()
