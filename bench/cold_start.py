#!/usr/bin/env python3
"""Benchmark of a cold replica: admissions per second in the first seconds after a start, against warm.

    .venv/bin/python bench/cold_start.py [--keys 100000] [--organizations 10000] [--engine sqlite|postgresql]
                                         [--seconds 10] [--redis redis://127.0.0.1:6379/4]

A database with `--keys` API keys over `--organizations` Personal organizations (the benchmark catalog's
free tier: every admission goes through the whole decision and is admitted) is built once and kept
under var/bench. A server (uvicorn, one worker) is started on it and driven by wrk from the moment it
accepts connections, each request with a key drawn at random from all of them: the per-second
admission rate is printed beside the rate of the same server once warm (the same load for as long),
with the keys and organizations its directory holds each second (scraped from /metrics).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from fleet import BENCH_CATALOG, FLEET_TOKEN, free_port, server_env, start_server
from sqlalchemy import insert
from support import bench_database, mark_built

from app.db import Database
from app.domain.api_keys.models import ApiKey
from app.domain.base import hash_secret
from app.domain.orgs.models import Organization, OrganizationType
from app.domain.projects.models import Project

TIMELINE_SCRIPT = """
local keys = {}
function init(args)
  for line in io.lines(args[1]) do keys[#keys + 1] = line end
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16) % 1000)
end
request = function()
  local body = string.gsub(template, "KEY", keys[math.random(#keys)])
  return wrk.format("POST", nil, headers, body)
end
local second, count, admitted = nil, 0, 0
function response(status, headers, body)
  local now = os.time()
  if now ~= second then
    if second then io.write(string.format("SECOND %d %d %d\\n", second, count, admitted)) end
    second, count, admitted = now, 0, 0
  end
  count = count + 1
  if status == 200 then admitted = admitted + 1 end
end
function done(summary, latency, requests)
  io.write(string.format("BENCH %d %d %d %d\\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99)))
end
"""


def secret(n: int) -> str:
    return f"csk-bench-{n:010d}-{'x' * 32}"


async def seed(url: str, keys: int, organizations: int) -> None:
    """`keys` keys spread over `organizations` Personal organizations, one project each (bulk inserts)."""
    db = Database(url)
    batch = 5_000
    async with db.transaction() as session:
        for start in range(0, organizations, batch):
            rows = range(start, min(organizations, start + batch))
            await session.execute(insert(Organization), [
                {"id": f"org_cold_{n}", "name": f"Cold {n}", "type": OrganizationType.PERSONAL} for n in rows
            ])  # fmt: skip
            await session.execute(insert(Project), [
                {"id": f"prj_cold_{n}", "organization_id": f"org_cold_{n}", "name": "Default", "is_default": True}
                for n in rows
            ])  # fmt: skip
        for start in range(0, keys, batch):
            rows = range(start, min(keys, start + batch))
            await session.execute(insert(ApiKey), [
                {"id": f"key_cold_{n}", "project_id": f"prj_cold_{n % organizations}", "name": "k",
                 "secret_hash": hash_secret(secret(n)), "prefix": "csk-bench", "last_four": "xxxx"}
                for n in rows
            ])  # fmt: skip
    await db.dispose()


def cache_sizes(base: str) -> dict[str, float]:
    """The directory's entries by cache, from /metrics."""
    with urllib.request.urlopen(f"{base}/metrics", timeout=5) as answer:
        text = answer.read().decode()
    return {
        found.group(1): float(found.group(2))
        for found in re.finditer(r'billing_fleet_cache_entries\{cache="(\w+)"\} ([\d.e+]+)', text)
    }


def drive(url: str, keys_file: str, seconds: int, connections: int) -> tuple[dict[int, tuple[int, int]], str]:
    """wrk for `seconds` with random keys: per wall-clock second (requests, admitted), and its summary line."""
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        body = {"api_key": "KEY", "model": "bench-model", "input_tokens": 100, "max_output_tokens": 100}
        headers = {"Authorization": f"Bearer {FLEET_TOKEN}", "Content-Type": "application/json"}
        script.write(f"template = {json.dumps(json.dumps(body))}\nheaders = {{")
        script.write(", ".join(f"[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items()))
        script.write("}\n" + TIMELINE_SCRIPT)
    command = [
        "wrk",
        "-t2",
        f"-c{connections}",
        f"-d{seconds}s",
        "--latency",
        "-s",
        script.name,
        url,
        "--",
        keys_file,
    ]
    output = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    os.unlink(script.name)
    per_second: dict[int, tuple[int, int]] = {}
    for found in re.finditer(r"SECOND (\d+) (\d+) (\d+)", output):
        second, count, admitted = (int(x) for x in found.groups())
        before = per_second.get(second, (0, 0))
        per_second[second] = (before[0] + count, before[1] + admitted)
    summary = re.search(r"BENCH .*", output)
    return per_second, summary.group(0) if summary else output


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--organizations", type=int, default=10_000)
    parser.add_argument("--engine", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--redis", default="", help="REDIS_URL for the server (its database is flushed)")
    args = parser.parse_args()

    name = f"cold-start-{args.keys}-{args.organizations}"
    url, built = asyncio.run(bench_database(args.engine, name))
    if not built:
        started = time.perf_counter()
        asyncio.run(seed(url, args.keys, args.organizations))
        mark_built(args.engine, name)
        print(
            f"seeded {args.keys:,} keys over {args.organizations:,} organizations in {time.perf_counter() - started:.0f} s"
        )
    workdir = Path(tempfile.mkdtemp(prefix="bench-cold-"))
    keys_file = workdir / "keys.txt"
    keys_file.write_text("\n".join(secret(n) for n in range(args.keys)) + "\n")
    (workdir / "catalog.toml").write_text(BENCH_CATALOG)
    if args.redis:
        import redis

        redis.Redis.from_url(args.redis).flushdb()
    env = server_env(workdir, url, CATALOG_PATH=str(workdir / "catalog.toml"),
                     **({"REDIS_URL": args.redis} if args.redis else {}))  # fmt: skip
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    started = time.time()
    server = start_server(port, env)  # returns once it accepts connections
    ready = time.time() - started
    sizes: list[tuple[float, dict[str, float]]] = []
    stop = threading.Event()

    def scrape() -> None:
        while not stop.is_set():
            try:
                sizes.append((time.time(), cache_sizes(base)))
            except OSError:
                pass
            stop.wait(0.5)

    scraper = threading.Thread(target=scrape, daemon=True)
    try:
        scraper.start()
        cold, cold_summary = drive(
            f"{base}/fleet/v1/admissions", str(keys_file), args.seconds, args.connections
        )
        warm, warm_summary = drive(
            f"{base}/fleet/v1/admissions", str(keys_file), args.seconds, args.connections
        )
    finally:
        stop.set()
        scraper.join()
        server.terminate()
        server.wait(timeout=10)
    # whole seconds only: the first and last of each run are partial
    warm_seconds = sorted(warm)[1:-1]
    warm_rate = sum(warm[s][0] for s in warm_seconds) / max(1, len(warm_seconds))
    print(f"\ncold start on {args.engine}{' with Redis' if args.redis else ''}: {args.keys:,} keys, "
          f"{args.organizations:,} organizations; server accepting connections {ready:.1f} s after its start")  # fmt: skip
    print(f"warm (the same load right after): {warm_rate:,.0f} req/s   [{warm_summary}]")
    print(f"cold run: [{cold_summary}]")
    print(f"\n{'second':>6} {'req/s':>8} {'admitted':>9} {'of warm':>8} {'keys held':>10} {'orgs held':>10}")
    for index, second in enumerate(sorted(cold)):
        count, admitted = cold[second]
        held = [entry for at, entry in sizes if at < second + 1]
        last = held[-1] if held else {}
        print(f"{index + 1:>6} {count:8,} {admitted:9,} {count / warm_rate:8.0%} "
              f"{last.get('key', 0):10,.0f} {last.get('organization', 0):10,.0f}")  # fmt: skip
    full = next(
        (at - started for at, entry in sizes
         if entry.get("key", 0) >= args.keys and entry.get("organization", 0) >= args.organizations),
        None,
    )  # fmt: skip
    print(
        f"\nevery key and organization held {full:.1f} s after the start"
        if full
        else "\nnot every key was held"
    )
    print("target (issue 18): at least half the warm rate from the fifth second; every key warm within 10 s")


if __name__ == "__main__":
    main()
