"""Outages answer fast and clearly: Redis down, a schema behind the migrations."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import text

from app.asgi import create_app
from app.db import Database
from app.fleet.tokens import Admission, new_nonce
from app.migrate import head_revision
from app.outage import is_outage
from app.services import Services
from app.settings import Settings
from tests.fleet.conftest import Fleet
from tests.support import World


@pytest.fixture
async def without_redis(
    settings: Settings, database: Database, services: Services
) -> AsyncIterator[httpx.AsyncClient]:
    """The app configured with a Redis that refuses every connection."""
    app = create_app(settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"}), database=database,
                     services=services)  # fmt: skip
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as http:
        http.app = app  # type: ignore[attr-defined]
        yield http
    await app.state.fleet.stop()


async def test_while_redis_is_down_admission_answers_503_and_usage_is_still_recorded(
    without_redis: httpx.AsyncClient, acme_key: str, world: World
) -> None:
    fleet = Fleet(without_redis)
    started = time.monotonic()
    answer = await fleet.admit(acme_key)
    assert answer.status_code == 503 and time.monotonic() - started < 2
    assert answer.json()["type"] == "service_unavailable_error" and answer.headers["retry-after"] == "2"
    # a request admitted before Redis went away reports its usage: committed and acknowledged
    codec = without_redis.app.state.fleet.admissions.codec  # type: ignore[attr-defined]
    admission = Admission(world.acme_id, world.project_a_id, world.key_a_id, "gpt-oss-120b", "paygo", 200,
                          int(time.time()), new_nonce(), 1)  # fmt: skip
    record = {"request_id": "r-1", "admission_id": codec.encode(admission), "model": "gpt-oss-120b",
              "input_tokens": 100, "output_tokens": 10}  # fmt: skip
    reported = await fleet.report([record])
    assert reported.status_code == 200 and reported.json()["results"] == [
        {"request_id": "r-1", "status": "accepted"}
    ]


async def test_a_redis_that_stops_answering_gets_503s_within_the_fleet_timeout(
    settings: Settings, database: Database, services: Services, acme_key: str
) -> None:
    """A Redis that accepts connections and never answers: every admission still ends in time."""
    connections: list[asyncio.StreamWriter] = []

    async def silent(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer)  # read nothing, answer nothing

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    app = create_app(settings.model_copy(update={"redis_url": f"redis://127.0.0.1:{port}/0", "fleet_timeout_seconds": 1}),
                     database=database, services=services)  # fmt: skip
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://testserver"
        ) as http:
            fleet = Fleet(http)
            started = time.monotonic()
            answers = await asyncio.gather(*(fleet.admit(acme_key) for _ in range(20)))
            assert 1 <= time.monotonic() - started < 2.5
            assert {answer.status_code for answer in answers} == {503}
            assert all(answer.json()["type"] == "service_unavailable_error" for answer in answers)
            # the calls after them are bounded all the same
            started = time.monotonic()
            assert (await fleet.admit(acme_key)).status_code == 503 and time.monotonic() - started < 2.5
    finally:
        await app.state.fleet.stop()
        for writer in connections:
            writer.close()
        server.close()


async def test_readyz_says_whether_the_schema_is_at_the_migrations_head(
    client: httpx.AsyncClient, database: Database
) -> None:
    async with database.write_engine.begin() as connection:  # the tests' schema comes from the models
        await connection.execute(text("DROP TABLE IF EXISTS alembic_version"))
    behind = await client.get("/readyz")
    assert behind.status_code == 503 and "migrate" in behind.json()["checks"]["database"]
    async with database.write_engine.begin() as connection:
        await connection.execute(
            text("CREATE TABLE IF NOT EXISTS alembic_version (version_num VARCHAR(32) NOT NULL)")
        )
        await connection.execute(text("DELETE FROM alembic_version"))
        await connection.execute(
            text("INSERT INTO alembic_version VALUES (:head)"), {"head": head_revision()}
        )
    ready = await client.get("/readyz")
    assert ready.status_code == 200 and ready.json() == {"status": "ready", "checks": {"database": "ok"}}
    assert (await client.get("/healthz")).status_code == 200
    async with database.write_engine.begin() as connection:
        await connection.execute(text("DROP TABLE alembic_version"))


def test_an_outage_is_told_from_a_bug() -> None:
    from sqlalchemy.exc import IntegrityError, OperationalError

    assert is_outage(TimeoutError()) and is_outage(ConnectionRefusedError(111, "refused"))
    assert is_outage(OperationalError("BEGIN IMMEDIATE", {}, Exception("database is locked")))
    assert not is_outage(IntegrityError("INSERT", {}, Exception("UNIQUE constraint failed")))
    assert not is_outage(ValueError("a bug"))


def test_a_missing_file_is_a_bug_not_an_outage() -> None:
    assert not is_outage(FileNotFoundError(2, "No such file"))
    assert is_outage(OSError(113, "No route to host"))
