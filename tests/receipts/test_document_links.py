"""Document links made by one process open on every other process on the same database, and after a restart."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import pytest
from litestar.testing import AsyncTestClient
from pydantic import SecretStr

from app.asgi import create_app
from app.db import Database
from app.domain.receipts import links
from app.services import Services
from app.settings import Settings
from tests.fleet.processes import proxy_to, until


def signed(settings: Settings) -> tuple[str, str]:
    query = parse_qs(urlsplit(links.document_link(settings, "receipts", "rcpt_1")).query)
    return query["expires"][0], query["signature"][0]


@pytest.fixture(autouse=True)
def fresh_keys() -> Iterator[None]:
    yield
    another_process()  # leave no key of this test's database behind


def another_process() -> None:
    """What a process of its own starts with: no shared key read yet, a random key of its own."""
    links._shared.clear()
    links._process_key.cache_clear()


async def test_a_link_opens_in_another_process_once_it_has_read_the_shared_key(
    database: Database, settings: Settings
) -> None:
    assert settings.document_link_key is None
    # two processes starting at once agree on one key
    await asyncio.gather(
        links.install_shared_key(database, settings), links.install_shared_key(database, settings)
    )
    expires, signature = signed(settings)

    another_process()
    assert not links.link_is_valid(settings, "receipts", "rcpt_1", expires, signature)  # its own key: no
    await links.install_shared_key(database, settings)
    assert links.link_is_valid(settings, "receipts", "rcpt_1", expires, signature)
    assert not links.link_is_valid(settings, "receipts", "rcpt_2", expires, signature)


async def test_a_configured_key_wins_over_the_shared_one(database: Database, settings: Settings) -> None:
    await links.install_shared_key(database, settings)
    shared = signed(settings)
    configured = settings.model_copy(update={"document_link_key": SecretStr("a key set by the operator")})
    assert signed(configured) != shared
    expires, signature = signed(configured)
    another_process()
    assert links.link_is_valid(configured, "receipts", "rcpt_1", expires, signature)


async def test_a_server_started_while_its_database_is_down_starts_and_reads_the_key_once_it_is_back(
    database: Database, settings: Settings, services: Services, database_url: str
) -> None:
    if database.is_sqlite:
        pytest.skip("the database is cut off by a TCP proxy: PostgreSQL")
    port = int(database_url.rsplit(":", 1)[1].split("/")[0])
    with proxy_to(port) as proxy:
        proxy.cut()
        through_proxy = database_url.replace(f":{port}/", f":{proxy.port}/")
        cut_off = settings.model_copy(
            update={"database_url": through_proxy, "database_connect_timeout_seconds": 0.5,
                    "jobs_enabled": False, "mail_worker": False}
        )  # fmt: skip
        started = time.monotonic()
        async with AsyncTestClient(create_app(cut_off, services=services)) as client:
            assert time.monotonic() - started < 15  # it waited a while for the database, then started
            assert (await client.get("/healthz")).status_code == 200
            assert through_proxy not in links._shared
            proxy.restore()

            async def key_read() -> bool:
                return through_proxy in links._shared

            await until(key_read, within=15, interval=0.1)
