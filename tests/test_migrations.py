"""The migrations build exactly the schema the models describe, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

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
    asyncio.run(postgres_admin(f'DROP DATABASE IF EXISTS "{PG_CHECK_DB}" WITH (FORCE)', f'CREATE DATABASE "{PG_CHECK_DB}"'))
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
