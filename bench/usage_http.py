#!/usr/bin/env python3
"""Benchmark of usage batches over HTTP, as the fleet reports them: 500 records over 1, 50 or 500 organizations.

    .venv/bin/python bench/usage_http.py [--batches 120] [--in-flight 1,8] [--rounds 2]
                                         [--engines sqlite,postgresql] [--baseline REV]

bench/usage_batches.py times the group commit alone (straight to the UsageWriter). This one times what
a fleet sees: uvicorn with one worker, as production runs it, answering `POST /fleet/v1/usage` with
batches of 500 PayGo records, each with its own signed admission id, over the 500 organizations that
bench/usage_batches.py builds (each with a project, a key, an account and three grants) on a fresh
database. The server decodes the batches, checks every admission id, commits, burns the credits,
settles and answers; the figures include all of it, and the roll-ups are folded in the background.

`in_flight` reports are kept in flight at once by as many senders (issue 18 measured its baseline,
900 and 1,250 records/s over 500 organizations, with 8); every record must come back "accepted". It
prints records per second and the median and 99th-percentile time per report, by engine, spread and
number in flight, each the best of `rounds` alternated runs (the machine is shared and noisy), with
the CPU the server's process used per report (on SQLite SQLite's work included). With `--baseline REV`
a server running the code of REV is measured beside this one, each on its own fresh database, the two
alternated, and its figures are printed beside (REV must read this code's database: the same migrations).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from fleet import ADMISSION_KEY, FLEET_TOKEN, free_port, server_env, start_server  # noqa: E402
from usage_batches import BATCH, MODEL, ORGANIZATIONS, SPREADS, prepare  # noqa: E402


def bodies(spread: int, count: int, tag: str) -> list[bytes]:
    """`count` report bodies of BATCH records spread evenly over `spread` organizations, each record
    with a fresh admission id signed as the server's own (so every one is billed)."""
    from app.fleet.tokens import Admission, AdmissionCodec

    codec = AdmissionCodec(ADMISSION_KEY.encode())
    issued = int(time.time())
    made = []
    for batch in range(count):
        records = []
        for n in range(BATCH):
            org = f"org_bench_{n % spread * (ORGANIZATIONS // spread):04d}"
            nonce = f"{tag}-{spread}-{batch}-{n}"
            admission = Admission(org, f"proj_{org}", f"key_{org}", MODEL, "paygo", 2000, issued, nonce)
            records.append({"request_id": f"req-{nonce}", "admission_id": codec.encode(admission),
                            "model": MODEL, "input_tokens": 1000 + n, "output_tokens": 100 + batch})  # fmt: skip
        made.append(json.dumps({"records": records}).encode())
    return made


async def send(url: str, reports: list[bytes], in_flight: int) -> list[float]:
    """Post every report, `in_flight` at a time; the seconds each took. Every record must be accepted."""
    import httpx

    queue = list(reversed(reports))
    times: list[float] = []
    headers = {"Authorization": f"Bearer {FLEET_TOKEN}", "Content-Type": "application/json"}

    async def sender(http: httpx.AsyncClient) -> None:
        while queue:
            body = queue.pop()
            started = time.perf_counter()
            answer = await http.post(url, content=body, headers=headers)
            times.append(time.perf_counter() - started)
            answer.raise_for_status()
            results = answer.json()["results"]
            refused = [result for result in results if result.get("status") != "accepted"]
            assert len(results) == BATCH and not refused, refused[:2]

    limits = httpx.Limits(max_connections=in_flight)
    async with httpx.AsyncClient(timeout=60, limits=limits) as http:
        await asyncio.gather(*(sender(http) for _ in range(in_flight)))
    return times


def server_cpu(pid: int) -> float:
    """Seconds of CPU the process used so far (user and system)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(engine: str, batches: int, in_flight: int, tag: str, code: Path) -> dict[int, dict[str, float]]:
    """For each spread, on a database built afresh and a server of `code` started for it: the run's figures."""
    url = asyncio.run(prepare(engine))
    workdir = Path(tempfile.mkdtemp(prefix="bench-usage-http-"))
    env = server_env(workdir, url)
    port = free_port()
    server = start_server(port, env, code)
    try:
        figures = {}
        for spread in SPREADS:
            warm, timed = bodies(spread, 2 * in_flight, f"{tag}w"), bodies(spread, batches, tag)
            usage = f"http://127.0.0.1:{port}/fleet/v1/usage"
            asyncio.run(send(usage, warm, in_flight))  # statement caches, directory entries, imports
            cpu, started = server_cpu(server.pid), time.perf_counter()
            times = sorted(asyncio.run(send(usage, timed, in_flight)))
            elapsed = time.perf_counter() - started
            figures[spread] = {
                "rate": BATCH * batches / elapsed,
                "p50_ms": statistics.median(times) * 1000,
                "p99_ms": times[min(len(times) - 1, len(times) * 99 // 100)] * 1000,
                "cpu_ms": (server_cpu(server.pid) - cpu) * 1000 / batches,
            }
        return figures
    finally:
        server.terminate()
        server.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--batches", type=int, default=120, help="timed reports per spread")
    parser.add_argument("--in-flight", default="1,8", help="reports in flight at once, each measured")
    parser.add_argument("--rounds", type=int, default=2, help="runs of each, alternated; the best is printed")
    parser.add_argument("--engines", default="sqlite,postgresql")
    parser.add_argument("--baseline", help="a revision whose server is measured beside this one")
    args = parser.parse_args()
    levels = [int(level) for level in args.in_flight.split(",")]
    codes = {"now": ROOT}
    if args.baseline:
        codes["before"] = Path(tempfile.mkdtemp(prefix="bench-usage-http-before-"))
        archive = subprocess.run(["git", "archive", args.baseline], cwd=ROOT, capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", str(codes["before"])], input=archive.stdout, check=True)
    best: dict[tuple[str, int, int, str], dict[str, float]] = {}
    for engine in args.engines.split(","):
        for round_ in range(args.rounds):
            for level in levels:
                # alternated, and in turn first: the machine is shared and noisy
                for label in sorted(codes, reverse=bool(round_ % 2)):
                    tag = f"{label}{round_}i{level}"
                    for spread, figures in measure(engine, args.batches, level, tag, codes[label]).items():
                        kept = best.setdefault((engine, spread, level, label), figures)
                        kept.update(rate=max(kept["rate"], figures["rate"]), p50_ms=min(kept["p50_ms"], figures["p50_ms"]),
                                    p99_ms=min(kept["p99_ms"], figures["p99_ms"]),
                                    cpu_ms=min(kept["cpu_ms"], figures["cpu_ms"]))  # fmt: skip
    print(f"\nPOST /fleet/v1/usage, {args.batches} reports of {BATCH} PayGo records, uvicorn with one worker, "
          f"best of {args.rounds} alternated runs" + (f"; before = {args.baseline}:" if args.baseline else ":"))  # fmt: skip
    columns = ["records/s", "p50 ms", "p99 ms", "server CPU ms"]
    heading = "".join(f"{name:>14}" + (f"{'before':>9}" if args.baseline else "") for name in columns)
    print(f"  {'engine':<11}{'organizations':>14}{'in flight':>10}{heading}")
    for (engine, spread, level, label), f in sorted(best.items()):
        if label != "now":
            continue
        then = best.get((engine, spread, level, "before"))
        cells = ""
        for name, form in (("rate", ",.0f"), ("p50_ms", ".1f"), ("p99_ms", ".1f"), ("cpu_ms", ".1f")):
            cells += f"{f[name]:>14{form}}" + (f"{then[name]:>9{form}}" if then else "")
        print(f"  {engine:<11}{spread:>14}{level:>10}{cells}")


if __name__ == "__main__":
    main()
