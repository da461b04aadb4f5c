"""Admission keys: created once, kept in the database and shared by every process on it.

Without FLEET_ADMISSION_KEY the first process to need a key creates it (row 1, so two replicas
starting at once agree on it), and every process after a restart reads the same one back: ids
acknowledged before a crash stay verifiable. `python -m app.cli rotate-admission-key` adds a new
key and retires the previous one, which keeps verifying ids for the admission lifetime
(ADMISSION_TTL_SECONDS) and a margin, so no admission in flight becomes unbillable.
"""

from __future__ import annotations

import base64
import secrets
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, or_, select
from sqlmodel import col

from app.db import Database
from app.domain.rowsets import dialect_insert
from app.fleet.models import AdmissionKey

RETIRED_MARGIN = timedelta(minutes=5)  # beyond the admission lifetime: clocks and slow reports
_TABLE = AdmissionKey.__table__  # type: ignore[attr-defined]


def _new_secret() -> str:
    return secrets.token_urlsafe(32)


def _decode(secret: str) -> bytes:
    return base64.urlsafe_b64decode(secret + "==")


async def load_keys(db: Database, lifetime_seconds: float) -> tuple[bytes, list[bytes]]:
    """The key to sign with (created if there is none yet) and the retired ones still verifying."""
    now = datetime.now(UTC)
    oldest = now - timedelta(seconds=lifetime_seconds) - RETIRED_MARGIN
    query = (
        select(AdmissionKey)
        .where(or_(col(AdmissionKey.retired_at).is_(None), col(AdmissionKey.retired_at) > oldest))
        .order_by(col(AdmissionKey.id).desc())
    )
    async with db.reader() as session:
        rows = list(await session.scalars(query))
    if not any(row.retired_at is None for row in rows):
        async with db.transaction() as session:
            await session.execute(
                dialect_insert(db.is_sqlite, _TABLE)
                .values(id=1, secret=_new_secret(), created_at=now)
                .on_conflict_do_nothing()
            )
            rows = list(await session.scalars(query))
    current = next(row for row in rows if row.retired_at is None)
    return _decode(current.secret), [_decode(row.secret) for row in rows if row is not current]


async def rotate_key(db: Database) -> int:
    """Sign with a new key from now on; the previous one is retired, not dropped. Returns the new key's number."""
    now = datetime.now(UTC)
    async with db.transaction() as session:
        current = (
            await session.scalars(
                select(AdmissionKey).where(col(AdmissionKey.retired_at).is_(None)).with_for_update()
            )
        ).all()
        for row in current:
            row.retired_at = now
        number = (
            int((await session.execute(select(func.coalesce(func.max(_TABLE.c.id), 0)))).scalar_one()) + 1
        )
        session.add(AdmissionKey(id=number, secret=_new_secret(), created_at=now))
    return number
