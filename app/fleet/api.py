"""The inference fleet's HTTP API: admission before a request, usage after it (the hot path).

Authenticated with the fleet's service token (FLEET_TOKEN). Errors are JSON
`{"message", "type", "param", "code"}` in the style inference providers use.

Every request of the fleet passes through here, so the handlers stay close to the ASGI metal:
bodies are decoded by msgspec straight into their structs, answers are sent with their headers
encoded once, and the two POSTs are answered by FleetFastPath before Litestar routes them (the
controller's before-request hook checks the token when they do come through Litestar). The
OpenAPI schema still describes it all.
"""

from __future__ import annotations

import hmac
import logging
import re
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Annotated, Any

import msgspec
from litestar import Controller, Request, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import Operation
from litestar.types import HTTPResponseBodyEvent, HTTPResponseStartEvent, Receive, Scope, Send

from app.fleet.admission import MAX_TOKENS_PER_REQUEST, Answer, error
from app.fleet.deadlines import Deadlines
from app.fleet.service import Fleet
from app.fleet.usage import ShuttingDown
from app.observability import metrics
from app.observability.logs import annotate
from app.outage import OUTAGES, RETRY_AFTER_SECONDS, is_outage

logger = logging.getLogger(__name__)

MAX_RECORDS = 10_000
MAX_BODY_BYTES = 8 * 1024 * 1024  # a full batch of records is about 2.5 MB

Tokens = Annotated[int, msgspec.Meta(ge=0, le=MAX_TOKENS_PER_REQUEST)]


class AdmissionRequest(msgspec.Struct, forbid_unknown_fields=True):
    """A request the fleet is about to run."""

    api_key: Annotated[str, msgspec.Meta(max_length=200, description="The customer's API key (csk-…).")]
    model: Annotated[str, msgspec.Meta(max_length=100, description="The catalog id of the model.")]
    input_tokens: Annotated[Tokens, msgspec.Meta(description="Tokens of the prompt.")]
    max_output_tokens: Annotated[Tokens, msgspec.Meta(description="The most the request may generate.")]


class UsageReport(msgspec.Struct, forbid_unknown_fields=True):
    """What a finished request used; `request_id` is the fleet's own id (a repeat counts once)."""

    request_id: Annotated[str, msgspec.Meta(description="1 to 100 characters (checked record by record).")]
    admission_id: Annotated[str, msgspec.Meta(description="From the admission's answer.")]
    model: Annotated[str, msgspec.Meta(max_length=100)]
    input_tokens: Tokens
    output_tokens: Tokens


class UsageBatch(msgspec.Struct, forbid_unknown_fields=True):
    """Several usage reports, committed together."""

    records: Annotated[list[UsageReport], msgspec.Meta(min_length=1, max_length=MAX_RECORDS)]


class FleetError(msgspec.Struct):
    """Why a call was refused, in the style inference providers use."""

    message: str
    type: str
    param: str | None
    code: str


class Admitted(msgspec.Struct):
    """The request may run: its admission id goes back with its usage report."""

    allowed: bool
    admission_id: str
    plan: Annotated[str, msgspec.Meta(description="subscription, paygo or free")]
    organization_id: str
    project_id: str
    reserved_tokens: int


class UsageOutcome(msgspec.Struct):
    """One record's outcome: `accepted`, `duplicate` (already counted), or the error fields.

    Error codes of a record: `invalid_admission`, `model_mismatch`, `invalid_request`,
    `implausible_tokens` (more than the model's context), `admission_already_used` (an admission
    bills one request), `unstorable_record` (the database refused it; the others are stored).
    """

    request_id: str | None = None
    status: str | None = None
    over_reservation_tokens: Annotated[
        int | None,
        msgspec.Meta(
            description="Tokens used beyond the admission's reservation: billed, and counted against the limits."
        ),
    ] = None
    message: str | None = None
    type: str | None = None
    param: str | None = None
    code: str | None = None


class UsageResults(msgspec.Struct):
    results: list[UsageOutcome]


# what an admission refused before any limit was consulted (unknown key or model, no credit) may run: nothing
_NO_ALLOWANCE = {
    f"x-ratelimit-{part}-{kind}-minute": "0"
    for part in ("limit", "remaining", "reset")
    for kind in ("requests", "tokens")
}


def _with_rate_headers(answer: Answer) -> Answer:
    """The answer with the minute's rate-limit headers: limits of zero when no limit applied."""
    if not any(name.startswith("x-ratelimit-") for name in answer.headers):
        answer.headers.update(_NO_ALLOWANCE)
    return answer


class FleetResponse:
    """An answer as ASGI: JSON and headers encoded once, without the framework's response building."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, content: Any, headers: dict[str, str] | None = None) -> None:
        self.status = status
        self.body = _encode(content)
        self.headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(self.body))]
        self.headers += [(name.encode(), value.encode()) for name, value in (headers or {}).items()]

    @classmethod
    def of(cls, answer: Answer) -> FleetResponse:
        return cls(answer.status, answer.body, answer.headers)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        start: HTTPResponseStartEvent = {
            "type": "http.response.start",
            "status": self.status,
            "headers": self.headers,
        }
        body: HTTPResponseBodyEvent = {"type": "http.response.body", "body": self.body, "more_body": False}
        await send(start)
        await send(body)


_encode = msgspec.json.Encoder().encode


async def require_fleet_token(request: Request[Any, Any, Any]) -> FleetResponse | None:
    """Only the fleet, holding the service token, may call these endpoints (None: go on)."""
    return _token_refusal(request.scope, request.app.state.settings)


def _token_refusal(scope: Scope, settings: Any) -> FleetResponse | None:
    """The 401 for a call without the fleet's service token, or None."""
    expected = settings.fleet_token
    header = ""
    for name, value in scope["headers"]:
        if name == b"authorization":
            header = value.decode("latin-1")
    token = header[7:] if header[:7].lower() == "bearer " else ""
    if expected and hmac.compare_digest(token.encode(), expected.get_secret_value().encode()):
        return None
    return FleetResponse.of(
        error(
            401,
            "authentication_error",
            "invalid_service_token",
            "A valid fleet service token is required (Authorization: Bearer …).",
        )
    )


class _BadRequest(Exception):
    def __init__(self, answer: Answer) -> None:
        self.answer = answer


async def _read_body(receive: Receive) -> bytes:
    """The body, straight from ASGI (Litestar's request.body() costs a third of an admission)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":  # the client went away
            raise _BadRequest(error(400, "invalid_request_error", "disconnected", "The client went away."))
        chunks.append(message.get("body", b""))
        size += len(chunks[-1])
        if size > MAX_BODY_BYTES:
            raise _BadRequest(
                error(
                    413, "invalid_request_error", "request_too_large", f"Send at most {MAX_BODY_BYTES} bytes."
                )
            )
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _decode(request_body: bytes, kind: Any) -> Any:
    try:
        # not strict: a whole number written as 172.0 is an integer, as JSON Schema has it
        return msgspec.json.decode(request_body, type=kind, strict=False)
    except msgspec.ValidationError as exc:
        # "Expected `int`, got `str` - at `$.records[0].input_tokens`", "Object missing required field `model`"
        found = re.search(r"at `\$\.(?:.*\.)?(\w+)`$|required field `(\w+)`", str(exc))
        param = (found.group(1) or found.group(2)) if found else None
        raise _BadRequest(error(400, "invalid_request_error", "invalid_request", str(exc), param)) from None
    except msgspec.DecodeError as exc:
        raise _BadRequest(
            error(400, "invalid_request_error", "invalid_json", f"Malformed JSON: {exc}")
        ) from None
    except RecursionError:
        raise _BadRequest(
            error(400, "invalid_request_error", "invalid_json", "Malformed JSON: nested too deeply.")
        ) from None


def _usage_reports(request_body: bytes) -> list[UsageReport]:
    """One record, or a batch under "records" (the top level is looked at first, its values left raw).

    One well-formed record, the fleet's most frequent report, is tried first: one decode, not two.
    """
    try:
        return [msgspec.json.decode(request_body, type=UsageReport, strict=False)]
    except (msgspec.DecodeError, RecursionError):
        pass  # a batch, or malformed: the steps below say which, and what is wrong
    if "records" in _decode(request_body, dict[str, msgspec.Raw]):
        batch: UsageBatch = _decode(request_body, UsageBatch)
        return batch.records
    return [_decode(request_body, UsageReport)]


def _inline(schema: Any, definitions: dict[str, Any]) -> Any:
    """A JSON Schema with msgspec's `$defs` references replaced by what they name."""
    if isinstance(schema, dict):
        if "$ref" in schema:
            return _inline(definitions[schema["$ref"]], definitions)
        return {key: _inline(value, definitions) for key, value in schema.items()}
    if isinstance(schema, list):
        return [_inline(item, definitions) for item in schema]
    return schema


def body_described_by(*kinds: Any) -> type[Operation]:
    """An OpenAPI operation whose request body is one of `kinds` (the handler decodes it itself)."""
    schemas, definitions = msgspec.json.schema_components(kinds, ref_template="{name}")
    choices = [_inline(schema, definitions) for schema in schemas]
    schema = choices[0] if len(choices) == 1 else {"oneOf": choices}
    body = {"required": True, "content": {"application/json": {"schema": schema}}}

    @dataclass
    class DescribedOperation(Operation):
        def to_schema(self) -> dict[str, Any]:
            return {**super().to_schema(), "requestBody": body}

    return DescribedOperation


def unavailable(what: str) -> Answer:
    """503 with Retry-After: the call may be repeated as it is (usage reports count once)."""
    answer = error(503, "service_unavailable_error", "service_unavailable", f"{what} Retry in a few seconds.")
    answer.headers["retry-after"] = str(RETRY_AFTER_SECONDS)
    return answer


async def answer_within(deadlines: Deadlines, work: Awaitable[Answer]) -> Answer:
    """The answer of `work`, or 503 when the database or Redis fails or it takes over the deadlines' seconds."""
    try:
        return await deadlines.run(work)
    except ShuttingDown:
        return unavailable("This server is shutting down; send the request to another one.")
    except OUTAGES as exc:
        if not is_outage(exc):
            raise
        logger.warning("fleet call failed: %s: %s", type(exc).__name__, exc)
        return unavailable("The billing database or Redis is not answering.")


_REFUSALS = {
    400: ResponseSpec(FleetError, description="The request is malformed (`param` names the field).", generate_examples=False),
    401: ResponseSpec(FleetError, description="No valid fleet service token, or the API key is unknown or revoked.", generate_examples=False),
    413: ResponseSpec(FleetError, description=f"The body is over {MAX_BODY_BYTES:,} bytes.", generate_examples=False),
    503: ResponseSpec(FleetError, description="The database or Redis is unavailable, or the server shuts down: retry (see Retry-After).", generate_examples=False),
}  # fmt: skip


async def _recorded(fleet: Fleet, reports: list[UsageReport]) -> Answer:
    results = await fleet.record_usage(reports)
    metrics.usage_answered(results)
    return Answer(200, {"results": results})


async def admission_response(fleet: Fleet, settings: Any, receive: Receive) -> FleetResponse:
    """POST /fleet/v1/admissions, once the service token was checked."""
    started = time.perf_counter()
    try:
        body: AdmissionRequest = _decode(await _read_body(receive), AdmissionRequest)
    except _BadRequest as bad:
        answer = _with_rate_headers(bad.answer)
    else:
        admitted = fleet.admit(body.api_key, body.model, body.input_tokens, body.max_output_tokens)
        answer = _with_rate_headers(await answer_within(fleet.admission_deadlines, admitted))
    metrics.admission_answered(answer.status, answer.body, time.perf_counter() - started)
    annotate(organization_id=answer.body.get("organization_id"))
    return FleetResponse.of(answer)


async def usage_response(fleet: Fleet, settings: Any, receive: Receive) -> FleetResponse:
    """POST /fleet/v1/usage, once the service token was checked."""
    try:
        reports = _usage_reports(await _read_body(receive))
    except _BadRequest as bad:
        return FleetResponse.of(bad.answer)
    return FleetResponse.of(await answer_within(fleet.usage_deadlines, _recorded(fleet, reports)))


class FleetFastPath:
    """ASGI: the fleet's two POSTs answered without the framework's routing and handler machinery.

    The hot path does not need what Litestar does for a request (route resolution, the handler's
    signature and dependencies, the before-request hook's call): a fifth of an admission's time in a
    profile. Everything else reaches `app`, and so do these paths when tracing is on (its spans come
    from Litestar's plugin). FleetController describes them in the OpenAPI schema and answers them
    the same way, through the same functions, when they come through Litestar.
    """

    def __init__(self, app: Any, *, fleet: Fleet, settings: Any) -> None:
        self.app = app
        self._fleet = fleet
        self._settings = settings
        self._routes = {"/fleet/v1/admissions": admission_response, "/fleet/v1/usage": usage_response}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = self._routes.get(scope["path"]) if scope["type"] == "http" else None
        if route is not None and scope.get("method") != "POST":
            route = None
        if route is None:
            await self.app(scope, receive, send)
            return
        try:
            response = _token_refusal(scope, self._settings) or await route(
                self._fleet, self._settings, receive
            )
        except Exception as exc:  # as the app's outage handler would: an outage is a 503, a bug a logged 500
            if is_outage(exc):
                logger.error("fleet call %s: %s: %s", scope["path"], type(exc).__name__, exc)
                answer = unavailable("The billing database or Redis is not answering.")
            else:
                logger.exception("fleet call %s failed", scope["path"])
                answer = error(500, "api_error", "internal_error", "An internal error occurred.")
            response = FleetResponse.of(answer)
        await response(scope, receive, send)


class FleetController(Controller):
    path = "/fleet/v1"
    # Litestar unbinds a function set here: it is called with the request alone
    before_request = require_fleet_token  # type: ignore[assignment]
    tags = ["fleet"]  # noqa: RUF012
    security = [{"fleetToken": []}]  # noqa: RUF012

    @post(
        "/admissions",
        status_code=200,
        summary="May this API key run this request now?",
        operation_class=body_described_by(AdmissionRequest),
        responses={
            200: ResponseSpec(Admitted, description="Admitted; tokens are reserved until the usage is reported.", generate_examples=False),
            **_REFUSALS,
            400: ResponseSpec(FleetError, description="The request is malformed (`param` names the field), or its input plus max_output_tokens exceed the model's context (`context_length_exceeded`).", generate_examples=False),
            402: ResponseSpec(FleetError, description="A Team organization with neither a subscription for the model nor credit.", generate_examples=False),
            404: ResponseSpec(FleetError, description="The model is unknown or deprecated.", generate_examples=False),
            429: ResponseSpec(FleetError, description="Over a requests or tokens limit of the organization or the project; see Retry-After.", generate_examples=False),
        },
    )  # fmt: skip
    async def admit(self, request: Request[Any, Any, Any]) -> FleetResponse:
        """Admission: 200 with an admission id and the plan, or 400 / 401 / 402 / 404 / 429 (with Retry-After).

        Every answer carries x-ratelimit-{limit,remaining,reset}-{requests,tokens}-minute headers
        (and -day where a daily limit applies). Tokens are reserved (input plus the most the
        request may generate) until its usage is reported.
        """
        return await admission_response(request.app.state.fleet, request.app.state.settings, request.receive)

    @post(
        "/usage",
        status_code=200,
        summary="Report what finished requests used (one record or a batch)",
        operation_class=body_described_by(UsageReport, UsageBatch),
        responses={200: ResponseSpec(UsageResults, description="Committed; each record's outcome in order.", generate_examples=False), **_REFUSALS},
    )  # fmt: skip
    async def usage(self, request: Request[Any, Any, Any]) -> FleetResponse:
        """Usage: a record `{request_id, admission_id, model, input_tokens, output_tokens}` or `{"records": [...]}`.

        Answered once the records are committed: each is "accepted" or "duplicate" (already counted).
        """
        return await usage_response(request.app.state.fleet, request.app.state.settings, request.receive)
