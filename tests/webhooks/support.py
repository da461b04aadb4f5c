"""The console of Acme's admin over GraphQL, and signed Stripe webhooks, for the tests over the stand-in."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select

from app.db import Database
from app.domain.accounts.models import User
from app.domain.accounts.service import start_session
from app.domain.credits.models import CreditGrant
from app.settings import Settings
from tests.providers.stripe_standin import stripe_signature
from tests.support import GraphQL, World

ERROR = "__typename ... on Error { code message field } ... on PaymentError { declineCode }"
ADD = f"""mutation($input: AddCreditsInput!) {{ addCredits(input: $input) {{ {ERROR}
  ... on AddCreditsPayload {{ grant {{ amount {{ amount }} }} charge {{ id status }} balance {{ amount }}
    autoRechargeAttempt {{ status }} }}
  ... on PaymentAuthenticationRequired {{ chargeId clientSecret paymentStatus }} }} }}"""
COMPLETE = f"""mutation($input: CompletePaymentInput!) {{ completePayment(input: $input) {{ {ERROR}
  ... on CompletePaymentPayload {{ grant {{ amount {{ amount }} }} charge {{ status }} balance {{ amount }} }}
  ... on PaymentAuthenticationRequired {{ chargeId clientSecret paymentStatus }} }} }}"""
CARDS = """query($id: ID!) { node(id: $id) { ... on Organization { billing { __typename ... on Billing {
  paymentMethods { id brand last4 isDefault } } } } } }"""


class Console:
    """The console of Acme's admin: GraphQL operations by name."""

    def __init__(self, gql: GraphQL, world: World) -> None:
        self.gql, self.world = gql, world
        self.acme = world.gid("Organization", world.acme_id)

    async def mutate(self, operation: str, input_type: str, selection: str, **values: Any) -> dict[str, Any]:
        document = f"mutation($input: {input_type}!) {{ {operation}(input: $input) {{ {selection} }} }}"
        data = await self.gql(document, {"input": values}, token=self.world.token("admin"))
        return data[operation]  # type: ignore[no-any-return]

    async def attach(self, token: str) -> dict[str, Any]:
        return await self.mutate(
            "attachPaymentMethod",
            "AttachPaymentMethodInput",
            f"{ERROR} ... on PaymentMethodPayload {{ paymentMethod {{ id last4 isDefault }} }}",
            organizationId=self.acme,
            paymentMethodRef=token,
        )

    async def buy(self, amount: str, key: str) -> dict[str, Any]:
        values = {"organizationId": self.acme, "amount": amount, "idempotencyKey": key}
        data = await self.gql(ADD, {"input": values}, token=self.world.token("admin"))
        return data["addCredits"]  # type: ignore[no-any-return]

    async def complete(self, charge_id: str) -> dict[str, Any]:
        data = await self.gql(COMPLETE, {"input": {"chargeId": charge_id}}, token=self.world.token("admin"))
        return data["completePayment"]  # type: ignore[no-any-return]

    async def cards(self) -> list[dict[str, Any]]:
        data = await self.gql(CARDS, {"id": self.acme}, token=self.world.token("admin"))
        return data["node"]["billing"]["paymentMethods"]  # type: ignore[no-any-return]


async def send(client: httpx.AsyncClient, body: bytes) -> str:
    answer = await client.post(
        "/webhooks/stripe", content=body, headers={"Stripe-Signature": stripe_signature(body)}
    )
    assert answer.status_code == 200, answer.text
    return str(answer.json()["result"])


async def grants(database: Database) -> list[CreditGrant]:
    async with database.reader() as session:
        return list(await session.scalars(select(CreditGrant)))


async def sign_in_again(database: Database, settings: Settings, world: World, who: str = "admin") -> None:
    """A fresh session for ``who`` at the clock's time (a test that moves a month on outlives sessions)."""
    async with database.transaction() as session:
        user = await session.get(User, world.people[who].user_id)
        assert user is not None
        signed_in = await start_session(session, user, settings)
    world.people[who].token = signed_in.token
