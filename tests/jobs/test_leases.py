"""One replica at a time runs a given job: the others skip it; a lease left by a dead holder runs out."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from app import jobs
from app.db import Database
from app.jobs.models import JobLease


@pytest.fixture
def slow_job(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """A registered job that takes a moment and records each run."""
    runs: list[str] = []

    async def run(db: Any, services: Any) -> str:
        runs.append("run")
        await asyncio.sleep(0.2)
        return "done"

    monkeypatch.setitem(jobs.JOBS, "test-slow", jobs.Job("test-slow", 60, run, "a slow test job"))
    return runs


async def test_two_runs_at_once_run_the_job_once(
    database: Database, database_url: str, slow_job: list[str]
) -> None:
    other = Database(database_url)  # another replica
    try:
        results = await asyncio.gather(
            jobs.run_job("test-slow", database, None), jobs.run_job("test-slow", other, None)
        )
    finally:
        await other.dispose()
    assert sorted(results) == ["done", jobs.SKIPPED] and slow_job == ["run"]
    assert await jobs.run_job("test-slow", database, None) == "done"  # the lease was given back


async def test_a_lease_whose_holder_died_runs_out(database: Database, slow_job: list[str]) -> None:
    async with database.transaction() as session:
        session.add(
            JobLease(name="test-slow", holder="dead", expires_at=datetime.now(UTC) + timedelta(minutes=1))
        )
    assert await jobs.run_job("test-slow", database, None) == jobs.SKIPPED
    async with database.transaction() as session:
        lease = await session.get(JobLease, "test-slow")
        assert lease is not None
        lease.expires_at = datetime.now(UTC) - timedelta(seconds=1)
    assert await jobs.run_job("test-slow", database, None) == "done"
