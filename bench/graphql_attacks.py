#!/usr/bin/env python3
"""Benchmark: hostile GraphQL documents against a served app, and the fleet's admissions meanwhile.

    .venv/bin/python bench/graphql_attacks.py [--rounds 20] [--baseline-seconds 3]

It migrates a fresh SQLite database, creates an organization with a key (the benchmark catalog of
bench/fleet.py), starts uvicorn with one worker as production does, and then, from this process:
a process of its own sends admissions back to back on one connection for the whole run, while the main
thread sends each attack `--rounds` times (fragment chains of 21, 40 and 100 levels, a 9 MB query,
1,000 aliases, a directive flood, one field repeated 700 times). It prints how each attack was
answered and how long it took (median and slowest), and the admissions' p50 / p99 / slowest
latency before the attacks, during them, and during each attack.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.fleet import BENCH_CATALOG, FLEET_TOKEN, free_port, seed, server_env  # noqa: E402


def fragment_chain(levels: int) -> str:
    fragments = ["fragment L0 on Query { __typename }"]
    fragments += [f"fragment L{n} on Query {{ ...L{n - 1} ...L{n - 1} }}" for n in range(1, levels + 1)]
    return f"query {{ ...L{levels} }}\n" + "\n".join(fragments)


ATTACKS = {
    "fragment chain of 21 levels": fragment_chain(21),
    "fragment chain of 40 levels": fragment_chain(40),
    "fragment chain of 100 levels": fragment_chain(100),
    "9 MB query (white space)": "{ __typename " + " " * 9_000_000 + "}",
    "1,000 aliases": "{ " + " ".join(f"a{n}: __typename" for n in range(1000)) + " }",
    "directive flood (2,000 @include)": "{ __typename " + "@include(if: true) " * 2000 + "}",
    "one field 700 times": "{ " + "me { id } " * 700 + "}",
    "a small valid query (for scale)": "{ __typename }",
}


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def send_admissions(base: str, key: str, stop: Any, results: Any) -> None:
    """Admissions back to back on one connection, in a process of its own (so that the attacker's work
    in this process cannot delay them through the GIL); each as (start, latency in ms), on the
    system-wide monotonic clock."""
    body = {"api_key": key, "model": "bench-model", "input_tokens": 1, "max_output_tokens": 1}
    headers = {"Authorization": f"Bearer {FLEET_TOKEN}"}
    timings: list[tuple[float, float]] = []
    with httpx.Client(base_url=base) as http:
        while not stop.is_set():
            started = time.monotonic()
            answer = http.post("/fleet/v1/admissions", json=body, headers=headers)
            timings.append((started, (time.monotonic() - started) * 1000))
            assert answer.status_code == 200, answer.text
            time.sleep(0.001)
    results.put(timings)


def latency_line(label: str, values: list[float]) -> str:
    if not values:
        return f"{label:34} {0:8d}"
    return (f"{label:34} {len(values):8d} {percentile(values, 0.5):8.2f} "
            f"{percentile(values, 0.99):8.2f} {max(values):11.2f}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=20, help="times each attack is sent")
    parser.add_argument("--baseline-seconds", type=float, default=3)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="bench-attacks-"))
    database_url = f"sqlite+aiosqlite:///{workdir / 'bench.sqlite3'}"
    (workdir / "catalog.toml").write_text(BENCH_CATALOG)
    from app.migrate import upgrade

    upgrade(database_url)
    key = asyncio.run(seed(database_url))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = server_env(workdir, database_url, CATALOG_PATH=str(workdir / "catalog.toml"))
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "app.asgi:create_app", "--factory", "--host", "127.0.0.1", "--port",
         str(port), "--workers", "1", "--no-access-log", "--log-level", "warning"],
        cwd=ROOT, env=env,
    )  # fmt: skip
    try:
        for _ in range(100):
            try:
                if httpx.get(f"{base}/healthz", timeout=0.5).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        stop, results = multiprocessing.Event(), multiprocessing.Queue()
        admissions = multiprocessing.Process(target=send_admissions, args=(base, key, stop, results))
        admissions.start()
        time.sleep(args.baseline_seconds)
        windows: dict[str, tuple[float, float]] = {}
        print(f"\n{'attack':34} {'answer':34} {'median ms':>10} {'slowest ms':>11}")
        with httpx.Client(base_url=base, timeout=60) as http:
            for name, query in ATTACKS.items():
                body = json.dumps({"query": query}).encode()
                timings, answer = [], None
                began = time.monotonic()
                for _ in range(args.rounds):
                    started = time.perf_counter()
                    answer = http.post("/graphql", content=body, headers={"content-type": "application/json"})
                    timings.append((time.perf_counter() - started) * 1000)
                windows[name] = (began, time.monotonic())
                assert answer is not None
                if answer.status_code != 200:
                    outcome = f"HTTP {answer.status_code}"
                else:
                    errors = answer.json().get("errors") or []
                    outcome = (
                        (errors[0].get("extensions") or {}).get("code", "error") if errors else "answered"
                    )
                print(f"{name:34} {outcome:34} {percentile(timings, 0.5):10.1f} {max(timings):11.1f}")
        stop.set()
        timings = results.get(timeout=30)
        admissions.join()
        first = min(start for start, _ in windows.values())
        print(
            f"\n{'admissions (started while ...)':34} {'count':>8} {'p50 ms':>8} {'p99 ms':>8} {'slowest ms':>11}"
        )
        print(latency_line("before the attacks", [ms for at, ms in timings if at < first]))
        print(latency_line("during the attacks", [ms for at, ms in timings if at >= first]))
        for name, (began, ended) in windows.items():
            print(latency_line(f"  {name}", [ms for at, ms in timings if began <= at < ended]))
    finally:
        server.terminate()
        server.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
