"""Each app serves the schema its own Settings describe: introspection and the query limits."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from app.asgi import create_app
from app.db import Database
from app.services import Services
from app.settings import Settings

INTROSPECTION = "{ __schema { queryType { name } } }"
DEEP = "{ me { organizations { organization { projects { edges { node { name } } } } } } }"


@pytest.fixture
async def strict(
    settings: Settings, database: Database, services: Services
) -> AsyncIterator[httpx.AsyncClient]:
    """The app with introspection off and a shallow depth limit, beside the default app of `client`."""
    strict_settings = settings.model_copy(update={"graphql_introspection": False, "graphql_max_depth": 3})
    app = create_app(strict_settings, database=database, services=services)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://testserver"
    ) as http:
        yield http
    await app.state.fleet.stop()


async def post(http: httpx.AsyncClient, query: str) -> dict:
    response = await http.post("/graphql", json={"query": query})
    return response.json()


async def test_introspection_follows_the_apps_settings(
    client: httpx.AsyncClient, strict: httpx.AsyncClient
) -> None:
    assert (await post(client, INTROSPECTION))["data"] == {"__schema": {"queryType": {"name": "Query"}}}
    refused = await post(strict, INTROSPECTION)
    assert "introspection" in refused["errors"][0]["message"].lower()


async def test_depth_limit_follows_the_apps_settings(
    client: httpx.AsyncClient, strict: httpx.AsyncClient
) -> None:
    assert (await post(client, DEEP))["data"] == {"me": None}
    refused = await post(strict, DEEP)
    assert "exceeds maximum operation depth" in refused["errors"][0]["message"]
