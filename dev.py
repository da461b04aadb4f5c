#!/usr/bin/env python3
"""Set up the virtual environment from the lock file (once, and again when it changes), then run a command in it.

python3 dev.py serve    # migrations, demo data, API + GraphiQL at http://127.0.0.1:8000/graphql
python3 dev.py test     # the test suite (extra arguments go to pytest)
python3 dev.py check    # the house style: ruff format, ruff check, mypy (what CI runs before the tests)
python3 dev.py lock     # re-resolve the lock files after pyproject.toml changed (--upgrade: newest releases)
python3 dev.py compose-env > .env   # fresh secrets for compose.yaml
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / "python"
# exact versions and hashes: the runtime's (what the container image installs) and, constrained to
# the same versions, the runtime's plus the test tools' (what this script installs)
RUNTIME_LOCK = ROOT / "requirements.lock"
DEV_LOCK = ROOT / "requirements-dev.lock"
# the Python the lock is resolved for (the oldest supported); markers cover other platforms
LOCK_OPTIONS = ["--universal", "--python-version", "3.11", "--generate-hashes", "--quiet"]


def ensure_venv() -> None:
    stamp = VENV / ".installed"
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes() + DEV_LOCK.read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == wanted:
        return
    if not PYTHON.exists():
        print("Creating the virtual environment in .venv …", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    print("Installing the locked dependencies (first run only) …", flush=True)
    pip: list[str | Path] = [PYTHON, "-m", "pip", "install", "--quiet"]
    subprocess.run([*pip, "--require-hashes", "-r", DEV_LOCK], check=True)
    # the project itself, built by the locked setuptools: nothing unpinned comes in
    subprocess.run([*pip, "--no-deps", "--no-build-isolation", "-e", ROOT], check=True)
    stamp.write_text(wanted)


def lock(extra: list[str]) -> int:
    """Resolve both lock files from pyproject.toml; pins are kept unless `--upgrade` (or -P NAME) asks."""
    os.environ["UV_CUSTOM_COMPILE_COMMAND"] = "python3 dev.py lock"  # the header names the command to run
    uv: list[str | Path] = [PYTHON, "-m", "uv", "pip", "compile", "pyproject.toml", *LOCK_OPTIONS, *extra]
    if subprocess.call([*uv, "-o", RUNTIME_LOCK.name]) != 0:
        return 1
    return subprocess.call([*uv, "--extra", "test", "-c", RUNTIME_LOCK.name, "-o", DEV_LOCK.name])


def compose_env() -> str:
    """The secrets compose.yaml reads from .env, made fresh (OUTBOX_KEY is a Fernet key)."""
    values = {
        "POSTGRES_PASSWORD": secrets.token_urlsafe(24),
        "FLEET_TOKEN": secrets.token_urlsafe(32),
        "FLEET_ADMISSION_KEY": secrets.token_urlsafe(32),
        "OUTBOX_KEY": base64.urlsafe_b64encode(secrets.token_bytes(32)).decode(),
        "METRICS_TOKEN": secrets.token_urlsafe(32),
    }
    return "".join(f"{name}={value}\n" for name, value in values.items())


def main() -> int:
    if sys.version_info < (3, 11):  # noqa: UP036  (this script must explain itself on an old Python)
        sys.exit("Python 3.11 or newer is needed.")
    if len(sys.argv) < 2 or sys.argv[1] not in {"serve", "test", "check", "lock", "compose-env"}:
        sys.exit(__doc__)
    if sys.argv[1] == "compose-env":  # needs no virtual environment
        print(compose_env(), end="")
        return 0
    ensure_venv()
    command, extra = sys.argv[1], sys.argv[2:]
    os.chdir(ROOT)
    if command == "serve":
        return subprocess.call([PYTHON, "-m", "app.cli", "serve", "--demo", *extra])
    if command == "lock":
        return lock(extra)
    if command == "check":
        for tool in (["ruff", "format", "--check", "."], ["ruff", "check", "."], ["mypy"]):
            if subprocess.call([PYTHON, "-m", *tool]) != 0:
                return 1
        return 0
    return subprocess.call([PYTHON, "-m", "pytest", *extra])


if __name__ == "__main__":
    sys.exit(main())
