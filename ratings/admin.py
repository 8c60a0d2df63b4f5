"""Admin for ratings (browsable per movie and per user) and profiles."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from ratings.accounts import email_normalize, email_validate, username_normalize, username_validate
from ratings.models import Profile, Rating

User = get_user_model()


@admin.register(Rating)
class RatingAdmin(admin.ModelAdmin):
    list_display = ("user", "movie", "score", "rated_at")
    list_filter = ("score",)
    search_fields = ("movie__title", "user__username")
    list_select_related = ("user", "movie")
    raw_id_fields = ("user", "movie")
    date_hierarchy = "rated_at"
    show_full_result_count = False
    list_per_page = 100

    def lookup_allowed(self, lookup: str, value: str, request: HttpRequest | None = None) -> bool:
        if lookup in ("movie__id__exact", "user__id__exact"):
            return True
        return super().lookup_allowed(lookup, value, request)


@admin.register(Profile)
class ProfileAdmin(admin.ModelAdmin):
    list_display = ("user", "movielens_id", "onboarded", "created")
    list_filter = ("onboarded",)
    search_fields = ("user__username", "=movielens_id")
    raw_id_fields = ("user",)
    filter_horizontal = ("favourite_genres",)


class AccountCreationForm(AdminUserCreationForm):
    """The admin's add form checks names as sign-up does (normalised, reserved, any case)."""

    def clean_username(self) -> str:
        return username_validate(self.cleaned_data["username"])


class AccountChangeForm(UserChangeForm):
    """A rename is checked as a sign-up is; an unchanged name (an imported rater's) is kept."""

    def clean_username(self) -> str:
        username = self.cleaned_data["username"]
        if username_normalize(username) == self.instance.get_username():
            return username
        return username_validate(username, exclude_pk=self.instance.pk)

    def clean_email(self) -> str:
        email = self.cleaned_data.get("email", "")
        if email_normalize(email) == self.instance.email:
            return self.instance.email
        return email_validate(email, exclude_pk=self.instance.pk)


admin.site.unregister(User)


@admin.register(User)
class RecsiteUserAdmin(UserAdmin):
    """Django's user admin plus a link to the user's ratings."""

    add_form = AccountCreationForm
    form = AccountChangeForm
    list_display = (*UserAdmin.list_display, "is_active", "ratings_link")
    show_full_result_count = False

    @admin.display(description="ratings")
    def ratings_link(self, user: User) -> str:  # type: ignore[valid-type]
        url = reverse("admin:ratings_rating_changelist") + f"?user__id__exact={user.pk}"
        return format_html('<a href="{}">browse</a>', url)
