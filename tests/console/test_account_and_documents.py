"""The account's screens (password, sessions, the emailed reset link) and billing's documents and alerts, in Chromium."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.console.browser import Server, open_visitor, run_server
from tests.console.test_story import PASSWORD, billing_tab, create_team, expect, save_card, sign_up

NEW_PASSWORD = "a different horse, battery and staple"
NEWEST_PASSWORD = "yet another passphrase for erin"


@pytest.fixture(scope="module")
def server(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from run_server(tmp_path_factory.mktemp("console-account"))


def test_password_sessions_and_the_emailed_reset_link(browser: Any, server: Server) -> None:
    erin = open_visitor(browser, server, "erin")
    page = erin.page
    try:
        sign_up(erin, "Erin Account", "erin@lab.example")
        page.get_by_role("link", name="Your account").click()
        expect(page.get_by_role("heading", name="Your account", level=1)).to_be_visible()
        expect(page.get_by_role("row").filter(has_text="This session")).to_have_count(1)
        erin.screen("account")

        # a wrong current password is named next to its field; the right one changes it
        form = page.get_by_role("form", name="Change password")
        form.get_by_label("Current password").fill("not my password at all")
        form.get_by_label("New password").fill(NEW_PASSWORD)
        form.get_by_role("button", name="Change password").click()
        expect(form.get_by_label("Current password")).to_have_attribute("aria-invalid", "true")
        form.get_by_label("Current password").fill(PASSWORD)
        form.get_by_label("New password").fill(NEW_PASSWORD)
        form.get_by_role("button", name="Change password").click()
        expect(page.get_by_text("The password is changed")).to_be_visible()

        # signed out, the password forgotten: the emailed link opens the console's reset page
        page.get_by_role("button", name="Sign out", exact=True).click()
        page.get_by_role("link", name="Forgot your password?").click()
        expect(page.get_by_role("heading", name="Reset your password")).to_be_visible()
        page.get_by_label("Email").fill("erin@lab.example")
        page.get_by_role("button", name="Email me a link").click()
        expect(page.get_by_role("status").filter(has_text="email")).to_be_visible()
        erin.screen("reset-asked")
        page.goto(server.mailed_link("erin@lab.example", "/reset-password"))
        expect(page.get_by_role("heading", name="Choose a new password")).to_be_visible()
        erin.screen("reset-password")
        page.get_by_label("New password", exact=True).fill(NEWEST_PASSWORD)
        page.get_by_role("button", name="Set the new password").click()
        expect(page.get_by_role("navigation", name="Console")).to_be_visible()  # signed in with it
        assert "token=" not in page.url
        assert erin.outside == [] and erin.errors == []
    finally:
        page.context.close()


def test_receipts_statement_and_spend_alerts(browser: Any, server: Server) -> None:
    fay = open_visitor(browser, server, "fay")
    page = fay.page
    try:
        sign_up(fay, "Fay Billing", "fay@lab.example")
        create_team(fay, "Ledgers")
        save_card(fay, "4242 4242 4242 4242")
        billing_tab(fay, "Overview")
        page.get_by_label("Amount (USD)").fill("40")
        page.get_by_role("button", name="Add credits").click()
        expect(page.locator("[data-balance]")).to_have_text("$40.00")

        # the payment's receipt, and this month's statement with its CSV links
        billing_tab(fay, "Receipts and statements")
        receipt = page.get_by_role("table", name="Receipts").get_by_role("row").filter(has_text="$40.00")
        expect(receipt).to_contain_text("visa ending 4242")
        expect(receipt.get_by_role("link")).to_have_attribute("href", re.compile("/billing/receipts/"))
        statement = page.get_by_role("table", name=re.compile("Statement"))
        expect(statement.get_by_role("row").filter(has_text="Credits bought")).to_contain_text("$40.00")
        expect(page.get_by_role("link", name="Statement (CSV)")).to_be_visible()
        fay.screen("documents")

        # a spend alert, shown with the month's spend; removed again
        billing_tab(fay, "Pay as you go")
        page.get_by_label("Alert when the month's spend passes (USD)").fill("500")
        page.get_by_role("button", name="Add spend alert").click()
        alerts = page.get_by_role("list", name="Spend alerts")
        expect(alerts).to_contain_text("$500.00")
        fay.screen("alerts")
        alerts.get_by_role("button", name="Remove the spend alert at $500.00").click()
        expect(page.get_by_text("No spend alert yet.")).to_be_visible()

        # who gets the billing emails: her own notices, and an accounts department outside the Team
        billing_tab(fay, "Notifications")
        mine = page.get_by_role("form", name="Your billing emails")
        mine.get_by_label("Receipts of payments").uncheck()
        mine.get_by_role("button", name="Save your notices").click()
        expect(page.get_by_role("status").filter(has_text="Your notices are saved")).not_to_contain_text(
            "Receipts"
        )
        expect(mine.get_by_label("Receipts of payments")).not_to_be_checked()
        new = page.get_by_role("form", name="New billing contact")
        new.get_by_label("Contact's email").fill("books@ledgers.example")
        new.get_by_label("Low balance").check()
        new.get_by_role("button", name="Add billing contact").click()
        contact = page.get_by_role("form", name="Billing contact books@ledgers.example")
        expect(contact.get_by_label("Receipts of payments")).to_be_checked()
        expect(contact.get_by_label("Low balance")).to_be_checked()
        fay.screen("notifications")
        contact.get_by_role("button", name="Remove books@ledgers.example").click()
        expect(page.get_by_text("No billing contact yet.")).to_be_visible()
        assert fay.outside == [] and fay.errors == []
    finally:
        page.context.close()
