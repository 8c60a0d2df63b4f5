"""Settings come from the environment, every variable is documented, production is hardened."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.stack_independent  # own processes, settings and databases

ROOT = Path(__file__).resolve().parent.parent


def _settings_variables() -> set[str]:
    source = (ROOT / "recsite" / "settings.py").read_text()
    return set(re.findall(r'env(?:\.[a-z_]+)?\(\s*"([A-Z][A-Z0-9_]+)"', source))


def test_every_environment_variable_is_listed_in_env_example() -> None:
    documented = set(
        re.findall(r"^#?\s*([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.M)
    )
    variables = _settings_variables()
    assert variables, "no env() calls found: the pattern no longer matches settings.py"
    assert variables - documented == set()


def _manage(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL"))}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_in_production() -> None:
    result = _manage(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        DJANGO_PRODUCTION="1",
        DJANGO_SECRET_KEY="a-production-secret-" + "x" * 40,
        DJANGO_ALLOWED_HOSTS="recsite.example.com",
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_production_refuses_to_start_without_a_secret_key() -> None:
    result = _manage("check", DJANGO_PRODUCTION="1")
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set" in result.stderr


def test_production_responses_are_hardened() -> None:
    """Beyond `check --deploy`: the headers a production response really carries."""
    probe = (
        "import django; django.setup()\n"
        "from django.test import Client\n"
        "c = Client(HTTP_HOST='recsite.example.com')\n"
        "plain = c.get('/api/v1/no-such-endpoint/')\n"
        "print('redirect', plain.status_code, plain.get('Location'))\n"
        "secure = c.get('/api/v1/no-such-endpoint/', secure=True)\n"
        "for name in ('Strict-Transport-Security', 'Content-Security-Policy',\n"
        "             'X-Content-Type-Options', 'Referrer-Policy', 'X-Frame-Options'):\n"
        "    print(name, '=', secure.get(name))\n"
    )
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL"))}
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        env={
            **base,
            "DJANGO_SETTINGS_MODULE": "recsite.settings",
            "DJANGO_PRODUCTION": "1",
            "DJANGO_SECRET_KEY": "a-production-secret-" + "x" * 40,
            "DJANGO_ALLOWED_HOSTS": "recsite.example.com",
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "redirect 301 https://recsite.example.com/api/v1/no-such-endpoint/" in out
    assert "Strict-Transport-Security = max-age=31536000; includeSubDomains; preload" in out
    assert "Content-Security-Policy = default-src 'self';" in out
    assert "frame-ancestors 'none'" in out
    assert "X-Content-Type-Options = nosniff" in out
    assert "Referrer-Policy = same-origin" in out
    assert "X-Frame-Options = DENY" in out


def _clean_env(**env: str) -> dict[str, str]:
    """This process's environment without any setting recsite reads, plus `env`."""
    names = _settings_variables()
    base = {
        k: v
        for k, v in os.environ.items()
        if k not in names and not k.startswith(("DJANGO_", "EMAIL_"))
    }
    return {**base, "DJANGO_SETTINGS_MODULE": "recsite.settings", **env}


def _skip_if_dotenv_sets(*names: str) -> None:
    """settings.py reads ROOT/.env too: a developer's file would decide these instead."""
    dotenv = ROOT / ".env"
    if dotenv.exists():
        found = set(re.findall(r"^\s*(?:export\s+)?([A-Z][A-Z0-9_]*)=", dotenv.read_text(), re.M))
        if found & set(names):
            pytest.skip(f"{dotenv} sets {sorted(found & set(names))}")


def _settings_of(names: list[str], **env: str) -> dict[str, object]:
    probe = (
        "import json, django\n"
        "django.setup()\n"
        "from django.conf import settings\n"
        f"print(json.dumps({{n: getattr(settings, n, None) for n in {names!r}}}))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        env=_clean_env(**env),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.splitlines()[-1])


def test_debug_is_off_unless_asked_for() -> None:
    _skip_if_dotenv_sets("DJANGO_DEBUG", "DJANGO_PRODUCTION")
    assert _settings_of(["DEBUG"]) == {"DEBUG": False}
    assert _settings_of(["DEBUG"], DJANGO_DEBUG="0") == {"DEBUG": False}
    assert _settings_of(["DEBUG"], DJANGO_DEBUG="1") == {"DEBUG": True}
    production = {"DJANGO_PRODUCTION": "1", "DJANGO_SECRET_KEY": "a-production-secret-" + "x" * 40}
    assert _settings_of(["DEBUG"], DJANGO_DEBUG="1", **production) == {"DEBUG": False}


# An unhandled exception in a view, with secrets in the environment as a deployment has them.
ERROR_PROBE = """
import sys, types
import django
django.setup()
from django.conf import settings
from django.test import Client
from django.urls import path

def fail(request):
    raise RuntimeError("a bug in a view")

urls = types.ModuleType("failing_urls")
urls.urlpatterns = [path("fail/", fail)]
urls.handler500 = "recsite.api_errors.server_error"
sys.modules["failing_urls"] = urls
settings.ROOT_URLCONF = "failing_urls"
response = Client(raise_request_exception=False, HTTP_HOST="localhost").get("/fail/")
print(response.status_code)
print(response.content.decode())
"""


def test_an_error_page_shows_no_secrets_when_debug_was_not_asked_for() -> None:
    _skip_if_dotenv_sets("DJANGO_DEBUG", "DJANGO_PRODUCTION")
    secrets = {
        "CACHE_URL": "rediscache://:cache-password-6f1e@127.0.0.1:6379/9",
        "CELERY_BROKER_URL": "redis://:broker-password-93ab@127.0.0.1:6379/0",
        "CELERY_RESULT_BACKEND": "redis://:results-password-0c2d@127.0.0.1:6379/1",
        "EMAIL_URL": "smtp://mailer:mail-password-77aa@mail.example.com:587",
    }
    result = subprocess.run(
        [sys.executable, "-c", ERROR_PROBE],
        cwd=ROOT,
        env=_clean_env(**secrets),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    status, page = result.stdout.split("\n", 1)
    assert status == "500"
    for name in ("cache-password", "broker-password", "results-password", "mail-password"):
        assert name not in page
    assert "a bug in a view" not in page
    assert "Traceback" not in page
    assert "Something went wrong on our side" in page  # the branded 500, not a debug page


def test_mail_goes_to_the_console_unless_email_url_says_otherwise() -> None:
    _skip_if_dotenv_sets("EMAIL_URL")
    names = ["EMAIL_BACKEND", "EMAIL_HOST", "EMAIL_PORT", "EMAIL_TIMEOUT", "DEFAULT_FROM_EMAIL"]
    assert _settings_of(names) == {
        "EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend",
        "EMAIL_HOST": "localhost",  # Django's defaults, unused by the console backend
        "EMAIL_PORT": 25,
        "EMAIL_TIMEOUT": 10,
        "DEFAULT_FROM_EMAIL": "recsite <noreply@localhost>",
    }


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "smtp+tls://mailer:p%40ss%3Aword@mail.example.com:587",
            {"EMAIL_HOST": "mail.example.com", "EMAIL_PORT": 587, "EMAIL_USE_TLS": True,
             "EMAIL_USE_SSL": False, "EMAIL_HOST_USER": "mailer",
             "EMAIL_HOST_PASSWORD": "p@ss:word"},
        ),
        (
            "smtp+ssl://mailer:secret@mail.example.com:465",
            {"EMAIL_HOST": "mail.example.com", "EMAIL_PORT": 465, "EMAIL_USE_TLS": False,
             "EMAIL_USE_SSL": True, "EMAIL_HOST_USER": "mailer", "EMAIL_HOST_PASSWORD": "secret"},
        ),
        (
            "smtp://127.0.0.1",  # no port, no login: Django's defaults
            {"EMAIL_HOST": "127.0.0.1", "EMAIL_PORT": 25, "EMAIL_USE_TLS": False,
             "EMAIL_USE_SSL": False, "EMAIL_HOST_USER": "", "EMAIL_HOST_PASSWORD": ""},
        ),
    ],
)  # fmt: skip
def test_email_url_names_the_smtp_server(url: str, expected: dict[str, object]) -> None:
    found = _settings_of(["EMAIL_BACKEND", *expected], EMAIL_URL=url, EMAIL_TIMEOUT="3")
    assert found == {"EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend", **expected}
