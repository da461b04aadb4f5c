"""One timer for many calls that share a time limit, in place of a timer per call (asyncio.timeout).

The fleet bounds every call by FLEET_TIMEOUT_SECONDS. With `asyncio.timeout` each admission
schedules a timer on the event loop and cancels it again (a heap push, a cancelled handle for the
loop to clear, the context manager's bookkeeping): about 8 % of an admission with Redis, for a timer
that almost never fires. Calls that all have the same limit expire in the order they started, so a
queue in that order and one timer for its oldest call do the same work: the timer fires about once
per time limit under load (not once per call), cancels the calls it finds overdue, and is set again
for the oldest call still running. Expiry is what `asyncio.timeout` does: the call's task is
cancelled and the caller sees TimeoutError (a cancellation from elsewhere stays a cancellation).
A finished call leaves the queue once the calls before it have finished: behind a call that hangs,
the queue holds at most the calls of one time limit (a few small objects each), cleared when it
expires.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


class _Call:
    __slots__ = ("cancelling", "deadline", "done", "expired", "task")

    def __init__(self, deadline: float, task: asyncio.Task[object], cancelling: int) -> None:
        self.deadline = deadline
        self.task = task
        self.cancelling = cancelling
        self.done = False
        self.expired = False


class Deadlines:
    """Runs awaitables under one time limit, `seconds`, with a single timer for all of them."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._calls: deque[_Call] = deque()  # in the order they started, hence of their deadlines
        self._timer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def run(self, work: Awaitable[T]) -> T:
        """What `work` returns, or TimeoutError once `seconds` have passed (the work is cancelled)."""
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        assert task is not None
        if loop is not self._loop:  # a new event loop (tests): nothing of the old one carries over
            self._loop, self._timer = loop, None
            self._calls.clear()
        call = _Call(loop.time() + self.seconds, task, task.cancelling())
        calls = self._calls
        calls.append(call)
        if self._timer is None:
            self._timer = loop.call_at(call.deadline, self._expire)
        try:
            return await work
        except asyncio.CancelledError:
            if call.expired:
                call.expired = False  # taken back here, not again below
                if task.uncancel() <= call.cancelling:  # ours alone: the time ran out
                    raise TimeoutError from None
            raise
        finally:
            call.done = True
            if call.expired:  # expired as the work finished anyway: the cancellation is taken back
                task.uncancel()
            while calls and calls[0].done:
                calls.popleft()

    def _expire(self) -> None:
        """Cancel the calls past their deadline; set the timer for the oldest one left."""
        assert self._loop is not None
        self._timer = None
        now = self._loop.time()
        calls = self._calls
        while calls and (calls[0].done or calls[0].deadline <= now):
            call = calls.popleft()
            if not call.done:
                call.expired = True
                call.task.cancel()
        if calls:
            self._timer = self._loop.call_at(calls[0].deadline, self._expire)
