"""Root URLs: pages per app, the admin, the versioned API."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from ratings.throttle import throttle_login
from recsite.views import favicon

# Both log-in forms count failures per client and name (ratings/throttle.py).
admin.site.login = throttle_login(admin.site.login)

# Django tries the patterns in order; the API, most of the traffic, is tried first (no pattern
# below matches a path under api/).
urlpatterns = [
    path("api/", include("recsite.api")),
    path("accounts/login/", throttle_login(auth_views.LoginView.as_view()), name="login"),
    path("favicon.ico", favicon, name="favicon"),
    path("admin/", admin.site.urls),
    path("accounts/", include("django.contrib.auth.urls")),
    path("staff/", include("recommender.urls")),
    path("", include("ratings.urls")),
    path("", include("catalog.urls")),
]

# JSON under /api/ for failures no API view handles (e.g. a bad Host header); HTML elsewhere.
handler400 = "recsite.api_errors.bad_request"
handler403 = "recsite.api_errors.permission_denied"
handler500 = "recsite.api_errors.server_error"
