"""The seed's story through the console's own pages, in the system's Chromium, against the app as a server.

Every screen is screenshotted (tests/console/screenshots/) and checked with axe-core; every request of
every page is recorded, and none may leave the app's origin.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.console.browser import (
    STAFF_EMAIL,
    STAFF_PASSWORD,
    Server,
    Visitor,
    open_visitor,
    run_server,
)

PASSWORD = "correct horse battery staple"
MODEL = "gpt-oss-120b"
SIGN_IN = """mutation($input: SignInInput!) { signIn(input: $input) { __typename ... on SessionPayload { token } } }"""
MY_ORGANIZATIONS = "{ me { organizations { organization { id } } } }"
DAILY_USAGE = """query($o: ID!, $from: DateTime!, $to: DateTime!) {
  usage(input: {organizationId: $o, from: $from, to: $to, granularity: DAY}) { ... on UsageSeries { points { requests } } } }"""
SOLD_OUT = """mutation($input: SetTierCapacityInput!) { setTierCapacity(input: $input) {
  __typename ... on TierPayload { tier { soldOut } } } }"""


@pytest.fixture(scope="module")
def server(browser: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from run_server(tmp_path_factory.mktemp("console"))


@pytest.fixture
def visitors(browser: Any, server: Server) -> Iterator[dict[str, Visitor]]:
    """People at their own browsers; at the end, none of their pages asked another origin or failed."""
    people: dict[str, Visitor] = {}
    yield people
    for visitor in people.values():
        assert visitor.outside == [], f"{visitor.name}'s pages asked other origins: {visitor.outside}"
        assert visitor.errors == [], f"{visitor.name}'s pages failed: {visitor.errors}"
        visitor.page.context.close()


def expect(locator: Any) -> Any:
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


def sign_up(visitor: Visitor, name: str, email: str) -> None:
    page = visitor.page
    page.goto("/#/signup")
    visitor.screen("sign-up")
    page.get_by_label("Name").fill(name)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_role("navigation", name="Console")).to_be_visible()


def create_team(visitor: Visitor, name: str) -> None:
    """Create a Team from the console and wait for its Settings screen."""
    page = visitor.page
    page.get_by_role("link", name="Create a Team").click()
    page.get_by_label("Team name").fill(name)
    page.get_by_role("button", name="Create Team").click()
    expect(page.get_by_role("heading", name="Settings")).to_be_visible()


def save_card(visitor: Visitor, number: str) -> None:
    """Save a test card through the fake provider's form on the Billing screen's Payment tab."""
    page = visitor.page
    go(visitor, "Billing", "Billing")
    billing_tab(visitor, "Payment")
    page.get_by_role("button", name="Add a card").click()
    page.get_by_label("Card number").fill(number)
    page.get_by_role("button", name="Save card").click()
    expect(page.get_by_text(f"Saved visa ending {number[-4:]}.")).to_be_visible()


def current_org(visitor: Visitor) -> Any:
    """The organization chosen in the switcher."""
    return visitor.page.locator("#org-switcher option:checked")


def wait_for_the_graphs(server: Server, email: str, requests: int, timeout: float = 10) -> None:
    """Wait until the graphs of the user's organizations count `requests` (usage reaches them within seconds)."""
    token = server.graphql(SIGN_IN, {"input": {"email": email, "password": PASSWORD}})["signIn"]["token"]
    memberships = server.graphql(MY_ORGANIZATIONS, {}, token)["me"]["organizations"]
    now = datetime.now(UTC)
    span = {"from": (now - timedelta(days=1)).isoformat(), "to": (now + timedelta(days=1)).isoformat()}
    deadline = time.monotonic() + timeout
    while True:
        graphs = [
            server.graphql(DAILY_USAGE, {"o": m["organization"]["id"], **span}, token) for m in memberships
        ]
        shown = sum(point["requests"] for graph in graphs for point in graph["usage"].get("points", []))
        if shown >= requests:
            return
        assert time.monotonic() < deadline, (
            f"the graphs show {shown} of {requests} requests after {timeout} s"
        )
        time.sleep(0.1)


def go(visitor: Visitor, link: str, heading: str) -> None:
    """Follow a link of the console's navigation and wait for the screen's heading."""
    visitor.page.get_by_role("navigation", name="Console").get_by_role("link", name=link, exact=True).click()
    expect(visitor.page.get_by_role("heading", name=heading, level=1)).to_be_visible()


def billing_tab(visitor: Visitor, tab: str) -> None:
    visitor.page.get_by_role("navigation", name="Billing").get_by_role("link", name=tab, exact=True).click()
    expect(visitor.page.locator(".tabs [aria-current=page]")).to_have_text(tab)
    visitor.settle()


def test_the_seed_story_through_the_console(
    browser: Any, server: Server, visitors: dict[str, Visitor]
) -> None:
    alice = visitors["alice"] = open_visitor(browser, server, "alice")
    bob = visitors["bob"] = open_visitor(browser, server, "bob")

    # two people sign up; each lands in their Personal organization
    sign_up(alice, "Alice Admin", "alice@lab.example")
    expect(current_org(alice)).to_have_text("Personal (Personal)")
    alice.screen("personal-usage")
    sign_up(bob, "Bob Builder", "bob@lab.example")

    # Alice creates a Team and sees its Organization ID
    page = alice.page
    page.get_by_role("link", name="Create a Team").click()
    alice.screen("create-team")
    page.get_by_label("Team name").fill("Lab")
    page.get_by_role("button", name="Create Team").click()
    expect(page.get_by_role("heading", name="Settings")).to_be_visible()
    expect(page.get_by_role("button", name="Copy Organization ID")).to_be_visible()
    expect(current_org(alice)).to_have_text("Lab (Team)")
    alice.screen("settings")

    # several addresses in one go, one malformed: per-address results, the good ones go out
    go(alice, "Invites", "Invites")
    page.get_by_label("Email addresses").fill("bob@lab.example, carol@lab.example\nnot-an-address")
    page.get_by_role("button", name="Send invitations").click()
    expect(page.get_by_text("2 invitations sent.")).to_be_visible()
    results = page.get_by_role("list", name="Result per address")
    expect(results.get_by_role("listitem").filter(has_text="bob@lab.example")).to_contain_text("invited")
    expect(results.get_by_role("listitem").filter(has_text="not-an-address")).not_to_contain_text("invited")
    expect(page.get_by_role("cell", name="carol@lab.example", exact=True)).to_be_visible()
    alice.screen("invites")

    # Bob follows the link mailed to him (PUBLIC_URL unset: it leads to the served port) and accepts
    link = server.invitation_link("bob@lab.example")
    assert link.startswith(server.url + "/invitations/accept?token=")
    bob.page.goto(link)
    expect(bob.page.get_by_text("to join Lab")).to_be_visible()
    bob.screen("invitation")
    bob.page.get_by_role("button", name="Accept invitation").click()
    expect(bob.page.get_by_text("You joined Lab.")).to_be_visible()
    bob.screen("invitation-accepted")
    bob.page.get_by_role("link", name="Open Lab in the console").click()
    nav = bob.page.get_by_role("navigation", name="Console")
    expect(nav.get_by_role("link", name="Usage")).to_be_visible()
    expect(current_org(bob)).to_have_text("Lab (Team)")
    # a Member sees no Members page (nor invites nor billing)
    for hidden in ("Members", "Invites", "Billing"):
        expect(nav.get_by_role("link", name=hidden, exact=True)).to_have_count(0)
    bob.screen("member-usage")

    # Carol has no account yet: the page lets her create one with the invited address, then accept
    carol = visitors["carol"] = open_visitor(browser, server, "carol")
    carol.page.goto(server.invitation_link("carol@lab.example"))
    expect(carol.page.get_by_text("to join Lab")).to_be_visible()
    carol.screen("invitation-signed-out")
    carol.page.get_by_role("button", name="I am new: create an account").click()
    carol.page.get_by_label("Name").fill("Carol Coder")
    expect(carol.page.get_by_label("Email")).to_have_value(
        "carol@lab.example"
    )  # the invited address, pre-filled
    carol.page.get_by_label("Password").fill(PASSWORD)
    carol.page.get_by_role("button", name="Create account").click()
    carol.page.get_by_role("button", name="Accept invitation").click()
    expect(carol.page.get_by_text("You joined Lab.")).to_be_visible()

    # Alice sees Bob among the members
    go(alice, "Members", "Members")
    expect(page.get_by_role("cell", name="bob@lab.example", exact=True)).to_be_visible()
    expect(page.get_by_role("cell", name="carol@lab.example", exact=True)).to_be_visible()
    alice.screen("members")

    # a test card through the fake provider's own form
    go(alice, "Billing", "Billing")
    billing_tab(alice, "Payment")
    page.get_by_role("button", name="Add a card").click()
    page.get_by_label("Card number").fill("4242 4242 4242 4242")
    alice.screen("card-form")
    page.get_by_role("button", name="Save card").click()
    expect(page.get_by_text("Saved visa ending 4242.")).to_be_visible()
    alice.screen("payment")

    # credits bought: the balance, exactly, and the grant
    billing_tab(alice, "Overview")
    page.get_by_label("Amount (USD)").fill("25")
    page.get_by_role("button", name="Add credits").click()
    expect(page.get_by_text("Added $25.00; the balance is $25.00.")).to_be_visible()
    expect(page.locator("[data-balance]")).to_have_text("$25.00")
    alice.screen("billing-overview")
    billing_tab(alice, "Pay as you go")
    grant = page.get_by_role("row").filter(has_text="Purchase")
    expect(grant).to_contain_text("$25.00")
    expect(grant).to_contain_text("Active")

    # auto-recharge on; a refund request is answered "all purchases are final"
    page.get_by_label("Threshold (USD)").fill("10")
    page.get_by_label("Recharge to (USD)").fill("30")
    page.get_by_role("button", name="Enable auto-recharge").click()
    expect(page.get_by_text("Auto-recharge is on.")).to_be_visible()
    page.get_by_label("Why do you ask for a refund?").fill("Bought too much")
    page.get_by_role("button", name="Request refund").click()
    refund = page.get_by_role("form", name="Refund request")
    expect(refund.locator(".notice")).to_contain_text("all purchases are final", ignore_case=True)
    expect(page.get_by_role("list", name="Refund requests")).to_contain_text(
        "Refused: All purchases are final"
    )
    alice.screen("paygo")

    # a key: its secret shown once, then only masked
    go(alice, "API keys", "API keys")
    page.get_by_label("New key name (Default)").fill("production")
    page.get_by_role("button", name="Create key").click()
    secret = page.locator("[data-secret]").inner_text()
    assert secret.startswith("csk-")
    expect(page.get_by_role("button", name="Copy secret")).to_be_visible()
    alice.screen("key-created")
    page.reload()
    expect(page.get_by_role("cell", name="production", exact=True)).to_be_visible()
    expect(page.locator("[data-secret]")).to_have_count(0)
    assert secret not in page.content()

    # a revoked key leaves the list, unless asked for
    page.get_by_label("New key name (Default)").fill("temporary")
    page.get_by_role("button", name="Create key").click()
    expect(page.get_by_role("cell", name="temporary", exact=True)).to_be_visible()
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Revoke temporary").click()
    expect(page.get_by_text("temporary was revoked.")).to_be_visible()
    expect(page.get_by_role("cell", name="temporary", exact=True)).to_have_count(0)
    page.get_by_label("Show revoked keys").check()
    expect(page.get_by_role("row").filter(has_text="temporary")).to_contain_text("Revoked")
    expect(page.get_by_role("heading", name=re.compile("^Default"))).to_contain_text("2 keys")
    page.get_by_label("Show revoked keys").uncheck()
    expect(page.get_by_role("heading", name=re.compile("^Default"))).to_contain_text("1 active key")

    # usage reported through the fleet's API shows on the usage screen, priced exactly
    admission = server.fleet(
        "admissions", {"api_key": secret, "model": MODEL, "input_tokens": 1000, "max_output_tokens": 500}
    )
    server.fleet(
        "usage",
        {
            "request_id": "req-console-1",
            "admission_id": admission["admission_id"],
            "model": MODEL,
            "input_tokens": 1000,
            "output_tokens": 400,
        },
    )
    wait_for_the_graphs(server, "alice@lab.example", 1)
    go(alice, "Usage", "Usage")
    totals = page.get_by_role("table", name="Totals over the range")
    row = totals.get_by_role("row").filter(has_text="GPT OSS 120B")  # the API names each series
    # 1,000 input tokens at $0.35 and 400 output tokens at $0.75 per million: $0.00065
    expect(row).to_contain_text("1,000")
    expect(row.locator("[data-spend]")).to_have_text("$0.00065")
    expect(page.locator("[data-chart=Requests] canvas").first).to_be_visible()
    alice.screen("usage")
    with page.expect_download() as download:
        page.get_by_role("button", name="Download CSV").click()
    lines = Path(download.value.path()).read_text().splitlines()
    assert lines[0] == "bucket_start_utc,group_id,group,requests,input_tokens,output_tokens,spend_usd"
    used = [line.split(",") for line in lines[1:] if line.split(",")[3] != "0"]
    assert [(row[2], row[3:]) for row in used] == [("GPT OSS 120B", ["1", "1000", "400", "0.00065"])]
    page.get_by_label("Project", exact=True).select_option(label="Default")
    expect(page.locator("#u-project")).to_have_value(re.compile(".+"))
    expect(row.locator("[data-spend]")).to_have_text("$0.00065")  # the key is the Default project's

    # a sold-out tier shows as such; another tier is bought
    staff = server.graphql(SIGN_IN, {"input": {"email": STAFF_EMAIL, "password": STAFF_PASSWORD}})
    token = staff["signIn"]["token"]
    sold_out = server.graphql(SOLD_OUT, {"input": {"model": MODEL, "tier": "scale", "capacity": 0}}, token)
    assert sold_out["setTierCapacity"]["tier"]["soldOut"] is True
    go(alice, "Billing", "Billing")
    billing_tab(alice, "Subscriptions")
    card = page.get_by_role("region", name=re.compile("GPT OSS 120B"))
    expect(card.get_by_role("row").filter(has_text="Scale")).to_contain_text("Temporarily Sold Out")
    card.get_by_role("button", name="Subscribe to GPT OSS 120B Starter").click()
    expect(page.get_by_text("Subscribed to Starter.")).to_be_visible()
    expect(card).to_contain_text("Subscribed: Starter")
    alice.screen("subscriptions")

    # the billing address
    billing_tab(alice, "Billing address")
    page.get_by_label("Name (company or person)").fill("Lab Inc.")
    page.get_by_label("Address line 1").fill("1 Main Street")
    page.get_by_label("City").fill("Springfield")
    page.get_by_label("Postal code").fill("12345")
    page.get_by_label("State or region").fill("IL")
    page.get_by_label("Country (two letters, e.g. US)").fill("US")
    page.get_by_role("button", name="Save billing address").click()
    expect(page.get_by_text("The billing address is saved.")).to_be_visible()
    alice.screen("billing-address")

    # a second project, with Bob as its Project Admin
    go(alice, "Projects", "Projects")
    expect(page.get_by_role("heading", name=re.compile("^Default"))).to_be_visible()
    page.get_by_label("New project name").fill("Research")
    page.get_by_role("button", name="Create project").click()
    research = page.get_by_role("region", name="Research")
    research.get_by_label("Add to Research").select_option(label="Bob Builder (bob@lab.example)")
    research.get_by_label("Project role").select_option("PROJECT_ADMIN")
    research.get_by_role("button", name="Add member").click()
    expect(research.get_by_label("Project role of bob@lab.example")).to_have_value("PROJECT_ADMIN")
    alice.screen("projects")
    go(bob, "API keys", "API keys")
    expect(bob.page.get_by_label("New key name (Research)")).to_be_visible()
    expect(bob.page.get_by_label("New key name (Default)")).to_have_count(0)  # a Project Member there
    bob.screen("project-admin-keys")
    # as Project Admin of Research, Bob adds Carol (an organization member) to it: the API lists whom he may add
    go(bob, "Projects", "Projects")
    bob_research = bob.page.get_by_role("region", name="Research")
    bob_research.get_by_label("Add to Research").select_option(label="Carol Coder (carol@lab.example)")
    bob_research.get_by_role("button", name="Add member").click()
    expect(bob_research.get_by_label("Project role of carol@lab.example")).to_have_value("PROJECT_MEMBER")
    expect(bob.page.get_by_role("button", name="Archive Research")).to_have_count(0)  # Org Admins archive
    bob.screen("project-admin-projects")

    # an archived project leaves the list unless asked for
    go(alice, "Projects", "Projects")
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Archive Research").click()
    expect(page.get_by_text("Research was archived.")).to_be_visible()
    expect(page.get_by_role("region", name="Research")).to_have_count(0)
    page.get_by_label("Show archived projects").check()
    expect(page.get_by_role("region", name=re.compile("^Research"))).to_contain_text("Archived")

    # signing out ends the session: the sign-in page again
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    alice.screen("signed-out")


def test_graphiql_and_the_api_reference_render_offline(
    browser: Any, server: Server, visitors: dict[str, Visitor]
) -> None:
    visitor = visitors["reader"] = open_visitor(browser, server, "reader")
    page = visitor.page
    page.goto("/graphql")
    expect(page.locator(".graphiql-container .graphiql-editors")).to_be_visible()
    expect(page.get_by_text("Authorization").first).to_be_visible()
    visitor.screen("graphiql", accessibility=False)  # a third-party tool: its own accessibility
    page.goto("/schema")
    expect(page.get_by_text("/fleet/v1/admissions").first).to_be_attached()
    visitor.screen("api-reference", accessibility=False)
    # Redoc's hard-wired Redocly logo: refused by the page's image policy, never requested
    redocly = [error for error in visitor.errors if "cdn.redoc.ly" in error]
    assert all("Content Security Policy" in error for error in redocly)
    visitor.errors = [error for error in visitor.errors if error not in redocly]


def test_signing_up_and_creating_a_team_from_the_keyboard_alone(
    browser: Any, server: Server, visitors: dict[str, Visitor]
) -> None:
    visitor = visitors["keyboard"] = open_visitor(browser, server, "keyboard")
    keyboard = visitor.page.keyboard
    visitor.page.goto("/#/signup")
    expect(visitor.page.get_by_label("Name")).to_be_visible()
    keyboard.press("Tab")  # the first field of the page
    for text in ("Kim Keys", "kim@keys.example", PASSWORD):
        keyboard.type(text)
        keyboard.press("Tab")
    keyboard.press("Enter")  # on "Create account"
    expect(visitor.page.get_by_role("navigation", name="Console")).to_be_visible()
    # a new screen puts the keyboard at its heading
    expect(visitor.page.get_by_role("heading", level=1)).to_be_focused()
    # follow "Create a Team" with the keyboard, then fill and submit its form
    visitor.page.get_by_role("link", name="Create a Team").focus()
    keyboard.press("Enter")
    expect(visitor.page.get_by_role("heading", name="Create a Team")).to_be_focused()
    keyboard.press("Tab")
    keyboard.type("Keyboard Co")
    keyboard.press("Enter")
    expect(current_org(visitor)).to_have_text("Keyboard Co (Team)")


def test_an_unknown_invitation_link_says_so(
    browser: Any, server: Server, visitors: dict[str, Visitor]
) -> None:
    visitor = visitors["stranger"] = open_visitor(browser, server, "stranger")
    visitor.page.goto("/invitations/accept?token=not-a-real-token")
    expect(visitor.page.get_by_text("This invitation link is unknown")).to_be_visible()
    visitor.screen("unknown-invitation")


def test_screenshots_are_not_committed() -> None:
    ignored = (Path(__file__).resolve().parents[2] / ".gitignore").read_text().splitlines()
    assert "tests/console/screenshots/" in ignored
