"""Exceptions of the payment layer: outages, timeouts and bugs, never a declined card (that is a result)."""

from __future__ import annotations


class PaymentsError(Exception):
    """Base class of every exception raised by the payment layer."""


class PluginConfigError(PaymentsError):
    """plugins.toml or the installed plugins cannot make a working payment setup."""


class PaymentProviderError(PaymentsError):
    """The provider could not be reached or failed; the outcome of the call is unknown unless retried."""


class PaymentProviderTimeout(PaymentProviderError):
    """The provider did not answer in time; the call may or may not have happened: retry with the same key."""


class PaymentRequestError(PaymentsError):
    """The provider refused the request itself (unknown customer, payment method or charge; bad amount).

    ``user_message`` is a sentence for people (no provider codes); ``code`` is the provider's, for the record.
    """

    def __init__(self, message: str, *, code: str | None = None, user_message: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.user_message = user_message or "The payment provider refused the request."


class CustomerGone(PaymentRequestError):
    """The provider's customer was deleted there: forget it, and create a new one on the next set-up."""


class IdempotencyConflict(PaymentsError):
    """An idempotency key was reused with different parameters: a bug in the caller, never retried."""


class MissingHookResult(PaymentsError):
    """No plugin answered a hook whose answer is required, or the answer has the wrong type."""


class WebhookError(PaymentsError):
    """A webhook addressed to the provider cannot be understood."""


class WebhookSignatureError(WebhookError):
    """A webhook's signature is missing or wrong: it must be refused."""
