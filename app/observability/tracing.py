"""OpenTelemetry tracing, off unless TRACING_ENABLED: HTTP requests, GraphQL, SQL, Redis and outgoing HTTP.

Spans are exported over OTLP/HTTP to where the standard `OTEL_EXPORTER_OTLP_ENDPOINT` (or
`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) points, in batches, off the request path. A share of
requests (TRACING_SAMPLE_RATIO) is traced, or every request whose caller's trace is sampled:
the fleet's hot path pays for a span only when it is kept.
"""

from __future__ import annotations

import os
import weakref
from typing import Any

from app.settings import Settings

_provider: Any = None
_traced_engines: weakref.WeakSet[Any] = weakref.WeakSet()


def tracer_provider(settings: Settings, exporter: Any = None) -> Any:
    """The process's tracer provider, made and installed once (the instrumentations are process-wide)."""
    global _provider
    if _provider is not None:
        return _provider
    from opentelemetry import trace
    from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor
    from opentelemetry.instrumentation.redis import RedisInstrumentor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased

    if exporter is None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter()
    provider = TracerProvider(
        resource=Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", "inference-billing")}),
        sampler=ParentBased(TraceIdRatioBased(settings.tracing_sample_ratio)),
    )
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)  # Strawberry's extension asks the global one
    RedisInstrumentor().instrument(tracer_provider=provider)
    HTTPXClientInstrumentor().instrument(tracer_provider=provider)
    _provider = provider
    return provider


def trace_database(db: Any) -> None:
    """A span per SQL statement of the app's engines (when tracing is on).

    The app's engines exist before any instrumentation could wrap their creation, so their events
    are hooked here, once per engine.
    """
    if _provider is None:
        return
    from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
    from opentelemetry.metrics import get_meter

    tracer = _provider.get_tracer("opentelemetry.instrumentation.sqlalchemy")
    usage = get_meter(__name__).create_up_down_counter("db.client.connections.usage", unit="connections")
    for engine in (db.write_engine.sync_engine, db.read_engine.sync_engine):
        if engine not in _traced_engines:
            EngineTracer(tracer, engine, usage)
            _traced_engines.add(engine)


async def flush() -> None:
    """Send the spans still buffered (at shutdown: the process may end by a signal, skipping atexit)."""
    if _provider is not None:
        _provider.force_flush(timeout_millis=5000)


def tracing_plugins(settings: Settings) -> list[Any]:
    """Litestar's OpenTelemetry plugin (ASGI spans) when tracing is on; nothing otherwise."""
    if not settings.tracing_enabled:
        return []
    from litestar.plugins.opentelemetry import OpenTelemetryConfig, OpenTelemetryPlugin

    config = OpenTelemetryConfig(tracer_provider=tracer_provider(settings), exclude=["/healthz", "/metrics"])
    return [OpenTelemetryPlugin(config)]


def graphql_extensions(settings: Settings) -> list[Any]:
    """Strawberry's OpenTelemetry extension (a span per operation and resolver) when tracing is on."""
    if not settings.tracing_enabled:
        return []
    from strawberry.extensions.tracing import OpenTelemetryExtension

    return [OpenTelemetryExtension]
