"""Work a process repeats in the background (checkpoints, folds, sweeps, polls, mail), and how its failures are logged.

A round that fails is tried again a period later. A run of failures is logged once, and the recovery
once: a database away for a minute leaves two lines, not one every round. The first failure is an
ERROR with its traceback, unless it is an outage: a database or Redis away is a WARNING, and says all
there is to say in a line.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from app.outage import is_outage


class Failures:
    """The failures of work done again and again (`what`, as "SQLite checkpoints"): a run logged once, its end once."""

    def __init__(self, what: str, logger: logging.Logger) -> None:
        self._what = what
        self._logger = logger
        self._failing = False

    def failed(self, exc: Exception) -> None:
        if not self._failing:  # a bug is an ERROR with its trace; a service away, a WARNING
            bug = not is_outage(exc)
            level = logging.ERROR if bug else logging.WARNING
            # a timeout's message is empty: its name says it all
            reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
            self._logger.log(level, "%s fail (%s); retrying", self._what, reason, exc_info=bug)
        self._failing = True

    def succeeded(self) -> None:
        if self._failing:
            self._logger.warning("%s succeed again", self._what)
        self._failing = False


async def every(
    seconds: float,
    work: Callable[[], Awaitable[object]],
    what: str,
    logger: logging.Logger,
    *,
    wake: asyncio.Event | None = None,
) -> None:
    """Run `work`, then wait `seconds` (or until `wake` is set), until cancelled.

    `what` names the rounds in the log ("SQLite checkpoints"). With `wake`, `work` clears it itself, at
    the point after which a poke must start another round.
    """
    failures = Failures(what, logger)
    while True:
        try:
            await work()
        except Exception as exc:  # noqa: BLE001  (the next round tries again)
            failures.failed(exc)
        else:
            failures.succeeded()
        if wake is None:
            await asyncio.sleep(seconds)
        else:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), seconds)
