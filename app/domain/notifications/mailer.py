"""The mail worker: claims due outbox messages in short transactions and sends them outside any.

A claim bumps ``attempts`` and moves ``next_attempt_at`` to the end of a lease, in one write
transaction that only sees QUEUED, due rows (``FOR UPDATE SKIP LOCKED`` on PostgreSQL; SQLite
serializes write transactions). Another replica therefore skips a claimed message until its lease
ends, and a worker that dies mid-send leaves the message to be retried then: delivery is at least
once. Temporary failures are retried with doubling delays; a recipient or content refused for good
(SMTP 5xx), or the last allowed attempt, ends the message as FAILED with its last error.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr

import aiosmtplib
from sqlalchemy import select, update
from sqlmodel import col

from app import clock
from app.db import Database
from app.domain.notifications.models import DeliveryChannel, OutboxMessage, OutboxState
from app.domain.notifications.service import redacted, revealed, wakeup
from app.periodic import every
from app.settings import Settings

logger = logging.getLogger("app.mail")

MAX_RETRY_DELAY = timedelta(hours=1)
# time a claimed message belongs to one worker; well above an SMTP exchange with its timeouts
CLAIM_LEASE = timedelta(minutes=10)


@dataclass
class DeliveryReport:
    """What one delivery round did, by message id."""

    sent: list[str] = field(default_factory=list)
    retrying: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)


class PermanentFailure(Exception):
    """The server refused the message for good: retrying cannot help."""


async def deliver_due(db: Database, settings: Settings, *, limit: int = 100) -> DeliveryReport:
    """Deliver every due message (at most ``limit``), one claim at a time; tests call this directly."""
    report = DeliveryReport()
    for _ in range(limit):
        message = await claim_next(db)
        if message is None:
            break
        try:
            channel = await send(message, settings)
        except Exception as exc:  # noqa: BLE001  (any failure is recorded on the message, none is lost)
            await _record_failure(db, message, exc, settings, report)
        else:
            await _record_sent(db, message, channel)
            report.sent.append(message.id)
    return report


async def claim_next(db: Database) -> OutboxMessage | None:
    """Claim the most overdue message for one attempt, or None when nothing is due."""
    now = clock.now()
    async with db.transaction() as session:
        message_id = await session.scalar(
            select(col(OutboxMessage.id))
            .where(col(OutboxMessage.state) == OutboxState.QUEUED)
            .where(col(OutboxMessage.next_attempt_at) <= now)
            .order_by(col(OutboxMessage.next_attempt_at), col(OutboxMessage.id))
            .limit(1)
            .with_for_update(skip_locked=True)
        )
        if message_id is None:
            return None
        claimed = await session.execute(
            update(OutboxMessage)
            .where(col(OutboxMessage.id) == message_id)
            .where(col(OutboxMessage.state) == OutboxState.QUEUED)
            .where(col(OutboxMessage.next_attempt_at) <= now)
            .values(attempts=col(OutboxMessage.attempts) + 1, next_attempt_at=now + CLAIM_LEASE)
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            return None
        return await session.get(OutboxMessage, message_id, populate_existing=True)


async def send(message: OutboxMessage, settings: Settings) -> DeliveryChannel:
    """Hand the message to the SMTP server, or without one write it to the log."""
    if not settings.smtp_host:
        # its links stay out of the log: the operator's command unseals them
        logger.info(
            "Email (no SMTP_HOST: logged, not sent; `python -m app.cli outbox show %s` shows its links) "
            "%s to=%s subject=%r\n%s",
            message.id,
            message.id,
            message.to_address,
            message.subject,
            message.body_text,
        )
        return DeliveryChannel.LOGGED
    try:
        await aiosmtplib.send(
            build_email(message, settings),
            hostname=settings.smtp_host,
            port=settings.smtp_port or (465 if settings.smtp_tls else 587),
            username=settings.smtp_username,
            password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
            use_tls=settings.smtp_tls,
            start_tls=settings.smtp_starttls,
            timeout=settings.smtp_timeout_seconds,
        )
    except (
        aiosmtplib.SMTPRecipientsRefused,
        aiosmtplib.SMTPRecipientRefused,
        aiosmtplib.SMTPDataError,
    ) as exc:
        if _refused_for_good(exc):
            raise PermanentFailure(_describe(exc)) from exc
        raise
    return DeliveryChannel.SMTP


def build_email(message: OutboxMessage, settings: Settings) -> EmailMessage:
    """The MIME message; its Message-ID comes from the outbox id, so a repeated delivery is recognizable."""
    email = EmailMessage()
    email["From"] = settings.mail_from
    email["To"] = message.to_address
    email["Subject"] = message.subject
    email["Date"] = format_datetime(message.created_at)
    domain = parseaddr(settings.mail_from)[1].rpartition("@")[2] or "localhost"
    email["Message-ID"] = f"<{message.id}@{domain}>"
    text, html = revealed(message)
    email.set_content(text)
    if html:
        email.add_alternative(html, subtype="html")
    return email


def _refused_for_good(exc: Exception) -> bool:
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        return all(500 <= refusal.code < 600 for refusal in exc.recipients)
    return isinstance(exc, aiosmtplib.SMTPResponseException) and 500 <= exc.code < 600


def _describe(exc: BaseException) -> str:
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        return "; ".join(_describe(refusal) for refusal in exc.recipients)
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return f"SMTP {exc.code}: {exc.message}"
    return f"{type(exc).__name__}: {exc}"


def retry_delay(attempts: int, settings: Settings) -> timedelta:
    """The wait after the ``attempts``-th failed attempt: doubling from MAIL_RETRY_SECONDS, at most an hour."""
    return min(timedelta(seconds=settings.mail_retry_seconds * 2 ** (attempts - 1)), MAX_RETRY_DELAY)


async def _record_sent(db: Database, message: OutboxMessage, channel: DeliveryChannel) -> None:
    async with db.transaction() as session:
        await session.execute(
            update(OutboxMessage)
            .where(col(OutboxMessage.id) == message.id)
            .where(col(OutboxMessage.state) == OutboxState.QUEUED)
            .values(
                state=OutboxState.SENT,
                sent_at=clock.now(),
                delivered_via=channel,
                last_error=None,
                # sent: the secrets are forgotten; logged: kept sealed, the operator's copy of the email
                **(redacted(message) if channel is DeliveryChannel.SMTP else {}),
            )
        )
    logger.info("Email %s to %s delivered (%s)", message.id, message.to_address, channel.value)


async def _record_failure(
    db: Database, message: OutboxMessage, exc: Exception, settings: Settings, report: DeliveryReport
) -> None:
    error = str(exc) if isinstance(exc, PermanentFailure) else _describe(exc)
    give_up = isinstance(exc, PermanentFailure) or message.attempts >= settings.mail_max_attempts
    now = clock.now()
    values: dict[str, object] = {"last_error": error[:1000]}
    if give_up:
        values.update(state=OutboxState.FAILED, **redacted(message))
    else:
        values["next_attempt_at"] = now + retry_delay(message.attempts, settings)
    async with db.transaction() as session:
        await session.execute(
            update(OutboxMessage)
            .where(col(OutboxMessage.id) == message.id)
            .where(col(OutboxMessage.state) == OutboxState.QUEUED)
            .values(**values)
        )
    if give_up:
        report.failed.append(message.id)
        logger.error(
            "Email %s to %s FAILED after %d attempt(s): %s",
            message.id,
            message.to_address,
            message.attempts,
            error,
        )
    else:
        report.retrying.append(message.id)
        logger.warning(
            "Email %s to %s: attempt %d of %d failed (%s); next try at %s",
            message.id,
            message.to_address,
            message.attempts,
            settings.mail_max_attempts,
            error,
            _iso(values["next_attempt_at"]),
        )


def _iso(value: object) -> str:
    return value.isoformat() if isinstance(value, datetime) else str(value)


class MailWorker:
    """Delivers due mail in the background: woken after each commit that queued mail, and by a poll."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db, self.settings = db, settings
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    @property
    def running(self) -> bool:
        return self._task is not None

    async def start(self) -> None:
        """Start the loop (Litestar on_startup) unless MAIL_WORKER is off."""
        if not self.settings.mail_worker or self._task is not None:
            return
        self._wake = asyncio.Event()
        wakeup.register(self._wake)
        self._task = asyncio.create_task(self._run(), name="mail-worker")
        logger.info(
            "Mail worker started (%s)",
            f"SMTP {self.settings.smtp_host}" if self.settings.smtp_host else "log only",
        )

    async def stop(self) -> None:
        """Stop the loop (Litestar on_shutdown); a message cut off mid-send is retried after its lease."""
        if self._task is None:
            return
        wakeup.unregister(self._wake)
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def _run(self) -> None:
        async def deliver() -> None:
            self._wake.clear()  # before the round: a poke during it starts another round at once
            await deliver_due(self.db, self.settings)

        seconds = self.settings.mail_poll_seconds
        await every(seconds, deliver, "Mail delivery rounds", logger, wake=self._wake)
