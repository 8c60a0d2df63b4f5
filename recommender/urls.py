"""Page URLs of the recommender app."""

from django.urls import path  # noqa: F401

app_name = "recommender"
urlpatterns: list = []
