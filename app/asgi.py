"""create_app(settings) -> Litestar: the GraphQL API for the console, and health checks."""

from __future__ import annotations

import gc
import logging

from litestar import Litestar, get
from litestar.config.cors import CORSConfig
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from strawberry.litestar import make_graphql_controller

from app.billing_webhooks import receive_webhook
from app.db import Database
from app.domain.charge_handlers import install_charge_handlers
from app.domain.notifications.mailer import MailWorker
from app.fleet.api import FleetController
from app.fleet.service import build_fleet, connect_redis
from app.graphql.context import build_context
from app.graphql.schema import build_schema
from app.jobs import Scheduler
from app.services import Services, build_services
from app.settings import Settings, get_settings
from app.web import offline_graphiql, openapi_render_plugins, web_routes


@get("/healthz", sync_to_thread=False, include_in_schema=False)
def healthz() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


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
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    services = services or build_services(settings)
    db = database or Database(settings.database_url)
    mail_worker = MailWorker(db, settings)  # delivers the outbox in the background (MAIL_WORKER)
    scheduler = Scheduler(db, services, enabled=settings.jobs_enabled)  # periodic jobs (JOBS_ENABLED)
    redis = connect_redis(settings.redis_url) if settings.redis_url else None
    fleet = build_fleet(db, services, settings, redis)

    async def shutdown() -> None:
        await scheduler.stop()
        await fleet.stop()
        if redis is not None:
            await redis.aclose(close_connection_pool=True)
        await mail_worker.stop()  # before the database goes away
        await services.aclose()
        if database is None:
            await db.dispose()

    graphql = make_graphql_controller(
        build_schema(settings),
        path="/graphql",
        graphql_ide="graphiql" if settings.graphql_ide else None,
        allow_queries_via_get=False,
        context_getter=build_context,
    )
    graphql = offline_graphiql(graphql)  # its page loads the pinned copies served by the app
    cors = (
        CORSConfig(allow_origins=settings.cors_origins, allow_credentials=False)
        if settings.cors_origins
        else None
    )
    app = Litestar(
        route_handlers=[graphql, healthz, FleetController, receive_webhook, *web_routes()],
        on_startup=[mail_worker.start, scheduler.start, fleet.start, freeze_startup_heap],
        on_shutdown=[shutdown, gc.unfreeze],
        cors_config=cors,
        openapi_config=OPENAPI,
    )
    app.state.db, app.state.settings, app.state.services = db, settings, services
    app.state.mail_worker = mail_worker
    app.state.fleet = fleet
    return app
