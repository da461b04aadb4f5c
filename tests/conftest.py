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
from app.domain.charge_handlers import install_charge_handlers
from app.payments.facade import Payments
from app.services import Services, build_services
from app.settings import Settings
from tests.providers.stripe_standin import StripeStandIn, running_standin
from tests.support import GraphQL, World, build_world

# The server's own database, used to create one database per test run, so that runs side by side
# (developers, CI) never truncate each other's tables.
POSTGRES_SERVER_URL = os.environ.get("TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
POSTGRES_URL = POSTGRES_SERVER_URL.rsplit("/", 1)[0] + f"/billing_test_{os.getpid()}"
REQUIRE_POSTGRES = os.environ.get("REQUIRE_POSTGRES") == "1"
FLEET_TOKEN = "fleet-test-token"

# The production argon2id profile costs ~50 ms a hash; tests use the cheapest argon2id parameters.
passwords.hasher = PasswordHasher.from_parameters(profiles.CHEAPEST)
# create_app and the job runner install the charge handlers at start-up; tests that call the domain directly need them too
install_charge_handlers()


async def postgres_admin(*statements: str) -> None:
    """Run statements (CREATE / DROP DATABASE) on the server's own database."""
    import asyncpg

    connection = await asyncpg.connect(
        POSTGRES_SERVER_URL.replace("postgresql+asyncpg", "postgresql"), timeout=3
    )
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


def _database_name(url: str) -> str:
    return url.rsplit("/", 1)[1]


def _prepare_postgres() -> str | None:
    """Create this run's database; None when that worked, else why PostgreSQL cannot be used."""
    name = _database_name(POSTGRES_URL)
    try:
        asyncio.run(
            postgres_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"')
        )
    except Exception as exc:  # noqa: BLE001  (any failure means: no usable server)
        return f"{type(exc).__name__}: {exc}"
    return None


_POSTGRES_PROBLEM = _prepare_postgres()


def pytest_unconfigure() -> None:
    if _POSTGRES_PROBLEM is None:
        asyncio.run(postgres_admin(f'DROP DATABASE IF EXISTS "{_database_name(POSTGRES_URL)}" WITH (FORCE)'))


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
def plugins_toml(tmp_path: Path) -> Path:
    """A plugins.toml choosing the fake provider, its state in the test's own folder."""
    path = tmp_path / "plugins.toml"
    path.write_text('[payments]\nprovider = "fake"\n\n[providers.fake]\nstate_path = "fake-provider.json"\n')
    return path


@pytest.fixture
def settings(database_url: str, plugins_toml: Path) -> Settings:
    return Settings(
        database_url=database_url,
        public_url="http://console.test",
        log_level="WARNING",
        plugins_toml=plugins_toml,
        fleet_token=FLEET_TOKEN,
    )


@pytest.fixture
async def services(settings: Settings) -> AsyncIterator[Services]:
    """The app's long-lived services (catalog, payments facade over the fake provider)."""
    built = build_services(settings)
    yield built
    await built.aclose()


@pytest.fixture
def payments(services: Services) -> Payments:
    return services.payments


@pytest.fixture
async def client(
    settings: Settings, database: Database, services: Services
) -> AsyncIterator[httpx.AsyncClient]:
    """The app over HTTP, on the test database, in the test's own event loop (asyncpg ties connections to it)."""
    app = create_app(settings, database=database, services=services)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as http:
        http.app = app  # type: ignore[attr-defined]  (tests reach the app's services through it)
        yield http
    await app.state.fleet.stop()


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


@pytest.fixture
def stripe_standin() -> Iterator[StripeStandIn]:
    """A local stand-in for Stripe's API on 127.0.0.1: the real SDK talks to it over HTTP."""
    with running_standin() as standin:
        yield standin
