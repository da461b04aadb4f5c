"""Money as the API shows it: an exact decimal string with its currency."""

from __future__ import annotations

import strawberry

from app.domain.money import CURRENCY, format_amount


@strawberry.type(description="An exact amount of money: a decimal string (never a float) and its currency.")
class Money:
    amount: str = strawberry.field(
        description="The amount as a decimal string, e.g. `12.50` or `0.00000035`."
    )
    currency: str = strawberry.field(description="ISO 4217 currency code, e.g. `USD`.")

    @classmethod
    def from_nanos(cls, nanos: int, currency: str = CURRENCY) -> Money:
        """Money from the app's integer nano-units."""
        return cls(amount=format_amount(nanos), currency=currency)
