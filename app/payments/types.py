"""Requests and results at the payment provider boundary.

Money here is an integer amount of the currency's minor unit (cents of "usd") with a lower-case
ISO 4217 currency code: providers bill in those units, the application converts from its own.
Every type is a frozen dataclass so that a result cannot be altered after the provider gave it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

_CURRENCY = re.compile(r"[a-z]{3}")
_COUNTRY = re.compile(r"[A-Z]{2}")
_ORIGIN = re.compile(r"https://[a-z0-9.-]+(:\d+)?")
# a script the app serves itself, from its own origin ("//host/…" is another origin's URL)
_OWN_PATH = re.compile(r"/[A-Za-z0-9._-][A-Za-z0-9._/-]*")


class ChargeStatus(StrEnum):
    """How a charge ended, as the provider reports it."""

    SUCCEEDED = "succeeded"
    DECLINED = "declined"
    # the cardholder must authenticate it (3-D Secure) with the provider's UI: client_secret says where
    REQUIRES_ACTION = "requires_action"
    # accepted, the outcome not known yet (some banks take a while): the provider's webhook tells it
    PROCESSING = "processing"
    FAILED = "failed"


class ChargePurpose(StrEnum):
    """What a charge pays for; providers may show it on statements or use it for reporting."""

    PURCHASE = "purchase"
    AUTO_RECHARGE = "auto_recharge"
    SETTLEMENT = "settlement"
    SUBSCRIPTION = "subscription"


class RefundStatus(StrEnum):
    """How a refund stands at the provider."""

    SUCCEEDED = "succeeded"
    PENDING = "pending"
    FAILED = "failed"
    CANCELED = "canceled"


def check_amount(amount: int) -> None:
    """Raise ValueError unless amount is a positive integer of minor units."""
    # bool is an int subclass: True would otherwise be a one-cent charge.
    if isinstance(amount, bool) or not isinstance(amount, int) or amount <= 0:
        raise ValueError(f"amount must be a positive integer of minor units, got {amount!r}")


def check_money(amount: int, currency: str) -> None:
    """Raise ValueError unless amount is a positive integer of minor units and currency an ISO code."""
    check_amount(amount)
    if not isinstance(currency, str) or not _CURRENCY.fullmatch(currency):
        raise ValueError(f"currency must be a lower-case ISO 4217 code such as 'usd', got {currency!r}")


@dataclass(frozen=True, slots=True)
class CustomerResult:
    """The provider's customer created for an organization."""

    customer_ref: str


@dataclass(frozen=True, slots=True)
class PaymentMethodSetup:
    """What the console needs to collect card details with the provider's own UI."""

    client_secret: str
    publishable_key: str
    provider: str
    setup_ref: str


@dataclass(frozen=True, slots=True)
class PaymentUi:
    """How the console collects and authenticates cards with the provider's own UI, and where that UI talks.

    ``script_url`` is None when the console's own form serves; a path (``/static/...``) is a script the app
    serves itself, from its own origin (the fake provider's 3-D Secure dialog). The origins
    are what the console page's Content-Security-Policy must allow: scripts, frames and requests of the
    provider's UI (https origins, no path); nothing else leaves the app's origin.
    """

    provider: str
    publishable_key: str
    script_url: str | None = None
    script_origins: tuple[str, ...] = ()
    frame_origins: tuple[str, ...] = ()
    connect_origins: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        origins = (*self.script_origins, *self.frame_origins, *self.connect_origins)
        bad = [o for o in origins if not _ORIGIN.fullmatch(o)]
        if bad:
            raise ValueError(f"the provider UI's origins must be https origins without a path, got {bad}")
        own_origin = self.script_url is not None and _OWN_PATH.fullmatch(self.script_url) is not None
        if (
            self.script_url is not None
            and not own_origin
            and not any(self.script_url.startswith(origin + "/") for origin in self.script_origins)
        ):
            raise ValueError(
                f"script_url {self.script_url!r} is neither a path of the app nor under one of the script origins"
            )


@dataclass(frozen=True, slots=True)
class PaymentMethodInfo:
    """The only card details the application keeps: the provider's reference, brand, last four, expiry."""

    ref: str
    brand: str
    last4: str
    exp_month: int
    exp_year: int
    is_default: bool = False


@dataclass(frozen=True, slots=True)
class PreparedCharge:
    """A charge the provider created but has not taken money for: its reference is kept before it is confirmed."""

    charge_ref: str


@dataclass(frozen=True, slots=True)
class ChargeResult:
    """The outcome of a charge; a decline is a result like a success, each with the provider's reference."""

    status: ChargeStatus
    charge_ref: str
    amount: int
    currency: str
    decline_code: str | None = None
    message: str = ""
    # For REQUIRES_ACTION: what the console hands to the provider's UI to authenticate the payment.
    client_secret: str | None = None

    def __post_init__(self) -> None:
        check_money(self.amount, self.currency)

    @property
    def succeeded(self) -> bool:
        """True only when the money was taken."""
        return self.status is ChargeStatus.SUCCEEDED


@dataclass(frozen=True, slots=True)
class RefundDecision:
    """Whether a refund request is granted, and why; refusals are recorded with the reason."""

    approved: bool
    reason: str


@dataclass(frozen=True, slots=True)
class RefundResult:
    """A refund as the provider recorded it."""

    refund_ref: str
    charge_ref: str
    amount: int
    currency: str
    status: RefundStatus

    def __post_init__(self) -> None:
        check_money(self.amount, self.currency)


@dataclass(frozen=True, slots=True, kw_only=True)
class BillingAddress:
    """The organization's billing address as sent to the provider; country is ISO 3166-1 alpha-2."""

    name: str
    line1: str
    line2: str = ""
    city: str
    postal_code: str
    state: str = ""
    country: str

    def __post_init__(self) -> None:
        if not _COUNTRY.fullmatch(self.country):
            raise ValueError(f"country must be an upper-case ISO 3166-1 alpha-2 code, got {self.country!r}")
        for name in ("name", "line1", "city"):
            if not getattr(self, name).strip():
                raise ValueError(f"billing address {name} must not be empty")


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    """A verified event sent by the provider; type is the provider's own event name."""

    id: str
    type: str
    data: Mapping[str, Any] = field(default_factory=dict)
