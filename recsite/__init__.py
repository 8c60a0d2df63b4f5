"""recsite: a movie recommender on Django, Celery and a NeuMF engine."""

from recsite.celery import app as celery_app

__all__ = ("celery_app",)
