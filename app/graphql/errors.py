"""Expected failures as data: the ``Error`` interface, its types, and the one mapping from domain errors.

Every mutation returns ``XResult``, a union of its success type and the error types. A field
extension turns a raised DomainError into the matching error object; anything else stays an
unexpected error, masked in the response and logged with a correlation id.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from enum import Enum
from typing import Annotated, Any, Union

import strawberry
from graphql import GraphQLResolveInfo
from graphql.utilities import value_from_ast_untyped
from strawberry import relay
from strawberry.extensions import FieldExtension
from strawberry.relay import to_base64
from strawberry.relay.types import GlobalIDValueError, InvalidGlobalIDError
from strawberry.types.enum import has_enum_definition

from app.domain import errors as domain
from app.domain.billing.errors import PaymentActionRequired, PaymentFailed, PaymentUnavailable
from app.graphql.context import FreshReads


def describe_enum(enum_class: type[Enum], description: str, *, name: str | None = None, **values: str) -> Any:
    """Expose a domain enum in GraphQL (under `name`, default its own) with every value described."""
    graphql_enum = strawberry.enum(enum_class, name=name, description=description)
    assert has_enum_definition(graphql_enum)
    definition = graphql_enum.__strawberry_definition__
    missing = {value.name for value in definition.values} - set(values)
    if missing:
        raise TypeError(f"{enum_class.__name__}: no description for {sorted(missing)}")
    for value in definition.values:
        value.description = values[value.name]
    return graphql_enum


ErrorCode = describe_enum(
    domain.ErrorCode,
    "Machine-readable code of an expected failure.",
    UNAUTHENTICATED="No valid session: sign in.",
    SESSION_EXPIRED="The session has expired: sign in again.",
    INVALID_CREDENTIALS="Wrong email or password.",
    TOO_MANY_ATTEMPTS="Too many attempts; wait and try again.",
    FORBIDDEN="The signed-in user lacks the role this needs.",
    NOT_FOUND="Nothing with this ID is visible to the signed-in user.",
    INVALID="The value is not acceptable.",
    CONFLICT="The request is valid but the current state does not allow it (e.g. a name already taken).",
    REQUIRED="The value must not be empty.",
    TOO_LONG="The value is too long.",
    TOO_SHORT="The value is too short.",
    INVALID_EMAIL="The email address is malformed.",
    EMAIL_TAKEN="An account with this email address exists.",
    ALREADY_MEMBER="The user is already a member.",
    NOT_A_MEMBER="The user is not a member.",
    LAST_ORGANIZATION_ADMIN="The last Organization Admin cannot leave, be removed or be demoted.",
    PERSONAL_ORGANIZATION="Not possible for a Personal organization.",
    DEFAULT_PROJECT="Not possible for the Default project.",
    PROJECT_ARCHIVED="The project is archived.",
    ALREADY_REVOKED="Already revoked.",
    UNKNOWN_MODEL="No such model in the catalog.",
    ABOVE_ORGANIZATION_LIMIT="A project's limit must not exceed the organization's limit for the model.",
    ALREADY_INVITED="A pending invitation for this address exists: resend it instead.",
    DUPLICATE_ADDRESS="The address appears more than once in the request; it is invited once.",
    INVITATION_ACCEPTED="The invitation has been accepted already; its link works once.",
    INVITATION_DECLINED="The invitation was declined.",
    INVITATION_REVOKED="The invitation was revoked by an Organization Admin.",
    INVITATION_EXPIRED="The invitation has expired; an Organization Admin can resend it.",
    INVITATION_EMAIL_MISMATCH="The invitation was sent to another email address than the signed-in user's.",
    NO_PAYMENT_METHOD="The organization has no payment method on file.",
    PAYMENT_DECLINED="The payment provider declined the charge; nothing was bought.",
    PAYMENT_REQUIRES_ACTION="The card needs the cardholder's authentication; nothing was bought.",
    PAYMENT_PROVIDER_UNAVAILABLE="The payment provider did not answer; the charge is retried, never twice.",
    PAYMENT_REFUSED="The payment provider refused the payment itself (the customer or card is no longer known "
    "there, or the payment was not completed in time); nothing was charged.",
    UNKNOWN_TIER="The model offers no subscription tier with this id.",
    MODEL_DEPRECATED="The model is past its deprecation date: it can no longer be used or subscribed to.",
    SOLD_OUT="The tier is Temporarily Sold Out: it has no capacity left until a place frees up.",
    ALREADY_SUBSCRIBED="The organization already has a subscription to this model: change its tier instead.",
    SUBSCRIPTION_PAST_DUE="The subscription's renewal is unpaid: update the card; the renewal is retried daily.",
    SUBSCRIPTION_ENDED="The subscription has ended: subscribe again.",
    PAYMENT_PENDING="A payment for this is still being processed; try again shortly.",
    REFUND_REFUSED="The payment plugins refused the refund (the shipped policy: all purchases are final); the request is recorded.",
    WEAK_PASSWORD="The password is common, was leaked, or follows an easy pattern: choose another.",
    WRONG_PASSWORD="The current password given is wrong.",
    RESET_LINK_INVALID="The password-reset link is unknown or was used already: ask for a new one.",
    RESET_LINK_EXPIRED="The password-reset link has expired: ask for a new one.",
)


@strawberry.interface(description="An expected failure: a machine-readable code and a message for people.")
class Error:
    message: str = strawberry.field(description="What went wrong and what fixes it, in plain words.")
    code: ErrorCode = strawberry.field(description="Machine-readable reason.")
    field: str | None = strawberry.field(
        default=None, description="The input field at fault (camelCase), when one is."
    )


@strawberry.type(description="The request needs a signed-in user, or the session is no longer valid.")
class UnauthenticatedError(Error):
    pass


@strawberry.type(description="The signed-in user lacks the role this needs.")
class ForbiddenError(Error):
    pass


@strawberry.type(description="Nothing with this ID is visible to the signed-in user.")
class NotFoundError(Error):
    pass


@strawberry.type(description="The input is malformed or out of range; `field` says which.")
class InvalidInputError(Error):
    pass


@strawberry.type(description="The request is valid but the current state does not allow it.")
class ConflictError(Error):
    pass


@strawberry.type(description="Too many attempts; wait before trying again.")
class TooManyAttemptsError(Error):
    retry_after_seconds: int = strawberry.field(description="Seconds to wait before the next attempt.")


@strawberry.type(description="The payment did not go through; nothing was bought or charged.")
class PaymentError(Error):
    decline_code: str | None = strawberry.field(
        default=None,
        description="The provider's reason for a decline (e.g. `insufficient_funds`), when given.",
    )


@strawberry.type(
    description="The card's bank asks the cardholder to authenticate the payment (3-D Secure); nothing is "
    "charged yet. Hand `clientSecret` to the payment provider's UI (Stripe.js `handleNextAction`), then call "
    "`completePayment` with `chargeId`; the payment also completes by itself once the provider reports it."
)
class PaymentAuthenticationRequired(PaymentError):
    charge_id: strawberry.ID = strawberry.field(description="The payment's charge (a Charge ID).")
    client_secret: str | None = strawberry.field(
        description="What the provider's UI needs to authenticate the payment; null when the provider gives none."
    )
    payment_status: str = strawberry.field(
        description="The payment's status at the provider, e.g. `requires_action`."
    )


COMMON_ERRORS: tuple[type, ...] = (
    UnauthenticatedError,
    ForbiddenError,
    NotFoundError,
    InvalidInputError,
    ConflictError,
)

# domain error class -> (GraphQL type, extra attributes to copy); other areas register theirs
_MAPPING: dict[type[domain.DomainError], Callable[[Any], Any]] = {}


def register(error_class: type[domain.DomainError], make: Callable[[Any], Any]) -> None:
    """Declare how a domain error becomes a GraphQL error object."""
    _MAPPING[error_class] = make


def _plain(graphql_type: type) -> Callable[[domain.DomainError], Any]:
    return lambda exc: graphql_type(message=exc.message, code=exc.code, field=exc.field)


register(domain.Unauthenticated, _plain(UnauthenticatedError))
register(domain.Forbidden, _plain(ForbiddenError))
register(domain.NotFound, _plain(NotFoundError))
register(domain.InvalidInput, _plain(InvalidInputError))
register(domain.Conflict, _plain(ConflictError))
register(
    domain.Throttled,
    lambda exc: TooManyAttemptsError(
        message=exc.message, code=exc.code, field=exc.field, retry_after_seconds=exc.retry_after_seconds
    ),
)


register(
    PaymentFailed,
    lambda exc: PaymentError(
        message=exc.message, code=exc.code, field=exc.field, decline_code=exc.decline_code
    ),
)
register(PaymentUnavailable, lambda exc: PaymentError(message=exc.message, code=exc.code, field=exc.field))
register(
    PaymentActionRequired,
    lambda exc: PaymentAuthenticationRequired(
        message=exc.message,
        code=exc.code,
        field=exc.field,
        decline_code=exc.decline_code,
        charge_id=strawberry.ID(to_base64("Charge", exc.charge_id)),
        client_secret=exc.client_secret,
        payment_status=exc.provider_status,
    ),
)


class MalformedGlobalId(strawberry.ExceptionHandler[InvalidGlobalIDError, NotFoundError]):
    """An ID in a mutation's input that is no global ID at all is not found, like another type's ID."""

    def handle(self, exception: InvalidGlobalIDError, *, field: Any, info: Any) -> NotFoundError:
        return NotFoundError(
            message="No object with this ID is visible to you: it is not an ID the API gave out.",
            code=domain.ErrorCode.NOT_FOUND,
            field=_malformed_id_field(info._raw_info),
        )


def _malformed_id_field(raw_info: GraphQLResolveInfo) -> str | None:
    """The input field holding the ID that does not decode (camelCase), for the error's `field`."""
    variables: Any = raw_info.variable_values  # the request's variables by name
    arguments = [
        value_from_ast_untyped(node.value, variables) for node in raw_info.field_nodes[0].arguments or ()
    ]

    def malformed(value: Any) -> bool:
        try:
            relay.GlobalID.from_id(value)
        except GlobalIDValueError:
            return True
        return False

    for argument in arguments:
        for name, value in argument.items() if isinstance(argument, dict) else ():
            values = value if isinstance(value, list) else [value]
            if any(isinstance(v, str) and malformed(v) for v in values):
                return str(name)
    return None


def to_graphql(exc: domain.DomainError) -> Any:
    """The GraphQL error object for a domain error (the most specific registered class wins)."""
    for cls in type(exc).__mro__:
        if cls in _MAPPING:
            return _MAPPING[cls](exc)
    raise exc


class ExpectedErrors(FieldExtension):
    """Returns raised domain errors as union members of the field's result."""

    async def resolve_async(
        self, next_: Callable[..., Awaitable[Any]], source: Any, info: strawberry.Info, **kwargs: Any
    ) -> Any:
        try:
            return await next_(source, info, **kwargs)
        except domain.DomainError as exc:
            return to_graphql(exc)


def result_union(name: str, success: type, *extra_errors: type, description: str | None = None) -> Any:
    """``Annotated[success | common errors | extra, strawberry.union(name)]`` for a mutation's result."""
    members = (success, *COMMON_ERRORS, *extra_errors)
    return Annotated[
        Union[members],  # noqa: UP007  (built at run time from a tuple)
        strawberry.union(name, description=description or f"The result of {name.removesuffix('Result')}."),
    ]


# The one argument of every mutation: `input: Annotated[XInput, INPUT]`.
INPUT = strawberry.argument(description="The operation's input; its type documents each field.")


def mutation(description: str) -> Any:
    """A mutation field whose domain errors come back as typed union members, reading what it wrote."""
    return strawberry.mutation(description=description, extensions=[FreshReads(), ExpectedErrors()])


def field_with_errors(description: str) -> Any:
    """A query field that may answer with a typed error (e.g. FORBIDDEN) instead of its value."""
    return strawberry.field(description=description, extensions=[ExpectedErrors()])
