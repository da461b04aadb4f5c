"""The shipped payment policies: refunds are refused ("All purchases are final"), events go nowhere.

Registered before every other plugin and marked ``trylast``, so that a partner's plugin answering the
same hooks is asked first and may decide otherwise.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from app.payments.hookspecs import hookimpl
from app.payments.types import RefundDecision

ALL_PURCHASES_ARE_FINAL = "All purchases are final"


@hookimpl(trylast=True)
def refund_decision(org_id: str, charge_ref: str, amount: int, reason: str) -> RefundDecision:
    """Refuse every refund request: all purchases are final."""
    return RefundDecision(approved=False, reason=ALL_PURCHASES_ARE_FINAL)


@hookimpl(trylast=True)
def billing_event(event_type: str, org_id: str, data: Mapping[str, Any]) -> None:
    """Nothing to do: notifications and audit subscribe with their own plugins."""
    return None
