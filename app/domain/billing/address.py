"""The organization's billing address: checked here, sent to the provider, kept on its billing account."""

from __future__ import annotations

import re
from dataclasses import dataclass

import pycountry

from app import clock
from app.db import Database
from app.domain.actor import Actor
from app.domain.billing.accounts import ensure_customer
from app.domain.billing.errors import unavailable_on_outage
from app.domain.billing.models import BillingAccount
from app.domain.errors import ErrorCode, InvalidInput
from app.domain.orgs.access import require_org_admin
from app.domain.validation import clean_text
from app.payments import types as provider
from app.payments.facade import Payments

# where the state or province is part of every postal address, and must be one the country has
STATE_REQUIRED = frozenset({"US", "CA", "AU"})
POSTAL_CODE_FORMATS = {
    "US": re.compile(r"[0-9]{5}(-[0-9]{4})?"),
    "CA": re.compile(r"[A-Z][0-9][A-Z] ?[0-9][A-Z][0-9]"),
}
_POSTAL_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9 -]{0,19}")


@dataclass(frozen=True, slots=True, kw_only=True)
class AddressInput:
    """A billing address as typed in the console."""

    name: str
    line1: str
    line2: str = ""
    city: str
    postal_code: str = ""
    state: str = ""
    country: str


def _state(value: str, country: str) -> str:
    """The subdivision's code (``CA`` for California) when the country has subdivisions and one matches."""
    if not value:
        if country in STATE_REQUIRED:
            raise InvalidInput(
                "The state or province is required in this country.", code=ErrorCode.REQUIRED, field="state"
            )
        return value
    subdivisions = pycountry.subdivisions.get(country_code=country) or []
    wanted = value.upper().removeprefix(f"{country}-")
    for subdivision in subdivisions:
        code: str = subdivision.code.split("-", 1)[1]
        if wanted == code or value.casefold() == subdivision.name.casefold():
            return code
    if country in STATE_REQUIRED:
        raise InvalidInput(f"'{value[:40]}' is not a state or province of {country}.", field="state")
    return value


def check_address(address: AddressInput) -> provider.BillingAddress:
    """The address normalized, or InvalidInput naming the first field at fault."""
    code = clean_text(address.country, field="country", max_length=2).upper()
    country = pycountry.countries.get(alpha_2=code) if len(code) == 2 else None
    if country is None:
        raise InvalidInput(
            f"'{address.country[:40]}' is not an ISO 3166-1 alpha-2 country code such as US or DE.",
            field="country",
        )
    postal_code = clean_text(
        address.postal_code, field="postalCode", max_length=20, required=code in POSTAL_CODE_FORMATS
    ).upper()
    pattern = POSTAL_CODE_FORMATS.get(code, _POSTAL_CODE)
    if postal_code and not pattern.fullmatch(postal_code):
        raise InvalidInput(f"'{postal_code}' is not a postal code of {country.name}.", field="postalCode")
    return provider.BillingAddress(
        name=clean_text(address.name, field="name", max_length=200),
        line1=clean_text(address.line1, field="line1", max_length=200),
        line2=clean_text(address.line2, field="line2", max_length=200, required=False),
        city=clean_text(address.city, field="city", max_length=100),
        postal_code=postal_code,
        state=_state(clean_text(address.state, field="state", max_length=100, required=False), code),
        country=code,
    )


async def set_billing_address(
    db: Database, actor: Actor, organization_id: str, address: AddressInput, *, payments: Payments
) -> BillingAccount:
    """Check the address, send it to the provider, then keep what the provider holds (Org Admins)."""
    checked = check_address(address)
    async with db.reader() as session:
        await require_org_admin(session, actor, organization_id)
    with unavailable_on_outage():
        customer_ref = await ensure_customer(db, organization_id, payments=payments)
        held = await payments.update_billing_address(customer_ref=customer_ref, address=checked)
    async with db.transaction() as session:
        account = await session.get(BillingAccount, organization_id, with_for_update=True)
        assert account is not None, "ensure_customer created it"
        account.address_name, account.address_line1, account.address_line2 = held.name, held.line1, held.line2
        account.address_city, account.address_postal_code = held.city, held.postal_code
        account.address_state, account.address_country = held.state, held.country
        account.updated_at = clock.now()
        session.add(account)
    return account
