"""Engines and sessions for SQLite (embedded default) and PostgreSQL (production).

SQLite through aiosqlite silently loses read-then-write updates unless a write transaction
takes the write lock up front, so on SQLite a write transaction starts with ``BEGIN IMMEDIATE``
while reads use a second engine that starts deferred transactions and never block writers (WAL).
PostgreSQL needs neither trick: the same code runs with row locks (``SELECT … FOR UPDATE``),
which SQLite ignores because its write transactions are already serialized.

SQLite's write-ahead log is copied into the database (a checkpoint) by a task of the serving process
(`start`), not by whichever commit crosses sqlite's threshold of 1,000 pages: a checkpoint copies and
syncs all that was written since the last, and made a fleet's usage commits over 500 organizations
40 ms slower each. The process's own write transactions wait for their turn on an asyncio lock, not
in sqlite's busy handler, which sleeps in steps of up to 100 ms and so outlasts what it waits for.

A SQLite transaction cancelled on the way (at shutdown, or a fleet call past its deadline) is rolled back
before its connection is reused or closed. aiosqlite's thread still runs a BEGIN that was queued, and sqlite3
keeps a closed connection's transaction, and so the write lock, while a cursor of it lives.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from weakref import WeakKeyDictionary

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.pool import PoolResetState
from sqlalchemy.util import await_
from sqlalchemy.util.concurrency import in_greenlet
from sqlmodel import SQLModel

from app.periodic import every

if TYPE_CHECKING:
    from app.settings import Settings

SQLITE_BUSY_TIMEOUT_MS = 30_000
# a commit that leaves more pages than this in the WAL checkpoints it (sqlite's own: 1,000); a serving
# process's checkpointer keeps the WAL far below, a process without one (a job) stays bounded
WAL_AUTOCHECKPOINT_PAGES = 10_000
CHECKPOINT_SECONDS = 0.25
logger = logging.getLogger(__name__)
CHANGED_ORGANIZATIONS = "changed_organizations"  # set by app.fleet.versions in the committing session


def _sqlite_engine(url: str, *, immediate: bool, busy_ms: int) -> AsyncEngine:
    # the pool's reset is `_on_reset`: SQLAlchemy's rolls back even a connection whose transaction has ended
    engine = create_async_engine(url, connect_args={"timeout": busy_ms / 1000}, pool_reset_on_return=None)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
        cursor.execute(f"PRAGMA wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}")
        cursor.close()

    begin = "BEGIN IMMEDIATE" if immediate else "BEGIN"

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        # on aiosqlite itself: one trip to its thread, where a statement through SQLAlchemy takes three
        # (the writer of usage groups begins many small transactions; see domain.rowsets)
        driver = connection.connection.driver_connection
        try:
            await_(driver.execute(begin))
        except sqlite3.Error as exc:
            raise DBAPIError.instance(begin, None, exc, sqlite3.Error) from exc
        except BaseException:
            # cancelled: aiosqlite's thread runs the queued BEGIN all the same, after the pool took the
            # connection back as idle, which then held the write lock; a rollback queued behind it ends it
            with contextlib.suppress(Exception):  # a closed connection holds no transaction
                await_(driver.rollback())
            raise

    @event.listens_for(engine.sync_engine, "reset")
    def _on_reset(dbapi_connection: Any, _record: Any, state: PoolResetState) -> None:
        # a connection back in the pool in a transaction is rolled back; after a commit there is nothing
        # to do, which sqlite3 knows without a trip to aiosqlite's thread
        if state.asyncio_safe and dbapi_connection.driver_connection.in_transaction:
            dbapi_connection.rollback()

    @event.listens_for(engine.sync_engine, "invalidate")
    def _on_invalidate(dbapi_connection: Any, _record: Any, _exception: BaseException | None) -> None:
        # SQLAlchemy closes a connection whose statement was cancelled, without a rollback; sqlite3 then
        # keeps it open (a "zombie") while a statement of the cancelled cursor lives, and with it the
        # transaction and the write lock: rolled back first, it holds nothing
        if dbapi_connection is not None and in_greenlet():
            with contextlib.suppress(Exception):
                dbapi_connection.rollback()

    return engine


class Database:
    """The process's engines and the two kinds of session: read and write."""

    def __init__(
        self,
        url: str,
        *,
        connect_timeout: float = 5.0,
        statement_timeout: float = 15.0,
        **engine_options: Any,
    ) -> None:
        from app.fleet.versions import TrackedSession  # its events bump organization versions

        self.url = url
        self.connect_timeout, self.statement_timeout = connect_timeout, statement_timeout
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            database = make_url(url).database
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            # waiting for another process's write lock is this database's way of not answering
            self._busy_ms = busy_ms = min(SQLITE_BUSY_TIMEOUT_MS, int(statement_timeout * 1000))
            self.write_engine = _sqlite_engine(url, immediate=True, busy_ms=busy_ms)
            self.read_engine = _sqlite_engine(url, immediate=False, busy_ms=busy_ms)
        else:
            # a database that stops answering fails a statement, a connection or a wait for the pool
            # within these timeouts rather than hanging the request (asyncpg's client-side timeouts)
            connect_args = {"timeout": connect_timeout, "command_timeout": statement_timeout}
            self.write_engine = create_async_engine(
                url,
                pool_size=10,
                max_overflow=20,
                pool_pre_ping=True,
                pool_timeout=connect_timeout,
                connect_args=connect_args,
                **engine_options,
            )
            self.read_engine = self.write_engine
        self._writer = async_sessionmaker(
            self.write_engine, expire_on_commit=False, sync_session_class=TrackedSession
        )
        # called with the ids of organizations whose admission-relevant state a commit changed
        self.commit_hooks: list[Callable[[frozenset[str]], Awaitable[None]]] = []
        self._reader = async_sessionmaker(self.read_engine, expire_on_commit=False)
        self._checkpoints: asyncio.Task[None] | None = None
        # SQLite: this process's turns to write, one lock per event loop (tests run several)
        self._write_turns: WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = WeakKeyDictionary()

    def start(self) -> None:
        """SQLite: checkpoint the WAL in the background from now on (PostgreSQL: nothing to do)."""
        if self.is_sqlite and self._checkpoints is None:
            checkpoints = every(CHECKPOINT_SECONDS, self.checkpoint, "SQLite checkpoints", logger)
            self._checkpoints = asyncio.create_task(checkpoints, name="sqlite-checkpoints")

    async def stop(self) -> None:
        if self._checkpoints is not None:
            self._checkpoints.cancel()
            await asyncio.gather(self._checkpoints, return_exceptions=True)
            self._checkpoints = None

    async def checkpoint(self) -> tuple[int, int]:
        """SQLite: copy the WAL's committed pages into the database; its pages, and how many are copied.

        Passive: it waits for no lock, and writers and readers go on meanwhile (it runs on a connection's
        thread). A reader still on an older snapshot keeps the pages after it in the WAL until the next.
        """
        async with self.read_engine.connect() as connection:  # on the driver: no transaction, one trip
            driver = (await connection.get_raw_connection()).driver_connection
            assert driver is not None
            (_busy, logged, copied), *_ = await driver.execute_fetchall("PRAGMA wal_checkpoint(PASSIVE)")
        return int(logged), int(copied)

    def reader(self) -> AsyncSession:
        """A session for reads; on SQLite it never takes the write lock."""
        return self._reader()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A write transaction: committed on success, rolled back on any exception.

        Organizations whose version the commit bumped (app.fleet.versions) are announced to the
        commit hooks once the commit is done (never before: a reader must not reload the old state
        after the news).
        """
        async with self._writer() as session:
            async with self._write_turn(), session.begin():
                yield session
            changed = session.info.pop(CHANGED_ORGANIZATIONS, None)
        if changed:
            for hook in self.commit_hooks:
                await hook(frozenset(changed))

    @asynccontextmanager
    async def _write_turn(self) -> AsyncIterator[None]:
        """SQLite: wait for this process's turn to write, as long as sqlite would wait for the lock."""
        if not self.is_sqlite:
            yield
            return
        loop = asyncio.get_running_loop()
        turn = self._write_turns.get(loop)
        if turn is None:
            turn = self._write_turns[loop] = asyncio.Lock()
        try:
            async with asyncio.timeout(self._busy_ms / 1000):
                await turn.acquire()
        except TimeoutError:  # what sqlite raises after its busy timeout: an outage to the callers
            locked = sqlite3.OperationalError("database is locked")
            raise DBAPIError.instance("BEGIN IMMEDIATE", None, locked, sqlite3.Error) from None
        try:
            yield
        finally:
            turn.release()

    @classmethod
    def of(cls, settings: Settings) -> Database:
        """The database the settings name, with their timeouts."""
        return cls(
            settings.database_url,
            connect_timeout=settings.database_connect_timeout_seconds,
            statement_timeout=settings.database_statement_timeout_seconds,
        )

    async def create_all(self) -> None:
        """Create every table from the models (tests only: the service runs migrations)."""
        import app.domain.tables  # noqa: F401  (registers every model on the metadata)

        async with self.write_engine.begin() as connection:
            await connection.run_sync(SQLModel.metadata.create_all)

    async def dispose(self) -> None:
        await self.stop()
        await self.write_engine.dispose()
        if self.read_engine is not self.write_engine:
            await self.read_engine.dispose()
