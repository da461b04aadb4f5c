"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest
from alembic import command

from app.migrate import alembic_config, upgrade
from tests.conftest import POSTGRES_URL, postgres_admin, postgres_problem

PG_CHECK_DB = f"billing_migration_check_{os.getpid()}"


def _fresh_database_url(backend: str, tmp_path: Path) -> str:
    if backend == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'migrated.sqlite3'}"
    problem = postgres_problem()
    if problem:
        if os.environ.get("REQUIRE_POSTGRES") == "1":
            pytest.fail(f"PostgreSQL is required but unavailable: {problem}")
        pytest.skip(f"PostgreSQL unavailable: {problem}")
    asyncio.run(
        postgres_admin(
            f'DROP DATABASE IF EXISTS "{PG_CHECK_DB}" WITH (FORCE)', f'CREATE DATABASE "{PG_CHECK_DB}"'
        )
    )
    return POSTGRES_URL.rsplit("/", 1)[0] + f"/{PG_CHECK_DB}"


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_migrations_match_the_models(backend: str, tmp_path: Path) -> None:
    url = _fresh_database_url(backend, tmp_path)
    upgrade(url)
    upgrade(url)  # a second run is a no-op
    # autogenerate finds nothing to add: every model change has its migration
    try:
        command.check(alembic_config(url))
    finally:
        if backend == "postgresql":
            asyncio.run(postgres_admin(f'DROP DATABASE IF EXISTS "{PG_CHECK_DB}" WITH (FORCE)'))


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_roll_ups_are_filled_from_the_minute_ones(backend: str, tmp_path: Path) -> None:
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    url = _fresh_database_url(backend, tmp_path)
    command.upgrade(alembic_config(url), "67ff3fe497fb")  # before usage_hour existed
    columns = "organization_id, minute, project_id, api_key_id, model_id, requests, input_tokens, output_tokens, billed_nanos, cost_nanos"  # noqa: E501
    rows = [("org_1", 60 * 100 + 5, "p", "k", "m", 1, 10, 1, 100, 100),
            ("org_1", 60 * 100 + 59, "p", "k", "m", 2, 20, 2, 200, 200),
            ("org_1", 60 * 101, "p", "k", "m", 4, 40, 4, 400, 400)]  # fmt: skip

    async def run(*statements: str) -> list[Any]:
        """The rows of the last statement."""
        engine = create_async_engine(url)
        async with engine.begin() as connection:
            for statement in statements:
                result = await connection.execute(text(statement))
            rows = list(result) if result.returns_rows else []
        await engine.dispose()
        return rows

    try:
        asyncio.run(run(*(f"INSERT INTO usage_minute ({columns}) VALUES {row}" for row in rows)))
        upgrade(url)
        hours = asyncio.run(
            run("SELECT hour, requests, input_tokens, billed_nanos, cost_nanos FROM usage_hour ORDER BY hour")
        )
        assert [tuple(row) for row in hours] == [(100, 3, 30, 300, 300), (101, 4, 40, 400, 400)]
        for table, bucket, expected in (
            ("usage_hour_by_model", "hour", [(100, 3, 30, 300, 300), (101, 4, 40, 400, 400)]),
            ("usage_hour_by_key", "hour", [(100, 3, 30, 300, 300), (101, 4, 40, 400, 400)]),
            ("usage_day", "day", [(4, 7, 70, 700, 700)]),  # hours 100 and 101 are on day 4
            ("usage_day_by_model", "day", [(4, 7, 70, 700, 700)]),
            ("usage_day_by_key", "day", [(4, 7, 70, 700, 700)]),
        ):
            figures = f"{bucket}, requests, input_tokens, billed_nanos, cost_nanos"
            summed = asyncio.run(run(f"SELECT {figures} FROM {table} ORDER BY {bucket}"))
            assert [tuple(row) for row in summed] == expected, table
    finally:
        if backend == "postgresql":
            asyncio.run(postgres_admin(f'DROP DATABASE IF EXISTS "{PG_CHECK_DB}" WITH (FORCE)'))
