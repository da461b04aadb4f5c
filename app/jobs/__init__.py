"""Periodic work (expiry, settlement, renewals, retries): a registry, a runner, and the in-server schedule.

Every job is idempotent and safe when two replicas run it at the same time: it decides from the
database what is due, changes it under row locks or with conditional updates, and derives the
idempotency keys of any charge from what is paid. Running a job twice changes nothing more.
On top of that, a run takes the job's lease (a row of `job_lease`), so one replica (or
`app.cli run-jobs`) runs a given job at a time and the others skip it; a lease whose holder died
runs out after LEASE_SECONDS. Time comes from app.clock, so tests move it instead of sleeping.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from app.domain.rowsets import dialect_insert
from app.jobs import registry  # noqa: F401  (importing it registers every job)
from app.jobs.base import JOBS, Job
from app.jobs.models import JobLease
from app.observability import metrics

logger = logging.getLogger(__name__)

LEASE_SECONDS = 15 * 60  # longer than any run; only a holder that died leaves a lease to run out
SKIPPED = "skipped: running elsewhere"
_LEASES = JobLease.__table__  # type: ignore[attr-defined]


def load_jobs() -> dict[str, Job]:
    """Every registered job by name (the modules of app.jobs.registry register them)."""
    return JOBS


async def run_job(name: str, db: Any, services: Any) -> Any:
    """Run one job once, unless another process runs it now; its summary is logged and returned."""
    found = load_jobs().get(name)
    if found is None:
        raise KeyError(f"unknown job {name!r}; known: {', '.join(sorted(JOBS))}")
    holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
    if not await _take_lease(db, name, holder):
        logger.info("job %s: %s", name, SKIPPED)
        return SKIPPED
    started = time.perf_counter()
    try:
        result = await found.run(db, services)
    except Exception:
        metrics.job_ran(name, time.perf_counter() - started, failed=True)
        raise
    finally:
        await _end_lease(db, name, holder)
    metrics.job_ran(name, time.perf_counter() - started, failed=False)
    logger.info("job %s: %s", name, result)
    return result


async def _take_lease(db: Any, name: str, holder: str) -> bool:
    """Take the job's lease unless someone holds it (leases are real time: app.clock may be frozen)."""
    now = datetime.now(UTC)
    statement = dialect_insert(db.is_sqlite, _LEASES).values(
        name=name, holder=holder, expires_at=now + timedelta(seconds=LEASE_SECONDS)
    )
    statement = statement.on_conflict_do_update(
        index_elements=[_LEASES.c.name],
        set_={"holder": statement.excluded.holder, "expires_at": statement.excluded.expires_at},
        where=_LEASES.c.expires_at <= now,
    )
    async with db.transaction() as session:
        await session.execute(statement)
        return bool(
            (await session.execute(select(_LEASES.c.holder).where(_LEASES.c.name == name))).scalar() == holder
        )


async def _end_lease(db: Any, name: str, holder: str) -> None:
    async with db.transaction() as session:
        await session.execute(
            update(_LEASES)
            .where(_LEASES.c.name == name, _LEASES.c.holder == holder)
            .values(expires_at=datetime.now(UTC))
        )


async def run_all(db: Any, services: Any) -> dict[str, Any]:
    """Run every job once, in registration order; one job's failure does not stop the others."""
    results: dict[str, Any] = {}
    for name in load_jobs():
        try:
            results[name] = await run_job(name, db, services)
        except Exception as exc:  # noqa: BLE001  (logged; the schedule goes on)
            logger.exception("job %s failed", name)
            results[name] = exc
    return results


async def run_schedule(db: Any, services: Any, stop: asyncio.Event) -> None:
    """Run each job at its interval until `stop` is set (started by the app when JOBS_ENABLED)."""
    jobs = list(load_jobs().values())
    loop = asyncio.get_running_loop()
    next_run = {j.name: loop.time() for j in jobs}
    while not stop.is_set():
        for due in [j for j in jobs if next_run[j.name] <= loop.time()]:
            try:
                await run_job(due.name, db, services)
            except Exception:  # noqa: BLE001
                logger.exception("job %s failed", due.name)
            next_run[due.name] = loop.time() + due.every_seconds
        wait = max(0.0, min(next_run.values(), default=loop.time() + 60) - loop.time())
        try:
            await asyncio.wait_for(stop.wait(), timeout=wait or 0.01)
        except TimeoutError:
            pass


class Scheduler:
    """Runs the schedule as a background task of the server (JOBS_ENABLED); stopped at shutdown."""

    def __init__(self, db: Any, services: Any, *, enabled: bool) -> None:
        self._db, self._services, self._enabled = db, services, enabled
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self._enabled and self._task is None:
            self._stop.clear()
            self._task = asyncio.create_task(run_schedule(self._db, self._services, self._stop), name="jobs")

    async def stop(self) -> None:
        if self._task is not None:
            self._stop.set()
            await self._task
            self._task = None
