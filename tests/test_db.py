"""SQLite's checkpoints off the commits, and a process's write transactions taking turns."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from app.db import Database
from app.domain import base
from app.domain.base import new_id
from app.outage import is_outage


async def _write(db: Database, rows: int) -> None:
    async with db.transaction() as session:
        await session.execute(
            text(
                "INSERT INTO filler SELECT hex(randomblob(200)) FROM (WITH RECURSIVE n(i) AS "
                "(SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < :rows) SELECT i FROM n)"
            ),
            {"rows": rows},
        )


@pytest.fixture
async def db(tmp_path: Path) -> Any:
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'db.sqlite3'}", statement_timeout=0.5)
    async with db.transaction() as session:
        await session.execute(text("CREATE TABLE filler (x TEXT)"))
    await db.checkpoint()
    yield db
    await db.dispose()


async def test_a_commit_leaves_its_pages_in_the_wal_until_a_checkpoint(db: Database, tmp_path: Path) -> None:
    """Past sqlite's own threshold of 1,000 pages, commits still do not copy the WAL into the database."""
    file = tmp_path / "db.sqlite3"
    before = file.stat().st_size
    for _ in range(6):
        await _write(db, 2000)  # about 200 pages each
    assert file.stat().st_size == before
    logged, copied = await db.checkpoint()
    assert logged > 1000 and copied == logged
    assert file.stat().st_size > before + 4_000_000


async def test_a_started_database_checkpoints_in_the_background(db: Database, tmp_path: Path) -> None:
    file = tmp_path / "db.sqlite3"
    before = file.stat().st_size
    db.start()
    await _write(db, 3000)  # about 1.2 MB
    for _ in range(100):
        if file.stat().st_size > before + 1_000_000:
            break
        await asyncio.sleep(0.05)
    assert file.stat().st_size > before + 1_000_000
    await db.stop()
    await db.stop()  # stopping twice is harmless


async def test_a_process_s_write_transactions_take_turns_before_sqlite_s_lock(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second transaction begins once the first has committed: it never waits in sqlite's busy handler."""
    trips: list[str] = []
    to_thread = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, function: Any, *args: Any, **kwargs: Any) -> Any:
        trips.append(args[0].split()[0] if args and isinstance(args[0], str) else function.__name__)
        return await to_thread(self, function, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    first_in = asyncio.Event()

    async def first() -> None:
        async with db.transaction() as session:
            await session.execute(text("INSERT INTO filler VALUES ('first')"))
            first_in.set()
            await asyncio.sleep(0.1)

    async def second() -> None:
        await first_in.wait()
        async with db.transaction() as session:
            await session.execute(text("INSERT INTO filler VALUES ('second')"))

    await asyncio.gather(first(), second())
    begins = [index for index, trip in enumerate(trips) if trip == "BEGIN"]
    assert len(begins) == 2 and trips.index("commit") < begins[1]


async def test_a_turn_waited_for_past_the_timeout_is_an_outage(db: Database) -> None:
    """As long as sqlite would wait for another process's lock (the statement timeout), then its error."""
    held = asyncio.Event()

    async def holding() -> None:
        async with db.transaction() as session:
            await session.execute(text("INSERT INTO filler VALUES ('held')"))
            held.set()
            await asyncio.sleep(1.5)

    holder = asyncio.create_task(holding())
    await held.wait()
    with pytest.raises(OperationalError, match="database is locked") as raised:
        async with db.transaction() as session:
            await session.execute(text("INSERT INTO filler VALUES ('late')"))
    assert is_outage(raised.value)
    await holder
    async with db.reader() as session:
        assert (await session.execute(text("SELECT x FROM filler"))).scalars().all() == ["held"]


def test_ids_sort_by_the_second_they_were_made_and_stay_unguessable(monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows inserted together sit together in their primary key's index (a few pages written, not one each)."""
    now = [1_796_000_000.5]
    monkeypatch.setattr(base.time, "time", lambda: now[0])
    same_second = [new_id("cle") for _ in range(1000)]
    now[0] += 1
    next_second = new_id("cle")
    assert len(set(same_second)) == 1000 and all(i < next_second for i in same_second)
    assert all(i.startswith("cle_6b0cc900") and len(i) == len("cle_") + 8 + 20 for i in same_second)
    assert len(new_id("grant")) <= 40  # every id column's length


async def test_failing_checkpoints_are_logged_once_and_their_recovery_too(
    db: Database, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    results: list[Exception | None] = [OSError("disk full")] * 5 + [None]
    done = asyncio.Event()

    async def checkpoint() -> tuple[int, int]:
        result = results.pop(0) if results else None
        if not results:
            done.set()
        if result is not None:
            raise result
        return 0, 0

    monkeypatch.setattr(db, "checkpoint", checkpoint)
    monkeypatch.setattr("app.db.CHECKPOINT_SECONDS", 0.001)
    db.start()
    await asyncio.wait_for(done.wait(), 5)
    await db.stop()
    logged = [record.getMessage() for record in caplog.records if record.name == "app.db"]
    assert logged == [
        "SQLite checkpoints fail (OSError: disk full); retrying",
        "SQLite checkpoints succeed again",
    ]


@pytest.mark.parametrize("kind", ["write", "read"])
async def test_a_transaction_cancelled_while_it_begins_leaves_no_transaction_behind(
    db: Database, kind: str
) -> None:
    """aiosqlite runs a queued BEGIN even when its caller was cancelled: the pool must not keep it open.

    Cancelled at each step of its start (as at shutdown, or a fleet call past its deadline), a write or a
    read (a deferred BEGIN) leaves its connection ready for the next one (no "cannot start a transaction
    within a transaction") and the write lock free for other processes.
    """

    async def use() -> None:
        async with db.transaction() if kind == "write" else db.reader() as session:
            await session.execute(text("SELECT count(*) FROM filler"))

    for steps in [*range(16)] * 3:  # the steps of its start and of its statement, each a few times
        task = asyncio.create_task(use())
        for _ in range(steps):
            await asyncio.sleep(0)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await use()  # this process goes on
        await _write(db, 1)
        async with aiosqlite.connect(db.url.split("///")[1], timeout=0.1) as other:  # and so does another
            await other.execute("BEGIN IMMEDIATE")
            await other.rollback()
