#!/usr/bin/env python3
"""Benchmark of usage group commits: batches of 500 records over 1, 50 and 500 organizations.

    .venv/bin/python bench/usage_batches.py [--batches 20] [--in-flight 1] [--rounds 2]
                                            [--engines sqlite,postgresql] [--baseline REV] [--profile FILE]
                                            [--redis redis://127.0.0.1:6379/4]

On a fresh database (SQLite: var/bench/usage-batches.sqlite3; PostgreSQL: the database
bench_usage_batches on $BENCH_POSTGRES_URL) it creates 500 PayGo organizations, each with a project, a key,
a credit account and three grants (a promotional one, two bought), the way the fleet's writer finds them.
Then it submits `batches` reports of 500 records, one after the other (or `in_flight` at a time, which
PostgreSQL's writers commit side by side and SQLite's one writer in larger groups), straight to the UsageWriter (the
group commit: records, roll-ups or their pending sums, burns, ledger entries, grant consumption, the
keys' last use), with the records spread evenly over 1, 50 or 500 organizations, and prints records per second, the median time
per batch and the CPU time of the writer's process per batch (SQLite's work included: it runs in
aiosqlite's thread; PostgreSQL's is its server's), by this code and by the code of REV (default: where this branch left main, `git merge-base HEAD
main`), side by side in one run, each in a process of its own, the two alternated `rounds` times, each
on a database built afresh (the best of each is printed: the machine is shared and noisy).

Where the writer folds the roll-ups behind the group commit (`UsageWriter.fold`), its folds run during
the timed batches (once a second) and what is left is folded before the clock stops, so records/s and
CPU count every roll-up row the baseline writes in its group commits. A fold of 10 batches over 500
organizations, committed beforehand, is also timed alone.

With `--redis URL` (that Redis database is flushed) the writer is the fleet's, with Redis: each record's
reservation is held in Redis before its batch (not timed), and a batch's time includes what follows its
commit before the reports are answered: the settlement (claim, give-backs, credit counters).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
ORGANIZATIONS = 500
BATCH = 500
SPREADS = (1, 50, 500)
FOLDED = 10  # batches whose roll-ups one timed fold adds
MODEL = "gpt-oss-120b"


async def build(url: str) -> None:
    """500 PayGo organizations with a project, a key, an account and three grants each."""
    from sqlalchemy import insert

    from app.db import Database
    from app.domain.api_keys.models import ApiKey
    from app.domain.credits.models import CreditAccount, CreditGrant, GrantSource
    from app.domain.orgs.models import Organization, OrganizationType
    from app.domain.projects.models import Project

    db = Database(url)
    now = datetime.now(UTC)
    year = now + timedelta(days=365)
    dollars = 10**9
    orgs = [f"org_bench_{n:04d}" for n in range(ORGANIZATIONS)]
    async with db.transaction() as session:
        await session.execute(insert(Organization), [
            {"id": o, "name": f"Bench {o}", "type": OrganizationType.TEAM, "created_at": now} for o in orgs
        ])  # fmt: skip
        await session.execute(insert(Project), [
            {"id": f"proj_{o}", "organization_id": o, "name": "P", "created_at": now} for o in orgs
        ])  # fmt: skip
        await session.execute(insert(ApiKey), [
            {"id": f"key_{o}", "project_id": f"proj_{o}", "name": "k", "secret_hash": f"{n:064x}",
             "prefix": "csk-", "last_four": "abcd", "created_at": now} for n, o in enumerate(orgs)
        ])  # fmt: skip
        grants = []
        for o in orgs:
            grants += [
                {"id": f"grant_{o}_p", "source": GrantSource.PROMOTIONAL, "amount_nanos": 5 * dollars,
                 "bought_at": now - timedelta(days=2), "expires_at": now + timedelta(days=30)},
                {"id": f"grant_{o}_a", "source": GrantSource.PURCHASE, "amount_nanos": 100 * dollars,
                 "bought_at": now - timedelta(days=1), "expires_at": year},
                {"id": f"grant_{o}_b", "source": GrantSource.PURCHASE, "amount_nanos": 100 * dollars,
                 "bought_at": now, "expires_at": year},
            ]  # fmt: skip
        await session.execute(insert(CreditGrant), [
            {**g, "organization_id": g["id"][6:-2], "remaining_nanos": g["amount_nanos"], "created_at": now}
            for g in grants
        ])  # fmt: skip
        await session.execute(insert(CreditAccount), [
            {"organization_id": o, "balance_nanos": 205 * dollars, "updated_at": now} for o in orgs
        ])  # fmt: skip
    await db.dispose()


async def measure(
    code: str, url: str, batches: int, in_flight: int, tag: str, profile: str | None, redis_url: str | None
) -> dict[str, Any]:
    """Records per second and median ms per batch for each spread, committed by the writer of `code`."""
    sys.path.insert(0, code)
    from app.db import Database
    from app.domain.catalog.loader import load_catalog
    from app.fleet.billing import burn
    from app.fleet.tokens import Admission
    from app.fleet.usage import UsageItem, UsageWriter

    db = Database(url)
    if hasattr(db, "start"):  # SQLite: the WAL checkpointed in the background, as a serving process does
        db.start()
    redis: Any = None
    fleet: Any = None
    if redis_url:
        from redis.asyncio import Redis

        from app.fleet.plans import plan_loader
        from app.fleet.reservations import RedisReservations
        from app.fleet.service import Fleet

        redis = Redis.from_url(redis_url)
        catalog = load_catalog()
        fleet = Fleet(db, catalog, load_plans=plan_loader(catalog), burn=burn, redis=redis,
                      admission_key=b"bench-usage-batches-admission-key")  # fmt: skip
        writer = fleet.writer
    else:

        async def nothing_after(_committed: Any) -> None:
            return None

        writer = UsageWriter(db, load_catalog(), burn=burn, after_commit=nothing_after)
    issued = int(time.time())
    figures: dict[str, Any] = {}
    profiler = None
    if profile:
        import cProfile

        profiler = cProfile.Profile()
    for spread in SPREADS:
        times: list[float] = []

        async def commit(batch: int, spread: int = spread, times: list[float] = times) -> None:
            items = []
            for n in range(BATCH):
                org = f"org_bench_{n % spread * (ORGANIZATIONS // spread):04d}"
                nonce = f"{tag}-{spread}-{batch}-{n}"
                admission = Admission(org, f"proj_{org}", f"key_{org}", MODEL, "paygo", 2000, issued, nonce)
                items.append(UsageItem(f"req-{nonce}", f"adm-{nonce}", admission, 1000 + n, 100 + batch))
            if redis is not None:  # reserved when admitted: the settlement wins and gives back
                await redis.zadd(
                    RedisReservations.KEY, {item.admission_id: time.time() + 600 for item in items}
                )
            started = time.perf_counter()
            statuses = await writer.submit(items)
            if batch >= in_flight:  # the first ones warm the statement caches up
                times.append(time.perf_counter() - started)
            assert statuses == ["accepted"] * BATCH, statuses[:3]

        await asyncio.gather(*(commit(batch) for batch in range(in_flight)))
        if profiler is not None and spread == SPREADS[-1]:
            profiler.enable()
        started, cpu = time.perf_counter(), time.process_time()
        for first in range(in_flight, in_flight + batches, in_flight):  # `in_flight` reports at a time
            await asyncio.gather(*(commit(batch) for batch in range(first, first + in_flight)))
        if hasattr(writer, "fold"):  # the roll-ups folded behind the group commit: their cost is counted
            await writer.fold()
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        if profiler is not None:
            profiler.disable()
        figures[str(spread)] = {
            "rate": BATCH * len(times) / elapsed,
            "p50_ms": statistics.median(times) * 1000,
            "cpu_ms": cpu * 1000 / len(times),
        }
    if fleet is not None:
        left = await redis.zcard(RedisReservations.KEY)
        assert left == 0, f"{left} reservations were not settled (a failed settlement is only logged)"
        await fleet.stop()
        await redis.aclose()
    else:
        await writer.stop()
    if hasattr(writer, "fold"):  # stopped: its fold loop takes none of the rows timed here
        figures["fold_ms"] = await fold_of(db, tag, FOLDED)
    await db.dispose()
    if profiler is not None and profile:
        profiler.dump_stats(profile)
    return figures


async def fold_of(db: Any, tag: str, groups: int) -> float:
    """Milliseconds to fold the roll-ups of `groups` batches over 500 organizations, committed beforehand."""
    from app.domain.catalog.loader import load_catalog
    from app.fleet.billing import burn
    from app.fleet.tokens import Admission
    from app.fleet.usage import UsageItem, UsageWriter

    async def nothing_after(_committed: Any) -> None:
        return None

    writer = UsageWriter(db, load_catalog(), burn=burn, after_commit=nothing_after, fold_seconds=3600)
    issued = int(time.time())
    for batch in range(groups):
        items = []
        for n in range(BATCH):
            org, nonce = f"org_bench_{n:04d}", f"{tag}-fold-{batch}-{n}"
            admission = Admission(org, f"proj_{org}", f"key_{org}", MODEL, "paygo", 2000, issued, nonce)
            items.append(UsageItem(f"req-{nonce}", f"adm-{nonce}", admission, 1000 + n, 100))
        await writer.submit(items)
    started = time.perf_counter()
    assert await writer.fold() == groups
    elapsed = time.perf_counter() - started
    await writer.stop()
    return elapsed * 1000


def _measured(
    code: Path, url: str, batches: int, in_flight: int, tag: str, profile: str | None, redis_url: str | None
) -> dict[str, Any]:
    """`measure` in a fresh process, so that `code` is the only app it imports."""
    spec = {
        "code": str(code),
        "url": url,
        "batches": batches,
        "in_flight": in_flight,
        "tag": tag,
        "profile": profile,
        "redis": redis_url,
    }
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as file:
        json.dump(spec, file)
    done = subprocess.run([sys.executable, __file__, "--measure", file.name], capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"measuring {code} failed:\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


async def prepare(engine: str) -> str:
    from support import bench_database

    url, _ = await bench_database(engine, "usage-batches", rebuild=True)
    await build(url)
    return url


def main(
    batches: int,
    in_flight: int,
    rounds: int,
    engines: list[str],
    baseline: str | None,
    profile: str | None,
    redis_url: str | None,
) -> None:
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "bench"))
    rev = (
        baseline
        or subprocess.check_output(["git", "merge-base", "HEAD", "main"], cwd=ROOT, text=True).strip()
    )
    before = Path(tempfile.mkdtemp(prefix="bench-usage-before-"))
    archive = subprocess.run(["git", "archive", rev], cwd=ROOT, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(before)], input=archive, check=True)
    rows = []
    fold_lines: list[str] = []
    if redis_url:
        import redis

        redis.Redis.from_url(redis_url).flushdb()
    for engine in engines:
        best: dict[str, dict[str, Any]] = {"before": {}, "now": {}}
        folds: dict[str, list[float]] = {"before": [], "now": []}
        for round_ in range(rounds):  # alternated, best of each: the machine is shared and noisy
            for label, code in (("before", before), ("now", ROOT)):
                # a fresh database for each: on SQLite the same code measured up to twice slower on the
                # database a few runs had grown (--baseline HEAD), which favoured whichever side ran first
                url = asyncio.run(prepare(engine))
                trace = f"{profile}.{engine}" if profile and label == "now" and not round_ else None
                measured = _measured(code, url, batches, in_flight, f"{label}{round_}", trace, redis_url)
                if "fold_ms" in measured:
                    folds[label].append(measured.pop("fold_ms"))
                for spread, figures in measured.items():
                    kept = best[label].setdefault(spread, figures)  # each figure's best: rate up, times down
                    kept.update(rate=max(kept["rate"], figures["rate"]), p50_ms=min(kept["p50_ms"], figures["p50_ms"]),
                                cpu_ms=min(kept["cpu_ms"], figures["cpu_ms"]))  # fmt: skip
        rows += [(engine, spread, best["now"][spread], best["before"][spread]) for spread in best["now"]]
        if folds["now"]:
            before = f", before {min(folds['before']):.1f} ms" if folds["before"] else ""
            fold_lines.append(
                f"  {engine}: folding {FOLDED} batches' roll-ups over {ORGANIZATIONS} organizations: "
                f"{min(folds['now']):.1f} ms (best of {rounds}{before}), {min(folds['now']) / FOLDED:.1f} ms per batch"
            )
    how = "one after the other" if in_flight == 1 else f"{in_flight} reports in flight"
    settled = f", settled in Redis ({redis_url})" if redis_url else ", not settled (no Redis)"
    print(f"\nbatches of {BATCH} PayGo records{settled}, {how}, best of {rounds} alternated runs;")
    print(f"before = {rev[:10]}:")
    print(
        f"  {'engine':<11}{'organizations':>14}{'records/s':>12}{'before':>10}{'p50 ms':>9}{'before':>9}"
        f"{'CPU ms':>9}{'before':>9}"
    )
    for engine, spread, now_f, then_f in rows:
        print(
            f"  {engine:<11}{spread:>14}{now_f['rate']:>12,.0f}{then_f['rate']:>10,.0f}"
            f"{now_f['p50_ms']:>9.1f}{then_f['p50_ms']:>9.1f}"
            f"{now_f['cpu_ms']:>9.1f}{then_f['cpu_ms']:>9.1f}"
        )
    if fold_lines:
        print(
            "this code folds the roll-ups behind the group commit, once a second and once after the last batch,"
        )
        print("both inside the timed window (records/s, CPU ms); a fold timed alone:")
        print("\n".join(fold_lines))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batches", type=int, default=20)
    parser.add_argument(
        "--in-flight", type=int, default=1, help="reports submitted at once (PostgreSQL: 2 writers)"
    )
    parser.add_argument(
        "--rounds", type=int, default=2, help="runs of each code, alternated; the best is printed"
    )
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--baseline", help="the revision to compare with (default: git merge-base HEAD main)")
    parser.add_argument(
        "--profile", help="write a cProfile of this code's 500-organization batches to FILE.<engine>"
    )
    parser.add_argument("--redis", help="settle each batch in this Redis (flushed), as the fleet does")
    parser.add_argument("--measure", help=argparse.SUPPRESS)  # internal: a JSON spec, see _measured
    args = parser.parse_args()
    if args.measure:
        spec = json.loads(Path(args.measure).read_text())
        figures = asyncio.run(
            measure(
                spec["code"],
                spec["url"],
                spec["batches"],
                spec["in_flight"],
                spec["tag"],
                spec["profile"],
                spec["redis"],
            )
        )
        print(json.dumps(figures))
    else:
        main(args.batches, args.in_flight, args.rounds, args.engines.split(","), args.baseline, args.profile,
             args.redis)  # fmt: skip
