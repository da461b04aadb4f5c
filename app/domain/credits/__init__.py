"""PayGo credits: purchases, the ledger, burns, auto-recharge, settlement, expiry and refunds.

What the fleet calls (see each function's docstring):
``burn_many(session, costs_by_organization, reference) -> {organization_id: BurnResult}`` inside its
usage group's transaction (what ``burn_credits`` does for one organization, set-based),
``maybe_auto_recharge(db, payments, organization_id)`` after that commit when a burn said so, and
``balance_of(session, organization_id)``.
"""

from app.domain.credits.auto_recharge import maybe_auto_recharge
from app.domain.credits.burns import burn_many
from app.domain.credits.ledger import BurnResult, balance_of, burn_credits

__all__ = ["BurnResult", "balance_of", "burn_credits", "burn_many", "maybe_auto_recharge"]
