"""Tracing on: spans of the HTTP request, the GraphQL operation and its SQL reach an OTLP collector."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from app.migrate import upgrade
from app.settings import REPO_ROOT


class Collector(HTTPServer):
    """An OTLP/HTTP trace receiver on the loopback: keeps the span names it is sent."""

    def __init__(self) -> None:
        self.spans: list[tuple[str, dict[str, str]]] = []
        super().__init__(("127.0.0.1", 0), self.Handler)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            request = ExportTraceServiceRequest.FromString(
                self.rfile.read(int(self.headers["Content-Length"]))
            )
            for resource in request.resource_spans:
                for scope in resource.scope_spans:
                    for span in scope.spans:
                        attributes = {a.key: a.value.string_value for a in span.attributes}
                        self.server.spans.append((span.name, attributes))  # type: ignore[attr-defined]
            self.send_response(200)
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass


@pytest.fixture
def collector() -> Iterator[Collector]:
    server = Collector()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_spans_are_exported_over_otlp_when_tracing_is_on(collector: Collector, tmp_path: Path) -> None:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'traced.sqlite3'}"
    upgrade(database_url)
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "TRACING_ENABLED": "true",
        "TRACING_SAMPLE_RATIO": "1",
        "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{collector.server_address[1]}",
        "OTEL_BSP_SCHEDULE_DELAY": "100",
        "JOBS_ENABLED": "false",
        "MAIL_WORKER": "false",
        "LOG_LEVEL": "WARNING",
    }
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "app.asgi:create_app", "--factory", "--port", str(port)],
        cwd=REPO_ROOT, env=env, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{base}/healthz", timeout=1)
                break
            except httpx.TransportError:
                assert server.poll() is None and time.monotonic() < deadline
                time.sleep(0.3)
        signed_up = httpx.post(
            f"{base}/graphql",
            json={"query": 'mutation SignUp { signUp(input: {email: "t@example.com", password: "long enough password"}) { __typename } }'},
        )  # fmt: skip
        assert signed_up.json()["data"]["signUp"]["__typename"] == "SessionPayload"
        while not any(name == "INSERT" or name.startswith("INSERT") for name, _ in collector.spans):
            assert time.monotonic() < deadline, collector.spans
            time.sleep(0.2)
    finally:
        server.terminate()
        server.communicate(timeout=30)
    names = [name for name, _ in collector.spans]
    assert any(name.startswith("POST /graphql") for name in names), names
    assert "SignUp" in names or any("GraphQL" in name for name in names), names
    assert not any("/healthz" in name for name in names)  # health checks are left out
