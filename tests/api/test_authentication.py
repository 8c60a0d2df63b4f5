"""Token authentication (recsite.authentication): DRF's rules on our one-query lookup."""

from __future__ import annotations

from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from recsite.authentication import TokenAuthentication
from tests.api.conftest import World, token_client


def test_a_token_signs_its_own_user_in_with_one_query(
    world: World, django_assert_num_queries
) -> None:
    token, _ = Token.objects.get_or_create(user=world.rater)
    # On Postgres a connection's first lookup also prepares the statement (one more query);
    # whether this test's connection has done so depends on the tests before it.
    TokenAuthentication().authenticate_credentials(token.key)
    with django_assert_num_queries(1):
        user, auth = TokenAuthentication().authenticate_credentials(token.key)
    assert user.pk == world.rater.pk
    assert user.username == "rater"
    assert isinstance(auth, Token)
    assert auth.key == token.key
    assert auth.user_id == world.rater.pk
    mine = token_client(world.rater).get("/api/v1/me/ratings/")
    assert mine.status_code == 200
    assert {r["movie"]["id"] for r in mine.json()["results"]} == {
        world.movies[0].pk,
        world.movies[1].pk,
    }
    assert token_client(world.other).get("/api/v1/me/ratings/").json()["results"] == []


def test_an_unknown_a_revoked_or_an_inactive_users_token_is_refused(world: World) -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token " + "0" * 40)
    unknown = client.get("/api/v1/me/ratings/")
    assert unknown.status_code == 401
    assert unknown.json()["code"] == "authentication_failed"
    assert "Invalid token" in unknown.json()["detail"]

    rater = token_client(world.rater)
    assert rater.get("/api/v1/me/ratings/").status_code == 200
    world.rater.is_active = False
    world.rater.save(update_fields=["is_active"])
    inactive = rater.get("/api/v1/me/ratings/")
    assert inactive.status_code == 401
    assert "inactive" in inactive.json()["detail"]

    other = token_client(world.other)
    Token.objects.filter(user=world.other).delete()  # revoked: refused on the next request
    assert other.get("/api/v1/me/ratings/").status_code == 401


def test_the_token_user_has_every_field_as_the_orm_loads_it(world: World) -> None:
    """The raw query converts values as the ORM does (SQLite hands back text for datetimes and
    0/1 for booleans): every field equal, and of the same type, as User.objects.get's."""
    rater = world.rater
    rater.is_staff = True
    rater.first_name = "Ada"
    rater.save()
    token, _ = Token.objects.get_or_create(user=rater)
    signed_in, _ = TokenAuthentication().authenticate_credentials(token.key)
    loaded = type(rater).objects.get(pk=rater.pk)
    for field in loaded._meta.concrete_fields:
        mine, orms = getattr(signed_in, field.attname), getattr(loaded, field.attname)
        assert mine == orms, field.name
        assert type(mine) is type(orms), field.name
    assert signed_in._state.adding is False
    assert signed_in._state.db == loaded._state.db
