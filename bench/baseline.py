"""Figures beside their baseline in one run: the same GraphQL requests served by this code and by a revision's.

Each code is measured in a process of its own (`python bench/baseline.py SPEC`), so that it is the only
app that process imports; this module imports no app at its top for that reason.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def baseline_code(rev: str | None) -> tuple[str, Path]:
    """The revision (default: where this branch left main) and a directory holding its files."""
    rev = rev or subprocess.check_output(["git", "merge-base", "HEAD", "main"], cwd=ROOT, text=True).strip()
    code = Path(tempfile.mkdtemp(prefix="bench-baseline-"))
    archive = subprocess.run(["git", "archive", rev], cwd=ROOT, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(code)], input=archive, check=True)
    return rev, code


def measured(code: Path, url: str, cases: list[dict[str, Any]], runs: int) -> dict[str, tuple[float, float]]:
    """The median wall and CPU ms of each case's request, served by the app of `code` in a fresh process.

    CPU is the process's (the app, its SQLite thread, the test client; not PostgreSQL's server): on a
    machine shared with other work it moves far less than wall time does.

    A case: {"name", "query", "variables", "token"}, and optionally "count": [path..., n], the length
    the answer's list at that path must have.
    """
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as spec:
        json.dump({"code": str(code), "url": url, "cases": cases, "runs": runs}, spec)
    done = subprocess.run([sys.executable, __file__, spec.name], capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"measuring {code} failed:\n{done.stderr[-3000:]}")
    return {
        name: (wall, cpu) for name, (wall, cpu) in json.loads(done.stdout.strip().splitlines()[-1]).items()
    }


async def _measure(code: str, url: str, cases: list[dict[str, Any]], runs: int) -> dict[str, list[float]]:
    sys.path.insert(0, code)
    from litestar.testing import AsyncTestClient

    from app.asgi import create_app
    from app.settings import Settings

    settings = Settings(database_url=url, jobs_enabled=False, log_level="WARNING", graphql_ide=False)
    figures = {}
    async with AsyncTestClient(create_app(settings)) as client:
        for case in cases:
            headers = {"Authorization": f"Bearer {case['token']}"}
            body = {"query": case["query"], "variables": case["variables"]}
            times, cpu = [], []
            for n in range(runs + 1):
                started, cpu_started = time.perf_counter(), time.process_time()
                answer = (await client.post("/graphql", json=body, headers=headers)).json()
                if n:  # the first one warms the caches up
                    times.append((time.perf_counter() - started) * 1000)
                    cpu.append((time.process_time() - cpu_started) * 1000)
                assert not answer.get("errors"), answer["errors"]
                if "count" in case:
                    *path, length = case["count"]
                    found = answer["data"]
                    for step in path:
                        found = found[step]
                    assert len(found) == length, (case["name"], len(found))
            figures[case["name"]] = [statistics.median(times), statistics.median(cpu)]
    return figures


if __name__ == "__main__":
    spec = json.loads(Path(sys.argv[1]).read_text())
    print(json.dumps(asyncio.run(_measure(spec["code"], spec["url"], spec["cases"], spec["runs"]))))
