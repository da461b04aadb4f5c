#!/usr/bin/env python3
"""Set up the virtual environment (once, and again when pyproject.toml changes), then run a command in it.

python3 dev.py serve    # migrations, demo data, API + GraphiQL at http://127.0.0.1:8000/graphql
python3 dev.py test     # the test suite (extra arguments go to pytest)
python3 dev.py check    # the house style: ruff format, ruff check, mypy (what CI runs before the tests)
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / "python"


def ensure_venv() -> None:
    stamp = VENV / ".installed"
    wanted = hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()
    if stamp.exists() and stamp.read_text() == wanted:
        return
    if not PYTHON.exists():
        print("Creating the virtual environment in .venv …", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    print("Installing the dependencies (first run only) …", flush=True)
    subprocess.run([PYTHON, "-m", "pip", "install", "--quiet", "--upgrade", "pip"], check=True)
    subprocess.run([PYTHON, "-m", "pip", "install", "--quiet", "-e", f"{ROOT}[test]"], check=True)
    stamp.write_text(wanted)


def main() -> int:
    if sys.version_info < (3, 11):  # noqa: UP036  (this script must explain itself on an old Python)
        sys.exit("Python 3.11 or newer is needed.")
    if len(sys.argv) < 2 or sys.argv[1] not in {"serve", "test", "check"}:
        sys.exit(__doc__)
    ensure_venv()
    command, extra = sys.argv[1], sys.argv[2:]
    os.chdir(ROOT)
    if command == "serve":
        return subprocess.call([PYTHON, "-m", "app.cli", "serve", "--demo", *extra])
    if command == "check":
        for tool in (["ruff", "format", "--check", "."], ["ruff", "check", "."], ["mypy"]):
            if subprocess.call([PYTHON, "-m", *tool]) != 0:
                return 1
        return 0
    return subprocess.call([PYTHON, "-m", "pytest", *extra])


if __name__ == "__main__":
    sys.exit(main())
