"""What the benchmarks share: databases built once and kept under var/bench, an admin, timing, the app in process."""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import select  # noqa: E402

from app.db import Database  # noqa: E402
from app.domain.accounts.models import User  # noqa: E402
from app.domain.accounts.service import create_user, start_session  # noqa: E402
from app.domain.orgs.models import Organization, OrganizationType  # noqa: E402
from app.domain.orgs.service import create_organization  # noqa: E402
from app.migrate import upgrade  # noqa: E402
from app.settings import Settings  # noqa: E402

BENCH_DIR = ROOT / "var" / "bench"
# a server where the benchmark may create and drop databases named bench_*
POSTGRES = os.environ.get("BENCH_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432")
PASSWORD = "bench password 1234"


async def median_ms(runs: int, read: Callable[[], Awaitable[Any]]) -> float:
    """The median wall time of `read()` over `runs` calls (after one unmeasured call), in milliseconds."""
    await read()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        await read()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


async def bench_database(engine: str, name: str, *, rebuild: bool = False) -> tuple[str, bool]:
    """The URL of the benchmark's database `name` on `engine`, migrated, and whether it was built before."""
    import asyncpg

    BENCH_DIR.mkdir(parents=True, exist_ok=True)
    marker = BENCH_DIR / f"{name}.{engine}.built"
    if engine == "sqlite":
        path = BENCH_DIR / f"{name}.sqlite3"
        if rebuild or not marker.exists():
            marker.unlink(missing_ok=True)
            for stale in BENCH_DIR.glob(f"{name}.sqlite3*"):
                stale.unlink()
        url = f"sqlite+aiosqlite:///{path}"
    else:
        database = f"bench_{name}".replace("-", "_")
        admin = await asyncpg.connect(POSTGRES.replace("+asyncpg", "") + "/postgres")
        try:
            exists = await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", database)
            if rebuild or not exists or not marker.exists():
                marker.unlink(missing_ok=True)
                await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
                await admin.execute(f'CREATE DATABASE "{database}"')
        finally:
            await admin.close()
        url = f"{POSTGRES}/{database}"
    built = marker.exists()
    await asyncio.to_thread(upgrade, url)  # Alembic runs its own event loop
    return url, built


def mark_built(engine: str, name: str) -> None:
    """Remember that the database `name` on `engine` holds its data: later runs reuse it."""
    (BENCH_DIR / f"{name}.{engine}.built").touch()


def bench_settings(url: str) -> Settings:
    return Settings(database_url=url, jobs_enabled=False, log_level="WARNING", graphql_ide=False)


async def organization_admin(db: Database, settings: Settings, org_name: str) -> tuple[str, str]:
    """The Team organization `org_name` and its admin (created on first use); returns (org id, session token)."""
    email = f"admin@{org_name.lower().replace(' ', '-')}.example.com"
    async with db.transaction() as session:
        user = await session.scalar(select(User).where(User.email == email))  # type: ignore[arg-type]
        if user is None:
            user = await create_user(session, email=email, password=PASSWORD, name="Admin", settings=settings)
            organization = await create_organization(
                session, owner=user, name=org_name, type=OrganizationType.TEAM
            )
            org_id = organization.id
        else:
            org_id = await session.scalar(
                select(Organization.id).where(
                    Organization.name == org_name,  # type: ignore[arg-type]
                    Organization.type == OrganizationType.TEAM,  # type: ignore[arg-type]
                )
            )
        signed_in = await start_session(session, user, settings)
    return str(org_id), signed_in.token


@asynccontextmanager
async def graphql_client(settings: Settings, token: str) -> AsyncIterator[Callable[..., Awaitable[Any]]]:
    """A function that posts a GraphQL query to the app (in this process, lifespan run) and returns its data."""
    from litestar.testing import AsyncTestClient

    from app.asgi import create_app

    async with AsyncTestClient(create_app(settings)) as client:

        async def query(text: str, variables: dict[str, Any]) -> Any:
            answer = await client.post(
                "/graphql",
                json={"query": text, "variables": variables},
                headers={"Authorization": f"Bearer {token}"},
            )
            body = answer.json()
            assert not body.get("errors"), body["errors"]
            return body["data"]

        yield query
