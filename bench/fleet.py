#!/usr/bin/env python3
"""Benchmark of the fleet's hot path, served the way production serves it.

    .venv/bin/python bench/fleet.py [--duration 10] [--connections 32] [--graph-records 1000000]

It migrates a fresh SQLite database, creates an organization with a key (and a benchmark catalog whose
limits are high enough that the rate limiter admits everything), starts uvicorn with one worker in its
own process, and drives it with wrk (`apt-get install wrk`) from another process. In one run it prints
requests per second and p50 / p99 latency of: a no-op JSON endpoint of the same app, admission, single
usage records and batched usage (records per second), with their ratios to the no-op endpoint, and
admission on a second server with METRICS_ENABLED=false, measured in alternation with the first (the
price of the metrics on the hot path). Then it loads a million usage records spread over 30 days and
times the console's 30-day hourly spend graph.
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
ADMISSION_KEY = "bench-admission-key"
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
  admissions = {}
  if args[2] then
    for line in io.lines(args[2]) do admissions[#admissions + 1] = line end
  end
  used = 0
end
local function next_admission()
  used = used + 1
  return admissions[(used * 2 + id) % #admissions + 1]
end
request = function()
  counter = counter + 1
  local body = string.gsub(template, "REQ", prefix .. id .. "-" .. counter)
  if #admissions > 0 then body = string.gsub(body, "ADM", next_admission) end
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


def wrk(
    url: str, body: str, *, duration: int, connections: int, prefix: str = "", admissions: str = ""
) -> dict[str, float]:
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
        *([admissions] if admissions else []),
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


def admission_minter(admitted: str, folder: Path) -> Any:
    """mint(count): the path of a file of `count` fresh admission ids like `admitted`, one per line."""
    from app.fleet.tokens import AdmissionCodec, new_nonce

    codec = AdmissionCodec(ADMISSION_KEY.encode())
    admission = codec.decode(admitted)
    assert admission is not None, "the server signs with another FLEET_ADMISSION_KEY"
    files = iter(range(1_000))

    def mint(count: int) -> str:
        path = folder / f"admissions-{next(files)}.txt"
        ids = (codec.encode(admission._replace(nonce=new_nonce())) for _ in range(count))
        path.write_text("\n".join(ids) + "\n")
        return str(path)

    return mint


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


def metrics_cost_per_admission() -> tuple[float, float]:
    """Microseconds the metrics calls of one admission take, on and off (best of 7 in-process runs).

    The hot path's calls exactly: the answer counted and its latency observed, two directory lookups.
    Unlike two servers under wrk, this is not drowned by the rest of a shared machine's load.
    """
    import timeit

    from app.observability import metrics

    body = {"allowed": True, "plan": "paygo", "organization_id": "org_1"}

    def one_admission() -> None:
        metrics.cache_lookup("key", hit=True)
        metrics.cache_lookup("organization", hit=True)
        metrics.admission_answered(200, body, 0.0021)

    costs = []
    for enabled in (True, False):
        metrics.configure(enabled=enabled)
        costs.append(min(timeit.repeat(one_admission, number=100_000, repeat=7)) / 100_000 * 1e6)
    metrics.configure(enabled=True)
    return costs[0], costs[1]


def server_env(workdir: Path, database_url: str, **more: str) -> dict[str, str]:
    """A benchmark server's environment: `database_url`, the fake payment provider (its plugins.toml
    written into `workdir`), the fleet's token and admission key, no jobs, no mail, warnings only; then
    `more` (CATALOG_PATH, REDIS_URL, ...). A REDIS_URL of the caller's shell is not passed on."""
    plugins = workdir / "plugins.toml"
    plugins.write_text('[payments]\nprovider = "fake"\n[providers.fake]\nstate_path = ""\n')
    inherited = {name: value for name, value in os.environ.items() if name != "REDIS_URL"}
    return {**inherited, "DATABASE_URL": database_url, "FLEET_TOKEN": FLEET_TOKEN, "FLEET_ADMISSION_KEY": ADMISSION_KEY,
            "LOG_LEVEL": "WARNING", "JOBS_ENABLED": "false", "MAIL_WORKER": "false", "PLUGINS_TOML": str(plugins),
            **more}  # fmt: skip


def start_server(port: int, env: dict[str, str], root: Path = ROOT) -> subprocess.Popen[bytes]:
    """uvicorn with one worker, as production runs it, once it accepts connections (the app of `root`)."""
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "app.asgi:create_app", "--factory", "--host", "127.0.0.1", "--port", str(port),
         "--workers", "1", "--no-access-log", "--log-level", "warning"],
        cwd=root, env=env,
    )  # fmt: skip
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            time.sleep(0.1)
    return server


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=int, default=10, help="seconds per endpoint")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--batch", type=int, default=500, help="records per batched usage request")
    parser.add_argument("--graph-records", type=int, default=1_000_000)
    parser.add_argument("--admissions-per-second", type=int, default=40_000,
                        help="admission ids minted per second of a batched usage run (each record has one)")  # fmt: skip
    parser.add_argument(
        "--metrics-rounds", type=int, default=3, help="alternations of admission with and without metrics"
    )
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
    env = server_env(workdir, database_url, CATALOG_PATH=str(workdir / "catalog.toml"))
    server = start_server(port, env)
    # the comparison runs on two fresh servers in the same state (the first one has served every
    # benchmark above: its reservations and heap have grown): metrics on, and METRICS_ENABLED=false
    metered_port, bare_port = free_port(), free_port()
    metered = start_server(metered_port, env)
    bare = start_server(bare_port, {**env, "METRICS_ENABLED": "false"})
    try:
        # one admission bills one request: each usage record carries its own admission id ("ADM"), minted
        # here with the server's FLEET_ADMISSION_KEY from a real one (the reservation is the first's only)
        mint = admission_minter(admission_id(base, key), workdir)
        record = {"request_id": "REQ", "admission_id": "ADM", "model": "bench-model", "input_tokens": 100,
                  "output_tokens": 20}  # fmt: skip
        batch_body = json.dumps(
            {"records": [{**record, "request_id": f"REQ-{i}"} for i in range(args.batch)]}
        )
        admission_body = json.dumps(
            {"api_key": key, "model": "bench-model", "input_tokens": 100, "max_output_tokens": 100}
        )
        run = {"duration": args.duration, "connections": args.connections}

        def measure(
            path: str, body: str, prefix: str = "", records: int = 0, **options: Any
        ) -> dict[str, float]:
            """Two seconds of warm-up (first-use caches, lazy imports), then the measured run.

            `records`: usage records the measured run may send at most (each gets its own admission).
            """
            warm = {"admissions": mint(records // 4)} if records else {}
            wrk(f"{base}{path}", body, **{**run, **options, **warm, "duration": 2}, prefix=f"warm-{prefix}")
            measured = {"admissions": mint(records)} if records else {}
            return wrk(f"{base}{path}", body, **{**run, **options, **measured}, prefix=prefix)

        results = {
            "no-op JSON (GET /healthz)": measure("/healthz", ""),
            "admission": measure("/fleet/v1/admissions", admission_body),
            "usage, single records": measure(
                "/fleet/v1/usage", json.dumps(record), prefix="s", records=8_000 * args.duration
            ),
            f"usage, batches of {args.batch}": measure(
                "/fleet/v1/usage",
                batch_body,
                prefix="b",
                connections=8,
                records=args.admissions_per_second * args.duration,
            ),
        }
        with_metrics, without_metrics = [], []
        metered_url, bare_url = (
            f"http://127.0.0.1:{p}/fleet/v1/admissions" for p in (metered_port, bare_port)
        )
        for url in (metered_url, bare_url):
            wrk(url, admission_body, **{**run, "duration": 2})
        for _ in range(args.metrics_rounds):  # alternated: the shared machine's drift hits both alike
            with_metrics.append(wrk(metered_url, admission_body, **run))
            without_metrics.append(wrk(bare_url, admission_body, **run))
        noop = results["no-op JSON (GET /healthz)"]["rps"]
        print(
            f"\n{'endpoint':34} {'req/s':>9} {'records/s':>10} {'p50 ms':>8} {'p99 ms':>8} {'vs no-op':>9} {'errors':>7}"
        )
        for name, r in results.items():
            records = r["rps"] * (args.batch if "batches" in name else 1)
            print(f"{name:34} {r['rps']:9.0f} {records:10.0f} {r['p50_ms']:8.2f} {r['p99_ms']:8.2f} "
                  f"{r['rps'] / noop:8.0%} {r['errors']:7.0f}")  # fmt: skip
        ratios = sorted(on["rps"] / off["rps"] for on, off in zip(with_metrics, without_metrics, strict=True))
        print(
            f"\nadmission with and without metrics (METRICS_ENABLED=false on a second server), "
            f"{args.metrics_rounds} alternated pairs of {args.duration} s:"
        )
        for on, off in zip(with_metrics, without_metrics, strict=True):
            print(
                f"  with {on['rps']:7,.0f} req/s (p99 {on['p99_ms']:6.2f} ms)   without {off['rps']:7,.0f} req/s "
                f"(p99 {off['p99_ms']:6.2f} ms)   {on['rps'] / off['rps']:6.1%}"
            )
        print(
            f"  median with/without: {ratios[len(ratios) // 2]:.1%} (range {ratios[0]:.1%} to {ratios[-1]:.1%})"
        )
        on_us, off_us = metrics_cost_per_admission()
        budget_us = 1e6 / results["admission"]["rps"]
        print(
            f"  in process, the metrics calls of one admission: {on_us:.2f} us on, {off_us:.2f} us off: "
            f"{(on_us - off_us) / budget_us:.1%} of an admission's {budget_us:.0f} us at the rate above"
        )
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
        for process in (server, metered, bare):
            process.terminate()
            process.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
