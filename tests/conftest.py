"""Fixtures shared by every area: a database per test (SQLite, and PostgreSQL where present), the app, a GraphQL client.

Database tests run once per backend. PostgreSQL tests are skipped when no server answers,
unless REQUIRE_POSTGRES=1 (set by CI), which turns its absence into a failure.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher, profiles
from sqlalchemy import text
from sqlmodel import SQLModel

from app import clock as clock_module
from app.asgi import create_app
from app.db import Database
from app.domain.accounts import passwords
from app.settings import Settings
from tests.support import GraphQL, World, build_world

POSTGRES_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
REQUIRE_POSTGRES = os.environ.get("REQUIRE_POSTGRES") == "1"

# The production argon2id profile costs ~50 ms a hash; tests use the cheapest argon2id parameters.
passwords.hasher = PasswordHasher.from_parameters(profiles.CHEAPEST)


def _postgres_available() -> str | None:
    """None when PostgreSQL answers, else why not."""

    async def probe() -> None:
        import asyncpg

        dsn = POSTGRES_URL.replace("postgresql+asyncpg", "postgresql")
        connection = await asyncpg.connect(dsn, timeout=3)
        await connection.close()

    try:
        asyncio.run(probe())
    except Exception as exc:  # noqa: BLE001  (any failure means: no usable server)
        return f"{type(exc).__name__}: {exc}"
    return None


_POSTGRES_PROBLEM = _postgres_available()


def postgres_problem() -> str | None:
    """Why PostgreSQL cannot be used by the tests, or None when it can."""
    return _POSTGRES_PROBLEM


_pg_schema_ready = False


def pytest_report_header() -> str:
    return f"postgresql: {'available at ' + POSTGRES_URL if _POSTGRES_PROBLEM is None else _POSTGRES_PROBLEM}"


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "postgresql" and _POSTGRES_PROBLEM is not None:
        if REQUIRE_POSTGRES:
            pytest.fail(f"PostgreSQL is required (REQUIRE_POSTGRES=1) but unavailable: {_POSTGRES_PROBLEM}")
        pytest.skip(f"PostgreSQL unavailable: {_POSTGRES_PROBLEM}")
    return str(request.param)


@pytest.fixture
def database_url(backend: str, tmp_path: Path) -> str:
    if backend == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'test.sqlite3'}"
    return POSTGRES_URL


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    """An empty database with every table (created from the models: tests only)."""
    global _pg_schema_ready
    db = Database(database_url)
    if db.is_sqlite:
        await db.create_all()
    elif not _pg_schema_ready:
        import app.domain.tables  # noqa: F401

        async with db.write_engine.begin() as connection:
            await connection.run_sync(SQLModel.metadata.drop_all)
            await connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
        await db.create_all()
        _pg_schema_ready = True
    else:
        names = ", ".join(f'"{t.name}"' for t in SQLModel.metadata.sorted_tables)
        async with db.write_engine.begin() as connection:
            await connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    try:
        yield db
    finally:
        await db.dispose()


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(database_url=database_url, public_url="http://console.test", log_level="WARNING")


@pytest.fixture
async def client(settings: Settings, database: Database) -> AsyncIterator[httpx.AsyncClient]:
    """The app over HTTP, on the test database, in the test's own event loop (asyncpg ties connections to it)."""
    app = create_app(settings, database=database)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as http:
        yield http
    await app.state.services.aclose()


@pytest.fixture
def clock() -> Iterator[clock_module.FrozenClock]:
    """Time stands still at 2026-11-23 12:00 UTC until the test moves it."""
    frozen = clock_module.FrozenClock(datetime(2026, 11, 23, 12, 0, tzinfo=UTC))
    previous = clock_module.install(frozen)
    yield frozen
    clock_module.install(previous)


@pytest.fixture
def gql(client: httpx.AsyncClient) -> GraphQL:
    return GraphQL(client)


@pytest.fixture
async def world(database: Database, settings: Settings) -> World:
    """Acme with people in every role, an outsider's org, and staff (see tests/support.py)."""
    return await build_world(database, settings)


REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
REQUIRE_REDIS = os.environ.get("REQUIRE_REDIS") == "1"


@pytest.fixture
async def redis() -> AsyncIterator[Any]:
    """A real Redis (database 15, flushed); skipped when absent unless REQUIRE_REDIS=1 (CI)."""
    from redis.asyncio import BlockingConnectionPool, Redis

    client = Redis(connection_pool=BlockingConnectionPool.from_url(REDIS_URL, max_connections=32))
    try:
        await client.ping()
    except Exception as exc:  # noqa: BLE001  (any failure means: no usable server)
        await client.aclose(close_connection_pool=True)
        if REQUIRE_REDIS:
            pytest.fail(f"Redis is required (REQUIRE_REDIS=1) but unavailable at {REDIS_URL}: {exc}")
        pytest.skip(f"Redis unavailable: {exc}")
    await client.flushdb()
    yield client
    await client.flushdb()
    await client.aclose(close_connection_pool=True)
