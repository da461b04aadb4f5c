"""One timer bounds many calls: each overdue call gets TimeoutError, the others are untouched."""

from __future__ import annotations

import asyncio
import time

import pytest

from app.fleet.deadlines import Deadlines


async def test_calls_past_their_deadline_time_out_and_the_others_finish() -> None:
    deadlines = Deadlines(0.2)
    hung = asyncio.Event()

    async def quick(n: int) -> int:
        await asyncio.sleep(0.01)
        return n

    started = time.monotonic()
    outcomes = await asyncio.gather(
        deadlines.run(hung.wait()),
        *(deadlines.run(quick(n)) for n in range(50)),
        deadlines.run(asyncio.sleep(0.1, "in time")),
        deadlines.run(hung.wait()),
        return_exceptions=True,
    )
    assert isinstance(outcomes[0], TimeoutError) and isinstance(outcomes[-1], TimeoutError)
    assert outcomes[1:51] == list(range(50)) and outcomes[51] == "in time"
    assert 0.2 <= time.monotonic() - started < 0.6
    # later calls have a timer of their own again
    with pytest.raises(TimeoutError):
        await deadlines.run(hung.wait())
    assert await deadlines.run(quick(7)) == 7


async def test_calls_started_later_expire_later() -> None:
    deadlines = Deadlines(0.3)
    hung = asyncio.Event()
    first = asyncio.create_task(deadlines.run(hung.wait()))
    await asyncio.sleep(0.2)
    second = asyncio.create_task(deadlines.run(hung.wait()))
    with pytest.raises(TimeoutError):
        await first
    await asyncio.sleep(0.05)
    assert not second.done()  # its own 0.3 s are not over
    started = time.monotonic()
    with pytest.raises(TimeoutError):
        await second
    assert time.monotonic() - started < 0.2


async def test_a_cancellation_from_elsewhere_stays_a_cancellation() -> None:
    deadlines = Deadlines(5)
    call = asyncio.create_task(deadlines.run(asyncio.Event().wait()))
    await asyncio.sleep(0.01)
    call.cancel()
    with pytest.raises(asyncio.CancelledError):
        await call
    assert await deadlines.run(asyncio.sleep(0, "after")) == "after"


async def test_work_that_swallows_the_cancellation_keeps_its_task_uncancelled() -> None:
    deadlines = Deadlines(0.05)

    async def stubborn() -> str:
        try:
            await asyncio.sleep(1)
        except asyncio.CancelledError:
            return "finished anyway"
        return "slept"

    assert await deadlines.run(stubborn()) == "finished anyway"
    task = asyncio.current_task()
    assert task is not None and task.cancelling() == 0
    await asyncio.sleep(0.01)  # the task is not cancelled later either
