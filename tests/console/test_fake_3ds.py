"""The console with the fake provider: 3-D Secure through the fake provider's own dialog, as through Stripe.js.

The card 4000 0025 0000 3155 asks for authentication on every payment. The fake provider's script (from the
app's own origin: the page's policy names no other) shows the cardholder a dialog; "Authenticate" completes
the charge at the provider and the console then completes the payment, "Fail authentication" declines it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from providers.fake.plugin import AUTHENTICATION_FAILED, SCRIPT_URL
from tests.console.browser import Server, open_visitor, run_server
from tests.console.test_story import billing_tab, create_team, expect, save_card, sign_up


@pytest.fixture(scope="module")
def server(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from run_server(tmp_path_factory.mktemp("console-fake-3ds"))


def authenticate(page: Any, button: str) -> None:
    """The cardholder answers the fake provider's dialog."""
    dialog = page.get_by_role("dialog", name="Authenticate this payment")
    expect(dialog).to_be_visible()
    dialog.get_by_role("button", name=button, exact=True).click()
    expect(dialog).to_have_count(0)


def test_the_page_policy_allows_the_apps_origin_only_and_serves_the_providers_script(server: Server) -> None:
    page = httpx.get(server.url + "/")
    policy = dict(part.strip().split(" ", 1) for part in page.headers["content-security-policy"].split(";"))
    script = httpx.get(server.url + SCRIPT_URL)

    assert policy["connect-src"] == "'self'" and "frame-src" not in policy
    assert [s for s in policy["script-src"].split() if not s.startswith("'sha256-")] == ["'self'"]
    assert script.status_code == 200 and "window.FakeProvider" in script.text


def test_payments_through_the_fake_providers_3d_secure_dialog(browser: Any, server: Server) -> None:
    erin = open_visitor(browser, server, "erin-3ds")
    page = erin.page
    try:
        sign_up(erin, "Erin Secure", "erin@3ds.example")
        create_team(erin, "Secured")
        save_card(erin, "4000 0025 0000 3155")

        # the cardholder fails the authentication: the provider's reason, nothing bought
        billing_tab(erin, "Overview")
        page.get_by_label("Amount (USD)").fill("25")
        page.get_by_role("button", name="Add credits").click()
        expect(page.get_by_role("dialog", name="Authenticate this payment")).to_be_visible()
        erin.screen("fake-3ds-dialog")
        authenticate(page, "Fail authentication")
        expect(page.get_by_role("alert")).to_have_text(AUTHENTICATION_FAILED)
        expect(page.locator("[data-balance]")).to_have_text("$0.00")

        # a new purchase, authenticated: the credits are added once
        page.reload()
        expect(page.locator("[data-balance]")).to_have_text("$0.00")
        page.get_by_label("Amount (USD)").fill("25")
        page.get_by_role("button", name="Add credits").click()
        authenticate(page, "Authenticate")
        expect(page.get_by_text("Added $25.00; the balance is $25.00.")).to_be_visible()
        expect(page.locator("[data-balance]")).to_have_text("$25.00")
        erin.screen("fake-3ds-purchase")

        # a subscription's first month, authenticated in the same dialog
        billing_tab(erin, "Subscriptions")
        model = page.get_by_role("region", name=re.compile("GPT OSS 120B"))
        model.get_by_role("button", name="Subscribe to GPT OSS 120B Starter").click()
        authenticate(page, "Authenticate")
        expect(page.get_by_text("Subscribed to Starter.")).to_be_visible()
        expect(model).to_contain_text("Active")

        # an auto-recharge waits in Recent charges until the cardholder confirms it there
        billing_tab(erin, "Pay as you go")
        page.get_by_label("Threshold (USD)").fill("100")
        page.get_by_label("Recharge to (USD)").fill("200")
        page.get_by_role("button", name="Enable auto-recharge").click()
        expect(page.get_by_text("Auto-recharge is on.")).to_be_visible()
        billing_tab(erin, "Overview")
        waiting = page.get_by_role("row").filter(has_text="Requires action").filter(has_text="$175.00")
        waiting.get_by_role("button", name="Confirm payment").click()
        authenticate(page, "Authenticate")
        expect(page.locator("[data-balance]")).to_have_text("$200.00")
        erin.screen("fake-3ds-confirmed")

        assert erin.outside == [] and erin.errors == []
    finally:
        page.context.close()
