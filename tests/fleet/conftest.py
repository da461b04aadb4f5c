"""Fixtures for the fleet's API: a client holding the service token, and keys in a Personal and a Team org."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from app.db import Database
from app.domain.actor import Actor
from app.domain.billing.accounts import attach_payment_method
from app.domain.credits.purchases import add_credits
from app.payments.facade import Payments
from app.settings import Settings
from tests.conftest import FLEET_TOKEN
from tests.support import GraphQL, World

_request_ids = itertools.count(1)


@dataclass
class Fleet:
    http: httpx.AsyncClient

    async def admit(
        self, api_key: str, model: str = "gpt-oss-120b", input_tokens: int = 100, max_output_tokens: int = 100
    ) -> httpx.Response:
        body = {
            "api_key": api_key,
            "model": model,
            "input_tokens": input_tokens,
            "max_output_tokens": max_output_tokens,
        }
        return await self.http.post(
            "/fleet/v1/admissions", json=body, headers={"Authorization": f"Bearer {FLEET_TOKEN}"}
        )

    async def report(self, records: list[dict[str, Any]]) -> httpx.Response:
        return await self.http.post(
            "/fleet/v1/usage", json={"records": records}, headers={"Authorization": f"Bearer {FLEET_TOKEN}"}
        )

    async def run(self, api_key: str, *, model: str = "gpt-oss-120b", input_tokens: int = 100, output_tokens: int = 50,
                  max_output_tokens: int = 100, request_id: str | None = None) -> dict[str, Any]:  # fmt: skip
        """Admit a request and report its usage, as the fleet does around an inference."""
        admitted = await self.admit(api_key, model, input_tokens, max_output_tokens)
        assert admitted.status_code == 200, admitted.text
        record = {
            "request_id": request_id or f"req-{next(_request_ids)}",
            "admission_id": admitted.json()["admission_id"],
            "model": model,
            "input_tokens": input_tokens,
            "output_tokens": output_tokens,
        }
        reported = await self.report([record])
        assert reported.status_code == 200, reported.text
        return {"admission": admitted.json(), "record": record, "result": reported.json()["results"][0]}

    async def fold(self) -> None:
        """Fold the usage reported so far into the graphs' roll-ups now (the app does it within a second)."""
        await self.http.app.state.fleet.writer.fold()  # type: ignore[attr-defined]


@pytest.fixture
def fleet(client: httpx.AsyncClient) -> Fleet:
    return Fleet(client)


CREATE_KEY = """
mutation($p: ID!) { createApiKey(input: {projectId: $p, name: "k"}) { ... on CreateApiKeyPayload { secret apiKey { id } } } }
"""


async def new_key(gql: GraphQL, token: str, project_gid: str) -> str:
    data = await gql(CREATE_KEY, {"p": project_gid}, token=token)
    return data["createApiKey"]["secret"]  # type: ignore[no-any-return]


@pytest.fixture
async def personal_key(gql: GraphQL) -> str:
    """A key of a new user's Personal organization (free tier)."""
    signed_up = await gql(
        'mutation { signUp(input: {email: "solo@example.com", password: "long enough password"}) '
        "{ ... on SessionPayload { token } } }"
    )
    token = signed_up["signUp"]["token"]
    me = await gql(
        "{ me { organizations { organization { projects { edges { node { id } } } } } } }", token=token
    )
    project = me["me"]["organizations"][0]["organization"]["projects"]["edges"][0]["node"]["id"]
    return await new_key(gql, token, project)


async def buy_credits(
    database: Database, payments: Payments, settings: Settings, world: World, amount: str
) -> None:
    """Acme's admin adds a card and buys credits, as in the console."""
    await attach_payment_method(database, world.acme_id, payments=payments, provider_ref="pm_card_visa")
    admin = Actor(world.people["admin"].user_id)
    await add_credits(
        database,
        admin,
        world.acme_id,
        payments=payments,
        amount=amount,
        idempotency_key=None,
        settings=settings,
    )


@pytest.fixture
async def acme_key(
    gql: GraphQL, world: World, database: Database, payments: Payments, settings: Settings
) -> str:
    """A key of project A of the Team organization Acme, which has bought $100 of credits."""
    await buy_credits(database, payments, settings, world, "100.00")
    return await new_key(gql, world.token("admin") or "", world.gid("Project", world.project_a_id))


@pytest.fixture
async def acme_key_without_credit(gql: GraphQL, world: World) -> str:
    """A key of project A of Acme, which has neither credits nor subscriptions."""
    return await new_key(gql, world.token("admin") or "", world.gid("Project", world.project_a_id))
