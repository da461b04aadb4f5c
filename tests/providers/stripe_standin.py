"""A local stand-in for Stripe's API, spoken over real HTTP, for the Stripe provider's tests.

The provider runs the official SDK unchanged, pointed here by ``api_base``: requests arrive
form-encoded with their ``Authorization``, ``Stripe-Version`` and ``Idempotency-Key`` headers, and
each is recorded for the tests to inspect. The endpoints the provider uses answer with Stripe-shaped
JSON (see ``tests/providers/stripe_api.py``). It is strict where Stripe is: a request whose
parameters the pinned API version does not declare (``tests/providers/stripe_params.py``), or sent with
another ``Stripe-Version``, is refused with a 400. Idempotency works as Stripe's does: the same key and
parameters replay the first answer for 24 hours (the stand-in's clock moves with ``advance``), other
parameters are an ``idempotency_error``. The next requests to a path can be made to fail: ``drop``
(done and recorded, the answer lost), ``hang`` (done, answered too late) or ``error`` (Stripe failed,
nothing done).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qsl, urlsplit

from providers.stripe.config import API_VERSION
from tests.providers.stripe_api import StripeApi, decode_form, new_id
from tests.providers.stripe_js_api import handle_browser_request

SECRET_KEY = "sk_test_standin_51Hx"
WEBHOOK_SECRET = "whsec_standin_signing_secret"
PUBLISHABLE_KEY = "pk_test_standin_51Hx"
IDEMPOTENCY_KEY_LIFETIME_SECONDS = 24 * 3600

Fault = Literal["drop", "hang", "error"]
# Stripe stores the answer of a request that ran; validation errors (400, 404) are not replayed.
_REPLAYED_STATUSES = {200, 402}


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the stand-in received it."""

    method: str
    path: str
    params: dict[str, Any]
    headers: dict[str, str]

    @property
    def idempotency_key(self) -> str | None:
        return self.headers.get("idempotency-key")


@dataclass
class _Fault:
    kind: Fault
    method: str
    path: str


class StripeStandIn:
    """The stand-in server; ``api`` holds its objects (customers, payment intents, …)."""

    def __init__(
        self,
        *,
        secret_key: str = SECRET_KEY,
        publishable_key: str = PUBLISHABLE_KEY,
        hang_seconds: float = 1.0,
    ) -> None:
        self.secret_key = secret_key
        self.publishable_key = publishable_key
        self.hang_seconds = hang_seconds
        self.api = StripeApi()
        self.requests: list[RecordedRequest] = []
        self._faults: list[_Fault] = []
        self._idempotency: dict[str, tuple[str, int, dict[str, Any], float]] = {}
        self._offset_seconds = 0.0
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._server.standin = self  # type: ignore[attr-defined]
        # A short poll interval: stopping waits for the serving loop to notice, once per test.
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.02},
            name="stripe-standin",
            daemon=True,
        )

    @property
    def url(self) -> str:
        """The base address to give the SDK (``api_base``)."""
        return f"http://127.0.0.1:{self._server.server_port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def now(self) -> float:
        """The stand-in's time: the wall clock, moved on by ``advance``."""
        return time.time() + self._offset_seconds

    def advance(self, *, hours: float) -> None:
        """Move the stand-in's clock on (idempotency keys older than 24 hours are forgotten)."""
        self._offset_seconds += hours * 3600

    def fail_next(self, path: str, kind: Fault = "drop", *, method: str = "POST") -> None:
        """Make the next request whose path starts with ``path`` fail in that way."""
        self._faults.append(_Fault(kind, method, path))

    def requests_to(self, method: str, path: str) -> list[RecordedRequest]:
        """The recorded requests of that method whose path starts with ``path``, oldest first."""
        return [r for r in self.requests if r.method == method and r.path.startswith(path)]

    def event(self, event_type: str, obj: dict[str, Any], *, livemode: bool = False, **extra: Any) -> bytes:
        """The body of a webhook event about ``obj``, as Stripe sends it."""
        body = {
            "id": new_id("evt"),
            "object": "event",
            "api_version": API_VERSION,
            "created": int(time.time()),
            "data": {"object": obj, **extra},
            "livemode": livemode,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": event_type,
        }
        return json.dumps(body).encode()

    # Serving -------------------------------------------------------------------------------------

    def serve(
        self, method: str, target: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, Any], Fault | None]:
        """Answer one request: (status, JSON body, the fault to act out or None)."""
        parts = urlsplit(target)
        raw = body.decode() if method == "POST" else parts.query
        params = decode_form(parse_qsl(raw, keep_blank_values=True))
        with self._lock:
            self.requests.append(RecordedRequest(method, parts.path, params, headers))
            fault = self._take_fault(method, parts.path)
            if fault == "error":
                return 500, _error("api_error", "An unknown error occurred (stand-in)."), None
            if "authorization" not in headers and "key" in params:
                # Stripe.js in a browser: the publishable key and an intent's client secret, never the secret key
                if params.pop("key") != self.publishable_key:
                    return 401, _error("invalid_request_error", "Invalid API Key provided."), fault
                status, answer = handle_browser_request(self.api, method, parts.path, params)
                return status, answer, fault
            if headers.get("authorization") != f"Bearer {self.secret_key}":
                return 401, _error("invalid_request_error", "Invalid API Key provided."), fault
            version = headers.get("stripe-version")
            if version != API_VERSION:
                self.api.invalid_requests.append((method, parts.path, f"Stripe-Version {version}"))
                return 400, _error("invalid_request_error", f"Invalid Stripe API version: {version}"), fault
            key = headers.get("idempotency-key")
            if method != "POST" or not key:
                status, answer = self.api.handle(method, parts.path, params)
                return status, answer, fault
            fingerprint = json.dumps([parts.path, params], sort_keys=True)
            now = self.now()
            if (
                key in self._idempotency
                and now - self._idempotency[key][3] > IDEMPOTENCY_KEY_LIFETIME_SECONDS
            ):
                del self._idempotency[key]  # Stripe forgets a key after 24 hours: it is a new request again
            if key in self._idempotency:
                first, status, answer, _ = self._idempotency[key]
                if first != fingerprint:
                    return (
                        400,
                        _error(
                            "idempotency_error",
                            "Keys for idempotent requests can only be used with the same parameters they were "
                            f"first used with. Try using a key other than '{key}' if you meant to execute a "
                            "different request.",
                        ),
                        fault,
                    )
                return status, answer, fault
            status, answer = self.api.handle(method, parts.path, params)
            if status in _REPLAYED_STATUSES:
                self._idempotency[key] = (fingerprint, status, answer, now)
            return status, answer, fault

    def _take_fault(self, method: str, path: str) -> Fault | None:
        for index, fault in enumerate(self._faults):
            if fault.method == method and path.startswith(fault.path):
                del self._faults[index]
                return fault.kind
        return None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the SDK's connection pool expects

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes: without this, Nagle and delayed ACKs add 40 ms a request.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:
        self._answer("GET")

    def do_POST(self) -> None:
        self._answer("POST")

    def do_DELETE(self) -> None:
        self._answer("DELETE")

    def _answer(self, method: str) -> None:
        standin: StripeStandIn = self.server.standin  # type: ignore[attr-defined]
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {name.lower(): value for name, value in self.headers.items()}
        status, answer, fault = standin.serve(method, self.path, headers, body)
        if fault == "hang":
            time.sleep(standin.hang_seconds)
        if fault in {"drop", "hang"}:
            self.close_connection = True  # done and recorded, but the caller never hears of it
            return
        payload = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("Request-Id", new_id("req"))
        self.send_header("Access-Control-Allow-Origin", "*")  # Stripe's API answers pages of any origin
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, format: str, *args: Any) -> None:
        return  # the recorded requests are the log


def _error(kind: str, message: str) -> dict[str, Any]:
    return {"error": {"type": kind, "message": message}}


@contextmanager
def running_standin(**options: Any) -> Iterator[StripeStandIn]:
    """A started stand-in, stopped afterwards."""
    standin = StripeStandIn(**options)
    standin.start()
    try:
        yield standin
    finally:
        standin.stop()


def stripe_signature(payload: bytes, secret: str = WEBHOOK_SECRET, *, timestamp: int | None = None) -> str:
    """A ``Stripe-Signature`` header for payload: ``t=…,v1=`` HMAC-SHA256 of ``f"{t}.{body}"``."""
    t = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{t}.".encode() + payload, hashlib.sha256).hexdigest()
    return f"t={t},v1={digest}"


def stripe_plugins_toml(standin: StripeStandIn, **settings: Any) -> str:
    """A plugins.toml choosing Stripe, pointed at the stand-in (no SDK retries unless asked: fast tests)."""
    table = {
        "publishable_key": PUBLISHABLE_KEY,
        "api_base": standin.url,
        "max_network_retries": 0,
        "request_timeout_seconds": 2.0,
        **settings,
    }
    lines = [f"{name} = {json.dumps(value)}" for name, value in table.items()]
    return (
        '[payments]\nprovider = "stripe"\ntimeout_seconds = 5\n\n[providers.stripe]\n'
        + "\n".join(lines)
        + "\n"
    )


STRIPE_ENV = {"STRIPE_SECRET_KEY": SECRET_KEY, "STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET}
