"""A real SMTP server for tests (aiosmtpd on 127.0.0.1), and settings that send mail to it.

Import the fixtures into an area's conftest.py: ``from tests.mail_server import smtp_server, smtp_settings``.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from app.settings import Settings

LINK = re.compile(r"http://console\.test/invitations/accept\?token=([A-Za-z0-9_\-]+)")


def free_port() -> int:
    """A port nothing listens on (until someone binds it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Inbox:
    """An aiosmtpd handler that keeps what it accepts and can be told to refuse."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.refuse_recipients: str | None = None  # e.g. "550 5.1.1 No such user"
        self.temporary_failures = 0  # answer DATA with 451 this many times

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: Any) -> str:
        if self.refuse_recipients:
            return self.refuse_recipients
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.temporary_failures > 0:
            self.temporary_failures -= 1
            return "451 4.3.0 Try again later"
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        return "250 Message accepted"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]

    def token_for(self, address: str) -> str:
        """The invitation token in the latest message to the address."""
        [*_, message] = self.to(address)
        match = LINK.search(text_of(message))
        assert match, text_of(message)
        return match.group(1)


def text_of(message: EmailMessage) -> str:
    """The plain-text part of a message (every email the service sends also has an HTML one)."""
    part = message.get_body(("plain",))
    assert isinstance(part, EmailMessage)
    return str(part.get_content())


class SmtpServer:
    def __init__(self, inbox: Inbox, port: int) -> None:
        self.inbox, self.port = inbox, port


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """An SMTP server on a free local port, in its own thread, for one test."""
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield SmtpServer(inbox, port)
    finally:
        controller.stop()


@pytest.fixture
def smtp_settings(settings: Settings, smtp_server: SmtpServer) -> Settings:
    """The test settings, sending mail to the test's SMTP server (no TLS: it is local)."""
    return settings.model_copy(
        update={"smtp_host": "127.0.0.1", "smtp_port": smtp_server.port, "smtp_timeout_seconds": 5}
    )
