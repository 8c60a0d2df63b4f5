"""Sign-up, genre and rating forms."""

from __future__ import annotations

from decimal import Decimal

import pytest

from ratings.forms import GenrePickForm, RatingForm, SignUpForm
from tests.factories import GenreFactory, UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-unusual-passphrase-42"


def _signup(username: str) -> SignUpForm:
    return SignUpForm(data={"username": username, "password1": PASSWORD, "password2": PASSWORD})


@pytest.mark.parametrize("username", ["movielens-12", "MovieLens-7", "movielens-"])
def test_sign_up_refuses_the_reserved_movielens_prefix(username: str):
    form = _signup(username)
    assert not form.is_valid()
    assert form.errors["username"][0].startswith('Usernames starting with "movielens-"')


def test_sign_up_accepts_a_normal_username_and_refuses_a_taken_one():
    assert _signup("movielens_fan").is_valid()
    UserFactory(username="bob")
    taken = _signup("BOB")
    assert not taken.is_valid()
    assert "username" in taken.errors


def test_sign_up_checks_passwords():
    form = SignUpForm(data={"username": "carol", "password1": "123", "password2": "123"})
    assert not form.is_valid()
    assert "password2" in form.errors


@pytest.mark.parametrize(
    ("raw", "expected"), [("4.5", Decimal("4.5")), ("5", Decimal("5.0")), ("0.5", Decimal("0.5"))]
)
def test_rating_form_accepts_half_stars(raw: str, expected: Decimal):
    form = RatingForm(data={"score": raw})
    assert form.is_valid()
    assert form.cleaned_data["score"] == expected


@pytest.mark.parametrize("raw", ["0", "5.5", "4.2", "abc", ""])
def test_rating_form_refuses_other_scores(raw: str):
    assert not RatingForm(data={"score": raw}).is_valid()


def test_genre_pick_form_allows_none_and_many():
    a, b = GenreFactory(name="Action"), GenreFactory(name="Drama")
    assert GenrePickForm(data={}).is_valid()
    form = GenrePickForm(data={"genres": [a.pk, b.pk]})
    assert form.is_valid()
    assert set(form.cleaned_data["genres"]) == {a, b}
