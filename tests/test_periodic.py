"""Background work repeated every few seconds: a run of failures is logged once, and so is the recovery."""

from __future__ import annotations

import asyncio
import logging

import pytest

from app.periodic import Failures, every

logger = logging.getLogger("tests.periodic")


async def test_a_run_of_failures_is_logged_once_with_its_trace_and_the_recovery_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    outcomes: list[Exception | None] = (
        [KeyError("bug")] * 3 + [None, None] + [ConnectionRefusedError("away")] * 3
    )
    done = asyncio.Event()

    async def work() -> None:
        outcome = outcomes.pop(0)
        if not outcomes:
            done.set()
        if outcome is not None:
            raise outcome

    task = asyncio.create_task(every(0, work, "Test rounds", logger))
    await asyncio.wait_for(done.wait(), 5)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    logged = [
        (r.levelname, r.getMessage(), bool(r.exc_info)) for r in caplog.records if r.name == logger.name
    ]
    assert logged == [
        ("ERROR", "Test rounds fail (KeyError: 'bug'); retrying", True),  # not an outage: a bug, traced
        ("WARNING", "Test rounds succeed again", False),
        ("WARNING", "Test rounds fail (ConnectionRefusedError: away); retrying", False),  # away: one line
    ]
    assert task.cancelled()  # it runs until cancelled, failures or not


def test_a_failure_without_a_message_is_named_by_its_type(caplog: pytest.LogCaptureFixture) -> None:
    failures = Failures("Test rounds", logger)
    failures.failed(TimeoutError())
    failures.failed(TimeoutError())
    failures.succeeded()
    assert [(r.levelname, r.getMessage()) for r in caplog.records if r.name == logger.name] == [
        ("WARNING", "Test rounds fail (TimeoutError); retrying"),
        ("WARNING", "Test rounds succeed again"),
    ]
