"""Engines and sessions for SQLite (embedded default) and PostgreSQL (production).

SQLite through aiosqlite silently loses read-then-write updates unless a write transaction
takes the write lock up front, so on SQLite a write transaction starts with ``BEGIN IMMEDIATE``
while reads use a second engine that starts deferred transactions and never block writers (WAL).
PostgreSQL needs neither trick: the same code runs with row locks (``SELECT … FOR UPDATE``),
which SQLite ignores because its write transactions are already serialized.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlmodel import SQLModel

SQLITE_BUSY_TIMEOUT_MS = 30_000
CHANGED_ORGANIZATIONS = "changed_organizations"


def organization_changed(session: AsyncSession, organization_id: str) -> None:
    """Note that this transaction changes what the fleet must know of the organization
    (keys, projects, plans, limits, credit): caches are told after the commit."""
    session.info.setdefault(CHANGED_ORGANIZATIONS, set()).add(organization_id)


def _sqlite_engine(url: str, *, immediate: bool) -> AsyncEngine:
    engine = create_async_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


class Database:
    """The process's engines and the two kinds of session: read and write."""

    def __init__(self, url: str, **engine_options: Any) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            database = make_url(url).database
            if database and database != ":memory:":
                Path(database).parent.mkdir(parents=True, exist_ok=True)
            self.write_engine = _sqlite_engine(url, immediate=True)
            self.read_engine = _sqlite_engine(url, immediate=False)
        else:
            self.write_engine = create_async_engine(
                url, pool_size=10, max_overflow=20, pool_pre_ping=True, **engine_options
            )
            self.read_engine = self.write_engine
        self._writer = async_sessionmaker(self.write_engine, expire_on_commit=False)
        # called with the ids of organizations whose admission-relevant state a commit changed
        self.commit_hooks: list[Callable[[frozenset[str]], Awaitable[None]]] = []
        self._reader = async_sessionmaker(self.read_engine, expire_on_commit=False)

    def reader(self) -> AsyncSession:
        """A session for reads; on SQLite it never takes the write lock."""
        return self._reader()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A write transaction: committed on success, rolled back on any exception.

        Organizations marked with `organization_changed` are announced to the commit hooks once
        the commit is done (never before: a reader must not reload the old state after the news).
        """
        async with self._writer() as session:
            async with session.begin():
                yield session
            changed = session.info.pop(CHANGED_ORGANIZATIONS, None)
        if changed:
            for hook in self.commit_hooks:
                await hook(frozenset(changed))

    async def create_all(self) -> None:
        """Create every table from the models (tests only: the service runs migrations)."""
        import app.domain.tables  # noqa: F401  (registers every model on the metadata)

        async with self.write_engine.begin() as connection:
            await connection.run_sync(SQLModel.metadata.create_all)

    async def dispose(self) -> None:
        await self.write_engine.dispose()
        if self.read_engine is not self.write_engine:
            await self.read_engine.dispose()
