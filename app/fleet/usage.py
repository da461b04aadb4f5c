"""Usage reports, committed in groups: records arriving together share one transaction.

A report is acknowledged only once its transaction committed. Each record is priced exactly from
the catalog, stored once (the fleet's request id is the key within the organization: a repeat
counts once; an admission bills one request), its sums left for the roll-ups, and, under PayGo,
its price is burned from the organization's credits (one burn per organization per group). After
the commit, and before the reports are answered, the admissions' unused reservations are given back
and organizations whose credits crossed a threshold are handed to auto-recharge (which runs on its
own). That settlement runs while the writer commits the next group
(the database does not wait for Redis), one group after another in the order of their commits.

A group's work is set-based, however many organizations it spans: one statement writes its records,
one inserts the group's sums per organization, project, key and model as ONE row for the roll-ups
(domain.usage.pending), a few burn every organization's credits (credits.burns), one refreshes the
keys' last use (to the minute: a writer skips the keys it wrote itself within the minute); the rows
travel as one bound value on PostgreSQL and as tuples straight to the driver on SQLite (domain.rowsets).

The seven roll-ups (minutes, hours, days; by key and by model) are written by a fold, every
`fold_seconds` in each process that runs a writer, which adds many groups' sums at once (the graphs
need to be up to date within seconds, not with the acknowledgement). Over 500 organizations this
takes the roll-ups' 3,500 upserted rows out of each group, and a fold upserts a busy organization's
roll-up rows once for all the groups it takes (a fold costs about 2 ms a group on SQLite and 4 on
PostgreSQL where the upserts cost 12-15 and 31; README, "Benchmark"). `stop()` folds what is pending
once the writer has drained; a start folds, within a round, what a process that died left.

On PostgreSQL two groups are written at once (POSTGRES_WRITERS), so one connection that hangs until
the statement timeout holds back only its own group; rows are written in a fixed order so two
groups never deadlock. Not more: groups over the same organizations wait for each other's account
locks anyway, and the reports queued meanwhile make the next group larger, where each of its
organizations' burns costs what it costs for one record (with 8 reports of 500 over 500
organizations in flight, four writers committed 12,600 records/s and two 21,200; README).

On shutdown the writer drains: every report already received is committed and answered, and any
report arriving after that is refused (503) before being acknowledged.

A record the database refuses (PostgreSQL takes no NUL character, for one) must not fail its
neighbours: a group that fails so is halved and each half tried again, until the record is alone
and refused with the database's reason; the others are committed and acknowledged.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any, NamedTuple

from sqlalchemy import bindparam, or_, select, tuple_, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from app import clock
from app.db import Database
from app.domain.api_keys.models import ApiKey
from app.domain.base import table_of
from app.domain.catalog.models import Catalog
from app.domain.rowsets import INT, TEXT, RowSet, is_sqlite
from app.domain.usage.models import UsageRecord
from app.domain.usage.pending import fold_all, leave_for_rollups
from app.domain.usage.rollups import summed
from app.fleet.tokens import Admission
from app.observability import metrics
from app.outage import is_refusal
from app.periodic import every

logger = logging.getLogger(__name__)

# (session, nanos to burn by organization, reference) -> the organizations auto-recharge should look at
Burn = Callable[[AsyncSession, Mapping[str, int], str], Awaitable[set[str]]]
MAX_GROUP = 4000
POSTGRES_WRITERS = 2  # groups committed side by side (the module's docstring says why not more)
KEY_LAST_USED_RESOLUTION = timedelta(minutes=1)


class RecordRow(NamedTuple):
    """A usage record as the group's INSERT writes it (a tuple: one is built for every record)."""

    organization_id: str
    request_id: str
    admission_nonce: str
    project_id: str
    api_key_id: str
    model_id: str
    plan: str
    input_tokens: int
    output_tokens: int
    cost_nanos: int
    billed_nanos: int


_TEXT_FIELDS = 7  # the first fields are text, the others integers
RECORD_COLUMNS = [(name, TEXT) for name in RecordRow._fields[:_TEXT_FIELDS]] + [
    (name, INT) for name in RecordRow._fields[_TEXT_FIELDS:]
]


@dataclass(slots=True)
class UsageItem:
    request_id: str
    admission_id: str
    admission: Admission
    input_tokens: int
    output_tokens: int
    # "accepted", "duplicate" (a record with this request id is counted already), or "refused"
    status: str = "accepted"
    refusal: tuple[str, str] | None = None  # (code, message) when refused

    def refuse(self, code: str, message: str) -> None:
        self.status, self.refusal = "refused", (code, message)

    @property
    def over_reservation(self) -> int:
        """Tokens used beyond what the admission reserved (billed, and taken from the limits)."""
        return max(0, self.input_tokens + self.output_tokens - self.admission.reserved_tokens)

    billed_nanos: int = 0  # what its PayGo price burned, once committed


@dataclass(frozen=True, slots=True)
class _Submission:
    """The records of one usage report, and the future its caller waits on until they are committed."""

    items: Sequence[UsageItem]
    committed: asyncio.Future[None]


@dataclass(frozen=True, slots=True)
class Committed:
    """What a group changed, for the work that follows its commit."""

    items: list[UsageItem]
    recharge: set[str]


class ShuttingDown(Exception):
    """The writer drains for shutdown and takes no new records."""


class UsageWriter:
    """Writer tasks take every queued record and commit them together."""

    def __init__(
        self,
        db: Database,
        catalog: Catalog,
        *,
        burn: Burn,
        after_commit: Callable[[Committed], Awaitable[None]],
        writers: int | None = None,
        fold_seconds: float = 1.0,
    ) -> None:
        self._db = db
        self._catalog = catalog
        self._burn = burn
        self._after_commit = after_commit
        self._queue: asyncio.Queue[_Submission] = asyncio.Queue()
        # SQLite has one writer at a time anyway; PostgreSQL commits groups side by side
        self._writers = writers or (1 if db.is_sqlite else POSTGRES_WRITERS)
        self._tasks: list[asyncio.Task[None]] = []
        self._fold_seconds = fold_seconds
        self._folding: asyncio.Task[None] | None = None
        # pending rows whose fold failed on their own: skipped by this process (domain.usage.pending)
        self._unfoldable: set[int] = set()
        self._settling: set[asyncio.Task[None]] = set()  # committed groups settling, then answered
        self._closing = False
        self._records = table_of(UsageRecord)
        # when this writer last wrote each key's last use: a key is written once a minute, not by every group
        # (written by another writer, it is tried again: only a write seen here makes the key fresh)
        self._keys_used: dict[str, datetime] = {}
        self._keys_pruned_at = datetime.min.replace(tzinfo=UTC)

    async def submit(self, items: Sequence[UsageItem]) -> list[str]:
        """Queue the records and wait until they are committed: each "accepted", "duplicate" or "refused"."""
        if not items:
            return []
        if self._closing:
            raise ShuttingDown
        self.start()
        submission = _Submission(items, asyncio.get_running_loop().create_future())
        self._queue.put_nowait(submission)
        await submission.committed
        return [item.status for item in items]

    def start(self) -> None:
        """Start the writer tasks and the fold loop (its first round folds what a stopped process left)."""
        self._tasks = [task for task in self._tasks if not task.done()]
        while len(self._tasks) < self._writers:
            self._tasks.append(asyncio.create_task(self._run(), name=f"usage-writer-{len(self._tasks)}"))
        if self._folding is None or self._folding.done():
            self._folding = asyncio.create_task(self._fold_every(), name="usage-rollup-fold")

    async def fold(self) -> int:
        """Add every pending group's sums to the roll-ups now; the number of groups folded.

        A pending row that cannot be folded is left pending and skipped by this process from then on.
        """
        return await fold_all(self._db, unfoldable=self._unfoldable)

    async def _fold_every(self) -> None:
        await asyncio.sleep(self._fold_seconds)
        # a failed fold leaves its rows pending: the next round folds them
        await every(self._fold_seconds, self.fold, "Usage roll-up folds", logger)

    @property
    def queue_depth(self) -> int:
        """Usage reports waiting for a writer."""
        return self._queue.qsize()

    async def stop(self, grace_seconds: float | None = None) -> None:
        """Refuse new records, commit and answer every one received (within `grace_seconds`), fold, then stop."""
        self._closing = True
        if self._folding is not None:
            self._folding.cancel()  # a fold cut short rolls back: its rows stay pending for the fold below
            await asyncio.gather(self._folding, return_exceptions=True)
            self._folding = None
        if any(not task.done() for task in self._tasks):
            try:
                await asyncio.wait_for(self._queue.join(), grace_seconds)
            except TimeoutError:
                logger.error("usage writer still had %d reports queued at shutdown", self._queue.qsize())
        tasks = [*self._tasks, *self._settling]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks = []
        try:
            await self.fold()
        except Exception:  # noqa: BLE001  (the rows stay pending: the next process to start folds them)
            logger.exception("folding usage into the roll-ups at shutdown failed")

    async def _run(self) -> None:
        """Commit group after group; each is settled and answered while the next one commits.

        The settlement (Redis round trips) needs nothing of the database, so the writer does not hold
        the next commit back for it. Settlements run one after another, in the order of the commits,
        and the writer waits for one to end before committing past the next: at most one group
        settles while another commits.
        """
        settling: asyncio.Task[None] | None = None
        while True:
            group = [await self._queue.get()]
            size = len(group[0].items)
            while size < MAX_GROUP and not self._queue.empty():
                group.append(self._queue.get_nowait())
                size += len(group[-1].items)
            try:
                committed = await self._commit_group(group, size)
            except BaseException:  # cancelled mid-commit (shutdown past its grace): nothing is acknowledged
                for _ in group:
                    self._queue.task_done()
                raise
            previous, settling = settling, asyncio.create_task(self._settle(group, committed, settling))
            self._settling.add(settling)
            settling.add_done_callback(self._settling.discard)
            if previous is not None:
                await asyncio.wait([previous])

    async def _commit_group(self, group: list[_Submission], size: int) -> Committed | None:
        """Commit the group's records; None when it failed (each report is then answered with the failure)."""
        started = time.perf_counter()
        try:
            committed = await self._write_isolating(
                [item for submission in group for item in submission.items]
            )
            metrics.usage_committed(time.perf_counter() - started)
            return committed
        except Exception as exc:  # noqa: BLE001  (each waiting report gets the failure, the writer goes on)
            logger.exception("usage group of %d records failed", size)
            for submission in group:
                if not submission.committed.done():  # its caller may have gone away
                    submission.committed.set_exception(exc)
            return None

    async def _settle(
        self, group: list[_Submission], committed: Committed | None, previous: asyncio.Task[None] | None
    ) -> None:
        """After the previous group's settlement: this group's after-commit work, then its answers.

        A group whose commit failed was answered with the failure already; it only keeps its turn.
        """
        try:
            if previous is not None:
                await asyncio.wait([previous])
            if committed is not None:
                try:  # before the answers: the fleet's next admission sees the unused tokens back
                    await self._after_commit(committed)
                except Exception:  # noqa: BLE001  (the records are committed; what follows is best effort)
                    logger.exception("after-commit work of a usage group failed")
        except asyncio.CancelledError:
            if committed is not None:  # shutdown past its grace: the reservations lapse instead
                logger.error("settlement of %d committed usage records cancelled", len(committed.items))
            raise
        finally:
            self._answered(group)

    def _answered(self, group: list[_Submission]) -> None:
        """Acknowledge the group's reports (those not answered with a failure) and mark them done."""
        for submission in group:
            if not submission.committed.done():
                submission.committed.set_result(None)
            self._queue.task_done()

    async def _write_isolating(self, group: list[UsageItem]) -> Committed:
        """Commit the group; if the database refuses a record, commit the rest and refuse that one alone."""
        try:
            return await self._write(group)
        except DBAPIError as exc:
            if not is_refusal(exc):
                raise  # the database is away, not refusing a record: every report gets the failure
            if len(group) == 1:
                reason = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
                if any("\x00" in text for text in (group[0].request_id, *group[0].admission[:5])):
                    # PostgreSQL stores no NUL; its own words depend on how the row reached it
                    reason = f"PostgreSQL stores no NUL character (0x00) in text ({reason})"
                logger.warning("usage record %r refused by the database: %s", group[0].request_id, reason)
                group[0].refuse("unstorable_record", f"The record cannot be stored: {reason}")
                return Committed([], set())
        half = len(group) // 2
        first, second = await self._write_isolating(group[:half]), await self._write_isolating(group[half:])
        return Committed(first.items + second.items, first.recharge | second.recharge)

    async def _write(self, group: list[UsageItem]) -> Committed:
        now = clock.now()
        minute = int(now.timestamp()) // 60
        first: dict[tuple[str, str], UsageItem] = {}  # by (organization, request id)
        by_admission: dict[tuple[str, str], UsageItem] = {}  # by (organization, admission nonce)
        for item in group:
            item.status, item.refusal = "accepted", None  # a retried half starts afresh
            organization = item.admission.organization_id
            billed = by_admission.get((organization, item.admission.nonce))
            if (organization, item.request_id) in first:
                item.status = "duplicate"
            elif billed is not None:
                _refuse_second_request(item, billed.request_id)
            else:
                first[organization, item.request_id] = by_admission[organization, item.admission.nonce] = item
        # a fixed order of rows (and of roll-ups, burns and keys below): concurrent groups never deadlock
        items = [first[key] for key in sorted(first)]
        rows = [self._record(item) for item in items]
        async with self._db.transaction() as session:
            # one statement whatever the number of rows; RETURNING names the rows that were new
            added, statement = _record_insert(self._db.is_sqlite)
            returned = await added.execute(session, statement, rows, {"recorded_at": now})
            stored = list(zip(rows, items, strict=True))
            if len(returned) < len(rows):  # a repeat, or a second request on a used admission
                inserted = set(map(tuple, returned))
                await self._explain_conflicts(
                    [item for row, item in stored if row[:2] not in inserted], session
                )
                stored = [(row, item) for row, item in stored if row[:2] in inserted]
            recharge, keys_used = await self._apply(session, [row for row, _ in stored], minute, now)
        self._keys_used.update(dict.fromkeys(keys_used, now))  # committed: no need to write them for a minute
        if now - self._keys_pruned_at > KEY_LAST_USED_RESOLUTION:
            self._keys_pruned_at = now
            self._keys_used = {
                key: at for key, at in self._keys_used.items() if at > now - KEY_LAST_USED_RESOLUTION
            }
        for row, item in stored:
            item.billed_nanos = row.billed_nanos
        return Committed([item for _, item in stored], recharge)

    async def _explain_conflicts(self, items: list[UsageItem], session: AsyncSession) -> None:
        """Records not stored: a repeat of a stored request, or a second request on a used admission."""
        if not items:
            return
        table = self._records
        pairs = [(item.admission.organization_id, item.admission.nonce) for item in items]
        billed = dict(
            ((org, nonce), request_id)
            for org, nonce, request_id in await session.execute(
                select(table.c.organization_id, table.c.admission_nonce, table.c.request_id).where(
                    tuple_(table.c.organization_id, table.c.admission_nonce).in_(pairs)
                )
            )
        )
        for item, pair in zip(items, pairs, strict=True):
            request_id = billed.get(pair)
            if request_id is None or request_id == item.request_id:
                item.status = "duplicate"
            else:
                _refuse_second_request(item, request_id)

    def _record(self, item: UsageItem) -> RecordRow:
        admission = item.admission
        model = self._catalog.model(admission.model_id)
        cost = model.price_of(item.input_tokens, item.output_tokens) if model else 0
        return RecordRow(admission.organization_id, item.request_id, admission.nonce, admission.project_id,
                         admission.api_key_id, admission.model_id, admission.plan, item.input_tokens,
                         item.output_tokens, cost, cost if admission.plan == "paygo" else 0)  # fmt: skip

    async def _apply(
        self, session: AsyncSession, rows: list[RecordRow], minute: int, now: Any
    ) -> tuple[set[str], list[str]]:
        """The roll-ups' pending sums, credit burns and the keys' last use for the newly stored records.

        It returns the organizations to auto-recharge and the keys whose last use it wrote.
        """
        if not rows:
            return set(), []
        billed: dict[str, int] = defaultdict(int)
        for row in rows:
            if row.billed_nanos:
                billed[row.organization_id] += row.billed_nanos
        await leave_for_rollups(session, summed(rows), minute)
        # every organization's burn in a few statements, accounts locked in a fixed order (no deadlock)
        recharge = await self._burn(session, billed, f"usage:{rows[0].request_id}+{len(rows) - 1}")
        fresh_after = now - KEY_LAST_USED_RESOLUTION
        used = self._keys_used
        stale = {key for key in {row.api_key_id for row in rows} if used.get(key, fresh_after) <= fresh_after}
        return recharge, await _use_keys(session, sorted(stale), now) if stale else []


@cache
def _record_insert(is_sqlite: bool) -> tuple[RowSet, Any]:
    """The records' INSERT; a conflict on the request id (a repeat) or the admission (a second request) stores nothing."""
    added = RowSet(is_sqlite, "records", RECORD_COLUMNS)
    table = table_of(UsageRecord)
    statement = added.insert(table, ["recorded_at"], order_by=["organization_id", "request_id"])
    # RETURNING names the rows that were new, so a repeat counts once even across replicas
    return added, statement.on_conflict_do_nothing().returning(table.c.organization_id, table.c.request_id)


async def _use_keys(session: AsyncSession, keys: list[str], now: datetime) -> list[str]:
    """Write the keys' last use where it is a minute old or more (a busy key is not rewritten by every group).

    It returns the keys written.
    """
    used = {"used_at": now, "stale_before": now - KEY_LAST_USED_RESOLUTION}
    rowset, statement = _key_update(is_sqlite(session))
    if rowset is None:  # SQLite: one UPDATE … IN, the write lock is the database's
        return list((await session.execute(statement, {"ids": keys, **used})).scalars())
    return [key for (key,) in await rowset.execute(session, statement, [(key,) for key in keys], used)]


@cache
def _key_update(is_sqlite: bool) -> tuple[RowSet | None, Any]:
    table = table_of(ApiKey)
    at = table.c.last_used_at
    stale = or_(at.is_(None), at <= bindparam("stale_before", type_=at.type))
    used = update(table).values(last_used_at=bindparam("used_at", type_=at.type)).returning(table.c.id)
    if is_sqlite:
        return None, used.where(table.c.id.in_(bindparam("ids", expanding=True)), stale)
    keys = RowSet(is_sqlite, "keys", [("id", TEXT)])
    # the rows locked in the order of their ids first: concurrent groups never deadlock
    locked = select(table.c.id).where(table.c.id.in_(select(keys.c.id)), stale).order_by(table.c.id)
    return keys, used.where(table.c.id.in_(locked.with_for_update()))


def _refuse_second_request(item: UsageItem, billed_request_id: str) -> None:
    item.refuse(
        "admission_already_used",
        f"This admission billed the request '{billed_request_id}' already; each request needs its own admission.",
    )
