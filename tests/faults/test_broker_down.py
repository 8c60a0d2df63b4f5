"""The broker (Redis) down: pages and the API keep serving, retrains say why, then recover."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse
from rest_framework.authtoken.models import Token

from ratings.models import Rating
from recommender.models import TrainingRun
from tests.conftest import require_service
from tests.factories import UserFactory
from tests.faults.conftest import REDIS_URL, closed_port, train_and_activate
from tests.recommender.conftest import RatingWorld

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


def _redis() -> object:
    try:
        import redis

        client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
        client.ping()
        client.flushdb()
    except Exception as exc:
        require_service("Redis", f"{REDIS_URL}: {exc}")
    return client


def _messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


def test_broker_down_serves_everything_and_retrains_say_why_until_it_is_back(
    rating_world: RatingWorld, broker: Callable[[str], None], settings
) -> None:
    redis_client = _redis()
    version = train_and_activate()
    rater = rating_world.users[0]
    rater.is_active = True
    rater.save(update_fields=["is_active"])
    token = Token.objects.create(user=rater).key
    staff = Client()
    staff.force_login(UserFactory(username="chief", is_staff=True))
    member = Client()
    member.force_login(rater)
    api = Client(HTTP_AUTHORIZATION=f"Token {token}")
    ops = Token.objects.create(user=UserFactory(username="ops", is_staff=True)).key
    staff_api = Client(HTTP_AUTHORIZATION=f"Token {ops}")

    broker(f"redis://127.0.0.1:{closed_port()}/0")  # nothing listens there
    settings.RECSITE_RETRAIN_AFTER_RATINGS = 1  # every rating tries an automatic retrain

    # Pages and the API serve the model's picks.
    home = member.get(reverse("catalog:home"))
    assert home.status_code == 200
    assert "Top picks for you" in home.content.decode()
    picks = api.get("/api/v1/me/recommendations/")
    assert picks.status_code == 200
    assert len(picks.json()) > 0
    assert {item["source"] for item in picks.json()} <= {"ncf", "blend"}
    detail = member.get(reverse("catalog:movie-detail", args=[rating_world.movies["Action"][0].pk]))
    assert detail.status_code == 200

    # Rating still works: the automatic retrain fails to enqueue, the rating is kept.
    movie = next(
        m
        for m in rating_world.movies["Horror"]
        if not Rating.objects.filter(user=rater, movie=m).exists()
    )
    rated = member.post(
        reverse("ratings:rate", args=[movie.pk]), {"score": "4.5"}, HTTP_ACCEPT="application/json"
    )
    assert rated.status_code == 200
    put = api.put(
        f"/api/v1/me/ratings/{rating_world.movies['Comedy'][39].pk}/",
        {"score": 3.5},
        content_type="application/json",
    )
    assert put.status_code in (200, 201)
    assert Rating.objects.get(user=rater, movie=movie).score == Decimal("4.5")
    auto = TrainingRun.objects.filter(trigger=TrainingRun.Trigger.AUTO)
    assert auto.exists()
    assert all(r.status == "failed" and "broker" in r.error for r in auto)

    # A staff retrain says why, on the page and in the API.
    page = staff.post(reverse("recommender:retrain"), {"backend": "numpy"}, follow=True)
    assert page.status_code == 200
    assert any("broker is unreachable" in m for m in _messages(page)), _messages(page)
    assert "broker is unreachable" in page.content.decode()
    refused = staff_api.post(
        "/api/v1/staff/training-runs/", {"backend": "numpy"}, content_type="application/json"
    )
    assert refused.status_code == 503
    assert refused.json()["code"] == "broker_unavailable"
    assert not TrainingRun.objects.filter(status__in=["queued", "running"]).exists()
    assert version.pk == TrainingRun.objects.get(pk=version.training_run_id).model_version.pk

    # The broker is back: the next request queues the run on Redis.
    broker(REDIS_URL)
    queued = staff.post(reverse("recommender:retrain"), {"backend": "numpy"}, follow=True)
    assert any("queued" in m for m in _messages(queued)), _messages(queued)
    run = TrainingRun.objects.get(status="queued")
    assert run.celery_task_id
    assert redis_client.llen("celery") == 1  # the message waits for a worker
    again = api.get("/api/v1/me/recommendations/")
    assert again.status_code == 200
    redis_client.flushdb()


def test_broker_and_result_store_down_answers_503_fast_and_blocks_no_later_trigger(
    rating_world: RatingWorld, broker: Callable[[str], None], settings
) -> None:
    import time

    from recsite.celery import app as celery_app

    train_and_activate()
    ops = Token.objects.create(user=UserFactory(username="ops", is_staff=True)).key
    staff_api = Client(HTTP_AUTHORIZATION=f"Token {ops}")
    dead = f"redis://127.0.0.1:{closed_port()}/0"
    saved = celery_app.conf.result_backend
    broker(dead)
    celery_app.conf.result_backend = dead  # Redis as broker and result store, both down
    celery_app._local.backend = None
    try:
        for _ in range(2):  # the second trigger is not refused by a run left queued
            started = time.monotonic()
            refused = staff_api.post(
                "/api/v1/staff/training-runs/",
                {"backend": "numpy"},
                content_type="application/json",
            )
            assert refused.status_code == 503, refused.content
            assert refused.json()["code"] == "broker_unavailable"
            assert time.monotonic() - started < 8  # was 20 s of result-store retries, then 500
        assert not TrainingRun.objects.filter(status__in=["queued", "running"]).exists()
        assert TrainingRun.objects.filter(status="failed", trigger="api").count() == 2
    finally:
        celery_app.conf.result_backend = saved
        celery_app._local.backend = None
