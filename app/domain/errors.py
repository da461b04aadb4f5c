"""Expected failures of the domain: raised by services, turned into typed GraphQL errors in one place."""

from __future__ import annotations

from enum import Enum


class ErrorCode(Enum):
    """Machine-readable codes of expected failures, shared by every area."""

    UNAUTHENTICATED = "UNAUTHENTICATED"
    SESSION_EXPIRED = "SESSION_EXPIRED"
    INVALID_CREDENTIALS = "INVALID_CREDENTIALS"
    TOO_MANY_ATTEMPTS = "TOO_MANY_ATTEMPTS"
    FORBIDDEN = "FORBIDDEN"
    NOT_FOUND = "NOT_FOUND"
    INVALID = "INVALID"
    CONFLICT = "CONFLICT"
    REQUIRED = "REQUIRED"
    TOO_LONG = "TOO_LONG"
    TOO_SHORT = "TOO_SHORT"
    INVALID_EMAIL = "INVALID_EMAIL"
    EMAIL_TAKEN = "EMAIL_TAKEN"
    ALREADY_MEMBER = "ALREADY_MEMBER"
    NOT_A_MEMBER = "NOT_A_MEMBER"
    LAST_ORGANIZATION_ADMIN = "LAST_ORGANIZATION_ADMIN"
    PERSONAL_ORGANIZATION = "PERSONAL_ORGANIZATION"
    DEFAULT_PROJECT = "DEFAULT_PROJECT"
    PROJECT_ARCHIVED = "PROJECT_ARCHIVED"
    ALREADY_REVOKED = "ALREADY_REVOKED"
    UNKNOWN_MODEL = "UNKNOWN_MODEL"
    ABOVE_ORGANIZATION_LIMIT = "ABOVE_ORGANIZATION_LIMIT"
    ALREADY_INVITED = "ALREADY_INVITED"
    DUPLICATE_ADDRESS = "DUPLICATE_ADDRESS"
    INVITATION_ACCEPTED = "INVITATION_ACCEPTED"
    INVITATION_DECLINED = "INVITATION_DECLINED"
    INVITATION_REVOKED = "INVITATION_REVOKED"
    INVITATION_EXPIRED = "INVITATION_EXPIRED"
    INVITATION_EMAIL_MISMATCH = "INVITATION_EMAIL_MISMATCH"
    NO_PAYMENT_METHOD = "NO_PAYMENT_METHOD"
    PAYMENT_DECLINED = "PAYMENT_DECLINED"
    PAYMENT_REQUIRES_ACTION = "PAYMENT_REQUIRES_ACTION"
    PAYMENT_PROVIDER_UNAVAILABLE = "PAYMENT_PROVIDER_UNAVAILABLE"
    PAYMENT_REFUSED = "PAYMENT_REFUSED"
    UNKNOWN_TIER = "UNKNOWN_TIER"
    MODEL_DEPRECATED = "MODEL_DEPRECATED"
    SOLD_OUT = "SOLD_OUT"
    ALREADY_SUBSCRIBED = "ALREADY_SUBSCRIBED"
    SUBSCRIPTION_PAST_DUE = "SUBSCRIPTION_PAST_DUE"
    SUBSCRIPTION_ENDED = "SUBSCRIPTION_ENDED"
    PAYMENT_PENDING = "PAYMENT_PENDING"
    REFUND_REFUSED = "REFUND_REFUSED"
    WEAK_PASSWORD = "WEAK_PASSWORD"
    WRONG_PASSWORD = "WRONG_PASSWORD"
    RESET_LINK_INVALID = "RESET_LINK_INVALID"
    RESET_LINK_EXPIRED = "RESET_LINK_EXPIRED"


class DomainError(Exception):
    """An expected failure with a code, a human message and, for input errors, the field at fault."""

    default_code = ErrorCode.INVALID

    def __init__(self, message: str, *, code: ErrorCode | None = None, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.field = field


class Unauthenticated(DomainError):
    default_code = ErrorCode.UNAUTHENTICATED


class Throttled(DomainError):
    default_code = ErrorCode.TOO_MANY_ATTEMPTS

    def __init__(self, message: str, *, retry_after_seconds: int, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.retry_after_seconds = retry_after_seconds


class Forbidden(DomainError):
    default_code = ErrorCode.FORBIDDEN


class NotFound(DomainError):
    """Also used for objects that exist but belong to someone else: nothing leaks about them."""

    default_code = ErrorCode.NOT_FOUND


class InvalidInput(DomainError):
    default_code = ErrorCode.INVALID


class Conflict(DomainError):
    """The request is well-formed but the current state forbids it (last admin, already a member, …)."""

    default_code = ErrorCode.CONFLICT
