"""The fake provider's 3-D Secure endpoint: the client secret is the only credential, and one answer per charge."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select

from app.db import Database
from app.domain.billing.authentication import complete_payment
from app.domain.billing.errors import PaymentActionRequired, PaymentFailed
from app.domain.billing.models import Charge, ChargeStatus
from app.domain.credits.models import CreditGrant
from app.domain.credits.purchases import complete_purchase
from app.payments.facade import Payments
from app.payments.types import PaymentUi
from app.settings import Settings
from providers.fake.plugin import AUTHENTICATION_FAILED
from providers.fake.web import PATH
from tests.credits.support import DOLLAR, admin, buy, card, check_ledger
from tests.support import World


async def waiting_purchase(database: Database, payments: Payments, world: World, settings: Settings) -> Any:
    """A $50 purchase on the authentication card: the error the console gets, with the charge's client secret."""
    await card(database, payments, world.acme_id, "pm_card_authenticationRequired")
    with pytest.raises(PaymentActionRequired) as asked:
        await buy(database, payments, world, settings, "50")
    assert asked.value.client_secret
    return asked.value


async def answer(client: httpx.AsyncClient, secret: Any, outcome: Any = "authenticate") -> httpx.Response:
    return await client.post(PATH, json={"client_secret": secret, "outcome": outcome})


async def grants(database: Database) -> list[CreditGrant]:
    async with database.reader() as session:
        return list(await session.scalars(select(CreditGrant)))


async def test_authenticating_with_the_client_secret_completes_the_purchase_once(
    client: httpx.AsyncClient, database: Database, payments: Payments, world: World, settings: Settings
) -> None:
    asked = await waiting_purchase(database, payments, world, settings)

    passed = await answer(client, asked.client_secret)
    again = await answer(client, asked.client_secret)  # the secret is used: a second answer is refused
    purchase = await complete_purchase(database, admin(world), asked.charge_id, payments=payments)
    repeat = await complete_purchase(database, admin(world), asked.charge_id, payments=payments)

    assert passed.status_code == 200 and passed.json() == {"status": "succeeded", "message": ""}
    assert again.status_code == 409
    assert again.json()["error"] == {
        "code": "payment_intent_unexpected_state",
        "message": "This payment is no longer waiting for authentication.",
    }
    assert purchase.grant and repeat.grant and purchase.grant.id == repeat.grant.id
    assert purchase.balance_nanos == 50 * DOLLAR and len(await grants(database)) == 1
    await check_ledger(database)


async def test_a_failed_authentication_declines_the_charge_and_grants_nothing(
    client: httpx.AsyncClient, database: Database, payments: Payments, world: World, settings: Settings
) -> None:
    asked = await waiting_purchase(database, payments, world, settings)

    failed = await answer(client, asked.client_secret, "fail")
    later = await answer(client, asked.client_secret)  # no second chance with the same secret
    async with database.reader() as session:
        waiting = await session.get(Charge, asked.charge_id)
    assert waiting is not None and waiting.status is ChargeStatus.REQUIRES_ACTION  # until read again
    with pytest.raises(PaymentFailed) as declined:
        await complete_payment(database, admin(world), asked.charge_id, payments=payments)

    assert failed.status_code == 200 and failed.json() == {
        "status": "declined",
        "message": AUTHENTICATION_FAILED,
    }
    assert later.status_code == 409
    assert AUTHENTICATION_FAILED in declined.value.message
    async with database.reader() as session:
        settled = await session.get(Charge, asked.charge_id)
    assert settled is not None and settled.status is ChargeStatus.DECLINED
    assert await grants(database) == []
    await check_ledger(database)


async def test_a_wrong_secret_or_a_malformed_request_is_refused_and_changes_nothing(
    client: httpx.AsyncClient, database: Database, payments: Payments, world: World, settings: Settings
) -> None:
    asked = await waiting_purchase(database, payments, world, settings)
    charge_ref = asked.client_secret.partition("_secret_")[0]
    unknown = {"code": "invalid_client_secret", "message": "This payment is unknown to the payment provider."}

    for wrong in (
        f"{charge_ref}_secret_{'0' * 32}",  # the right charge, a guessed secret
        f"{charge_ref}_secret_",
        charge_ref,
        "ch_fake_0000000000000000_secret_" + asked.client_secret.partition("_secret_")[2],  # another charge
        "",
    ):
        refused = await answer(client, wrong)
        assert (refused.status_code, refused.json()["error"]) == (404, unknown), wrong
    for body in (
        {"client_secret": asked.client_secret},
        {"client_secret": asked.client_secret, "outcome": "maybe"},
        {"client_secret": [asked.client_secret], "outcome": "authenticate"},
        {"client_secret": asked.client_secret + "x" * 200, "outcome": "authenticate"},
        [asked.client_secret],
    ):
        refused = await client.post(PATH, json=body)
        assert refused.status_code == 400 and refused.json()["error"]["code"] == "invalid_request", body
    not_json = await client.post(PATH, content=b"client_secret=x", headers={"content-type": "text/plain"})
    assert not_json.status_code == 400

    with pytest.raises(PaymentActionRequired):  # still waiting for the cardholder
        await complete_payment(database, admin(world), asked.charge_id, payments=payments)
    assert await grants(database) == []


async def test_a_charge_that_never_asked_for_authentication_has_no_secret_to_answer(
    client: httpx.AsyncClient, database: Database, payments: Payments, world: World, settings: Settings
) -> None:
    await card(database, payments, world.acme_id)
    await buy(database, payments, world, settings, "25")
    (charge,) = payments.provider.recorded_charges()  # type: ignore[attr-defined]

    refused = await answer(client, f"{charge.charge_ref}_secret_")

    assert charge.client_secret is None and refused.status_code == 404


def test_a_script_of_the_apps_own_origin_needs_no_other_origin_and_a_url_is_not_a_path() -> None:
    ui = PaymentUi(
        provider="fake", publishable_key="pk_fake", script_url="/static/fake-provider/fake-provider.js"
    )
    assert ui.script_origins == ()
    for not_a_path in ("//evil.example/x.js", "https://evil.example/x.js", "/static/x.js?y=<z>"):
        with pytest.raises(ValueError, match="script_url"):
            PaymentUi(provider="fake", publishable_key="pk_fake", script_url=not_a_path)
