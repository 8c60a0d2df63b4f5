"""Settings come from the environment, every variable is documented, production is hardened."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

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
