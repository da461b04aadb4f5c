"""The console's billing pages through GraphQL: cards, address, credits, declines as typed errors, refunds."""

from __future__ import annotations

from typing import Any

import pytest

from app.db import Database
from app.payments.facade import Payments
from tests.credits.support import DOLLAR, burn, provider_charges
from tests.support import GraphQL, World

PLAIN = "{ __typename ... on Error { code field message } }"
RESULT = "{ __typename ... on Error { code field message } ... on PaymentError { declineCode } }"

ATTACH = """mutation($input: AttachPaymentMethodInput!) { attachPaymentMethod(input: $input) {
  __typename ... on PaymentMethodPayload { paymentMethod { id brand last4 isDefault } } ... on Error { code field } } }"""
ADD = """mutation($input: AddCreditsInput!) { addCredits(input: $input) { ... on AddCreditsPayload {
  grant { id source state amount { amount currency } remaining { amount } expiresAt charge { status } }
  balance { amount currency } charge { purpose status amount { amount } }
  autoRechargeAttempt { status amount { amount } } } __typename ... on Error { code field message }
  ... on PaymentError { declineCode }
  ... on PaymentAuthenticationRequired { declineCode clientSecret chargeId paymentStatus } } }"""
CREDITS = """query($id: ID!) { node(id: $id) { ... on Organization { credits { __typename ... on Credits {
  balance { amount currency } debt { amount }
  autoRecharge { enabled threshold { amount } rechargeTo { amount } monthlyCap { amount } spentThisMonth { amount } }
  grants(first: 10) { edges { node { source state amount { amount } remaining { amount } } } }
  ledger(first: 10) { pageInfo { hasNextPage } edges { node { kind amount { amount } balanceAfter { amount }
    consumptions { amount { amount } grant { source } } } } }
  autoRechargeAttempts { edges { node { attemptNumber status amount { amount } } } }
  refundRequests { edges { node { status decision reason amountRequested { amount } grant { id } } } }
} } } } }"""
BILLING = """query($id: ID!) { node(id: $id) { ... on Organization { billing { ... on Billing {
  paymentMethods { brand last4 isDefault } billingAddress { name line1 city postalCode state country }
  charges(first: 5) { edges { node { purpose status amount { amount } declineCode } } }
} } } } }"""


async def attach(
    gql: GraphQL, world: World, ref: str = "pm_card_visa", default: bool = True
) -> dict[str, Any]:
    data = await gql(
        ATTACH,
        {
            "input": {
                "organizationId": world.gid("Organization", world.acme_id),
                "paymentMethodRef": ref,
                "makeDefault": default,
            }
        },
        token=world.token("admin"),
    )
    return data["attachPaymentMethod"]  # type: ignore[no-any-return]


async def add(gql: GraphQL, world: World, **values: Any) -> dict[str, Any]:
    value = {"organizationId": world.gid("Organization", world.acme_id), **values}
    return (await gql(ADD, {"input": value}, token=world.token("admin")))["addCredits"]  # type: ignore[no-any-return]


async def credits(gql: GraphQL, world: World) -> dict[str, Any]:
    data = await gql(CREDITS, {"id": world.gid("Organization", world.acme_id)}, token=world.token("admin"))
    return data["node"]["credits"]  # type: ignore[no-any-return]


async def test_cards_are_set_up_attached_and_managed(gql: GraphQL, world: World) -> None:
    acme = world.gid("Organization", world.acme_id)
    setup = await gql(
        "mutation($input: SetUpPaymentMethodInput!) { setUpPaymentMethod(input: $input) { __typename "
        "... on PaymentMethodSetupPayload { clientSecret publishableKey provider setupRef } } }",
        {"input": {"organizationId": acme}},
        token=world.token("admin"),
    )
    payload = setup["setUpPaymentMethod"]
    assert payload["publishableKey"] == "pk_fake_local" and payload["provider"] == "fake"
    assert payload["clientSecret"].startswith(payload["setupRef"])
    visa = (await attach(gql, world))["paymentMethod"]
    master = (await attach(gql, world, "pm_card_mastercard", default=False))["paymentMethod"]
    assert (visa["brand"], visa["last4"], visa["isDefault"], master["isDefault"]) == (
        "visa",
        "4242",
        True,
        False,
    )
    made_default = await gql(
        f"mutation($input: PaymentMethodIdInput!) {{ setDefaultPaymentMethod(input: $input) {RESULT} }}",
        {"input": {"paymentMethodId": master["id"]}},
        token=world.token("admin"),
    )
    assert made_default["setDefaultPaymentMethod"]["__typename"] == "PaymentMethodPayload"
    removed = await gql(
        "mutation($input: PaymentMethodIdInput!) { removePaymentMethod(input: $input) { __typename "
        "... on RemovePaymentMethodPayload { paymentMethods { last4 isDefault } } } }",
        {"input": {"paymentMethodId": master["id"]}},
        token=world.token("admin"),
    )
    assert removed["removePaymentMethod"]["paymentMethods"] == [{"last4": "4242", "isDefault": True}]
    bad = await attach(gql, world, "pm_card_nonsense")
    assert (bad["__typename"], bad["code"], bad["field"]) == (
        "InvalidInputError",
        "INVALID",
        "paymentMethodRef",
    )


async def test_credits_are_bought_shown_and_burned(
    gql: GraphQL, world: World, database: Database, payments: Payments
) -> None:
    await attach(gql, world)
    bought = await add(gql, world, amount="25.00", idempotencyKey="7d1c9a4e-click")
    assert bought["balance"] == {"amount": "25.00", "currency": "USD"}
    assert bought["grant"]["source"] == "PURCHASE" and bought["grant"]["state"] == "ACTIVE"
    assert bought["grant"]["expiresAt"].startswith("2027-")
    assert bought["charge"] == {"purpose": "PURCHASE", "status": "SUCCEEDED", "amount": {"amount": "25.00"}}
    again = await add(gql, world, amount="25.00", idempotencyKey="7d1c9a4e-click")
    assert again["grant"]["id"] == bought["grant"]["id"] and len(provider_charges(payments)) == 1
    await burn(database, world.acme_id, 1_234_567_891, "usage:req-1+9")
    shown = await credits(gql, world)
    assert shown["balance"] == {"amount": "23.765432109", "currency": "USD"}
    assert shown["debt"] == {"amount": "0.00"}
    assert shown["grants"]["edges"] == [
        {
            "node": {
                "source": "PURCHASE",
                "state": "ACTIVE",
                "amount": {"amount": "25.00"},
                "remaining": {"amount": "23.765432109"},
            }
        }
    ]
    usage, purchase = [edge["node"] for edge in shown["ledger"]["edges"]]
    assert (usage["kind"], usage["amount"], usage["balanceAfter"]) == (
        "USAGE",
        {"amount": "-1.234567891"},
        {"amount": "23.765432109"},
    )
    assert usage["consumptions"] == [{"amount": {"amount": "1.234567891"}, "grant": {"source": "PURCHASE"}}]
    assert purchase["kind"] == "PURCHASE" and purchase["consumptions"] == []
    assert shown["autoRecharge"]["enabled"] is False


@pytest.mark.parametrize(
    ("ref", "code", "decline_code"),
    [
        ("pm_card_chargeDeclined", "PAYMENT_DECLINED", "generic_decline"),
        ("pm_card_chargeDeclinedInsufficientFunds", "PAYMENT_DECLINED", "insufficient_funds"),
        ("pm_card_chargeDeclinedExpiredCard", "PAYMENT_DECLINED", "expired_card"),
        ("pm_card_authenticationRequired", "PAYMENT_REQUIRES_ACTION", "authentication_required"),
    ],
)
async def test_declines_are_typed_payment_errors_and_the_balance_is_untouched(
    gql: GraphQL, world: World, ref: str, code: str, decline_code: str
) -> None:
    await attach(gql, world, ref)
    result = await add(gql, world, amount="50")
    assert (result["__typename"], result["code"], result["declineCode"]) == (
        "PaymentError" if code == "PAYMENT_DECLINED" else "PaymentAuthenticationRequired",
        code,
        decline_code,
    )
    shown = await credits(gql, world)
    assert shown["balance"]["amount"] == "0.00" and shown["grants"]["edges"] == []
    billing = await gql(BILLING, {"id": world.gid("Organization", world.acme_id)}, token=world.token("admin"))
    [charge] = [e["node"] for e in billing["node"]["billing"]["charges"]["edges"]]
    assert charge["declineCode"] == decline_code and charge["status"] != "SUCCEEDED"


async def test_provider_errors_are_typed_and_a_retry_grants_once(
    gql: GraphQL, world: World, payments: Payments
) -> None:
    await attach(gql, world)
    payments.provider.faults.fail_next(1, "error", operation="charge")  # type: ignore[attr-defined]
    failed = await add(gql, world, amount="10", idempotencyKey="retry-me-please")
    assert (failed["__typename"], failed["code"]) == ("PaymentError", "PAYMENT_PROVIDER_UNAVAILABLE")
    assert (await credits(gql, world))["balance"]["amount"] == "0.00"
    retried = await add(gql, world, amount="10", idempotencyKey="retry-me-please")
    assert retried["__typename"] == "AddCreditsPayload" and retried["balance"]["amount"] == "10.00"
    assert len(provider_charges(payments)) == 1


async def test_no_card_and_bad_amounts_are_typed_errors(gql: GraphQL, world: World) -> None:
    no_card = await add(gql, world, amount="10")
    assert (no_card["__typename"], no_card["code"]) == ("ConflictError", "NO_PAYMENT_METHOD")
    await attach(gql, world)
    for amount, field in (("5", "amount"), ("12.345", "amount"), ("20000", "amount")):
        bad = await add(gql, world, amount=amount)
        assert (bad["__typename"], bad["field"]) == ("InvalidInputError", field), amount
    bad_recharge = await add(gql, world, amount="10", autoRecharge={"threshold": "20", "rechargeTo": "10"})
    assert (bad_recharge["__typename"], bad_recharge["field"]) == ("InvalidInputError", "rechargeTo")
    assert (await credits(gql, world))["balance"]["amount"] == "0.00"


async def test_auto_recharge_set_up_with_a_purchase_and_on_its_own(gql: GraphQL, world: World) -> None:
    await attach(gql, world)
    bought = await add(
        gql, world, amount="10", autoRecharge={"threshold": "5", "rechargeTo": "30", "monthlyCap": "100"}
    )
    assert bought["autoRechargeAttempt"] is None  # $10 is above the $5 threshold
    recharge = await gql(
        "mutation($input: ConfigureAutoRechargeInput!) { configureAutoRecharge(input: $input) { __typename "
        "... on AutoRechargePayload { recharge { status amount { amount } } credits { balance { amount } } } } }",
        {
            "input": {
                "organizationId": world.gid("Organization", world.acme_id),
                "threshold": "15",
                "rechargeTo": "30",
            }
        },
        token=world.token("admin"),
    )
    payload = recharge["configureAutoRecharge"]
    assert payload["recharge"] == {"status": "SUCCEEDED", "amount": {"amount": "20.00"}}  # at once: below $15
    assert payload["credits"]["balance"]["amount"] == "30.00"
    shown = await credits(gql, world)
    assert shown["autoRecharge"] == {
        "enabled": True,
        "threshold": {"amount": "15.00"},
        "rechargeTo": {"amount": "30.00"},
        "monthlyCap": None,
        "spentThisMonth": {"amount": "20.00"},
    }
    assert [e["node"]["attemptNumber"] for e in shown["autoRechargeAttempts"]["edges"]] == [1]
    off = await gql(
        f"mutation($input: DisableAutoRechargeInput!) {{ disableAutoRecharge(input: $input) {PLAIN} }}",
        {"input": {"organizationId": world.gid("Organization", world.acme_id)}},
        token=world.token("admin"),
    )
    assert off["disableAutoRecharge"]["__typename"] == "AutoRechargePayload"
    assert (await credits(gql, world))["autoRecharge"]["enabled"] is False


async def test_a_refund_request_is_refused_and_recorded(
    gql: GraphQL, world: World, payments: Payments
) -> None:
    await attach(gql, world)
    grant = (await add(gql, world, amount="10"))["grant"]
    refused = await gql(
        f"mutation($input: RequestRefundInput!) {{ requestRefund(input: $input) {RESULT} }}",
        {"input": {"grantId": grant["id"], "reason": "Bought too much"}},
        token=world.token("admin"),
    )
    result = refused["requestRefund"]
    assert (result["__typename"], result["code"]) == ("ConflictError", "REFUND_REFUSED")
    assert "All purchases are final" in result["message"]
    shown = await credits(gql, world)
    assert shown["refundRequests"]["edges"] == [
        {
            "node": {
                "status": "REFUSED",
                "decision": "All purchases are final",
                "reason": "Bought too much",
                "amountRequested": {"amount": "10.00"},
                "grant": {"id": grant["id"]},
            }
        }
    ]
    assert shown["balance"]["amount"] == "10.00"


async def test_promotional_credits_through_the_api(gql: GraphQL, world: World) -> None:
    document = f"mutation($input: GrantPromotionalCreditsInput!) {{ grantPromotionalCredits(input: $input) {PLAIN} }}"
    value = {
        "organizationId": world.gid("Organization", world.acme_id),
        "amount": "5",
        "expiresAt": "2027-01-31T00:00:00Z",
        "note": "Launch offer",
    }
    granted = await gql(document, {"input": value}, token=world.token("staff"))
    assert granted["grantPromotionalCredits"]["__typename"] == "GrantPromotionalCreditsPayload"
    shown = await credits(gql, world)
    assert shown["balance"]["amount"] == "5.00"
    assert shown["grants"]["edges"][0]["node"]["source"] == "PROMOTIONAL"


@pytest.mark.parametrize(
    ("change", "code", "field"),
    [
        ({"country": "XX"}, "INVALID", "country"),
        ({"country": "Germany"}, "TOO_LONG", "country"),
        ({"name": "  "}, "REQUIRED", "name"),
        ({"line1": "x" * 201}, "TOO_LONG", "line1"),
        ({"city": ""}, "REQUIRED", "city"),
        ({"country": "US", "state": "CA", "postalCode": "ABCDE"}, "INVALID", "postalCode"),
        ({"country": "US", "state": "", "postalCode": "94105"}, "REQUIRED", "state"),
        ({"country": "US", "state": "Narnia", "postalCode": "94105"}, "INVALID", "state"),
        ({"line2": "bad\x07line"}, "INVALID", "line2"),  # NUL itself is refused at the edge (test_edge_input)
    ],
)
async def test_billing_address_is_validated(
    gql: GraphQL, world: World, change: dict[str, str], code: str, field: str
) -> None:
    value = {"organizationId": world.gid("Organization", world.acme_id), "name": "Acme GmbH", "line1": "Unter den Linden 1",
             "city": "Berlin", "postalCode": "10117", "country": "DE", **change}  # fmt: skip
    result = (
        await gql(
            f"mutation($input: SetBillingAddressInput!) {{ setBillingAddress(input: $input) {RESULT} }}",
            {"input": value},
            token=world.token("admin"),
        )  # fmt: skip
    )["setBillingAddress"]
    assert (result["__typename"], result["code"], result["field"]) == ("InvalidInputError", code, field)
    billing = await gql(BILLING, {"id": world.gid("Organization", world.acme_id)}, token=world.token("admin"))
    assert billing["node"]["billing"]["billingAddress"] is None


async def test_billing_address_is_stored_and_sent_to_the_provider(
    gql: GraphQL, world: World, database: Database, payments: Payments
) -> None:
    value = {"organizationId": world.gid("Organization", world.acme_id), "name": "Acme Inc.", "line1": "1 Market St",
             "city": "San Francisco", "postalCode": "94105", "state": "california", "country": "us"}  # fmt: skip
    result = await gql(
        "mutation($input: SetBillingAddressInput!) { setBillingAddress(input: $input) { __typename "
        "... on BillingAddressPayload { billingAddress { state country postalCode } } } }",
        {"input": value},
        token=world.token("admin"),
    )
    assert result["setBillingAddress"]["billingAddress"] == {
        "state": "CA",
        "country": "US",
        "postalCode": "94105",
    }
    billing = await gql(BILLING, {"id": world.gid("Organization", world.acme_id)}, token=world.token("admin"))
    assert billing["node"]["billing"]["billingAddress"]["city"] == "San Francisco"
    from app.domain.billing.models import BillingAccount

    async with database.reader() as session:
        account = await session.get(BillingAccount, world.acme_id)
    assert account is not None
    held = payments.provider.billing_address(account.customer_ref)  # type: ignore[attr-defined]
    assert (held.name, held.state, held.country) == ("Acme Inc.", "CA", "US")


async def test_a_debt_shows_as_a_negative_balance(gql: GraphQL, world: World, database: Database) -> None:
    await burn(database, world.acme_id, 3 * DOLLAR // 2)
    shown = await credits(gql, world)
    assert (shown["balance"]["amount"], shown["debt"]["amount"]) == ("-1.50", "1.50")
    assert shown["ledger"]["edges"][0]["node"]["consumptions"] == []


async def test_the_credits_page_costs_the_same_statements_for_3_and_30_entries(
    gql: GraphQL, world: World, database: Database
) -> None:
    from tests.graphql.test_query_count import count_statements

    await attach(gql, world)
    await add(gql, world, amount="100")
    costs = []
    for burns in (3, 27):
        for i in range(burns):
            await burn(database, world.acme_id, DOLLAR // 10, f"usage-{i}")
        with count_statements(database) as statements:
            shown = await credits(gql, world)
        costs.append(len(statements))
    assert len(shown["ledger"]["edges"]) == 10 and shown["ledger"]["pageInfo"]["hasNextPage"]
    assert costs[0] == costs[1], costs
