"""The container files, checked as far as a machine without a container engine can.

The image's start command and health check are run here from a folder holding only what the
Dockerfile copies; compose.yaml's services, settings and secrets are checked against the app's.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

import dev
from app.cli import main as cli_main
from app.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "Dockerfile").read_text()
COMPOSE = yaml.safe_load((ROOT / "compose.yaml").read_text())


def instructions(name: str) -> list[str]:
    """The arguments of every `name` instruction, continuation lines joined."""
    joined = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    return [line.split(None, 1)[1] for line in joined.splitlines() if line.startswith(name + " ")]


def test_the_image_is_multi_stage_non_root_and_installs_the_locked_dependencies() -> None:
    assert len(instructions("FROM")) >= 2
    assert instructions("USER") == ["billing"]
    [install] = [run for run in instructions("RUN") if "pip install" in run]
    assert "--require-hashes" in install and "requirements.lock" in install
    copied = {
        source for copy in instructions("COPY") for source in copy.split()[:-1] if not source.startswith("--")
    }
    assert {"requirements.lock", "app", "providers", "migrations", "alembic.ini", "plugins.toml"} <= copied
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".venv", "var", ".env", ".git"} <= set(ignored)


def test_compose_runs_two_replicas_behind_a_proxy_on_postgres_redis_and_a_mail_catcher() -> None:
    services = COMPOSE["services"]
    assert {"postgres", "redis", "mail", "migrate", "api", "proxy"} <= set(services)
    assert services["api"]["deploy"]["replicas"] == 2
    assert "api:8000" in (ROOT / "deploy" / "nginx.conf").read_text()
    proxy_mount = services["proxy"]["volumes"][0].split(":")[0]
    assert (ROOT / proxy_mount).exists()
    with pytest.raises(SystemExit):  # the one-shot migration is a real command of the CLI (--help exits)
        cli_main([*services["migrate"]["command"][3:], "--help"])


def test_compose_uses_only_documented_settings_and_the_secrets_compose_env_makes() -> None:
    environment: dict[str, Any] = COMPOSE["services"]["api"]["environment"]
    known = {name.upper() for name in Settings.model_fields}
    assert set(environment) <= known
    readme = (ROOT / "README.md").read_text()
    assert [name for name in environment if f"`{name}`" not in readme] == []
    required = set(re.findall(r"\$\{(\w+):\?", (ROOT / "compose.yaml").read_text()))
    made = {line.split("=", 1)[0] for line in dev.compose_env().splitlines()}
    assert required == made
    Settings(**{name.lower(): value for name, value in environment.items() if "${" not in str(value)})


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_image_s_command_serves_and_passes_its_health_check(tmp_path: Path) -> None:
    image = tmp_path / "srv"
    image.mkdir()
    for copy in instructions("COPY"):
        if "--from=" in copy:  # the build stage's virtual environment: this test runs in the locked one
            continue
        *sources, _ = copy.split()
        for source in sources:
            if source.startswith("--") or source == "requirements.lock":
                continue
            path = ROOT / source
            target = image / source
            if path.is_dir():
                shutil.copytree(path, target, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy(path, target)
    port = str(free_port())
    command = [part.replace("8000", port) for part in json.loads(instructions("CMD")[0])]
    health = json.loads(instructions("HEALTHCHECK")[0].split("CMD ", 1)[1].replace("8000", port))
    assert command[:3] == ["python", "-m", "app.cli"] and health[0] == "python"
    env = {
        "PATH": os.environ["PATH"],
        "LOG_FORMAT": "json",
        "DATABASE_URL": f"sqlite+aiosqlite:///{image / 'var' / 'billing.sqlite3'}",
        "FLEET_TOKEN": "container-test-token",
        "JOBS_ENABLED": "false",
    }
    server = subprocess.Popen(
        [sys.executable, *command[1:]],
        cwd=image,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while subprocess.run(
            [sys.executable, *health[1:]], cwd=image, env=env, capture_output=True
        ).returncode:
            assert server.poll() is None, server.communicate()[1]
            assert time.monotonic() < deadline, "the health check never passed"
            time.sleep(0.5)
    finally:
        server.send_signal(signal.SIGTERM)
        _, errors = server.communicate(timeout=30)
    assert server.returncode in (0, -signal.SIGTERM), errors  # uvicorn re-raises the signal once shut down
    logged = [json.loads(line) for line in errors.splitlines() if line.startswith("{")]
    assert any(line["logger"] == "app.access" and line["path"] == "/healthz" for line in logged)
    assert any(line["logger"].startswith("uvicorn") for line in logged)  # the server's own lines in JSON too
