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
