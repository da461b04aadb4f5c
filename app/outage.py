"""What a database or Redis that is down or does not answer looks like, and how the service says so.

Callers see a 503 within the timeouts (settings DATABASE_*_TIMEOUT_SECONDS, FLEET_TIMEOUT_SECONDS)
with Retry-After, never a 500 or a hang; everything recovers by itself when the service is back.
"""

from __future__ import annotations

import errno
import socket

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

RETRY_AFTER_SECONDS = 2

# refused or lost connections (OSError, DBAPIError), timeouts of a statement, a connection or the
# pool, Redis unreachable. Constraint violations are DBAPIErrors too: see is_outage.
OUTAGES: tuple[type[Exception], ...] = (
    DBAPIError,
    PoolTimeoutError,
    TimeoutError,
    OSError,
    RedisConnectionError,
    RedisTimeoutError,
)


def unavailable_message(reference: str) -> str:
    """What a GraphQL client is told during an outage, with the reference the log shows too."""
    return f"The service is temporarily unavailable; retry shortly (reference {reference})."


def is_outage(exc: BaseException) -> bool:
    """Whether the exception says a backing service is unavailable (not that the request or code is wrong)."""
    if isinstance(exc, DBAPIError):
        return exc.connection_invalidated or _is_unavailable(exc.orig)
    if isinstance(exc, OSError) and not isinstance(exc, TimeoutError):
        return _is_network(exc)
    # asyncpg's own errors too, where asyncpg is used bare (fleet.feed)
    return isinstance(exc, OUTAGES) or _is_unavailable(exc)


def is_refusal(exc: BaseException) -> bool:
    """Whether the database refused the data it was given (a constraint, a value it cannot store), not its service."""
    return isinstance(exc, DBAPIError) and not (
        is_outage(exc) or isinstance(exc, (OperationalError, InterfaceError))
    )


def _is_network(exc: OSError) -> bool:
    """A refused, reset or unreachable connection, not a file or permission problem (a bug)."""
    return isinstance(exc, (ConnectionError, socket.gaierror)) or exc.errno in _NETWORK_ERRNOS


_NETWORK_ERRNOS = {errno.EHOSTUNREACH, errno.ENETUNREACH, errno.ENETDOWN, errno.ETIMEDOUT, errno.EPIPE}


def _is_unavailable(orig: BaseException | None) -> bool:
    import asyncpg  # type: ignore[import-untyped]

    return (
        (isinstance(orig, OSError) and _is_network(orig))
        or isinstance(
            orig,
            (
                TimeoutError,
                asyncpg.exceptions.ConnectionDoesNotExistError,
                asyncpg.exceptions.CannotConnectNowError,
                asyncpg.exceptions.QueryCanceledError,
                asyncpg.exceptions.AdminShutdownError,
                asyncpg.exceptions.InterfaceError,
                asyncpg.exceptions.TooManyConnectionsError,
            ),
        )
        or "database is locked" in str(orig)  # SQLite: another process held the write lock past the timeout
    )
