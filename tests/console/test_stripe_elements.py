"""The console with Stripe as the provider: cards through Stripe's own Elements, 3-D Secure through Stripe.js.

Without internet: the app runs with the Stripe provider pointed at the tests' strict stand-in, and the
browser gets a small fake Stripe.js (fake_stripe.js) at Stripe's address, whose requests to
api.stripe.com go to the same stand-in (tests/providers/stripe_js_api.py). Only Stripe's origins may be
asked besides the app's, and only because the page's policy names them while Stripe is the provider.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.console.browser import Server, Visitor, open_visitor, run_server, text_of
from tests.console.test_story import billing_tab, create_team, expect, go, sign_up
from tests.providers.stripe_standin import STRIPE_ENV, StripeStandIn, running_standin, stripe_plugins_toml

FAKE_STRIPE_JS = Path(__file__).parent / "fake_stripe.js"
STRIPE_JS, STRIPE_API = "https://js.stripe.com/", "https://api.stripe.com/"


@pytest.fixture(scope="module")
def standin() -> Iterator[StripeStandIn]:
    with running_standin() as running:
        yield running


@pytest.fixture(scope="module")
def server(
    browser: Any, standin: StripeStandIn, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    yield from run_server(
        tmp_path_factory.mktemp("console-stripe"),
        plugins_toml=stripe_plugins_toml(standin),
        environment=STRIPE_ENV,
    )


def with_stripe(visitor: Visitor, standin: StripeStandIn) -> list[str]:
    """Serve the fake Stripe.js at Stripe's address and hand Stripe.js's API calls to the stand-in.

    Returns the list that records the requests to Stripe's origins (the page's own routes take precedence
    over the visitor's recorder, which refuses every other origin).
    """
    asked: list[str] = []

    def script(route: Any) -> None:
        asked.append(route.request.url)
        route.fulfill(path=FAKE_STRIPE_JS, content_type="application/javascript")

    def api(route: Any) -> None:
        asked.append(route.request.url)
        answer = route.fetch(url=standin.url + "/" + route.request.url.removeprefix(STRIPE_API))
        route.fulfill(response=answer)

    visitor.page.route(STRIPE_JS + "**", script)
    visitor.page.route(STRIPE_API + "**", api)
    return asked


def mailed_console_link(server: Server, address: str, timeout: float = 15) -> str:
    """The console link of the latest email to the address asking to confirm a payment."""
    link = re.compile(re.escape(server.url) + r"/#/o/[A-Za-z0-9_]+/billing/overview")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for message in reversed(server.inbox.to(address)):
            if found := link.search(text_of(message)):
                return found.group(0)
        time.sleep(0.1)
    raise AssertionError(f"no console link mailed to {address}")


def test_stripe_mode_page_policy_allows_stripe_and_nothing_else(server: Server) -> None:
    policy = dict(
        part.strip().split(" ", 1)
        for part in httpx.get(server.url + "/").headers["content-security-policy"].split(";")
    )
    assert "https://js.stripe.com" in policy["script-src"].split()
    assert policy["frame-src"].split() == ["'self'", "https://js.stripe.com", "https://hooks.stripe.com"]
    assert policy["connect-src"].split() == ["'self'", "https://api.stripe.com"]
    assert policy["default-src"] == "'self'" and "unsafe-inline" not in policy["script-src"]


def test_a_card_through_stripe_elements_and_a_purchase_through_3d_secure(
    browser: Any, server: Server, standin: StripeStandIn
) -> None:
    dana = open_visitor(browser, server, "dana-stripe")
    asked = with_stripe(dana, standin)
    page = dana.page
    try:
        sign_up(dana, "Dana Stripe", "dana@stripe.example")
        create_team(dana, "Striped")

        # the card is typed into Stripe's field, confirmed with Stripe, then kept on file by the API
        go(dana, "Billing", "Billing")
        billing_tab(dana, "Payment")
        page.get_by_role("button", name="Add a card").click()
        field = page.locator("[data-fake-stripe=card]")
        field.fill("4000 0000 0000 0127")  # refused by Stripe when saved: Stripe's words, nothing attached
        page.get_by_role("button", name="Save card").click()
        expect(page.get_by_role("alert")).to_have_text("Your card's security code is incorrect.")
        expect(page.get_by_text("No card yet.")).to_be_visible()
        # Chromium logs the refused request (Stripe answers a card error with 402), as with the real Stripe.js
        assert [e for e in dana.errors if "402" not in e] == []
        dana.errors.clear()
        field.fill("4242 4242 4242 4242")
        dana.screen("stripe-card-form")
        page.get_by_role("button", name="Save card").click()
        expect(page.get_by_text("Saved visa ending 4242.")).to_be_visible()
        expect(page.locator("[data-last4]")).to_have_text(["4242"])
        dana.screen("stripe-payment")
        confirmed = [
            r for r in standin.requests_to("POST", "/v1/setup_intents/") if r.path.endswith("/confirm")
        ]
        assert len(confirmed) == 2  # the refused card, then the good one: the same SetupIntent, tried again
        assert all("authorization" not in r.headers for r in confirmed)  # Stripe.js: the publishable key only
        (setup,) = standin.api.setup_intents.values()
        card = standin.api.payment_methods[setup["payment_method"]]
        assert setup["status"] == "succeeded" and card["customer"] == setup["customer"]

        # a card whose bank asks for 3-D Secure: Stripe.js authenticates, the API completes the purchase
        page.get_by_role("button", name="Add a card").click()
        page.locator("[data-fake-stripe=card]").fill("4000 0025 0000 3155")
        page.get_by_role("button", name="Save card").click()
        expect(page.get_by_text("Saved visa ending 3155.")).to_be_visible()
        billing_tab(dana, "Overview")
        expect(page.get_by_text("Charged to visa ending 3155.")).to_be_visible()
        page.get_by_label("Amount (USD)").fill("25")
        page.get_by_role("button", name="Add credits").click()
        expect(page.get_by_text("Added $25.00; the balance is $25.00.")).to_be_visible()
        expect(page.locator("[data-balance]")).to_have_text("$25.00")
        dana.screen("stripe-3ds-purchase")
        (intent,) = standin.api.payment_intents.values()
        assert intent["status"] == "succeeded" and intent["amount"] == 2500
        assert any(url.endswith("/v1/3ds2/authenticate") for url in asked)

        # a subscription whose first month the bank asks to confirm: Stripe.js, then the API completes it
        billing_tab(dana, "Subscriptions")
        model = page.get_by_role("region", name=re.compile("GPT OSS 120B"))
        model.get_by_role("button", name="Subscribe to GPT OSS 120B Starter").click()
        expect(page.get_by_text("Subscribed to Starter.")).to_be_visible()
        expect(model).to_contain_text("Subscribed: Starter")
        expect(model).to_contain_text("Active")
        dana.screen("stripe-3ds-subscription")
        assert (
            sorted(intent["status"] for intent in standin.api.payment_intents.values()) == ["succeeded"] * 2
        )
        assert sum(url.endswith("/v1/3ds2/authenticate") for url in asked) == 2

        # auto-recharge charges off-session: the bank's question waits in Recent charges (the admins'
        # email links there) until the cardholder confirms it; nothing is granted before
        billing_tab(dana, "Pay as you go")
        page.get_by_label("Threshold (USD)").fill("100")
        page.get_by_label("Recharge to (USD)").fill("200")
        page.get_by_role("button", name="Enable auto-recharge").click()
        expect(page.get_by_text("Auto-recharge is on.")).to_be_visible()
        page.goto("about:blank")
        page.goto(mailed_console_link(server, "dana@stripe.example"))  # the email's link opens the Overview
        expect(page.get_by_role("heading", name="Credit balance")).to_be_visible()
        waiting = page.get_by_role("row").filter(has_text="Requires action")
        expect(waiting).to_contain_text("$175.00")
        expect(page.locator("[data-balance]")).to_have_text("$25.00")
        dana.screen("stripe-charge-waiting")
        waiting.get_by_role("button", name="Confirm payment").click()
        expect(page.locator("[data-balance]")).to_have_text("$200.00")
        expect(page.get_by_role("button", name="Confirm payment")).to_have_count(0)
        assert sum(url.endswith("/v1/3ds2/authenticate") for url in asked) == 3

        assert [url for url in asked if not url.startswith((STRIPE_JS, STRIPE_API))] == []
        assert dana.outside == [] and dana.errors == []
        assert standin.api.invalid_requests == []
    finally:
        page.context.close()
