#!/usr/bin/env python3
"""Benchmark of the fleet's hot path, served the way production serves it.

    .venv/bin/python bench/fleet.py [--duration 10] [--connections 32] [--graph-records 1000000]

It migrates a fresh SQLite database, creates an organization with a key (and a benchmark catalog whose
limits are high enough that the rate limiter admits everything), starts uvicorn with one worker in its
own process, and drives it with wrk (`apt-get install wrk`) from another process. In one run it prints
requests per second and p50 / p99 latency of: a no-op JSON endpoint of the same app, admission, single
usage records and batched usage (records per second), with their ratios to the no-op endpoint. Then it
loads a million usage records spread over 30 days and times the console's 30-day hourly spend graph.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

FLEET_TOKEN = "bench-fleet-token"
BENCH_CATALOG = """
[free_tier]
rpm = 1_000_000_000
tpm = 1_000_000_000_000

[[models]]
id = "bench-model"
display_name = "Benchmark model"
input_price_per_million = "0.35"
output_price_per_million = "0.75"
limits = { rpm = 1_000_000_000, tpm = 1_000_000_000_000 }
"""

WRK_SCRIPT = """
counter = 0
local thread_id = 0
local threads = {}
function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end
function init(args)
  prefix = args[1] or ""
end
request = function()
  counter = counter + 1
  local body = string.gsub(template, "REQ", prefix .. id .. "-" .. counter)
  return wrk.format("POST", nil, headers, body)
end
function done(summary, latency, requests)
  io.write(string.format("BENCH %d %d %d %d %f\\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), summary.errors.status + summary.errors.connect + summary.errors.timeout))
end
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def seed(database_url: str) -> str:
    """The benchmark organization's API key (a Personal org: the free tier of the benchmark catalog has no
    effective limit, so every admission goes through the whole decision and is admitted)."""
    from app.db import Database
    from app.domain.accounts.service import create_user
    from app.domain.actor import Actor
    from app.domain.api_keys.service import create_api_key
    from app.domain.orgs.models import OrganizationType
    from app.domain.orgs.service import create_organization
    from app.domain.projects.service import create_project
    from app.settings import Settings

    db = Database(database_url)
    async with db.transaction() as session:
        user = await create_user(session, email="bench@example.com", password="benchmark password", name="Bench",
                                 settings=Settings())  # fmt: skip
        organization = await create_organization(
            session, owner=user, name="Bench", type=OrganizationType.PERSONAL
        )
        project = await create_project(session, Actor(user.id), organization.id, name="Bench")
        key = await create_api_key(session, Actor(user.id), project.id, name="bench")
    await db.dispose()
    return key.secret


def wrk(url: str, body: str, *, duration: int, connections: int, prefix: str = "") -> dict[str, float]:
    """Run wrk against a POST endpoint (GET when body is empty); figures from its done() hook."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        headers = {"Authorization": f"Bearer {FLEET_TOKEN}", "Content-Type": "application/json"}
        script.write(f"template = {json.dumps(body)}\nheaders = {{")
        script.write(", ".join(f"[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items()))
        script.write("}\n" + (WRK_SCRIPT if body else WRK_SCRIPT.replace('return wrk.format("POST", nil, headers, body)',
                                                                            'return wrk.format("GET", nil, headers)')))  # fmt: skip
    command = [
        "wrk",
        "-t2",
        f"-c{connections}",
        f"-d{duration}s",
        "--latency",
        "-s",
        script.name,
        url,
        "--",
        prefix,
    ]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    os.unlink(script.name)
    match = re.search(r"BENCH (\d+) (\d+) (\d+) (\d+) ([\d.]+)", output)
    assert match, output
    requests, micros, p50, p99, errors = (float(x) for x in match.groups())
    return {
        "rps": requests / (micros / 1e6),
        "p50_ms": p50 / 1000,
        "p99_ms": p99 / 1000,
        "errors": errors,
        "n": requests,
    }


def admission_id(base: str, key: str) -> str:
    import httpx

    answer = httpx.post(f"{base}/fleet/v1/admissions", headers={"Authorization": f"Bearer {FLEET_TOKEN}"},
                        json={"api_key": key, "model": "bench-model", "input_tokens": 10, "max_output_tokens": 10})  # fmt: skip
    answer.raise_for_status()
    return str(answer.json()["admission_id"])


async def load_graph_data(database_url: str, records: int) -> str:
    """Store `records` usage records over the last 30 days (and their roll-ups, as the usage writer would
    have); returns the org id."""
    from sqlalchemy import insert, select

    from app.db import Database
    from app.domain.api_keys.models import ApiKey
    from app.domain.projects.models import Project
    from app.domain.usage.models import UsageHour, UsageMinute, UsageRecord
    from app.domain.usage.rollups import rebuild_from_hours

    db = Database(database_url)
    async with db.transaction() as session:
        key = (await session.execute(select(ApiKey.id, ApiKey.project_id))).first()
        organization_id = await session.scalar(select(Project.organization_id).where(Project.id == key[1]))
    now_minute = int(time.time()) // 60
    rng = random.Random(7)
    rollups: dict[tuple[int, str], list[int]] = {}
    batch: list[dict[str, Any]] = []
    from datetime import UTC, datetime

    for n in range(records):
        minute = now_minute - rng.randrange(30 * 24 * 60)
        model = ("graph-model-a", "graph-model-b")[n % 2]  # apart from the roll-ups the usage runs wrote
        tokens_in, tokens_out = rng.randrange(10, 2000), rng.randrange(1, 1000)
        cost = tokens_in * 350 + tokens_out * 750
        batch.append({"request_id": f"g{n}", "organization_id": organization_id, "project_id": key[1], "api_key_id": key[0],
                      "model_id": model, "plan": "paygo", "input_tokens": tokens_in, "output_tokens": tokens_out,
                      "cost_nanos": cost, "billed_nanos": cost,
                      "recorded_at": datetime.fromtimestamp(minute * 60, UTC)})  # fmt: skip
        figures = rollups.setdefault((minute, model), [0, 0, 0, 0])
        figures[0] += 1
        figures[1] += tokens_in
        figures[2] += tokens_out
        figures[3] += cost
        if len(batch) == 20_000:
            async with db.transaction() as session:
                await session.execute(insert(UsageRecord), batch)
            batch = []
    async with db.transaction() as session:
        if batch:
            await session.execute(insert(UsageRecord), batch)
        hours: dict[tuple[int, str], list[int]] = {}
        for (minute, model), figures in rollups.items():
            summed = hours.setdefault((minute // 60, model), [0, 0, 0, 0])
            summed[:] = [a + b for a, b in zip(summed, figures, strict=True)]
        for table, column, sums in ((UsageMinute, "minute", rollups), (UsageHour, "hour", hours)):
            await session.execute(insert(table), [
                {"organization_id": organization_id, column: bucket, "project_id": key[1], "api_key_id": key[0],
                 "model_id": model, "requests": f[0], "input_tokens": f[1], "output_tokens": f[2], "billed_nanos": f[3],
                 "cost_nanos": f[3]} for (bucket, model), f in sums.items()
            ])  # fmt: skip
        await rebuild_from_hours(session)
    await db.dispose()
    return str(organization_id)


GRAPH_SHAPES = {
    "columns (series)": (
        "series { group starts spend currency }",
        lambda usage: len(usage["series"][0]["starts"]),
    ),
    "points": ("points { start group spend { amount } }", lambda usage: len(usage["points"])),
}


def time_graph(
    base: str, organization_id: str, email: str, password: str, shape: str, runs: int = 20
) -> list[float]:
    """Timings (ms, sorted) of the console's 30-day hourly spend graph by model, asked for in `shape`."""
    import httpx
    from strawberry.relay import to_base64

    with httpx.Client(base_url=base) as http:
        signed_in = http.post("/graphql", json={"query": "mutation($e: String!, $p: String!) { signIn(input: {email: $e, password: $p}) { ... on SessionPayload { token } } }",
                                                 "variables": {"e": email, "p": password}}).json()  # fmt: skip
        token = signed_in["data"]["signIn"]["token"]
        selection, count = GRAPH_SHAPES[shape]
        query = """query($o: ID!, $from: DateTime!, $to: DateTime!) { usage(input: {organizationId: $o, from: $from,
          to: $to, granularity: HOUR, groupBy: MODEL}) { ... on UsageSeries { SELECTION } } }""".replace(
            "SELECTION", selection
        )
        end = time.time()
        variables = {"o": to_base64("Organization", organization_id),
                     "from": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(end - 30 * 86400)),
                     "to": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(end + 60))}  # fmt: skip
        timings = []
        for _ in range(runs):
            started = time.perf_counter()
            answer = http.post(
                "/graphql",
                json={"query": query, "variables": variables},
                headers={"Authorization": f"Bearer {token}"},
            )
            timings.append((time.perf_counter() - started) * 1000)
            buckets = count(answer.json()["data"]["usage"])
        assert buckets > 700, buckets
        return sorted(timings)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=int, default=10, help="seconds per endpoint")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--batch", type=int, default=500, help="records per batched usage request")
    parser.add_argument("--graph-records", type=int, default=1_000_000)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed as the load generator: apt-get install wrk")

    workdir = Path(tempfile.mkdtemp(prefix="bench-fleet-"))
    database_url = f"sqlite+aiosqlite:///{workdir / 'bench.sqlite3'}"
    (workdir / "catalog.toml").write_text(BENCH_CATALOG)
    from app.migrate import upgrade

    upgrade(database_url)
    key = asyncio.run(seed(database_url))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "DATABASE_URL": database_url, "CATALOG_PATH": str(workdir / "catalog.toml"),
           "FLEET_TOKEN": FLEET_TOKEN, "LOG_LEVEL": "WARNING", "JOBS_ENABLED": "false", "MAIL_WORKER": "false",
           "PLUGINS_TOML": str(workdir / "plugins.toml")}  # fmt: skip
    (workdir / "plugins.toml").write_text(
        '[payments]\nprovider = "fake"\n[providers.fake]\nstate_path = ""\n'
    )
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "app.asgi:create_app", "--factory", "--host", "127.0.0.1", "--port", str(port),
         "--workers", "1", "--no-access-log", "--log-level", "warning"],
        cwd=ROOT, env=env,
    )  # fmt: skip
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        admitted = admission_id(base, key)
        record = {"request_id": "REQ", "admission_id": admitted, "model": "bench-model", "input_tokens": 100,
                  "output_tokens": 20}  # fmt: skip
        batch_body = json.dumps(
            {"records": [{**record, "request_id": f"REQ-{i}"} for i in range(args.batch)]}
        )
        admission_body = json.dumps(
            {"api_key": key, "model": "bench-model", "input_tokens": 100, "max_output_tokens": 100}
        )
        run = {"duration": args.duration, "connections": args.connections}

        def measure(path: str, body: str, prefix: str = "", **options: Any) -> dict[str, float]:
            """Two seconds of warm-up (first-use caches, lazy imports), then the measured run."""
            wrk(f"{base}{path}", body, **{**run, **options, "duration": 2}, prefix=f"warm-{prefix}")
            return wrk(f"{base}{path}", body, **{**run, **options}, prefix=prefix)

        results = {
            "no-op JSON (GET /healthz)": measure("/healthz", ""),
            "admission": measure("/fleet/v1/admissions", admission_body),
            "usage, single records": measure("/fleet/v1/usage", json.dumps(record), prefix="s"),
            f"usage, batches of {args.batch}": measure(
                "/fleet/v1/usage", batch_body, prefix="b", connections=8
            ),
        }
        noop = results["no-op JSON (GET /healthz)"]["rps"]
        print(
            f"\n{'endpoint':34} {'req/s':>9} {'records/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'vs no-op':>9} {'errors':>7}"
        )
        for name, r in results.items():
            records = r["rps"] * (args.batch if "batches" in name else 1)
            print(f"{name:34} {r['rps']:9.0f} {records:10.0f} {r['p50_ms']:8.2f} {r['p99_ms']:8.2f} "
                  f"{r['rps'] / noop:8.0%} {r['errors']:7.0f}")  # fmt: skip
        if args.graph_records:
            started = time.perf_counter()
            organization_id = asyncio.run(load_graph_data(database_url, args.graph_records))
            print(
                f"\nloaded {args.graph_records:,} usage records over 30 days in {time.perf_counter() - started:.0f} s"
            )
            for shape in GRAPH_SHAPES:
                timings = time_graph(base, organization_id, "bench@example.com", "benchmark password", shape)
                print(f"30-day hourly spend graph by model over GraphQL, as {shape}: median "
                      f"{timings[len(timings) // 2]:.1f} ms, max {timings[-1]:.1f} ms ({len(timings)} runs)")  # fmt: skip
    finally:
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
