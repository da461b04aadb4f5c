"""Attempt limits for sign-up, sign-in and password reset, per client address and per account.

Past the free attempts of a window, each further attempt must wait a delay that doubles from the
rule's first delay, up to the window's length (a first delay of the whole window is a lock). An attempt is claimed (counted) before the password is checked, in its own
short transaction under the key's row lock, so a burst of parallel attempts cannot slip through
together; a successful sign-in gives its claim back. The rows live in the database: every replica
sees the same counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app.domain.accounts.models import AuthThrottle
from app.domain.durations import in_words
from app.domain.errors import Throttled
from app.domain.rowsets import dialect_insert, is_sqlite


@dataclass(frozen=True)
class Rule:
    """``free`` attempts per ``window`` under one key; then a doubling delay, at most the window."""

    name: str
    free: int
    window: timedelta
    message: str
    first_delay: timedelta = timedelta(seconds=1)

    def key(self, subject: str) -> str:
        return f"{self.name}:{subject}"[:300]


def _delay(rule: Rule, attempts: int) -> timedelta:
    over = attempts - rule.free  # the free attempts used up: the next one waits
    if over < 0:
        return timedelta(0)
    return min(rule.first_delay * (1 << min(over, 30)), rule.window)


async def _locked(session: AsyncSession, key: str, now: datetime) -> AuthThrottle:
    """The key's row, created if needed, locked until the transaction ends (so attempts queue on it)."""
    table: Any = AuthThrottle.__table__  # type: ignore[attr-defined]
    await session.execute(
        dialect_insert(is_sqlite(session), table)
        .values(key=key, attempts=0, window_started_at=now)
        .on_conflict_do_nothing()
    )
    row = await session.get(AuthThrottle, key, with_for_update=True, populate_existing=True)
    assert row is not None
    return row


async def claim(session: AsyncSession, rule: Rule, subject: str, now: datetime) -> int:
    """Count one attempt, or return the seconds to wait first (the attempt is then not counted).

    Counted under the key's row lock, before the slow work, so parallel attempts cannot pass together.
    """
    row = await _locked(session, rule.key(subject), now)
    if row.blocked_until is not None and row.blocked_until > now:
        return int((row.blocked_until - now).total_seconds()) + 1
    if now - row.window_started_at > rule.window:
        row.attempts, row.window_started_at = 0, now
    row.attempts += 1
    delay = _delay(rule, row.attempts)
    row.blocked_until = now + delay if delay else None
    return 0


def refuse(rule: Rule, wait: int, *, field: str | None = None) -> Throttled:
    """The typed error of a throttled attempt, saying how long to wait."""
    return Throttled(f"{rule.message} Try again in {in_words(wait)}.", retry_after_seconds=wait, field=field)


async def admit(
    session: AsyncSession, rule: Rule, subject: str, now: datetime, *, field: str | None = None
) -> None:
    """Count one attempt under the rule, or raise Throttled saying how long to wait."""
    wait = await claim(session, rule, subject, now)
    if wait:
        raise refuse(rule, wait, field=field)


async def give_back(session: AsyncSession, rule: Rule, subject: str) -> None:
    """Undo one counted attempt (it succeeded); the delay it caused goes with it."""
    row = await session.get(AuthThrottle, rule.key(subject), with_for_update=True)
    if row is None:
        return
    row.attempts = max(0, row.attempts - 1)
    if _delay(rule, row.attempts) == timedelta(0):
        row.blocked_until = None


async def clear(session: AsyncSession, rule: Rule, subject: str) -> None:
    """Forget every attempt under the rule for this subject."""
    await session.execute(delete(AuthThrottle).where(col(AuthThrottle.key) == rule.key(subject)))
