"""create_app(settings) -> Litestar: the GraphQL API for the console, and health checks."""

from __future__ import annotations

import asyncio
import gc
import logging
import uuid
from typing import Any

from litestar import Litestar, Request, Response, get
from litestar.config.cors import CORSConfig
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from litestar.types import ControllerRouterHandler

from app.billing_documents import BillingDocuments
from app.billing_webhooks import receive_webhook
from app.db import Database
from app.domain.charge_handlers import install_charge_handlers
from app.domain.notifications.mailer import MailWorker
from app.domain.receipts.links import install_shared_key
from app.fleet.api import FleetController, FleetFastPath, FleetResponse, unavailable
from app.fleet.service import build_fleet, connect_redis
from app.graphql.http import graphql_controller
from app.graphql.schema import build_schema
from app.jobs import Scheduler
from app.migrate import schema_is_current
from app.observability import metrics, tracing
from app.observability.logs import RequestLogging, configure_logging, litestar_logging
from app.outage import OUTAGES, RETRY_AFTER_SECONDS, is_outage, unavailable_message
from app.services import Services, build_services
from app.settings import Settings, get_settings
from app.web import offline_graphiql, openapi_render_plugins, web_routes

logger = logging.getLogger(__name__)


@get("/healthz", sync_to_thread=False, include_in_schema=False)
def healthz() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


@get("/readyz", include_in_schema=False)
async def readyz(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    """Readiness: the database answers at the migrations' head, and Redis answers when configured."""
    state = request.app.state
    checks: dict[str, str] = {}
    timeout = state.settings.database_connect_timeout_seconds
    try:
        async with asyncio.timeout(timeout):
            current = await schema_is_current(state.db)
        checks["database"] = (
            "ok" if current else "not at the newest migration: run `python -m app.cli migrate`"
        )
    except Exception as exc:  # noqa: BLE001  (whatever fails, the answer is: not ready)
        checks["database"] = f"unavailable: {type(exc).__name__}"
    if state.redis is not None:
        try:
            async with asyncio.timeout(timeout):
                await state.redis.ping()
            checks["redis"] = "ok"
        except Exception as exc:  # noqa: BLE001
            checks["redis"] = f"unavailable: {type(exc).__name__}"
    ready = all(value == "ok" for value in checks.values())
    return Response(
        {"status": "ready" if ready else "unavailable", "checks": checks},
        status_code=200 if ready else 503,
        headers={} if ready else {"retry-after": str(RETRY_AFTER_SECONDS)},
    )


def answer_outage(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """A database or Redis outage outside the fleet's own handling: 503, never Litestar's 500.

    GraphQL answers its documented top-level error carrying a correlation id the log shows too.
    """
    if not is_outage(exc):  # a bug, not an outage: Litestar's own 500, logged with its traceback
        logger.error("unexpected error at %s", request.url.path, exc_info=exc)
        return Response({"status_code": 500, "detail": "Internal Server Error"}, status_code=500)
    correlation_id = request.headers.get("x-request-id", "")[:64] or uuid.uuid4().hex
    logger.error(
        "service unavailable [%s] at %s: %s: %s", correlation_id, request.url.path, type(exc).__name__, exc
    )
    headers = {"retry-after": str(RETRY_AFTER_SECONDS)}
    if request.url.path.startswith("/fleet/"):
        answer = unavailable("The billing database or Redis is not answering.")
        return Response(
            FleetResponse.of(answer).body, status_code=503, headers=headers, media_type="application/json"
        )
    body = {
        "data": None,
        "errors": [
            {
                "message": unavailable_message(correlation_id),
                "extensions": {"code": "SERVICE_UNAVAILABLE", "correlationId": correlation_id},
            }
        ],
    }
    return Response(body, status_code=503, headers=headers)


OPENAPI = OpenAPIConfig(
    title="Inference cloud: account & billing API",
    version="1",
    use_handler_docstrings=True,
    description="The console's API is GraphQL at /graphql; this schema describes the HTTP endpoints beside it: "
    "the inference fleet's admission and usage API, and health.",
    components=Components(
        security_schemes={
            "fleetToken": SecurityScheme(
                type="http", scheme="bearer", description="The fleet's service token (FLEET_TOKEN)."
            )
        }
    ),
    render_plugins=openapi_render_plugins(),
)


def freeze_startup_heap() -> None:
    """Put what start-up loaded out of the cyclic collector's reach (gc.freeze).

    A full collection otherwise walks every object of the app (schema, mappers, catalog: some
    200,000) and stalls every request in flight for tens of milliseconds; frozen, it walks only
    what requests created since. Shutdown gives the objects back to the collector.
    """
    gc.collect()
    gc.freeze()


def create_app(
    settings: Settings | None = None, *, database: Database | None = None, services: Services | None = None
) -> Litestar:
    """The service: settings are read once; a bad configuration stops start-up with a clear message."""
    settings = settings or get_settings()
    install_charge_handlers()  # refuses to start when a charge purpose has no success handler
    configure_logging(settings)
    metrics.configure(enabled=settings.metrics_enabled)
    plugins = tracing.tracing_plugins(settings)
    services = services or build_services(settings)
    db = database or Database.of(settings)
    tracing.trace_database(db)
    mail_worker = MailWorker(db, settings)  # delivers the outbox in the background (MAIL_WORKER)
    scheduler = Scheduler(db, services, enabled=settings.jobs_enabled)  # periodic jobs (JOBS_ENABLED)
    redis = connect_redis(settings.redis_url) if settings.redis_url else None
    fleet = build_fleet(db, services, settings, redis)

    async def install_link_key() -> None:
        """Read the shared document-link key; a database down at start is waited for in the background."""

        async def until_installed() -> None:
            while True:
                try:
                    return await install_shared_key(db, settings)
                except Exception as exc:
                    if not is_outage(exc):
                        raise
                    logger.warning("document link key not read yet (%s); retrying", type(exc).__name__)
                    await asyncio.sleep(RETRY_AFTER_SECONDS)

        app.state.link_key_task = task = asyncio.create_task(until_installed())  # referenced until done
        await asyncio.wait({task}, timeout=5)  # normally read at once; else it goes on in the background
        if task.done():
            task.result()  # not an outage (a bug, a missing table): start-up stops here

    async def shutdown() -> None:
        app.state.link_key_task.cancel()  # still waiting for the database, or done (nothing to cancel)
        await scheduler.stop()
        await fleet.stop(settings.shutdown_grace_seconds)  # drains the usage received, awaits recharges
        if redis is not None:
            await redis.aclose(close_connection_pool=True)
        await mail_worker.stop()  # before the database goes away
        await services.aclose()
        await db.stop()  # the WAL's checkpoints (SQLite)
        if database is None:
            await db.dispose()

    # GraphiQL's page loads the pinned copies served by the app
    graphql = offline_graphiql(graphql_controller(build_schema(settings), settings))
    handlers: list[ControllerRouterHandler] = [
        graphql,
        healthz,
        readyz,
        FleetController,
        receive_webhook,
        BillingDocuments,
    ]
    handlers += web_routes(services.payments.payment_ui)
    # a provider without a server of its own may have the app serve its UI's endpoint (the fake provider's
    # 3-D Secure dialog); a real provider's UI talks to the provider, never to the app
    provider_routes = getattr(services.payments.provider, "web_routes", None)
    if provider_routes is not None:
        handlers += provider_routes()
    if settings.metrics_enabled:
        handlers.append(metrics.metrics_endpoint)
    cors = (
        CORSConfig(allow_origins=settings.cors_origins, allow_credentials=False)
        if settings.cors_origins
        else None
    )
    app = Litestar(
        route_handlers=handlers,
        exception_handlers=dict.fromkeys(OUTAGES, answer_outage),
        on_startup=[
            db.start,
            install_link_key,
            mail_worker.start,
            scheduler.start,
            fleet.start,
            freeze_startup_heap,
        ],
        on_shutdown=[shutdown, gc.unfreeze, tracing.flush],
        cors_config=cors,
        openapi_config=OPENAPI if settings.graphql_ide else None,  # /schema behind the same switch
        plugins=plugins,
        logging_config=litestar_logging(),
    )
    # the fleet's hot path skips Litestar's routing (unless tracing wants its spans)
    handler = app.asgi_handler
    if not settings.tracing_enabled:
        handler = FleetFastPath(handler, fleet=fleet, settings=settings)
    # around everything Litestar does, routing errors included: every answer has its id and access line
    app.asgi_handler = RequestLogging(handler, access_log=settings.access_log)
    app.state.db, app.state.settings, app.state.services = db, settings, services
    app.state.mail_worker = mail_worker
    app.state.fleet = fleet
    app.state.redis = redis
    return app
