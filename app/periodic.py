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
    failing = False
    while True:
        try:
            await work()
        except Exception as exc:  # noqa: BLE001  (the next round tries again)
            if not failing:  # a bug is an ERROR with its trace; a service away, a WARNING
                bug = not is_outage(exc)
                level = logging.ERROR if bug else logging.WARNING
                logger.log(level, "%s fail (%s: %s); retrying", what, type(exc).__name__, exc, exc_info=bug)
            failing = True
        else:
            if failing:
                logger.warning("%s succeed again", what)
            failing = False
        if wake is None:
            await asyncio.sleep(seconds)
        else:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), seconds)
