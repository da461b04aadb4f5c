"""Schemathesis over the fleet's OpenAPI and the GraphQL schema of a served app: no server error anywhere.

The app runs as production runs it (`python -m app.cli serve --demo`: migrations, demo data,
uvicorn) on a fresh SQLite database; the GraphQL run is signed in as the demo organization's
admin. Each run is bounded in time (FUZZ_SECONDS each, 50 by default), and fails on any 5xx or
GraphQL INTERNAL_SERVER_ERROR (tests/fuzz/hooks.py).
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from app.demo import DEMO_EMAIL, DEMO_PASSWORD

ROOT = Path(__file__).resolve().parents[2]
FLEET_TOKEN = "fuzz-fleet-token"
SECONDS = os.environ.get("FUZZ_SECONDS", "50")


@dataclass
class Served:
    url: str
    api_key: str
    log: Path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("fuzz")
    plugins = folder / "plugins.toml"
    plugins.write_text(
        '[payments]\nprovider = "fake"\n\n[providers.fake]\nstate_path = "fake-provider.json"\n'
    )
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": f"sqlite+aiosqlite:///{folder / 'fuzz.sqlite3'}",
           "FLEET_TOKEN": FLEET_TOKEN, "PLUGINS_TOML": str(plugins), "JOBS_ENABLED": "false",
           "LOG_LEVEL": "WARNING", "REDIS_URL": "", "PUBLIC_URL": f"http://127.0.0.1:{port}"}  # fmt: skip
    env.pop("REDIS_URL")
    log = folder / "server.log"
    with log.open("w") as output:
        server = subprocess.Popen(
            [sys.executable, "-m", "app.cli", "serve", "--demo", "--port", str(port)],
            cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        for _ in range(300):
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            pytest.fail(f"the server did not start:\n{log.read_text()}")
        key = re.search(r"csk-\w+", log.read_text())
        assert key is not None, log.read_text()
        yield Served(url, key.group(), log)
    finally:
        server.terminate()
        server.wait(timeout=20)


def _schemathesis(
    served: Served, location: str, check: str, *options: str
) -> subprocess.CompletedProcess[str]:
    command = [str(Path(sys.executable).parent / "st"), "run", location, "--checks", check,
               "--max-time", SECONDS, "--seed", "17", "--workers", "2", "--no-color",
               "--generation-database", "none", *options]  # fmt: skip
    env = {**os.environ, "SCHEMATHESIS_HOOKS": "tests.fuzz.hooks", "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=int(SECONDS) * 3
    )


def _verdict(run: subprocess.CompletedProcess[str], served: Served) -> None:
    assert run.returncode == 0, (
        f"{run.stdout[-8000:]}\n{run.stderr[-2000:]}\nserver log:\n{served.log.read_text()[-4000:]}"
    )


def test_the_fleet_api_answers_no_server_error(served: Served) -> None:
    run = _schemathesis(
        served,
        f"{served.url}/schema/openapi.json",
        "not_a_server_error",
        "--header", f"Authorization: Bearer {FLEET_TOKEN}",
        "--include-path-regex", "^/fleet/",
        "--generation-allow-x00", "true",
    )  # fmt: skip
    _verdict(run, served)


def test_the_graphql_api_answers_no_server_error(served: Served) -> None:
    signed_in = httpx.post(
        f"{served.url}/graphql",
        json={"query": "mutation($e: String!, $p: String!) { signIn(input: {email: $e, password: $p}) "
                       "{ ... on SessionPayload { token } } }",
              "variables": {"e": DEMO_EMAIL, "p": DEMO_PASSWORD}},
    )  # fmt: skip
    token = signed_in.json()["data"]["signIn"]["token"]
    run = _schemathesis(
        served,
        f"{served.url}/graphql",
        "no_internal_graphql_error",
        "--header", f"Authorization: Bearer {token}",
        "--generation-allow-x00", "true",
    )  # fmt: skip
    _verdict(run, served)
