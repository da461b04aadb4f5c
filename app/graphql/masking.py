"""Unexpected errors: logged with a correlation id, shown to the client only as that id.

A database or Redis that stops answering while a resolver runs is not a bug: it is answered
SERVICE_UNAVAILABLE (retry shortly), as the same outage before GraphQL runs is (app.asgi.answer_outage).
"""

from __future__ import annotations

import logging
from typing import Any

from graphql import GraphQLError
from strawberry.relay.types import GlobalIDValueError
from strawberry.types import ExecutionContext

from app.graphql.edge import page_argument_error
from app.outage import is_outage, unavailable_message

logger = logging.getLogger("app.graphql")

# Exceptions that describe the client's input (a malformed global ID): their message is safe and useful.
_CLIENT_ERRORS: tuple[type[BaseException], ...] = (GlobalIDValueError,)


def is_unexpected(error: GraphQLError) -> bool:
    original = error.original_error
    return original is not None and not isinstance(original, (GraphQLError, *_CLIENT_ERRORS))


def process_errors(errors: list[GraphQLError], execution_context: ExecutionContext | None) -> None:
    """Mask each unexpected error in place and log it; leave the client's own mistakes readable."""
    context: Any = execution_context.context if execution_context else None
    request_id = getattr(context, "request_id", None) or "-"
    for index, error in enumerate(errors):
        refused = page_argument_error(error.original_error) if error.original_error else None
        if refused is not None:  # the client's page arguments, refused by Strawberry with a plain exception
            error.message, error.extensions = refused, {"code": "BAD_USER_INPUT"}
            error.original_error = None
        if not is_unexpected(error):
            logger.info("GraphQL request error [%s]: %s", request_id, error.message)
            continue
        correlation_id = request_id if index == 0 else f"{request_id}-{index}"
        # the database or Redis stopped answering mid-request: not a bug
        if error.original_error is not None and is_outage(error.original_error):
            logger.error(
                "service unavailable [%s] at %s: %s: %s",
                correlation_id,
                error.path,
                type(error.original_error).__name__,
                error.original_error,
                extra={"correlation_id": correlation_id},
            )
            error.message = unavailable_message(correlation_id)
            error.extensions = {"code": "SERVICE_UNAVAILABLE", "correlationId": correlation_id}
            continue
        logger.error(
            "Unexpected error [%s] at %s",
            correlation_id,
            error.path,
            exc_info=error.original_error,
            extra={"correlation_id": correlation_id},
        )
        error.message = f"Internal server error; quote reference {correlation_id} to support."
        error.extensions = {"code": "INTERNAL_SERVER_ERROR", "correlationId": correlation_id}
