"""Expected failures of charging an organization."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from app.domain.errors import DomainError, ErrorCode
from app.payments.errors import PaymentProviderError


class PaymentFailed(DomainError):
    """The provider declined the charge, or it needs the cardholder; nothing was bought."""

    default_code = ErrorCode.PAYMENT_DECLINED

    def __init__(
        self, message: str, *, code: ErrorCode | None = None, decline_code: str | None = None
    ) -> None:
        super().__init__(message, code=code)
        self.decline_code = decline_code


class PaymentActionRequired(PaymentFailed):
    """The cardholder must authenticate the payment (3-D Secure) in the provider's UI; nothing is bought yet.

    ``client_secret`` is what the console hands to the provider's UI; once authenticated, the payment
    completes through the provider's webhook or ``complete_payment``, whichever comes first.
    """

    def __init__(
        self, message: str, *, charge_id: str, client_secret: str | None, provider_status: str
    ) -> None:
        super().__init__(
            message, code=ErrorCode.PAYMENT_REQUIRES_ACTION, decline_code="authentication_required"
        )
        self.charge_id = charge_id
        self.client_secret = client_secret
        self.provider_status = provider_status


class PaymentUnavailable(DomainError):
    """The provider did not answer; the charge stays pending and is settled by a retry, never twice."""

    default_code = ErrorCode.PAYMENT_PROVIDER_UNAVAILABLE


@contextmanager
def unavailable_on_outage() -> Iterator[None]:
    """Turn a provider outage or timeout into PaymentUnavailable, the typed error the console shows."""
    try:
        yield
    except PaymentProviderError as exc:
        raise PaymentUnavailable("The payment provider did not answer; try again shortly.") from exc
