"""Monthly statements agree with the ledger to the nano-dollar; CSVs open only for those allowed."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from app.clock import FrozenClock
from app.db import Database
from app.domain.actor import Actor
from app.domain.credits.expiry import expire_grants
from app.domain.credits.ledger import balance_of
from app.domain.credits.purchases import grant_promotional_credits
from app.domain.errors import InvalidInput, NotFound
from app.domain.receipts.links import document_link
from app.domain.receipts.statements import monthly_statement
from app.payments.facade import Payments
from app.settings import Settings
from tests.credits.support import DOLLAR, admin, burn, buy, card
from tests.support import World


async def test_a_statement_closes_at_the_ledgers_sum_and_opens_where_the_last_closed(
    database: Database, payments: Payments, world: World, settings: Settings, clock: FrozenClock
) -> None:
    staff = Actor(world.people["staff"].user_id, is_staff=True)
    await card(database, payments, world.acme_id)
    await buy(database, payments, world, settings, "30")
    async with database.transaction() as session:
        await grant_promotional_credits(session, staff, world.acme_id, amount="5", expires_at=clock.now() + timedelta(days=2), note="welcome", settings=settings)  # fmt: skip
    await burn(database, world.acme_id, 1_234_567_891)
    clock.advance(days=3)
    assert await expire_grants(database) == 1  # what is left of the promotional $5 expires
    await burn(database, world.acme_id, 7 * DOLLAR + 3)

    async with database.reader() as session:
        november = await monthly_statement(session, admin(world), world.acme_id, month="2026-11")
        balance = await balance_of(session, world.acme_id)
    assert november.opening_balance_nanos == 0
    assert november.credits_bought_nanos == 30 * DOLLAR and november.credits_granted_nanos == 5 * DOLLAR
    assert november.credits_used_nanos == 1_234_567_891 + 7 * DOLLAR + 3
    assert november.credits_expired_nanos == 5 * DOLLAR - 1_234_567_891  # promotional credits burn first
    assert november.closing_balance_nanos == balance == 30 * DOLLAR - 7 * DOLLAR - 3
    assert november.credits_held_nanos == balance  # no debt

    clock.advance(days=10)  # December
    await burn(database, world.acme_id, DOLLAR)
    async with database.reader() as session:
        december = await monthly_statement(session, admin(world), world.acme_id, month="2026-12")
        november_again = await monthly_statement(session, admin(world), world.acme_id, month="2026-11")
        assert december.closing_balance_nanos == await balance_of(session, world.acme_id)
        for bad in ("2026-13", "last month", "2027-01"):
            with pytest.raises(InvalidInput):
                await monthly_statement(session, admin(world), world.acme_id, month=bad)
        with pytest.raises(NotFound):
            await monthly_statement(
                session, Actor(world.people["outsider"].user_id), world.acme_id, month="2026-11"
            )
    assert (
        december.opening_balance_nanos
        == november.closing_balance_nanos
        == november_again.closing_balance_nanos
    )


async def test_statement_and_usage_csvs_download_for_admins_and_signed_links_only(
    client: httpx.AsyncClient,
    database: Database,
    payments: Payments,
    world: World,
    settings: Settings,
    clock: Any,
) -> None:
    await card(database, payments, world.acme_id)
    await buy(database, payments, world, settings, "20")
    path = f"/billing/statements/{world.acme_id}/2026-11"
    admin_headers = {"Authorization": f"Bearer {world.token('admin')}"}

    summary = await client.get(f"{path}/summary.csv", headers=admin_headers)
    assert summary.status_code == 200 and summary.headers["content-type"].startswith("text/csv")
    rows = {(r["section"], r["item"]): r for r in csv.DictReader(io.StringIO(summary.text))}
    assert rows[("balance", "credits_bought")]["amount_usd"] == "20.00"
    assert rows[("balance", "closing_balance")]["amount_usd"] == "20.00"
    usage = await client.get(f"{path}/usage.csv", headers=admin_headers)
    assert usage.status_code == 200 and usage.text.startswith("date,model,project_id,requests")

    outsider = {"Authorization": f"Bearer {world.token('outsider')}"}
    assert (await client.get(f"{path}/summary.csv", headers=outsider)).status_code == 404
    assert (await client.get(f"/billing/statements/{world.evil_id}/2026-11/usage.csv", headers=admin_headers)).status_code == 404  # fmt: skip
    assert (await client.get(f"{path}/summary.csv")).status_code == 401
    assert (await client.get(f"{path}/secrets.csv", headers=admin_headers)).status_code == 404
    assert (await client.get(f"/billing/statements/{world.acme_id}/2026-99/summary.csv", headers=admin_headers)).status_code == 400  # fmt: skip

    link = urlsplit(document_link(settings, "statements", f"{world.acme_id}/2026-11/usage.csv"))
    assert (await client.get(f"{link.path}?{link.query}")).status_code == 200
    other = link.path.replace(world.acme_id, world.evil_id)
    assert (await client.get(f"{other}?{link.query}")).status_code == 403
