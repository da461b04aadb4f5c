"""The inference fleet's HTTP API: admission before a request, usage after it (the hot path).

Authenticated with the fleet's service token (FLEET_TOKEN). Errors are JSON
`{"message", "type", "param", "code"}` in the style inference providers use.
"""

from __future__ import annotations

import hmac
from typing import Any

import msgspec
from litestar import Controller, MediaType, Request, Response, post
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException
from litestar.handlers.base import BaseRouteHandler

from app.fleet.admission import MAX_TOKENS_PER_REQUEST, Answer, error
from app.fleet.service import Fleet

MAX_RECORDS = 10_000


class AdmissionRequest(msgspec.Struct, forbid_unknown_fields=True):
    """A request the fleet is about to run."""

    api_key: str
    model: str
    input_tokens: int
    max_output_tokens: int


class UsageReport(msgspec.Struct, forbid_unknown_fields=True):
    """What a finished request used; `request_id` is the fleet's own id (a repeat counts once)."""

    request_id: str
    admission_id: str
    model: str
    input_tokens: int
    output_tokens: int


class UsageBatch(msgspec.Struct, forbid_unknown_fields=True):
    records: list[UsageReport]


def fleet_token_guard(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Only the fleet, holding the service token, may call these endpoints."""
    expected = connection.app.state.settings.fleet_token
    header = connection.headers.get("authorization", "")
    token = header[7:] if header[:7].lower() == "bearer " else ""
    if not expected or not hmac.compare_digest(token.encode(), expected.get_secret_value().encode()):
        raise NotAuthorizedException("A valid fleet service token is required (Authorization: Bearer …).")


def _respond(answer: Answer) -> Response[Any]:
    # encoded here, once, with msgspec: the hot path skips the framework's serializer lookup
    return Response(
        _encode(answer.body), status_code=answer.status, headers=answer.headers, media_type=MediaType.JSON
    )


_encode = msgspec.json.Encoder().encode


def _decode(request_body: bytes, kind: type[Any]) -> Any:
    try:
        return msgspec.json.decode(request_body, type=kind)
    except msgspec.ValidationError as exc:
        raise _invalid(exc) from None
    except msgspec.DecodeError as exc:
        raise _BadRequest(
            error(400, "invalid_request_error", "invalid_json", f"Malformed JSON: {exc}")
        ) from None


def _usage_reports(request_body: bytes) -> list[UsageReport]:
    """One record, or a batch under "records"."""
    document = _decode(request_body, dict[str, Any])
    try:
        if "records" in document:
            return msgspec.convert(document, UsageBatch).records
        return [msgspec.convert(document, UsageReport)]
    except msgspec.ValidationError as exc:
        raise _invalid(exc) from None


def _invalid(exc: msgspec.ValidationError) -> _BadRequest:
    path = str(exc).rsplit("at `$.", 1)
    param = path[1].rstrip("`") if len(path) == 2 else None
    return _BadRequest(error(400, "invalid_request_error", "invalid_request", str(exc), param))


class _BadRequest(Exception):
    def __init__(self, answer: Answer) -> None:
        self.answer = answer


def _check_tokens(value: int, param: str) -> None:
    if not 0 <= value <= MAX_TOKENS_PER_REQUEST:
        raise _BadRequest(
            error(
                400,
                "invalid_request_error",
                "invalid_request",
                f"{param} must be 0 to {MAX_TOKENS_PER_REQUEST}.",
                param,
            )
        )


class FleetController(Controller):
    path = "/fleet/v1"
    guards = [fleet_token_guard]  # noqa: RUF012
    tags = ["fleet"]  # noqa: RUF012

    @post("/admissions", status_code=200, summary="May this API key run this request now?")
    async def admit(self, request: Request[Any, Any, Any]) -> Response[Any]:
        """Admission: 200 with an admission id and the plan, or 401 / 402 / 404 / 429 (with Retry-After).

        Every answer carries x-ratelimit-{limit,remaining,reset}-{requests,tokens}-minute headers
        (and -day where a daily limit applies). Tokens are reserved (input plus the most the
        request may generate) until its usage is reported.
        """
        fleet: Fleet = request.app.state.fleet
        try:
            body: AdmissionRequest = _decode(await request.body(), AdmissionRequest)
            _check_tokens(body.input_tokens, "input_tokens")
            _check_tokens(body.max_output_tokens, "max_output_tokens")
        except _BadRequest as bad:
            return _respond(bad.answer)
        return _respond(
            await fleet.admissions.admit(body.api_key, body.model, body.input_tokens, body.max_output_tokens)
        )

    @post("/usage", status_code=200, summary="Report what finished requests used (one record or a batch)")
    async def usage(self, request: Request[Any, Any, Any]) -> Response[Any]:
        """Usage: a record `{request_id, admission_id, model, input_tokens, output_tokens}` or `{"records": [...]}`.

        Answered once the records are committed: each is "accepted" or "duplicate" (already counted).
        """
        fleet: Fleet = request.app.state.fleet
        try:
            reports = _usage_reports(await request.body())
            if not 1 <= len(reports) <= MAX_RECORDS:
                raise _BadRequest(
                    error(
                        400,
                        "invalid_request_error",
                        "invalid_request",
                        f"Send 1 to {MAX_RECORDS} records.",
                        "records",
                    )
                )
            for report in reports:
                _check_tokens(report.input_tokens, "input_tokens")
                _check_tokens(report.output_tokens, "output_tokens")
            results = await fleet.record_usage(reports)
        except _BadRequest as bad:
            return _respond(bad.answer)
        return Response({"results": results}, status_code=200)
