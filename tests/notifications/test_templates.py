"""Every email the service sends comes from app/templates/email, in text and HTML, with names made inert."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import pytest

from app.domain.notifications.templates import TEMPLATE_DIR, plain, render, template_names

APP = Path(__file__).resolve().parents[2] / "app"
EMAILS = [
    "credits_expiring",
    "invitation",
    "low_balance",
    "organization_notice",
    "password_changed",
    "password_reset",
    "password_reset_no_account",
    "receipt",
    "spend_alert",
]
WHEN = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
EVIL = "URGENT verify your account http://evil.example"
ORG = SimpleNamespace(id="org_1", name=EVIL)
RECEIPT = SimpleNamespace(number_label="ABC-00001", amount_label="$10.00 USD", issued_at=WHEN,
                          description="Inference credits $10.00", card_label="Visa ending in 4242")  # fmt: skip
SAMPLES = {
    "credits_expiring": {
        "organization": ORG,
        "grants": [
            {
                "remaining_nanos": 10**9,
                "amount_nanos": 2 * 10**9,
                "source": "purchase",
                "bought_at": WHEN,
                "expires_at": WHEN,
            }
        ],
    },  # fmt: skip
    "invitation": {
        "inviter_name": EVIL,
        "inviter_email": "a@example.com",
        "organization_name": EVIL,
        "role_phrase": "a member",
        "link": "http://console.test/i?t=x",
        "expires_at": WHEN,
        "email": "b@example.com",
    },  # fmt: skip
    "low_balance": {"organization": ORG, "balance_nanos": 10**9, "level_nanos": 5 * 10**9},
    "organization_notice": {
        "organization": ORG,
        "subject": "auto-recharge failed",
        "paragraphs": ["One.", "Two."],
    },
    "password_changed": {
        "email": "a@example.com",
        "changed_at": WHEN,
        "how": "in the console",
        "reset_link": "http://c.test/r",
    },  # fmt: skip
    "password_reset": {
        "email": "a@example.com",
        "link": "http://console.test/reset-password?token=t",
        "expires_at": WHEN,
    },
    "password_reset_no_account": {"email": "a@example.com"},
    "receipt": {"organization": ORG, "receipt": RECEIPT, "link": "http://console.test/billing/receipts/r"},
    "spend_alert": {
        "organization": ORG,
        "amount_nanos": 5 * 10**9,
        "spend_nanos": 6 * 10**9,
        "month": "2026-11",
    },
}


def test_the_folder_holds_every_email_in_text_and_html() -> None:
    assert template_names() == EMAILS
    for name in EMAILS:
        assert (TEMPLATE_DIR / f"{name}.txt").is_file() and (TEMPLATE_DIR / f"{name}.html").is_file()


def test_every_email_the_code_sends_names_a_template_of_the_folder_and_every_template_is_used() -> None:
    code = "\n".join(p.read_text() for p in APP.rglob("*.py"))
    used = set(re.findall(r'template="([a-z_]+)"', code))
    assert used == set(EMAILS)
    # one mail path: nothing but the mailer builds a MIME message, and nothing queues mail around the outbox
    builders = [p.name for p in APP.rglob("*.py") if "EmailMessage()" in p.read_text()]
    assert builders == ["mailer.py"]
    writers = [p.name for p in APP.rglob("*.py") if "OutboxMessage(" in p.read_text()]
    assert sorted(writers) == ["models.py", "service.py"]


@pytest.mark.parametrize("name", EMAILS)
def test_each_email_renders_with_a_subject_and_both_bodies(name: str) -> None:
    email = render(name, **SAMPLES[name])
    assert email.subject and "\n" not in email.subject and len(email.subject) <= 200
    assert email.text.startswith("Hello,") and "{{" not in email.text
    assert email.html.startswith("<!doctype html>") and "{{" not in email.html
    for text in (email.subject, email.text, email.html):
        assert (
            "http://evil.example" not in text and "evil.example" not in text
        )  # a customer's name is no link


def test_names_are_plain_text_with_links_neutralised() -> None:
    assert plain(EVIL) == "URGENT verify your account http[:]//evil[.]example"
    assert plain("visit www.evil.example now") == "visit www[.]evil[.]example now"
    assert plain("Acme\nInc.   Labs") == "Acme Inc. Labs"
    assert len(plain("x" * 500)) == 80
    html = render("invitation", **{**SAMPLES["invitation"], "inviter_name": "<script>alert(1)</script>"}).html
    assert "<script>" not in html and "&lt;script&gt;" in html
