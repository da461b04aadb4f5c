"""Payments the cardholder must authenticate (3-D Secure): what the console needs, and completing them.

A purchase is made on-session: when the bank asks for authentication, the console gets the
provider's client secret and lets the provider's own UI do it, then asks again (``complete_payment``).
The provider's webhook may settle the charge first; either way the success is applied once.
"""

from __future__ import annotations

from app.db import Database
from app.domain.actor import Actor
from app.domain.billing.charges import STATUS_OF_RESULT, is_open, require_success, settle
from app.domain.billing.errors import PaymentActionRequired, unavailable_on_outage
from app.domain.billing.models import Charge, ChargeStatus
from app.domain.errors import NotFound
from app.domain.orgs.access import require_org_admin
from app.payments.facade import Payments

CHARGE_NOT_FOUND = "No payment with this ID is visible to you."
AUTHENTICATE = (
    "The card's bank asks the cardholder to authenticate this payment: complete it in the form shown, "
    "nothing is charged until then."
)


async def require_paid(db: Database, charge: Charge, *, payments: Payments) -> Charge:
    """The charge if it succeeded; PaymentActionRequired (with the client secret) while it awaits the cardholder."""
    if charge.status is ChargeStatus.REQUIRES_ACTION and is_open(charge) and charge.provider_charge_ref:
        charge = await _read_again(db, charge, payments=payments)
    return require_success(charge)


async def complete_payment(db: Database, actor: Actor, charge_id: str, *, payments: Payments) -> Charge:
    """Read a payment again at the provider once the cardholder authenticated it (Org Admins); applies it once."""
    async with db.reader() as session:
        charge = await session.get(Charge, charge_id)
        if charge is None:
            raise NotFound(CHARGE_NOT_FOUND, field="chargeId")
        await require_org_admin(session, actor, charge.organization_id)
    if is_open(charge) and charge.provider_charge_ref:
        charge = await _read_again(db, charge, payments=payments)
    return require_success(charge)


async def _read_again(db: Database, charge: Charge, *, payments: Payments) -> Charge:
    assert charge.provider_charge_ref is not None
    with unavailable_on_outage():
        result = await payments.retrieve_charge(charge_ref=charge.provider_charge_ref)
    if result is None:
        return charge  # this provider cannot be asked: its webhook settles the charge
    settled = await settle(
        db,
        charge.id,
        status=STATUS_OF_RESULT[result.status],
        provider_charge_ref=result.charge_ref,
        decline_code=result.decline_code,
        message=result.message,
        cardholder_present=True,  # an admin at the console asked: the answer is theirs
    )
    if settled.status is ChargeStatus.REQUIRES_ACTION and is_open(settled):
        raise PaymentActionRequired(
            AUTHENTICATE,
            charge_id=settled.id,
            client_secret=result.client_secret,
            provider_status=result.status.value,
        )
    return settled
