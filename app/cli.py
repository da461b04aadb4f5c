"""Command line: serve, migrate, demo data, staff users, jobs, schema export, and the operator's tools."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from pathlib import Path

from app.operator.commands import register as register_operator_commands
from app.settings import REPO_ROOT, get_settings


def served_url(host: str, port: int) -> str:
    """The URL a browser on this machine reaches the server at (a wildcard address becomes localhost)."""
    if host in {"0.0.0.0", "::", ""}:
        host = "localhost"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _serve(args: argparse.Namespace) -> None:
    import uvicorn

    from app.migrate import upgrade
    from app.observability.logs import configure_logging

    url = served_url(args.host, args.port)
    # links in emails lead to the server being started, unless PUBLIC_URL says where the public reaches it
    os.environ.setdefault("PUBLIC_URL", url)
    get_settings.cache_clear()
    settings = get_settings()
    upgrade(settings.database_url)
    if args.demo:
        from app.demo import seed_demo

        for line in asyncio.run(seed_demo(settings)):
            print(line)
        if settings.fleet_token is None:  # a demo fleet token, so the fleet API can be tried at once
            os.environ["FLEET_TOKEN"] = "demo-fleet-token"
            get_settings.cache_clear()
            print(
                "Fleet API, with the demo key: curl -X POST "
                f"{url}/fleet/v1/admissions -H 'Authorization: Bearer demo-fleet-token' "
                '-H \'content-type: application/json\' -d \'{"api_key": "csk-…", "model": "gpt-oss-120b", '
                '"input_tokens": 10, "max_output_tokens": 100}\''
            )
    print(f"Console: {url}/  GraphiQL: {url}/graphql  API reference: {url}/schema", flush=True)
    # on SIGTERM: stop accepting, let requests in flight finish (SHUTDOWN_GRACE_SECONDS), then the
    # app's shutdown drains the usage writer and awaits recharges in flight
    configure_logging(get_settings())  # uvicorn's own lines in the same format; the app writes the access log
    uvicorn.run(
        "app.asgi:create_app",
        factory=True,
        host=args.host,
        port=args.port,
        workers=1,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=int(settings.shutdown_grace_seconds) or None,
    )


def _migrate(_: argparse.Namespace) -> None:
    from app.migrate import upgrade

    upgrade(get_settings().database_url)
    print("Database is at the newest migration.")


def _seed_demo(_: argparse.Namespace) -> None:
    from app.demo import seed_demo

    for line in asyncio.run(seed_demo(get_settings())):
        print(line)


def _create_staff(args: argparse.Namespace) -> None:
    from app.db import Database
    from app.domain.accounts.service import create_user
    from app.domain.errors import DomainError

    password = os.environ.get("STAFF_PASSWORD") or getpass.getpass("Password for the staff user: ")

    async def create() -> None:
        settings = get_settings()
        db = Database(settings.database_url)
        try:
            async with db.transaction() as session:
                await create_user(
                    session,
                    email=args.email,
                    password=password,
                    name=args.name,
                    settings=settings,
                    is_staff=True,
                )
        finally:
            await db.dispose()

    try:
        asyncio.run(create())
    except DomainError as exc:
        sys.exit(f"error: {exc.message}")
    print(f"Staff user {args.email} created.")


def _run_jobs(args: argparse.Namespace) -> None:
    from app.db import Database
    from app.domain.billing.charges import MissingChargeHandler
    from app.domain.charge_handlers import install_charge_handlers
    from app.domain.receipts.links import install_shared_key
    from app.jobs import load_jobs, run_all, run_job
    from app.services import build_services

    if args.list:
        for job in load_jobs().values():
            print(f"{job.name:32} every {job.every_seconds:>6.0f}s  {job.description}")
        return
    try:
        install_charge_handlers()  # the jobs settle charges: refuse to run with a purpose unhandled
    except MissingChargeHandler as exc:
        sys.exit(f"error: {exc}")

    async def run() -> None:
        settings = get_settings()
        db, services = Database.of(settings), build_services(settings)
        try:
            await install_shared_key(db, settings)  # the receipts and statements it mails link with it
            if args.names:
                for name in args.names:
                    print(f"{name}: {await run_job(name, db, services)}")
            else:
                for name, result in (await run_all(db, services)).items():
                    print(f"{name}: {result}")
        finally:
            await services.aclose()
            await db.dispose()

    asyncio.run(run())


def _rotate_admission_key(_: argparse.Namespace) -> None:
    from app.db import Database
    from app.fleet.keys import rotate_key

    async def rotate() -> int:
        db = Database.of(get_settings())
        try:
            return await rotate_key(db)
        finally:
            await db.dispose()

    number = asyncio.run(rotate())
    kept = "; the previous key verifies for the admission lifetime" if number > 1 else " (the first)"
    print(f"Admission ids are now signed with key {number}{kept}.")


def _export_schema(args: argparse.Namespace) -> None:
    from app.graphql.schema import build_schema

    Path(args.output).write_text(build_schema(get_settings()).as_str() + "\n")
    print(f"Wrote {args.output}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="billing", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="apply migrations and serve the API (uvicorn, one worker)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument(
        "--demo", action="store_true", help="create the demo data first and print its credentials"
    )
    serve.set_defaults(run=_serve)

    commands.add_parser("migrate", help="apply the database migrations").set_defaults(run=_migrate)
    commands.add_parser("seed-demo", help="create the demo organization Acme").set_defaults(run=_seed_demo)

    staff = commands.add_parser(
        "create-staff", help="create a platform staff user (password: $STAFF_PASSWORD or prompt)"
    )
    staff.add_argument("--email", required=True)
    staff.add_argument("--name", default="")
    staff.set_defaults(run=_create_staff)

    jobs = commands.add_parser("run-jobs", help="run the periodic jobs once (all, or the ones named)")
    jobs.add_argument("names", nargs="*", help="job names (see --list); none: every job")
    jobs.add_argument("--list", action="store_true", help="list the jobs and their schedule")
    jobs.set_defaults(run=_run_jobs)

    commands.add_parser(
        "rotate-admission-key",
        help="sign admission ids with a new key (without FLEET_ADMISSION_KEY); the previous keeps verifying",
    ).set_defaults(run=_rotate_admission_key)

    export = commands.add_parser("export-schema", help="write the GraphQL schema (SDL)")
    export.add_argument("--output", default=str(REPO_ROOT / "schema.graphql"))
    export.set_defaults(run=_export_schema)

    register_operator_commands(commands)

    args = parser.parse_args(argv)
    args.run(args)


if __name__ == "__main__":
    main()
