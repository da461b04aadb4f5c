"""Apply the Alembic migrations: the only way the service's schema is created or changed.

Replicas started at once all run `upgrade`; a database lock lets one of them migrate while the
others wait, then find the schema at the head and do nothing (PostgreSQL: an advisory lock;
SQLite: a lock file beside the database).
"""

from __future__ import annotations

import asyncio
import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import make_url

from app.settings import REPO_ROOT

MIGRATION_LOCK = 7_262_851_001  # the advisory lock's number, the same in every replica


def alembic_config(database_url: str) -> Config:
    config = Config(str(REPO_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(REPO_ROOT / "migrations"))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def head_revision() -> str | None:
    """The newest migration's revision."""
    return ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def upgrade(database_url: str) -> None:
    """Bring the database to the newest revision (no-op when it is there already), one replica at a time."""
    from app.db import Database

    Database(database_url)  # creates the SQLite file's folder
    if database_url.startswith("sqlite"):
        with _file_lock(database_url):
            command.upgrade(alembic_config(database_url), "head")
    else:
        asyncio.run(_upgrade_under_advisory_lock(database_url))


@contextmanager
def _file_lock(database_url: str) -> Iterator[None]:
    database = make_url(database_url).database
    if not database or database == ":memory:":
        yield
        return
    with open(Path(database).with_suffix(".migrate.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file is closed, or the process dies
        yield


async def _upgrade_under_advisory_lock(database_url: str) -> None:
    """Migrate while holding a session-level advisory lock (the server releases it if this process dies)."""
    import asyncpg  # type: ignore[import-untyped]

    dsn = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
        # Alembic runs its own event loop (migrations/env.py): in a thread of its own
        await asyncio.to_thread(command.upgrade, alembic_config(database_url), "head")
    finally:
        await connection.close()  # closing the session releases its advisory lock


async def schema_is_current(db: Any) -> bool:
    """Whether the database's schema is at the migrations' head (what /readyz checks)."""
    async with db.read_engine.connect() as connection:
        try:
            rows = (await connection.execute(text("SELECT version_num FROM alembic_version"))).scalars().all()
        except Exception:  # noqa: BLE001  (no table: never migrated)
            return False
    return set(rows) == {head_revision()}
