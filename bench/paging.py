#!/usr/bin/env python3
"""Benchmark of ledger paging: the 1,000th page against the first, by keyset and by OFFSET.

    .venv/bin/python bench/paging.py [--pages 1000] [--page-size 20] [--runs 50]

It creates a fresh SQLite database with one organization whose ledger holds pages x page-size entries,
then reads page 1 and page N through app.graphql.paging.QueryPage (the code the ledger connection
runs) and, for comparison, with the OFFSET query it replaced. It prints the median time per page.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert  # noqa: E402

from app.db import Database  # noqa: E402
from app.domain.credits import queries  # noqa: E402
from app.domain.credits.models import CreditLedgerEntry, EntryKind  # noqa: E402
from app.domain.orgs.models import Organization, OrganizationType  # noqa: E402
from app.graphql.paging import KeysetConnection, QueryPage  # noqa: E402


async def median_ms(runs: int, read: Any) -> float:
    """The median wall time of `read()` over `runs` calls, in milliseconds."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        await read()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


async def main(pages: int, size: int, runs: int) -> None:
    with tempfile.TemporaryDirectory() as directory:
        db = Database(f"sqlite+aiosqlite:///{directory}/bench.db")
        await db.create_all()
        start = datetime(2026, 1, 1, tzinfo=UTC)
        async with db.transaction() as session:
            session.add(Organization(id="org_bench", name="Bench", type=OrganizationType.TEAM))
        rows = [
            {
                "id": f"cle_{n:08d}",
                "organization_id": "org_bench",
                "kind": EntryKind.USAGE,
                "amount_nanos": -1,
                "balance_after_nanos": -n,
                "created_at": start + timedelta(seconds=n),
            }
            for n in range(pages * size)
        ]
        async with db.transaction() as session:
            await session.execute(insert(CreditLedgerEntry), rows)
        session = db.reader()
        info: Any = SimpleNamespace(context=SimpleNamespace(session=lambda: _ready(session)))
        page = QueryPage(info, queries.ledger("org_bench"), lambda row: row)
        newest_first = sorted(rows, key=lambda r: (r["created_at"], r["id"]), reverse=True)
        before_last_page = SimpleNamespace(**newest_first[(pages - 1) * size - 1])

        async def keyset(after: str | None) -> None:
            connection = await page.connection(
                KeysetConnection, after=after, before=None, first=size, last=None, max_results=100
            )
            assert len(connection.edges) == size

        async def offset(skip: int) -> None:
            found = (await session.scalars(queries.ledger("org_bench").offset(skip).limit(size))).all()
            assert len(found) == size

        last_cursor = page.cursor(before_last_page)
        figures = {
            "keyset page 1": await median_ms(runs, lambda: keyset(None)),
            f"keyset page {pages}": await median_ms(runs, lambda: keyset(last_cursor)),
            "offset page 1": await median_ms(runs, lambda: offset(0)),
            f"offset page {pages}": await median_ms(runs, lambda: offset((pages - 1) * size)),
        }
        await session.close()
        await db.dispose()
    print(f"ledger of {pages * size:,} entries, {size} per page, median of {runs} reads (SQLite):")
    for name, ms in figures.items():
        print(f"  {name:<20} {ms:8.2f} ms")
    print(
        f"  keyset page {pages} / page 1: {figures[f'keyset page {pages}'] / figures['keyset page 1']:.2f}x"
    )
    print(
        f"  offset page {pages} / page 1: {figures[f'offset page {pages}'] / figures['offset page 1']:.2f}x"
    )


async def _ready(session: Any) -> Any:
    return session


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=1000)
    parser.add_argument("--page-size", type=int, default=20)
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    asyncio.run(main(args.pages, args.page_size, args.runs))
