"""Usage sums waiting for the roll-ups: a group commit leaves one row, a fold adds many rows' sums at once.

Graphs need to be up to date within seconds, not with the acknowledgement of a report, so a usage
group commit does not upsert its sums into the seven roll-ups: it inserts them as one row of
usage_rollup_pending, in its own transaction (a crash loses nothing, counts nothing twice). A fold
takes the oldest pending rows and adds their sums to the roll-ups in one transaction: the rows are
deleted and the roll-ups written together or not at all, so each row counts exactly once. Under load
a fold takes many groups' rows, and a busy organization's roll-up rows are upserted once per fold
rather than once per group.

A row whose fold fails while others' succeed (its sums unreadable, or refused by the database) must
not hold the roll-ups back: when a fold fails so, each of its rows is folded alone, and a row that
fails alone is left pending (nothing is lost: `app.cli pending-usage` shows it), logged once, and
skipped by that process's folds from then on.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

import msgspec
from sqlalchemy import bindparam, delete, exists, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import Database
from app.domain.base import table_of
from app.domain.rowsets import INT, TEXT, RowSet, is_sqlite
from app.domain.usage.models import UsageRollupPending
from app.domain.usage.rollups import Sums, add_sums
from app.outage import is_refusal

logger = logging.getLogger(__name__)

# a fold's bound: its write lock (SQLite) and its locked roll-up rows are held briefly
FOLD_GROUPS = 32
_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder(list[tuple[str, str, str, str, int, int, int, int, int]]).decode
# what a row can fail with on its own: sums that do not decode, or the database refusing them (is_refusal)
UNFOLDABLE = (msgspec.DecodeError, DBAPIError)


async def leave_for_rollups(session: AsyncSession, sums: Sums, minute: int) -> None:
    """Leave a group's sums (of records stored in `minute`) for the next fold, in the group's transaction."""
    if sums:
        deltas = _encode([(*key, *figures) for key, figures in sums.items()]).decode()
        pending, statement = _pending(is_sqlite(session))  # on SQLite one trip to the driver (rowsets)
        await pending.execute(session, statement, [(minute, deltas)])


async def fold(
    session: AsyncSession,
    limit: int = FOLD_GROUPS,
    *,
    skip: Collection[int] = (),
    only: int | None = None,
    claimed: list[int] | None = None,
) -> int:
    """Add the oldest pending sums (up to `limit` groups, none of the ids `skip`) to the roll-ups; how many.

    The rows are deleted in the caller's transaction: they are gone only if the roll-ups are written.
    On PostgreSQL the rows another fold holds are skipped, so two replicas folding take different rows.
    With `only`, that row alone is folded (if it is still pending). The ids of the rows taken are added
    to `claimed` before they are folded.
    """
    parameters = {"limit": limit, "skip": list(skip), "only": only}
    rows = (await session.execute(_claim(only is not None), parameters)).all()
    if claimed is not None:
        claimed += [row_id for row_id, _, _ in rows]
    # add_sums sums the groups per roll-up bucket and key itself
    sums: list[tuple[int, Sums]] = [
        (minute, {tuple(row[:4]): list(row[4:]) for row in _decode(deltas)}) for _, minute, deltas in rows
    ]
    await add_sums(session, sums)
    return len(rows)


async def fold_all(db: Database, limit: int = FOLD_GROUPS, *, unfoldable: set[int] | None = None) -> int:
    """Fold until nothing is pending, a transaction per `limit` groups; the number of groups folded.

    Nothing pending costs one read, no write lock (SQLite) and no transaction on the primary. Rows that
    fail alone join `unfoldable`, whose rows are skipped (module docstring).
    """
    skip = unfoldable if unfoldable is not None else set()
    table = table_of(UsageRollupPending)
    folded = 0
    while True:
        async with db.reader() as reader:
            if not await reader.scalar(select(exists(table.select().where(table.c.id.not_in(skip))))):
                return folded
        claimed: list[int] = []
        try:
            async with db.transaction() as session:
                taken = await fold(session, limit, skip=skip, claimed=claimed)
        except UNFOLDABLE as exc:
            if not _rows_fault(exc):
                raise  # the database is away: the rows stay pending for the next round
            folded += await _fold_alone(db, claimed, skip)
            if claimed:  # each folded alone or set aside: on to the others
                continue
            return folded
        folded += taken
        if taken < limit:  # the rest is another fold's (PostgreSQL), or arrived just now: the next round's
            return folded


async def _fold_alone(db: Database, ids: list[int], unfoldable: set[int]) -> int:
    """Fold each of the rows `ids` in a transaction of its own; those that fail join `unfoldable`."""
    folded = 0
    for row_id in ids:
        try:
            async with db.transaction() as session:
                folded += await fold(session, only=row_id)
        except UNFOLDABLE as exc:
            if not _rows_fault(exc):
                raise
            unfoldable.add(row_id)
            reason = (str(exc).strip().splitlines() or [""])[0]
            logger.error(
                "usage_rollup_pending row %d cannot be folded into the roll-ups (%s: %s); left pending, skipped",
                row_id, type(exc).__name__, reason,
            )  # fmt: skip
    return folded


@dataclass(frozen=True, slots=True)
class PendingRow:
    """A pending row as an operator sees it: its id, the minute it was stored, and what it holds."""

    id: int
    minute: int
    sums: int  # its (organization, project, key, model) sums; 0 when they cannot be read
    problem: str | None  # why its sums cannot be read, if they cannot


async def pending_rows(db: Database, stored_before: datetime, limit: int = 100) -> list[PendingRow]:
    """The oldest rows still pending that were stored before `stored_before` (the folds take them within seconds)."""
    table = table_of(UsageRollupPending)
    before = int(stored_before.timestamp()) // 60
    async with db.reader() as session:
        rows = await session.execute(
            select(table.c.id, table.c.minute, table.c.deltas)
            .where(table.c.minute < before)
            .order_by(table.c.id)
            .limit(limit)
        )
    found = []
    for row_id, minute, deltas in rows:
        try:
            found.append(PendingRow(row_id, minute, len(_decode(deltas)), None))
        except msgspec.DecodeError as exc:
            found.append(PendingRow(row_id, minute, 0, str(exc)))
    return found


def _rows_fault(exc: Exception) -> bool:
    """Whether the failure is the row's own (its sums), not the database's being away."""
    return not isinstance(exc, DBAPIError) or is_refusal(exc)


@cache
def _pending(is_sqlite: bool) -> tuple[RowSet, Any]:
    pending = RowSet(is_sqlite, "pending", [("minute", INT), ("deltas", TEXT)])
    return pending, pending.insert(table_of(UsageRollupPending))


@cache
def _claim(one: bool) -> Any:
    """DELETE … RETURNING the oldest `limit` pending rows not in `skip` (or the row `only`), none held by another fold."""
    table = table_of(UsageRollupPending)
    which = table.c.id == bindparam("only") if one else table.c.id.not_in(bindparam("skip", expanding=True))
    taken = select(table.c.id).where(which).order_by(table.c.id).limit(bindparam("limit"))
    returned = (table.c.id, table.c.minute, table.c.deltas)
    return delete(table).where(table.c.id.in_(taken.with_for_update(skip_locked=True))).returning(*returned)
