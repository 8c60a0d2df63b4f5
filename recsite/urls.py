"""Root URLs: pages per app, the admin, the versioned API."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("api/", include("recsite.api")),
    path("staff/", include("recommender.urls")),
    path("", include("ratings.urls")),
    path("", include("catalog.urls")),
]

# JSON under /api/ for failures no API view handles (e.g. a bad Host header); HTML elsewhere.
handler400 = "recsite.api_errors.bad_request"
handler403 = "recsite.api_errors.permission_denied"
handler500 = "recsite.api_errors.server_error"
