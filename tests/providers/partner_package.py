"""The partner's provider package (examples/partner-provider), installed for a test as a partner would.

``pip install`` builds it from a copy of its source (so that no build files land in the repository)
into a folder of its own, offline, instead of into the virtual environment: other test runs sharing
the environment never see it, and a test makes it visible by putting the folder on ``sys.path``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[2] / "examples" / "partner-provider"
PARTNER_ENV = {"ACME_WEBHOOK_SECRET": "acme-test-webhook-secret"}
PARTNER_PLUGINS_TOML = """
[payments]
provider = "acme"
timeout_seconds = 5

[providers.acme]
refund_limit_cents = 1000
"""


def install_partner_package(workdir: Path) -> Path:
    """pip-install the package into workdir/site (no index, no dependencies); gives that folder."""
    source, site = workdir / "source", workdir / "site"
    shutil.copytree(SOURCE, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    command = [
        sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
        "--no-index", "--no-deps", "--no-build-isolation", "--target", str(site), str(source),
    ]  # fmt: skip
    completed = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if completed.returncode != 0:
        raise RuntimeError(
            f"pip could not install the partner package:\n{completed.stdout}{completed.stderr}"
        )
    return site
