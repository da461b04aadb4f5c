"""Password rules, change and reset: what the owner of an account can do, and what an attacker cannot."""

from __future__ import annotations

import re
import statistics
import time

import pytest
from sqlalchemy import select

from app.clock import FrozenClock
from app.db import Database
from app.domain.accounts.clients import Client
from app.domain.accounts.models import PasswordReset
from app.domain.accounts.recovery import change_password, request_password_reset, reset_password
from app.domain.accounts.service import authenticate, list_sessions, sign_in
from app.domain.errors import ErrorCode, InvalidInput, Throttled, Unauthenticated
from app.domain.notifications.models import OutboxMessage
from app.domain.notifications.service import revealed
from app.settings import Settings
from tests.support import World

HOME = Client(address="203.0.113.7", user_agent="Firefox")
NEW_PASSWORD = "mauve tractor sings at dawn"


async def outbox(db: Database, template: str) -> list[OutboxMessage]:
    async with db.reader() as session:
        rows = await session.scalars(
            select(OutboxMessage).where(OutboxMessage.template == template).order_by(OutboxMessage.created_at)
        )
        return list(rows)


def token_in(message: OutboxMessage) -> str:
    text, _ = revealed(message)  # the token is sealed at rest; the mailer reveals it to send
    match = re.search(r"/reset-password\?token=([A-Za-z0-9_-]+)", text)
    assert match, text
    return match.group(1)


@pytest.mark.parametrize(
    ("password", "code"),
    [("aaaaaaaaaaaa", ErrorCode.WEAK_PASSWORD), ("password1234", ErrorCode.WEAK_PASSWORD),
     ("qwertyuiop123", ErrorCode.WEAK_PASSWORD), ("admin@example.com", ErrorCode.WEAK_PASSWORD),
     ("short", ErrorCode.TOO_SHORT)],
)  # fmt: skip
async def test_common_breached_or_own_name_passwords_are_refused(
    database: Database, settings: Settings, world: World, password: str, code: ErrorCode
) -> None:
    with pytest.raises(InvalidInput) as refused:
        await change_password(database, user_id=world.people["admin"].user_id, auth_session_id="-",
                              current_password="correct horse battery", new_password=password, settings=settings)  # fmt: skip
    assert (refused.value.code, refused.value.field) == (code, "password")


async def test_changing_the_password_needs_the_current_one_and_ends_the_other_sessions(
    database: Database, settings: Settings, world: World
) -> None:
    admin = world.people["admin"]
    other = await sign_in(
        database, email=admin.email, password="correct horse battery", settings=settings, client=HOME
    )
    async with database.reader() as session:
        _, current = await authenticate(session, admin.token)
    with pytest.raises(Unauthenticated) as wrong:
        await change_password(database, user_id=admin.user_id, auth_session_id=current.id,
                              current_password="not my password", new_password=NEW_PASSWORD, settings=settings)  # fmt: skip
    assert wrong.value.code is ErrorCode.WRONG_PASSWORD
    ended = await change_password(database, user_id=admin.user_id, auth_session_id=current.id,
                                  current_password="correct horse battery", new_password=NEW_PASSWORD, settings=settings)  # fmt: skip
    assert ended == 1
    async with database.reader() as session:
        await authenticate(session, admin.token)  # this session goes on
        with pytest.raises(Unauthenticated):
            await authenticate(session, other.token)
    await sign_in(database, email=admin.email, password=NEW_PASSWORD, settings=settings, client=HOME)
    [notice] = await outbox(database, "password_changed")
    assert notice.to_address == admin.email


async def test_a_reset_link_works_once_ends_every_session_and_expires(
    database: Database, settings: Settings, world: World, clock: FrozenClock
) -> None:
    admin = world.people["admin"]
    await request_password_reset(database, email="ADMIN@example.com", settings=settings, client=HOME)
    [mail] = await outbox(database, "password_reset")
    token = token_in(mail)
    async with database.reader() as session:
        [stored] = list(await session.scalars(select(PasswordReset)))
    assert token not in stored.token_hash and len(token) >= 43  # kept only as a hash; 256 bits

    signed_in = await reset_password(
        database, token=token, new_password=NEW_PASSWORD, settings=settings, client=HOME
    )
    async with database.reader() as session:
        with pytest.raises(Unauthenticated):
            await authenticate(session, admin.token)  # signed out everywhere
        assert [s.user_agent for s in await list_sessions(session, user_id=admin.user_id)] == ["Firefox"]
    assert signed_in.user.id == admin.user_id
    with pytest.raises(InvalidInput) as again:
        await reset_password(database, token=token, new_password="another fine passphrase", settings=settings, client=HOME)  # fmt: skip
    assert again.value.code is ErrorCode.RESET_LINK_INVALID

    await request_password_reset(database, email=admin.email, settings=settings, client=HOME)
    late = token_in((await outbox(database, "password_reset"))[-1])
    clock.advance(minutes=settings.password_reset_ttl_minutes + 1)
    with pytest.raises(InvalidInput) as expired:
        await reset_password(database, token=late, new_password="another fine passphrase", settings=settings, client=HOME)  # fmt: skip
    assert expired.value.code is ErrorCode.RESET_LINK_EXPIRED


async def test_an_unknown_address_gets_the_same_answer_and_timing_shape(
    database: Database, settings: Settings, world: World
) -> None:
    timings: dict[str, list[float]] = {"known": [], "unknown": []}
    for round_no in range(3):  # under the per-address limit (3 an hour)
        for kind, email in (("known", "admin@example.com"), ("unknown", "nobody@example.com")):
            started = time.perf_counter()
            answer = await request_password_reset(
                database, email=email, settings=settings, client=Client(address=f"198.51.100.{round_no}")
            )
            timings[kind].append(time.perf_counter() - started)
            assert answer is None
    # both do the same work (one write transaction queueing one email): within a few milliseconds
    assert abs(statistics.median(timings["known"]) - statistics.median(timings["unknown"])) < 0.05
    assert [m.to_address for m in await outbox(database, "password_reset_no_account")] == [
        "nobody@example.com"
    ] * 3
    with pytest.raises(Throttled):  # the fourth in an hour, known or not, is refused alike
        await request_password_reset(database, email="nobody@example.com", settings=settings, client=HOME)
    with pytest.raises(Throttled):
        await request_password_reset(database, email="admin@example.com", settings=settings, client=HOME)
