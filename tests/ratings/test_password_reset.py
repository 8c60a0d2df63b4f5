"""Password reset sends its link: through the test outbox, and by SMTP to the server EMAIL_URL
names (a local fake SMTP server stands in for the outside world)."""

from __future__ import annotations

import email
import os
import re
import socketserver
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path

import pytest
from django.urls import reverse

from tests.factories import UserFactory

ROOT = Path(__file__).resolve().parents[2]
RESET_LINK = re.compile(r"https?://[^/\s]+/accounts/reset/[\w-]+/[\w-]+/")


@pytest.mark.django_db
def test_the_reset_page_mails_a_link_that_lets_the_user_choose_a_new_password(
    client, mailoutbox
) -> None:
    user = UserFactory(username="forgetful", email="forgetful@example.com")
    assert client.get(reverse("password_reset")).status_code == 200

    response = client.post(reverse("password_reset"), {"email": "forgetful@example.com"})

    assert response.status_code == 302
    assert response["Location"] == reverse("password_reset_done")
    assert len(mailoutbox) == 1
    message = mailoutbox[0]
    assert message.to == ["forgetful@example.com"]
    assert message.from_email == "recsite <noreply@localhost>"
    link = RESET_LINK.search(message.body)
    assert link, message.body
    form = client.get(link.group(0), follow=True)
    assert form.status_code == 200
    assert form.context["validlink"]
    chosen = client.post(
        form.redirect_chain[-1][0],
        {"new_password1": "a-new-long-passphrase-7", "new_password2": "a-new-long-passphrase-7"},
    )
    assert chosen.status_code == 302
    user.refresh_from_db()
    assert user.check_password("a-new-long-passphrase-7")


@pytest.mark.django_db
def test_the_reset_page_mails_nobody_for_an_unknown_address(client, mailoutbox) -> None:
    UserFactory(username="forgetful", email="forgetful@example.com")
    response = client.post(reverse("password_reset"), {"email": "stranger@example.com"})
    assert response.status_code == 302  # the same answer: no way to probe for accounts
    assert mailoutbox == []


@dataclass
class Delivery:
    sender: str = ""
    recipients: list[str] = field(default_factory=list)
    message: Message | None = None


class FakeSMTPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), FakeSMTPHandler)
        self.deliveries: list[Delivery] = []

    @property
    def port(self) -> int:
        return int(self.server_address[1])


class FakeSMTPHandler(socketserver.StreamRequestHandler):
    """Just enough SMTP for smtplib: greeting, EHLO, MAIL, RCPT, DATA, QUIT."""

    server: FakeSMTPServer

    def reply(self, line: str) -> None:
        self.wfile.write(line.encode() + b"\r\n")

    def handle(self) -> None:
        delivery = Delivery()
        self.reply("220 fake.smtp ESMTP")
        while line := self.rfile.readline():
            command = line.decode().strip()
            verb = command[:4].upper()
            if verb in ("EHLO", "HELO"):
                self.reply("250 fake.smtp")
            elif verb == "MAIL":
                delivery = Delivery(sender=command.split(":", 1)[1].strip(" <>"))
                self.reply("250 OK")
            elif verb == "RCPT":
                delivery.recipients.append(command.split(":", 1)[1].strip(" <>"))
                self.reply("250 OK")
            elif verb == "DATA":
                self.reply("354 End data with <CR><LF>.<CR><LF>")
                data = []
                while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                    data.append(chunk[1:] if chunk.startswith(b"..") else chunk)
                delivery.message = email.message_from_bytes(b"".join(data))
                self.server.deliveries.append(delivery)
                self.reply("250 OK queued")
            elif verb == "QUIT":
                self.reply("221 Bye")
                return
            else:  # RSET, NOOP
                self.reply("250 OK")


@pytest.fixture
def smtp_server() -> Iterator[FakeSMTPServer]:
    server = FakeSMTPServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


# A process of its own, so that the settings are read from EMAIL_URL as in a deployment: the
# test runner here would swap the backend for its outbox.
RESET_THROUGH_THE_PAGE = """
import django
django.setup()
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client
call_command("migrate", verbosity=0)
get_user_model().objects.create_user("forgetful", "forgetful@example.com", "old-long-passphrase-1")
response = Client(HTTP_HOST="localhost").post("/accounts/password_reset/",
                                              {"email": "forgetful@example.com"})
print(response.status_code, response["Location"])
"""


def test_the_reset_mail_reaches_the_smtp_server_email_url_names(
    smtp_server: FakeSMTPServer, tmp_path: Path
) -> None:
    names = ("DJANGO_", "EMAIL_", "DATABASE_URL", "DEFAULT_FROM_EMAIL", "CACHE_URL")
    env = {k: v for k, v in os.environ.items() if not k.startswith(names)}
    env.update(
        DJANGO_SETTINGS_MODULE="recsite.settings",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        EMAIL_URL=f"smtp://127.0.0.1:{smtp_server.port}",
        DEFAULT_FROM_EMAIL="recsite <accounts@recsite.example>",
    )
    result = subprocess.run(
        [sys.executable, "-c", RESET_THROUGH_THE_PAGE],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == ["302", "/accounts/password_reset/done/"]
    assert "Failed to send" not in result.stderr, result.stderr[-3000:]

    assert len(smtp_server.deliveries) == 1, result.stderr[-3000:]
    delivery = smtp_server.deliveries[0]
    assert delivery.sender == "accounts@recsite.example"
    assert delivery.recipients == ["forgetful@example.com"]
    assert delivery.message is not None
    assert delivery.message["To"] == "forgetful@example.com"
    body = delivery.message.get_payload(decode=True).decode()
    assert RESET_LINK.search(body), body
