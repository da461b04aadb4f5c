"""Receipts: one per succeeded charge, numbered without gaps, frozen as paid, opened only by those allowed."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import select

from app.db import Database
from app.domain.billing.address import AddressInput, set_billing_address
from app.domain.billing.models import Charge, ChargePurpose, ChargeStatus
from app.domain.money import NANOS_PER_CENT
from app.domain.notifications.models import OutboxMessage
from app.domain.receipts.links import document_link
from app.domain.receipts.models import Receipt
from app.domain.receipts.service import email_receipts, list_receipts
from app.domain.receipts.statements import monthly_statement
from app.payments.facade import Payments
from app.services import Services
from app.settings import Settings
from tests.credits.support import admin, buy, card
from tests.subscriptions.support import subscribe, use_card
from tests.support import GraphQL, World

ADD_CONTACT = """mutation($o: ID!, $e: String!, $n: [Notice!]!) {
  addBillingContact(input: {organizationId: $o, email: $e, notices: $n}) { __typename ... on Error { code } } }"""
MY_NOTICES = """mutation($o: ID!, $n: [Notice!]!) { setMyNotices(input: {organizationId: $o, notices: $n}) {
  ... on NotificationSettingsPayload { settings { myNotices } } } }"""
RECEIPTS = """query($o: ID!) { receipts(organizationId: $o, first: 1) { __typename ... on Receipts {
  receipts { id number amount { amount currency } cardBrand cardLast4 billingAddress downloadUrl } nextBefore } ... on Error { code } } }"""
ADDRESS = AddressInput(
    name="Acme Inc.", line1="1 Main St", city="Springfield", postal_code="62701", state="IL", country="US"
)


async def receipts(db: Database) -> list[Receipt]:
    async with db.reader() as session:
        return list(await session.scalars(select(Receipt).order_by(Receipt.organization_id, Receipt.number)))


async def test_a_purchase_has_a_receipt_of_what_was_paid_with_the_card_and_address_of_then(
    database: Database, payments: Payments, world: World, settings: Settings
) -> None:
    await card(database, payments, world.acme_id)
    await set_billing_address(database, admin(world), world.acme_id, ADDRESS, payments=payments)
    purchase = await buy(database, payments, world, settings, "25.50")
    await set_billing_address(database, admin(world), world.acme_id, ADDRESS.__class__(
        name="Moved Inc.", line1="2 Elm St", city="Shelbyville", postal_code="62565", state="IL", country="US"),
        payments=payments)  # fmt: skip

    [receipt] = await receipts(database)
    assert receipt.number == 1 and receipt.charge_id == purchase.charge.id
    assert receipt.amount_cents == purchase.charge.amount_cents == 2550  # the receipt's total is its charge's
    assert (receipt.card_brand, receipt.card_last4) == ("visa", "4242")
    assert receipt.billing_address["name"] == "Acme Inc." and receipt.billing_address["city"] == "Springfield"
    assert receipt.organization_name == "Acme" and receipt.description == purchase.charge.description


async def test_receipt_numbers_stay_gapless_and_unique_under_20_concurrent_purchases(
    database: Database, payments: Payments, world: World, settings: Settings
) -> None:
    await card(database, payments, world.acme_id)
    await card(database, payments, world.evil_id)
    results = await asyncio.gather(
        *(buy(database, payments, world, settings, "10", key=f"concurrent-{i}") for i in range(20)),
        return_exceptions=True,
    )
    assert not [r for r in results if isinstance(r, BaseException)]
    async with database.reader() as session:
        succeeded = list(await session.scalars(select(Charge).where(Charge.status == ChargeStatus.SUCCEEDED)))
    stored = await receipts(database)
    assert sorted(r.number for r in stored) == list(range(1, 21))
    assert {r.charge_id for r in stored} == {c.id for c in succeeded}
    assert all(r.organization_id == world.acme_id for r in stored)


async def test_only_admins_of_the_organization_or_a_signed_link_open_a_receipt(
    client: httpx.AsyncClient,
    database: Database,
    payments: Payments,
    world: World,
    settings: Settings,
    clock: Any,
) -> None:
    await card(database, payments, world.acme_id)
    await buy(database, payments, world, settings, "12")
    [receipt] = await receipts(database)
    page = f"/billing/receipts/{receipt.id}"

    def bearer(actor: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {world.token(actor)}"}

    opened = await client.get(page, headers=bearer("admin"))
    assert opened.status_code == 200 and opened.headers["content-type"].startswith("text/html")
    assert "$12.00 USD" in opened.text and "Visa ending in 4242" in opened.text and "Acme" in opened.text
    assert (await client.get(page)).status_code == 401
    for actor in ("outsider", "project_member", "project_admin"):
        assert (await client.get(page, headers=bearer(actor))).status_code == 404, actor
    assert (await client.get("/billing/receipts/rcpt_unknown", headers=bearer("admin"))).status_code == 404

    link = urlsplit(document_link(settings, "receipts", receipt.id))
    signed = f"{link.path}?{link.query}"
    assert (await client.get(signed)).status_code == 200
    tampered = signed.replace(receipt.id, "rcpt_other")
    assert (await client.get(tampered)).status_code in (403, 404)
    assert (await client.get(signed[:-1] + ("0" if signed[-1] != "0" else "1"))).status_code == 403
    clock.advance(hours=settings.document_link_ttl_hours + 1)
    assert (await client.get(signed)).status_code == 403
    assert timedelta(hours=1)


async def test_receipts_are_emailed_to_billing_contacts_and_admins_who_chose_them(
    gql: GraphQL, database: Database, payments: Payments, world: World, settings: Settings
) -> None:
    acme, token = world.gid("Organization", world.acme_id), world.token("admin")
    for email, notices in (
        ("ap@acme-accounting.example", ["RECEIPTS"]),
        ("cfo@acme.example", ["SPEND_ALERTS"]),
    ):
        added = await gql(ADD_CONTACT, {"o": acme, "e": email, "n": notices}, token=token)
        assert added["addBillingContact"]["__typename"] == "NotificationSettingsPayload"
    await card(database, payments, world.acme_id)
    await buy(database, payments, world, settings, "10")
    assert await email_receipts(database, settings=settings) == 1
    assert await email_receipts(database, settings=settings) == 0  # each receipt once
    chosen = (await gql(MY_NOTICES, {"o": acme, "n": ["LOW_BALANCE", "SPEND_ALERTS"]}, token=token))[
        "setMyNotices"
    ]
    assert chosen["settings"]["myNotices"] == ["LOW_BALANCE", "SPEND_ALERTS"]
    await buy(database, payments, world, settings, "11")
    assert await email_receipts(database, settings=settings) == 1

    async with database.reader() as session:
        mail = list(await session.scalars(select(OutboxMessage).where(OutboxMessage.template == "receipt")))
    sent = sorted((m.to_address, m.subject) for m in mail)
    assert [to for to, _ in sent] == [
        "admin@example.com",
        "ap@acme-accounting.example",
        "ap@acme-accounting.example",
    ]
    assert all("receipt" in subject and "$1" in subject for _, subject in sent)
    assert "/billing/receipts/" in mail[0].body_text and "signature=" in mail[0].body_text
    async with database.reader() as session:
        listed = await list_receipts(session, admin(world), world.acme_id)
    assert [r.number for r in listed] == [2, 1]


async def test_receipts_are_listed_over_graphql_and_stay_hidden_from_others(
    gql: GraphQL, database: Database, payments: Payments, world: World, settings: Settings
) -> None:
    await card(database, payments, world.acme_id)
    await set_billing_address(database, admin(world), world.acme_id, ADDRESS, payments=payments)
    for amount in ("10", "12.34"):
        await buy(database, payments, world, settings, amount)
    acme = world.gid("Organization", world.acme_id)
    page = (await gql(RECEIPTS, {"o": acme}, token=world.token("admin")))["receipts"]
    [newest] = page["receipts"]
    assert (newest["number"], newest["amount"], page["nextBefore"]) == (
        2,
        {"amount": "12.34", "currency": "USD"},
        2,
    )
    assert (newest["cardBrand"], newest["cardLast4"]) == ("visa", "4242")
    assert newest["billingAddress"][:2] == ["Acme Inc.", "1 Main St"]
    assert "/billing/receipts/" in newest["downloadUrl"] and "signature=" in newest["downloadUrl"]
    node = "query($id: ID!) { node(id: $id) { ... on Receipt { number } } }"
    assert (await gql(node, {"id": newest["id"]}, token=world.token("admin")))["node"] == {"number": 2}
    for actor in ("outsider", "project_member", "staff"):
        assert (await gql(node, {"id": newest["id"]}, token=world.token(actor)))["node"] is None
    assert (await gql(RECEIPTS, {"o": acme}, token=world.token("outsider")))["receipts"][
        "code"
    ] == "NOT_FOUND"
    statement = 'query($o: ID!) { statement(organizationId: $o, month: "2026-11") { __typename ... on Error { code } } }'
    assert (await gql(statement, {"o": acme}, token=world.token("outsider")))["statement"][
        "code"
    ] == "NOT_FOUND"


async def test_a_subscription_receipt_names_its_paid_period_and_counts_in_the_statement(
    clock: Any, database: Database, services: Services, world: World
) -> None:
    await use_card(database, services, world.acme_id)
    subscription = await subscribe(database, services, world)
    [receipt] = await receipts(database)
    assert receipt.purpose is ChargePurpose.SUBSCRIPTION and receipt.number == 1
    assert (receipt.period_start, receipt.period_end) == (
        subscription.current_period_start,
        subscription.current_period_end,
    )
    async with database.reader() as session:
        statement = await monthly_statement(session, admin(world), world.acme_id, month="2026-11")
    assert statement.subscription_charges_nanos == receipt.amount_cents * NANOS_PER_CENT > 0
    assert [c.charge_id for c in statement.charges] == [receipt.charge_id]
