"""Staff pages of the recommender, under /staff/."""

from django.urls import path

from recommender import views

app_name = "recommender"
urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("runs.json", views.runs_status, name="runs-status"),
    path("runs/plot.png", views.runs_plot, name="runs-plot"),
    path("runs/retrain/", views.retrain, name="retrain"),
    path("runs/<int:pk>/cancel/", views.run_cancel, name="run-cancel"),
    path("versions/<int:pk>/activate/", views.version_activate, name="version-activate"),
    path("versions/rollback/", views.version_rollback, name="version-rollback"),
]
