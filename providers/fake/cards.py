"""The fake provider's test cards, in the style of Stripe's well-known test numbers and tokens.

Every card but one attaches; what it is meant to do happens when it is charged, as with the real
provider. ``pm_card_chargeDeclinedIncorrectCvc`` fails the check made when a card is saved.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.payments.errors import PaymentRequestError
from app.payments.types import ChargeStatus


@dataclass(frozen=True, slots=True)
class TestCard:
    """A card number and its payment method token, with the outcome of charging it."""

    __test__ = False  # not a pytest test class, whatever its name

    token: str
    number: str
    brand: str
    outcome: ChargeStatus
    decline_code: str | None = None
    message: str = ""
    exp_month: int = 12
    exp_year: int = 2034
    refused_at_attach: bool = False

    @property
    def last4(self) -> str:
        """The last four digits, the only part of the number anyone keeps."""
        return self.number[-4:]


TEST_CARDS: tuple[TestCard, ...] = (
    TestCard("pm_card_visa", "4242424242424242", "visa", ChargeStatus.SUCCEEDED),
    TestCard("pm_card_mastercard", "5555555555554444", "mastercard", ChargeStatus.SUCCEEDED),
    TestCard(
        "pm_card_chargeDeclined",
        "4000000000000002",
        "visa",
        ChargeStatus.DECLINED,
        "generic_decline",
        "Your card was declined.",
    ),
    TestCard(
        "pm_card_chargeDeclinedInsufficientFunds",
        "4000000000009995",
        "visa",
        ChargeStatus.DECLINED,
        "insufficient_funds",
        "Your card has insufficient funds.",
    ),
    TestCard(
        "pm_card_authenticationRequired",
        "4000002500003155",
        "visa",
        ChargeStatus.REQUIRES_ACTION,
        "authentication_required",
        "Your card requires authentication; complete it in the console.",
    ),
    TestCard(
        "pm_card_chargeDeclinedIncorrectCvc",
        "4000000000000127",
        "visa",
        ChargeStatus.DECLINED,
        "incorrect_cvc",
        "Your card's security code is incorrect.",
        refused_at_attach=True,
    ),
    TestCard(
        "pm_card_chargeDeclinedExpiredCard",
        "4000000000000069",
        "visa",
        ChargeStatus.DECLINED,
        "expired_card",
        "Your card has expired.",
    ),
)

_BY_TOKEN = {card.token: card for card in TEST_CARDS}
_BY_NUMBER = {card.number: card for card in TEST_CARDS}


def find_card(token_or_number: str) -> TestCard:
    """The test card named by its token or number (spaces and dashes allowed in numbers)."""
    card = _BY_TOKEN.get(token_or_number) or _BY_NUMBER.get(token_or_number.replace(" ", "").replace("-", ""))
    if card is None:
        known = ", ".join(card.token for card in TEST_CARDS)
        raise PaymentRequestError(
            f"fake: no such test card {token_or_number!r}; known tokens: {known}",
            code="resource_missing",
            user_message="The payment provider does not know this card.",
        )
    return card
