"""The outbox is delivered over SMTP outside any request; failures are retried, then visible as FAILED."""

from __future__ import annotations

import asyncio
import logging

import pytest
from pydantic import ValidationError
from sqlalchemy import select

from app.clock import FrozenClock
from app.db import Database
from app.domain.notifications.mailer import claim_next, deliver_due
from app.domain.notifications.models import DeliveryChannel, OutboxMessage, OutboxState
from app.domain.notifications.service import REDACTED, enqueue_email, list_outbox, outbox_line, revealed
from app.settings import Settings
from tests.invitations.support import PREVIEW, RESEND, invite_one, invites_list
from tests.mail_server import SmtpServer, free_port
from tests.support import GraphQL, World


async def queue(database: Database, *recipients: str, secret: str = "s3cret-token") -> list[str]:
    """Queue one email per recipient, as a business transaction would."""
    async with database.transaction() as session:
        messages = [
            await enqueue_email(
                session,
                to=to,
                subject="Hello",
                body=f"Your link: https://x.test/?t={secret}",
                secrets=[secret],
            )
            for to in recipients
        ]
    return [message.id for message in messages]


async def stored(database: Database, message_id: str) -> OutboxMessage:
    async with database.reader() as session:
        message = await session.get(OutboxMessage, message_id)
    assert message is not None
    return message


async def test_without_smtp_the_log_and_the_outbox_are_the_delivery(
    database: Database, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="app.mail")
    [message_id] = await queue(database, "ann@example.com")

    report = await deliver_due(database, settings)

    assert report.sent == [message_id]
    message = await stored(database, message_id)
    assert (message.state, message.delivered_via, message.attempts) == (
        OutboxState.SENT,
        DeliveryChannel.LOGGED,
        1,
    )
    assert "s3cret-token" not in caplog.text and f"outbox show {message_id}" in caplog.text
    assert message.body_text == "Your link: https://x.test/?t=[secret:0]"  # no secret in clear at rest
    assert "s3cret-token" not in str(message.secrets)
    assert revealed(message)[0] == "Your link: https://x.test/?t=s3cret-token"  # the operator's copy
    assert (await deliver_due(database, settings)).sent == []  # sent once


async def test_an_unreachable_server_is_retried_with_backoff_then_the_message_fails_visibly(
    gql: GraphQL,
    world: World,
    database: Database,
    settings: Settings,
    smtp_settings: Settings,
    smtp_server: SmtpServer,
    clock: FrozenClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    down = settings.model_copy(
        update={
            "smtp_host": "127.0.0.1",
            "smtp_port": free_port(),
            "mail_max_attempts": 3,
            "mail_retry_seconds": 60,
        }
    )
    invitation = await invite_one(gql, world, "ann@example.com")

    first = await deliver_due(database, down)

    [message_id] = first.retrying
    message = await stored(database, message_id)
    assert (message.state, message.attempts) == (OutboxState.QUEUED, 1)
    assert message.next_attempt_at == clock.now().replace(minute=1)
    assert "Connect" in (message.last_error or "")
    assert (await deliver_due(database, down)).retrying == []  # not due before its retry time

    clock.advance(seconds=60)
    assert (await deliver_due(database, down)).retrying == [message_id]
    clock.advance(seconds=119)
    assert (await deliver_due(database, down)).failed == []  # the second delay is twice the first
    clock.advance(seconds=1)
    assert (await deliver_due(database, down)).failed == [message_id]

    message = await stored(database, message_id)
    assert (message.state, message.attempts) == (OutboxState.FAILED, 3)
    assert "ann@example.com" in caplog.text and "FAILED after 3 attempt(s)" in caplog.text
    assert [m.id for m in await list_outbox(database, state=OutboxState.FAILED)] == [message_id]
    assert "FAILED" in outbox_line(message) and "to=ann@example.com" in outbox_line(message)
    [listed] = (await invites_list(gql, world))["invitations"]["edges"]
    assert (listed["node"]["state"], listed["node"]["emailDelivery"]) == ("PENDING", "FAILED")

    # nothing is lost: the invitation is still there, and a resend reaches the invitee once SMTP is back
    resent = await gql(RESEND, {"input": {"invitationId": invitation["id"]}}, token=world.token("admin"))
    assert resent["resendInvitation"]["invitation"]["emailDelivery"] == "QUEUED"
    assert len((await deliver_due(database, smtp_settings)).sent) == 1
    token = smtp_server.inbox.token_for("ann@example.com")
    assert (await gql(PREVIEW, {"token": token}))["invitation"]["state"] == "PENDING"


async def test_a_recipient_refused_for_good_fails_at_once(
    gql: GraphQL, world: World, database: Database, smtp_settings: Settings, smtp_server: SmtpServer
) -> None:
    smtp_server.inbox.refuse_recipients = "550 5.1.1 No such user here"
    await invite_one(gql, world, "nobody@example.com")

    report = await deliver_due(database, smtp_settings)

    [message_id] = report.failed
    message = await stored(database, message_id)
    assert (message.state, message.attempts) == (OutboxState.FAILED, 1)
    assert "550" in (message.last_error or "") and "No such user" in (message.last_error or "")
    assert REDACTED in message.body_text  # the dead link is not kept either
    [listed] = (await invites_list(gql, world))["invitations"]["edges"]
    assert (listed["node"]["email"], listed["node"]["emailDelivery"]) == ("nobody@example.com", "FAILED")


async def test_a_temporary_refusal_is_retried_and_delivered_once(
    database: Database, smtp_settings: Settings, smtp_server: SmtpServer, clock: FrozenClock
) -> None:
    smtp_server.inbox.temporary_failures = 1
    [message_id] = await queue(database, "ann@example.com")

    assert (await deliver_due(database, smtp_settings)).retrying == [message_id]
    assert "451" in ((await stored(database, message_id)).last_error or "")
    clock.advance(minutes=1)
    assert (await deliver_due(database, smtp_settings)).sent == [message_id]

    [received] = smtp_server.inbox.messages
    assert received["Message-ID"] == f"<{message_id}@localhost>"
    message = await stored(database, message_id)
    assert (message.state, message.delivered_via, message.last_error) == (
        OutboxState.SENT,
        DeliveryChannel.SMTP,
        None,
    )


async def test_two_workers_at_once_send_each_message_once(
    database: Database, smtp_settings: Settings, smtp_server: SmtpServer
) -> None:
    recipients = [f"p{i}@example.com" for i in range(8)]
    await queue(database, *recipients)

    first, second = await asyncio.gather(
        deliver_due(database, smtp_settings), deliver_due(database, smtp_settings)
    )

    assert sorted(first.sent + second.sent) == sorted(set(first.sent + second.sent))
    assert len(first.sent + second.sent) == 8
    assert sorted(m["To"] for m in smtp_server.inbox.messages) == sorted(recipients)


async def test_a_worker_that_dies_mid_send_leaves_the_message_to_be_retried(
    database: Database, smtp_settings: Settings, smtp_server: SmtpServer, clock: FrozenClock
) -> None:
    [message_id] = await queue(database, "ann@example.com")
    claimed = await claim_next(database)  # ... and the worker is gone before it records anything
    assert claimed is not None and claimed.id == message_id

    assert (await deliver_due(database, smtp_settings)).sent == []  # another worker keeps off the claim
    clock.advance(minutes=10)
    assert (await deliver_due(database, smtp_settings)).sent == [message_id]
    assert (await stored(database, message_id)).attempts == 2


async def test_the_outbox_holds_the_secret_only_until_delivery(
    database: Database, smtp_settings: Settings, smtp_server: SmtpServer
) -> None:
    [message_id] = await queue(database, "ann@example.com", secret="another-secret")
    queued = await stored(database, message_id)
    assert "another-secret" not in queued.body_text + str(queued.secrets)  # sealed
    assert revealed(queued)[0] == "Your link: https://x.test/?t=another-secret"

    await deliver_due(database, smtp_settings)

    assert "another-secret" in smtp_server.inbox.messages[0].get_content()
    async with database.reader() as session:
        rows = list(await session.execute(select(OutboxMessage.body_text, OutboxMessage.secrets)))
    assert rows == [(f"Your link: https://x.test/?t={REDACTED}", None)]


def test_implicit_tls_and_starttls_exclude_each_other() -> None:
    with pytest.raises(ValidationError, match="SMTP_TLS"):
        Settings(smtp_tls=True, smtp_starttls=True)
