"""What a settled charge does, for every purpose, in one table: installed at start-up, checked complete.

Each handler runs in the transaction that records the charge's outcome (app.domain.billing.charges),
so what a success buys exists exactly when the charge succeeded. Adding a ChargePurpose without a
success handler here stops create_app and the job runner, naming the purpose.
"""

from __future__ import annotations

from app.domain.billing.charges import ChargeHandlers, install_handlers
from app.domain.billing.models import ChargePurpose
from app.domain.credits import auto_recharge, purchases, settlement
from app.domain.subscriptions import lifecycle

CHARGE_HANDLERS = ChargeHandlers(
    on_success={
        ChargePurpose.PURCHASE: purchases.grant_purchase,
        ChargePurpose.AUTO_RECHARGE: auto_recharge.recharged,
        ChargePurpose.SETTLEMENT: settlement.settled,
        ChargePurpose.SUBSCRIPTION: lifecycle.payment_succeeded,
    },
    # a failed subscription charge is applied by lifecycle.payment_failed, which needs the retry count
    on_failure={
        ChargePurpose.AUTO_RECHARGE: auto_recharge.recharge_failed,
        ChargePurpose.SETTLEMENT: settlement.settlement_failed,
    },
    # the admins are emailed by billing for every purpose; a renewal also becomes past due meanwhile
    awaiting_cardholder={ChargePurpose.SUBSCRIPTION: lifecycle.awaiting_cardholder},
)


def install_charge_handlers() -> None:
    """Install the table above; raises MissingChargeHandler naming any purpose without a success handler."""
    install_handlers(CHARGE_HANDLERS)
