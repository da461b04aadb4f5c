"""News of organizations changed by any process, from the database itself: every replica hears it.

On PostgreSQL the changing transaction sends NOTIFY (delivered at its commit, in commit order) and
each replica LISTENs on a connection of its own; after that connection was lost, news may have
been missed, so the whole cache is dropped. On SQLite (one writer at a time) versions grow in
commit order, and a poll of the rows above the last version seen finds every change.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy.engine import make_url

from app.db import Database
from app.fleet.versions import CHANNEL, changes_since, latest_version
from app.periodic import Failures, every

logger = logging.getLogger(__name__)

KEEPALIVE_SECONDS = 5.0
RETRY_SECONDS = 1.0


class ChangeFeed:
    """Calls `forget(ids)` for every organization another process changed, and `forget_all()` after a gap."""

    def __init__(
        self,
        db: Database,
        forget: Callable[[Iterable[str]], None],
        forget_all: Callable[[], None],
        *,
        poll_seconds: float = 0.5,
    ) -> None:
        self._db = db
        self._forget = forget
        self._forget_all = forget_all
        self._poll_seconds = poll_seconds
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            run = self._poll if self._db.is_sqlite else self._listen
            self._task = asyncio.create_task(run(), name="organization-change-feed")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _poll(self) -> None:
        seen: int | None = None

        async def poll() -> None:
            nonlocal seen
            async with self._db.read_engine.connect() as connection:
                if seen is None:
                    seen = await latest_version(connection)
                else:
                    seen, changed = await changes_since(connection, seen)
                    if changed:
                        self._forget(changed)

        # a failed round misses nothing: the versions wait for the next
        await every(self._poll_seconds, poll, "Organization version polls", logger)

    async def _listen(self) -> None:
        import asyncpg  # type: ignore[import-untyped]

        dsn = make_url(self._db.url).set(drivername="postgresql").render_as_string(hide_password=False)
        # a connection listens until it fails: an outage is one line when it starts and one when it ends
        failures = Failures("Connections listening for organization changes", logger)
        while True:
            connection: Any = None
            try:
                connection = await asyncpg.connect(dsn, timeout=self._db.connect_timeout)
                await connection.add_listener(CHANNEL, self._notified)
                self._forget_all()  # what happened while nobody listened is unknown
                failures.succeeded()
                while True:  # a lost connection shows here within the keep-alive
                    await asyncio.sleep(KEEPALIVE_SECONDS)
                    await connection.execute("SELECT 1", timeout=self._db.connect_timeout)
            except Exception as exc:  # noqa: BLE001  (reconnect; the cache is dropped when listening again)
                failures.failed(exc)
            finally:
                if connection is not None:
                    connection.terminate()
            await asyncio.sleep(RETRY_SECONDS)

    def _notified(self, _connection: Any, _pid: int, _channel: str, payload: str) -> None:
        self._forget(payload.split(","))
