"""The one DRF router: every endpoint lives under /api/v1/."""

from django.urls import path  # noqa: F401

urlpatterns: list = []
