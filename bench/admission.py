#!/usr/bin/env python3
"""Benchmark of admission against the no-op endpoint, without and with Redis, and of replicas side by side.

    .venv/bin/python bench/admission.py [--duration 5] [--rounds 3] [--connections 32]
                                        [--redis redis://127.0.0.1:6379/4] [--engine sqlite|postgresql]
                                        [--replicas]

Two servers (uvicorn, one worker each) on one database: one embedded (no Redis), one with REDIS_URL (its
Redis database is flushed first). In each round, wrk drives in turn: the no-op endpoint, admission
without Redis, admission with Redis, and single usage records with Redis (each with an admission id of
its own, holding its reservation as a real admission's would); the table gives the medians over the
rounds and each one's share of the no-op rate.
With --replicas (PostgreSQL and Redis, as several replicas run): one replica alone, then two replicas
driven at once by two wrk processes with half the connections each, alternated over the rounds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from fleet import (
    BENCH_CATALOG,
    admission_id,
    admission_minter,
    free_port,
    seed,
    server_env,
    start_server,
    wrk,
)
from support import bench_database

ROOT = Path(__file__).resolve().parent.parent


def run_together(jobs: list[dict[str, Any]]) -> list[dict[str, float]]:
    """Several wrk runs at the same time (each its own process), as wrk() would run them one by one."""
    command = [
        sys.executable,
        "-c",
        "import json, sys; from fleet import wrk; print(json.dumps(wrk(**json.loads(sys.argv[1]))))",
    ]
    processes = [
        subprocess.Popen([*command, json.dumps(job)], stdout=subprocess.PIPE, cwd=Path(__file__).parent)
        for job in jobs
    ]
    return [json.loads(process.communicate()[0]) for process in processes]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--duration", type=int, default=5, help="seconds per measured run")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/4", help="REDIS_URL (flushed)")
    parser.add_argument("--engine", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--replicas", action="store_true", help="one replica against two (PostgreSQL, Redis)")
    parser.add_argument(
        "--compare", metavar="REF", help="also admit on the app of this git ref, in the same rounds"
    )
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        sys.exit("wrk is needed as the load generator: apt-get install wrk")
    import redis

    redis.Redis.from_url(args.redis).flushdb()
    engine = "postgresql" if args.replicas else args.engine
    url, _ = asyncio.run(bench_database(engine, "admission", rebuild=True))
    key = asyncio.run(seed(url))
    workdir = Path(tempfile.mkdtemp(prefix="bench-admission-"))
    (workdir / "catalog.toml").write_text(BENCH_CATALOG)
    env = server_env(workdir, url, CATALOG_PATH=str(workdir / "catalog.toml"))
    with_redis = {**env, "REDIS_URL": args.redis}
    ports = [free_port() for _ in range(4 if args.compare else 2)]
    servers = [
        start_server(ports[0], with_redis if args.replicas else env),
        start_server(ports[1], with_redis),
    ]
    if args.compare:  # the same two servers from the other ref's source (this virtualenv)
        other = workdir / "compare"
        other.mkdir()
        archive = subprocess.run(["git", "archive", args.compare], cwd=ROOT, check=True, capture_output=True)
        subprocess.run(["tar", "-x", "-C", str(other)], input=archive.stdout, check=True)
        servers += [start_server(ports[2], env, other), start_server(ports[3], with_redis, other)]
    bases = [f"http://127.0.0.1:{port}" for port in ports]
    admission_body = json.dumps(
        {"api_key": key, "model": "bench-model", "input_tokens": 100, "max_output_tokens": 100}
    )
    run = {"duration": args.duration, "connections": args.connections}
    try:
        for base in bases:  # first use: caches filled, lazy imports done
            wrk(f"{base}/fleet/v1/admissions", admission_body, **{**run, "duration": 2})
        if args.replicas:
            replicas(bases, admission_body, args)
        else:
            versus_noop(bases, admission_body, workdir, args)
    finally:
        for server in servers:
            server.terminate()
            server.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


def versus_noop(bases: list[str], admission_body: str, workdir: Path, args: Any) -> None:
    embedded, shared = bases[:2]
    mint = held(
        admission_minter(admission_id(shared, json.loads(admission_body)["api_key"]), workdir), args.redis
    )
    record = json.dumps({"request_id": "REQ", "admission_id": "ADM", "model": "bench-model", "input_tokens": 100,
                         "output_tokens": 20})  # fmt: skip
    run = {"duration": args.duration, "connections": args.connections}

    runs = iter(range(1_000))

    def usage(base: str) -> dict[str, float]:
        # request ids of their own: the servers share a database, where a repeated id is a duplicate (not stored)
        return wrk(f"{base}/fleet/v1/usage", record, **run, prefix=f"s{next(runs)}-",
                   admissions=mint(10_000 * args.duration))  # fmt: skip

    cases = {
        "no-op JSON (GET /healthz)": lambda: wrk(f"{embedded}/healthz", "", **run),
        "admission, embedded": lambda: wrk(f"{embedded}/fleet/v1/admissions", admission_body, **run),
        "admission, with Redis": lambda: wrk(f"{shared}/fleet/v1/admissions", admission_body, **run),
        "usage single records, with Redis": lambda: usage(shared),
    }
    if args.compare:
        cases[f"admission, embedded ({args.compare})"] = lambda: wrk(
            f"{bases[2]}/fleet/v1/admissions", admission_body, **run
        )
        cases[f"admission, with Redis ({args.compare})"] = lambda: wrk(
            f"{bases[3]}/fleet/v1/admissions", admission_body, **run
        )
        cases[f"usage single records, with Redis ({args.compare})"] = lambda: usage(bases[3])
        order = [0, 4, 1, 2, 5, 6, 3]  # each case beside its counterpart on the other ref
        cases = dict(list(cases.items())[i] for i in order)
    figures: dict[str, list[dict[str, float]]] = {name: [] for name in cases}
    for index in range(args.rounds):
        turn = list(cases.items())
        if args.compare and index % 2:  # each pair the other way round: the first of two runs measured faster
            turn = [turn[0], *(case for pair in zip(turn[2::2], turn[1::2], strict=True) for case in pair)]
        for name, measure in turn:  # in turn: the machine's drift hits every case alike
            figures[name].append(measure())
        print(
            f"round {index + 1}: "
            + ", ".join(f"{n.split(' (GET')[0]} {f[-1]['rps']:,.0f}" for n, f in figures.items())
        )
    noop = statistics.median(f["rps"] for f in figures["no-op JSON (GET /healthz)"])
    print(
        f"\nmedians of {args.rounds} rounds of {args.duration} s, {args.connections} connections, one worker each"
    )
    print(f"{'case':40} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'vs no-op':>9} {'errors':>7}")
    for name, runs in figures.items():
        rps = statistics.median(r["rps"] for r in runs)
        p50 = statistics.median(r["p50_ms"] for r in runs)
        p99 = statistics.median(r["p99_ms"] for r in runs)
        print(
            f"{name:40} {rps:9,.0f} {p50:8.2f} {p99:8.2f} {rps / noop:9.0%} {sum(r['errors'] for r in runs):7.0f}"
        )
    print("load average (1, 5, 15 min) at the end: " + ", ".join(f"{load:.1f}" for load in os.getloadavg()))
    print(
        "targets (issue 18): admission >= 75 % of no-op with p99 < 5 ms; with Redis >= 60 %; single usage >= 40 %"
    )


def held(mint: Any, redis_url: str) -> Any:
    """mint(count), each admission id also holding its reservation in Redis, as its admission would have.

    So the usage reports settle as in production: each claims its reservation and gives back (or takes)
    the tokens it did not use (RedisReservations.KEY, due in ten minutes).
    """
    import redis

    from app.fleet.reservations import RedisReservations

    client = redis.Redis.from_url(redis_url)

    def mint_held(count: int) -> str:
        path = mint(count)
        due = time.time() + 600
        with client.pipeline(transaction=False) as pipe:
            for line in Path(path).read_text().split():
                pipe.zadd(RedisReservations.KEY, {line: due})
            pipe.execute()
        return str(path)

    return mint_held


def replicas(bases: list[str], admission_body: str, args: Any) -> None:
    one, two = [], []
    half = max(1, args.connections // 2)
    for index in range(args.rounds):
        one.append(wrk(f"{bases[0]}/fleet/v1/admissions", admission_body, duration=args.duration,
                       connections=args.connections)["rps"])  # fmt: skip
        together = run_together([
            {"url": f"{base}/fleet/v1/admissions", "body": admission_body, "duration": args.duration, "connections": half}
            for base in bases
        ])  # fmt: skip
        two.append(sum(r["rps"] for r in together))
        print(f"round {index + 1}: one replica {one[-1]:,.0f} req/s, two replicas {two[-1]:,.0f} req/s")
    ratio = statistics.median(b / a for a, b in zip(one, two, strict=True))
    print(f"\nadmission on PostgreSQL with Redis, medians of {args.rounds} rounds of {args.duration} s:")
    print(f"  one replica {statistics.median(one):,.0f} req/s, two replicas {statistics.median(two):,.0f} req/s: "
          f"{ratio:.2f}x (target 1.6x on a machine with the cores for it; this one has {os.cpu_count()} "
          "for both servers, Redis, PostgreSQL and wrk)")  # fmt: skip


if __name__ == "__main__":
    main()
