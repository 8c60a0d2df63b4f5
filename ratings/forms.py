"""Forms of the ratings app: sign-up, onboarding genres, a star rating."""

from __future__ import annotations

from decimal import Decimal

from django import forms
from django.contrib.auth import get_user_model
from django.contrib.auth.forms import UserCreationForm

from catalog.selectors import genre_list
from ratings.accounts import MOVIELENS_USERNAME_PREFIX as RESERVED_PREFIX  # noqa: F401
from ratings.accounts import email_validate, username_validate
from ratings.services import score_parse


class SignUpForm(UserCreationForm):
    email = forms.EmailField(
        required=False, help_text="Optional; only for password resets. One account per address."
    )

    class Meta(UserCreationForm.Meta):
        model = get_user_model()
        fields = ("username", "email")

    def clean_username(self) -> str:
        # The account service's check, as the API and the admin make it.
        return username_validate(self.cleaned_data["username"])

    def clean_email(self) -> str:
        return email_validate(self.cleaned_data.get("email", ""))


class GenrePickForm(forms.Form):
    genres = forms.ModelMultipleChoiceField(
        queryset=genre_list(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Favourite genres",
    )


class RatingForm(forms.Form):
    score = forms.CharField(max_length=8)

    def clean_score(self) -> Decimal:
        return score_parse(self.cleaned_data["score"])
