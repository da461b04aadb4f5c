"""Usage sums waiting for the roll-ups: a group commit leaves one row, a fold adds many rows' sums at once.

Graphs need to be up to date within seconds, not with the acknowledgement of a report, so a usage
group commit does not upsert its sums into the seven roll-ups: it inserts them as one row of
usage_rollup_pending, in its own transaction (a crash loses nothing, counts nothing twice). A fold
takes the oldest pending rows and adds their sums to the roll-ups in one transaction: the rows are
deleted and the roll-ups written together or not at all, so each row counts exactly once. Under load
a fold takes many groups' rows, and a busy organization's roll-up rows are upserted once per fold
rather than once per group.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import msgspec
from sqlalchemy import bindparam, delete, exists, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import Database
from app.domain.base import table_of
from app.domain.rowsets import INT, TEXT, RowSet, is_sqlite
from app.domain.usage.models import UsageRollupPending
from app.domain.usage.rollups import Sums, add_sums

# a fold's bound: its write lock (SQLite) and its locked roll-up rows are held briefly
FOLD_GROUPS = 32
_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(list[tuple[str, str, str, str, int, int, int, int, int]]).decode


async def leave_for_rollups(session: AsyncSession, sums: Sums, minute: int) -> None:
    """Leave a group's sums (of records stored in `minute`) for the next fold, in the group's transaction."""
    if sums:
        deltas = _encode([(*key, *figures) for key, figures in sums.items()]).decode()
        pending, statement = _pending(is_sqlite(session))  # on SQLite one trip to the driver (rowsets)
        await pending.execute(session, statement, [(minute, deltas)])


async def fold(session: AsyncSession, limit: int = FOLD_GROUPS) -> int:
    """Add the oldest pending sums (up to `limit` groups) to the roll-ups; the number of groups folded.

    The rows are deleted in the caller's transaction: they are gone only if the roll-ups are written.
    On PostgreSQL the rows another fold holds are skipped, so two replicas folding take different rows.
    """
    claimed = (await session.execute(_claim(), {"limit": limit})).all()
    # add_sums sums the groups per roll-up bucket and key itself
    sums: list[tuple[int, Sums]] = [
        (minute, {tuple(row[:4]): list(row[4:]) for row in _decode(deltas)}) for minute, deltas in claimed
    ]
    await add_sums(session, sums)
    return len(claimed)


async def fold_all(db: Database, limit: int = FOLD_GROUPS) -> int:
    """Fold until nothing is pending, a transaction per `limit` groups; the number of groups folded.

    Nothing pending costs one read, no write lock (SQLite) and no transaction on the primary.
    """
    folded = 0
    while True:
        async with db.reader() as reader:
            if not await reader.scalar(select(exists(table_of(UsageRollupPending).select()))):
                return folded
        async with db.transaction() as session:
            taken = await fold(session, limit)
        folded += taken
        if taken < limit:  # the rest is another fold's (PostgreSQL), or arrived just now: the next round's
            return folded


@cache
def _pending(is_sqlite: bool) -> tuple[RowSet, Any]:
    pending = RowSet(is_sqlite, "pending", [("minute", INT), ("deltas", TEXT)])
    return pending, pending.insert(table_of(UsageRollupPending))


@cache
def _claim() -> Any:
    """DELETE … RETURNING the oldest `limit` pending rows not locked by another fold."""
    table = table_of(UsageRollupPending)
    oldest = (
        select(table.c.id).order_by(table.c.id).limit(bindparam("limit")).with_for_update(skip_locked=True)
    )
    return delete(table).where(table.c.id.in_(oldest)).returning(table.c.minute, table.c.deltas)
