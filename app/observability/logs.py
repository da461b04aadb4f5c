"""Log lines an operator can follow: JSON or text, each with its request's id, operation and organization.

Every HTTP request gets an id (the caller's `X-Request-ID` when it is a sane one, else a new one),
returned in the answer's `X-Request-ID` and written on every line logged while it is handled,
with the GraphQL operation's name and the organization where they are known; one access line
closes each request. Lines pass through a scrubber that masks what looks like a credential
(API keys, bearer tokens, passwords, Stripe secrets, card numbers): the code never logs them on
purpose, the scrubber is the net under it.
"""

from __future__ import annotations

import logging
import re
import sys
import time
import uuid
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, TextIO

from litestar.logging.config import LoggingConfig
from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter
from strawberry.extensions import SchemaExtension

from app.settings import Settings

access_logger = logging.getLogger("app.access")


@dataclass(slots=True)
class RequestContext:
    """What the lines logged while handling one request say about it."""

    request_id: str
    operation: str | None = None
    organization_id: str | None = None


current: ContextVar[RequestContext | None] = ContextVar("request_context", default=None)
_SANE_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def annotate(*, operation: str | None = None, organization_id: str | None = None) -> None:
    """Tell the current request's lines which operation and organization they are about."""
    context = current.get()
    if context is not None:
        context.operation = operation or context.operation
        context.organization_id = organization_id or context.organization_id


class RequestFields(logging.Filter):
    """Puts the current request's id, operation and organization on every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        context = current.get()
        if context is not None:
            record.request_id = context.request_id
            if context.operation:
                record.operation = context.operation
            if context.organization_id:
                record.organization_id = context.organization_id
        return True


def _luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char) * (2 if index % 2 else 1)
        total += value - 9 if value > 9 else value
    return total % 10 == 0


def _mask_card(found: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", found[0])
    return "[redacted card]" if 13 <= len(digits) <= 19 and _luhn_valid(digits) else found[0]


_SECRETS = (
    (re.compile(r"csk-[A-Za-z0-9_-]{6,}"), "csk-[redacted]"),
    (re.compile(r"\b((?:sk|rk)_(?:live|test)|whsec|pi_[A-Za-z0-9]+_secret|seti_[A-Za-z0-9]+_secret)_?[A-Za-z0-9]{6,}"), r"\1_[redacted]"),
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{6,}"), r"\1 [redacted]"),
    # key=value and "key": "value" forms of fields named like a secret
    (re.compile(r"(?i)((?:password|passwd|secret|token|api_?key|authorization|card_?number|cvc|cvv)\w*[\"']?\s*[:=]\s*[\"']?)([^\s\"'&,}]+)"), r"\1[redacted]"),
)  # fmt: skip
_CARD = re.compile(r"\b\d(?:[ -]?\d){12,18}\b")


def scrub(text: str) -> str:
    """The text with anything that looks like a credential or a card number masked."""
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return _CARD.sub(_mask_card, text)


class ScrubbingJsonFormatter(JsonFormatter):
    def format(self, record: logging.LogRecord) -> str:
        return scrub(super().format(record))


class ScrubbingTextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        record.request_tag = f" [{record.request_id}]" if hasattr(record, "request_id") else ""
        return scrub(super().format(record))


_HANDLER_MARK = "_app_observability_handler"


class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes to whatever sys.stderr is when a line is written (test runners and supervisors swap it)."""

    @property  # type: ignore[override]
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _: TextIO) -> None:
        pass


def configure_logging(settings: Settings, stream: TextIO | None = None) -> logging.Handler:
    """Install the process's log handler on the root logger (again: the previous one is replaced)."""
    use_json = settings.log_format == "json" or (
        settings.log_format == "auto" and not (stream or sys.stderr).isatty()
    )
    handler = logging.StreamHandler(stream) if stream is not None else StderrHandler()
    if use_json:
        handler.setFormatter(
            ScrubbingJsonFormatter(
                "{asctime}{levelname}{name}{message}",
                style="{",
                rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
                datefmt="%Y-%m-%dT%H:%M:%S%z",
                reserved_attrs=[*RESERVED_ATTRS, "color_message"],  # uvicorn's copy with terminal colours
            )
        )
    else:
        handler.setFormatter(
            ScrubbingTextFormatter("%(asctime)s %(levelname)s %(name)s%(request_tag)s %(message)s")
        )
    handler.addFilter(RequestFields())
    setattr(handler, _HANDLER_MARK, True)
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, _HANDLER_MARK, False)]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.log_level.upper())
    return handler


def litestar_logging() -> LoggingConfig:
    """Litestar's own lines (unhandled exceptions) go to the root handler; it must not replace that handler.

    A client's mistake answered 4xx (a body over the size limit, a malformed one) is the client's: the
    access line records it, and it is not logged as an error with its traceback (which anyone could
    otherwise fill the logs with).
    """
    return LoggingConfig(
        configure_root_logger=False,
        loggers={"litestar": {"level": "INFO", "handlers": [], "propagate": True}},
        log_exceptions="always",
        disable_stack_trace=set(range(400, 500)),
    )


class RequestLogging:
    """ASGI middleware: the request id (taken or made, returned), the log context, one access line."""

    def __init__(self, app: Any, *, access_log: bool = True) -> None:
        self.app = app
        self.access_log = access_log

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = ""
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                request_id = value.decode("latin-1")
        if not _SANE_ID.fullmatch(request_id):
            # what the app reads (GraphQL's correlation ids) is the id the logs show
            request_id = uuid.uuid4().hex
            scope["headers"] = [(n, v) for n, v in scope["headers"] if n != b"x-request-id"]
            scope["headers"].append((b"x-request-id", request_id.encode()))
        header = (b"x-request-id", request_id.encode())
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), header]
            await send(message)

        token = current.set(RequestContext(request_id))
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if self.access_log and access_logger.isEnabledFor(logging.INFO):
                # the path without its query string: links carrying tokens never reach the log
                milliseconds = round((time.perf_counter() - started) * 1000, 1)
                access_logger.info(
                    "%s %s %d %.1fms",
                    scope["method"],
                    scope["path"],
                    status,
                    milliseconds,
                    extra={"method": scope["method"], "path": scope["path"], "status": status,
                           "duration_ms": milliseconds},
                )  # fmt: skip
            current.reset(token)


class GraphQLLogContext(SchemaExtension):
    """Names the GraphQL operation, and the organization its variables name, on the request's lines."""

    def on_execute(self) -> Any:
        execution = self.execution_context
        variables = execution.variables or {}
        nested = variables.get("input") if isinstance(variables.get("input"), dict) else {}
        organization = variables.get("organizationId") or (nested or {}).get("organizationId")
        annotate(
            operation=execution.operation_name or "anonymous",
            organization_id=organization if isinstance(organization, str) else None,
        )
        yield
