"""Usage reports, committed in groups: records arriving together share one transaction.

A report is acknowledged only once its transaction committed. Each record is priced exactly from
the catalog, stored once (the fleet's request id is the key: a repeat counts once), summed into
the per-minute and per-hour roll-ups, and, under PayGo, its price is burned from the
organization's credits (one burn per organization per group). After the commit, and before the
reports are answered, the admissions' unused reservations are given back and organizations whose
credits crossed a threshold are handed to auto-recharge (which runs on its own).
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app import clock
from app.db import Database
from app.domain.api_keys.models import ApiKey
from app.domain.base import table_of
from app.domain.catalog.models import Catalog
from app.domain.usage.models import UsageHour, UsageMinute, UsageRecord
from app.fleet.tokens import Admission

logger = logging.getLogger(__name__)

# (session, organization id, nanos to burn, reference) -> whether auto-recharge should look at the org
Burn = Callable[[AsyncSession, str, int, str], Awaitable[bool]]
MAX_GROUP = 4000
_SUMMED = ("requests", "input_tokens", "output_tokens", "billed_nanos", "cost_nanos")


@dataclass(slots=True)
class UsageItem:
    request_id: str
    admission_id: str
    admission: Admission
    input_tokens: int
    output_tokens: int
    status: str = "accepted"  # or "duplicate": a record with this request id is counted already


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


class UsageWriter:
    """One writer task per process takes every queued record and commits them together."""

    def __init__(
        self,
        db: Database,
        catalog: Catalog,
        *,
        burn: Burn,
        after_commit: Callable[[Committed], Awaitable[None]],
    ) -> None:
        self._db = db
        self._catalog = catalog
        self._burn = burn
        self._after_commit = after_commit
        self._queue: asyncio.Queue[_Submission] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        insert = sqlite.insert if db.is_sqlite else postgresql.insert
        records = table_of(UsageRecord)
        self._insert_records = (
            insert(records)
            .on_conflict_do_nothing(index_elements=["request_id"])
            .returning(records.c.request_id)
        )
        # (statement, bucket column, minutes per bucket) for each resolution of the roll-ups
        self._upsert_rollups = []
        for model, bucket, minutes in ((UsageMinute, "minute", 1), (UsageHour, "hour", 60)):
            table = table_of(model)
            upsert = insert(table)
            statement = upsert.on_conflict_do_update(
                index_elements=["organization_id", bucket, "project_id", "api_key_id", "model_id"],
                set_={name: table.c[name] + upsert.excluded[name] for name in _SUMMED},
            )
            self._upsert_rollups.append((statement, bucket, minutes))

    async def submit(self, items: Sequence[UsageItem]) -> list[str]:
        """Queue the records and wait until they are committed: each is "accepted" or "duplicate"."""
        if not items:
            return []
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="usage-writer")
        submission = _Submission(items, asyncio.get_running_loop().create_future())
        self._queue.put_nowait(submission)
        await submission.committed
        return [item.status for item in items]

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        while True:
            group = [await self._queue.get()]
            size = len(group[0].items)
            while size < MAX_GROUP and not self._queue.empty():
                group.append(self._queue.get_nowait())
                size += len(group[-1].items)
            try:
                committed = await self._write([item for submission in group for item in submission.items])
            except Exception as exc:  # noqa: BLE001  (each waiting report gets the failure, the writer goes on)
                logger.exception("usage group of %d records failed", size)
                for submission in group:
                    if not submission.committed.done():  # its caller may have gone away
                        submission.committed.set_exception(exc)
                continue
            try:  # before the answers: the fleet's next admission sees the unused tokens back
                await self._after_commit(committed)
            except Exception:  # noqa: BLE001  (the records are committed; what follows is best effort)
                logger.exception("after-commit work of a usage group failed")
            for submission in group:
                if not submission.committed.done():
                    submission.committed.set_result(None)

    async def _write(self, group: list[UsageItem]) -> Committed:
        now = clock.now()
        minute = int(now.timestamp()) // 60
        first: dict[str, UsageItem] = {}
        for item in group:
            if item.request_id in first:
                item.status = "duplicate"
            else:
                first[item.request_id] = item
        rows = [self._record(item, now) for item in first.values()]
        async with self._db.transaction() as session:
            # one statement compiled once, run over all rows (SQLAlchemy's "insertmanyvalues" batching);
            # RETURNING names the rows that were new, so a repeat counts once even across replicas
            returned = await session.execute(self._insert_records, rows)
            inserted = set(returned.scalars())
            new_rows = [row for row in rows if row["request_id"] in inserted]
            for row in rows:
                if row["request_id"] not in inserted:
                    first[row["request_id"]].status = "duplicate"
            recharge = await self._apply(session, new_rows, minute, now)
        return Committed([first[row["request_id"]] for row in new_rows], recharge)

    def _record(self, item: UsageItem, now: Any) -> dict[str, Any]:
        admission = item.admission
        model = self._catalog.model(admission.model_id)
        cost = model.price_of(item.input_tokens, item.output_tokens) if model else 0
        return {
            "request_id": item.request_id,
            "organization_id": admission.organization_id,
            "project_id": admission.project_id,
            "api_key_id": admission.api_key_id,
            "model_id": admission.model_id,
            "plan": admission.plan,
            "input_tokens": item.input_tokens,
            "output_tokens": item.output_tokens,
            "cost_nanos": cost,
            "billed_nanos": cost if admission.plan == "paygo" else 0,
            "recorded_at": now,
        }

    async def _apply(
        self, session: AsyncSession, rows: list[dict[str, Any]], minute: int, now: Any
    ) -> set[str]:
        """Roll-ups, credit burns and the keys' last use for the newly stored records."""
        if not rows:
            return set()
        sums: dict[tuple[str, str, str, str], list[int]] = defaultdict(lambda: [0, 0, 0, 0, 0])
        billed: dict[str, int] = defaultdict(int)
        for row in rows:
            figures = sums[(row["organization_id"], row["project_id"], row["api_key_id"], row["model_id"])]
            figures[0] += 1
            figures[1] += row["input_tokens"]
            figures[2] += row["output_tokens"]
            figures[3] += row["billed_nanos"]
            figures[4] += row["cost_nanos"]
            if row["billed_nanos"]:
                billed[row["organization_id"]] += row["billed_nanos"]
        rollups = [
            {
                "organization_id": org,
                "project_id": project,
                "api_key_id": key,
                "model_id": model,
                "requests": f[0],
                "input_tokens": f[1],
                "output_tokens": f[2],
                "billed_nanos": f[3],
                "cost_nanos": f[4],
            }  # fmt: skip
            for (org, project, key, model), f in sums.items()
        ]
        for statement, bucket, minutes in self._upsert_rollups:
            await session.execute(statement, [{**rollup, bucket: minute // minutes} for rollup in rollups])
        recharge = set()
        reference = f"usage:{rows[0]['request_id']}+{len(rows) - 1}"
        for organization_id, amount in sorted(billed.items()):  # a fixed order: no deadlock between replicas
            if await self._burn(session, organization_id, amount, reference):
                recharge.add(organization_id)
        keys = sorted({row["api_key_id"] for row in rows})
        table = table_of(ApiKey)
        await session.execute(
            update(table).where(table.c.id == bindparam("key_id")).values(last_used_at=now),
            [{"key_id": key} for key in keys],
        )
        return recharge
