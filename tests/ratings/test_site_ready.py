"""manage.py site_ready: `make run`'s last word, the URL and a demo login that works."""

from __future__ import annotations

import socket
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from pytest_httpserver import HTTPServer

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_hashing(settings) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _site_ready(url: str, timeout: str = "10") -> str:
    out = StringIO()
    call_command("site_ready", "--url", url, "--timeout", timeout, stdout=out)
    return out.getvalue()


def test_prints_the_url_and_the_demo_login_once_the_server_answers(httpserver: HTTPServer):
    call_command("create_demo_user", stdout=StringIO())
    httpserver.expect_request("/").respond_with_data("home")
    url = httpserver.url_for("/")

    printed = _site_ready(url)

    base = url.rstrip("/")
    assert printed == (
        f"recsite is up at {url} — log in as demo / demo-recsite-2026 "
        f"(staff: {base}/staff/ and {base}/admin/)\n"
    )


def test_waits_while_the_server_answers_with_errors(httpserver: HTTPServer):
    call_command("create_demo_user", stdout=StringIO())
    for _ in range(2):  # e.g. migrations still running
        httpserver.expect_oneshot_request("/").respond_with_data("not yet", status=503)
    httpserver.expect_request("/").respond_with_data("home")

    printed = _site_ready(httpserver.url_for("/"))

    assert "log in as demo / demo-recsite-2026" in printed
    assert [response.status_code for _, response in httpserver.log] == [503, 503, 200]


def test_a_changed_demo_password_is_not_printed(httpserver: HTTPServer):
    call_command("create_demo_user", stdout=StringIO())
    demo = get_user_model().objects.get(username="demo")
    demo.set_password("changed-by-its-owner-99")
    demo.save()
    httpserver.expect_request("/").respond_with_data("home")

    printed = _site_ready(httpserver.url_for("/"))

    assert "demo-recsite-2026" not in printed
    assert "no demo login (manage.py create_demo_user makes one)" in printed


def test_gives_up_when_nothing_listens():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(
        CommandError, match=rf"nothing answered at http://127\.0\.0\.1:{port}/ within 1 s"
    ):
        _site_ready(f"http://127.0.0.1:{port}/", timeout="1")
