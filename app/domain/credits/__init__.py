"""PayGo credits: purchases, the ledger, burns, auto-recharge, settlement, expiry and refunds.

What the fleet calls (see each function's docstring):
``burn_credits(session, organization_id, cost_nanos, reference) -> BurnResult`` inside its own
transaction, ``maybe_auto_recharge(db, payments, organization_id)`` after that commit when the burn
said so, and ``balance_of(session, organization_id)``.
"""

from app.domain.credits.auto_recharge import maybe_auto_recharge
from app.domain.credits.ledger import BurnResult, balance_of, burn_credits

__all__ = ["BurnResult", "balance_of", "burn_credits", "maybe_auto_recharge"]
