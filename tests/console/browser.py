"""Browser tests' machinery: the app as a real server process, the system's Chromium, visitors whose requests are recorded.

Chromium comes from the system (`apt-get install chromium`), never from a Playwright download. Without
it the browser tests are skipped, unless REQUIRE_BROWSER=1 (CI) makes its absence a failure.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller

from app.settings import REPO_ROOT
from tests.mail_server import Inbox, free_port, text_of

CHROMIUM = Path(os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium"))
REQUIRE_BROWSER = os.environ.get("REQUIRE_BROWSER") == "1"
AXE = Path(__file__).parent / "vendor" / "axe-core-4.14.1" / "axe.min.js"
SHOTS = Path(__file__).parent / "screenshots"
FLEET_TOKEN = "console-fleet-token"
STAFF_EMAIL, STAFF_PASSWORD = "support@cloud.example", "support-password-42"
# axe's impact levels that fail a screen
BLOCKING = ("serious", "critical")


def chromium_or_skip() -> None:
    """Skip (or fail, with REQUIRE_BROWSER=1) when Playwright or the system's Chromium is missing."""
    problem = None
    try:
        import playwright  # noqa: F401
    except ImportError:
        problem = "Playwright for Python is not installed (pip install -e '.[test]')"
    if problem is None and not CHROMIUM.exists():
        problem = f"no Chromium at {CHROMIUM} (apt-get install -y chromium, or set CHROMIUM_PATH)"
    if problem and REQUIRE_BROWSER:
        pytest.fail(f"REQUIRE_BROWSER=1 but {problem}")
    if problem:
        pytest.skip(problem)


@dataclass
class Server:
    """The app served by uvicorn in its own process, as `python -m app.cli serve` runs it."""

    url: str
    inbox: Inbox
    log: Path

    def invitation_link(self, address: str, timeout: float = 15) -> str:
        """The accept link of the latest invitation mailed to the address (waits for the mail worker)."""
        return self.mailed_link(address, "/invitations/accept", timeout)

    def mailed_link(self, address: str, path: str, timeout: float = 15) -> str:
        """The link to `path` (with its token) in the latest email to the address that has one."""
        link = re.compile(re.escape(self.url + path) + r"\?token=[A-Za-z0-9_\-%]+")
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for message in reversed(self.inbox.to(address)):
                found = link.search(text_of(message))
                if found:
                    return found.group(0)
            time.sleep(0.1)
        raise AssertionError(
            f"no {path} link mailed to {address}; mail: {[m['To'] for m in self.inbox.messages]}"
        )

    def graphql(self, query: str, variables: dict[str, Any], token: str | None = None) -> dict[str, Any]:
        headers = {"authorization": f"Bearer {token}"} if token else {}
        answer = httpx.post(
            f"{self.url}/graphql", json={"query": query, "variables": variables}, headers=headers
        )
        body = answer.json()
        assert "errors" not in body, body
        return body["data"]

    def fleet(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        answer = httpx.post(
            f"{self.url}/fleet/v1/{path}", json=body, headers={"authorization": f"Bearer {FLEET_TOKEN}"}
        )
        assert answer.status_code == 200, answer.text
        return answer.json()


FAKE_PLUGINS_TOML = '[payments]\nprovider = "fake"\n\n[providers.fake]\nstate_path = "fake-provider.json"\n'


def run_server(
    workdir: Path,
    setup: tuple[str, ...] = (),
    *,
    plugins_toml: str = FAKE_PLUGINS_TOML,
    environment: dict[str, str] | None = None,
) -> Iterator[Server]:
    """Migrate a fresh SQLite database, create a staff user, serve on a free port; stop at the end.

    `setup` names more CLI commands to run before serving (e.g. "seed-demo"); `plugins_toml` chooses the
    payment provider (the fake one by default), `environment` adds variables (e.g. the provider's secrets).
    """
    inbox = Inbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    plugins = workdir / "plugins.toml"
    plugins.write_text(plugins_toml)
    env = {
        **{k: v for k, v in os.environ.items() if k not in {"PUBLIC_URL", "REDIS_URL", "DATABASE_URL"}},
        **(environment or {}),
        "DATABASE_URL": f"sqlite+aiosqlite:///{workdir / 'console.sqlite3'}",
        "PLUGINS_TOML": str(plugins),
        "FLEET_TOKEN": FLEET_TOKEN,
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(smtp.port),
        "MAIL_POLL_SECONDS": "0.2",
        "JOBS_ENABLED": "false",
        "LOG_LEVEL": "WARNING",
        "STAFF_PASSWORD": STAFF_PASSWORD,
    }
    cli = [sys.executable, "-m", "app.cli"]
    subprocess.run([*cli, "migrate"], env=env, cwd=REPO_ROOT, check=True, capture_output=True)
    subprocess.run(
        [*cli, "create-staff", "--email", STAFF_EMAIL],
        env=env,
        cwd=REPO_ROOT,
        check=True,
        capture_output=True,
    )
    for command in setup:
        subprocess.run([*cli, command], env=env, cwd=REPO_ROOT, check=True, capture_output=True)
    port = free_port()
    log = workdir / "server.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            [*cli, "serve", "--port", str(port)],
            env=env,
            cwd=REPO_ROOT,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, log.read_text()
            try:
                if httpx.get(f"{url}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        yield Server(url=url, inbox=inbox, log=log)
    finally:
        process.terminate()
        process.wait(timeout=30)
        smtp.stop()


@dataclass
class Visitor:
    """One person at one browser: own storage; every request recorded, any to another origin refused."""

    name: str
    page: Any
    origin: str
    outside: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    shots: int = 0

    def route(self, route: Any) -> None:
        url = route.request.url
        if url.startswith(self.origin + "/") or url.startswith("blob:" + self.origin):
            route.continue_()
        else:
            self.outside.append(url)
            route.abort()

    def settle(self) -> None:
        """Wait until the screen has its data (no loading notice left)."""
        from playwright.sync_api import expect

        self.page.wait_for_load_state("networkidle")
        try:
            # a locator, not a JavaScript predicate: the console's script policy refuses eval
            expect(self.page.locator(".loading")).to_have_count(0)
        except AssertionError as failure:
            raise AssertionError(
                f"{self.name}'s screen never finished loading: {self.page.content()}"
            ) from failure

    def screen(self, name: str, *, accessibility: bool = True) -> None:
        """A settled screen: its screenshot written, and axe's serious or critical findings asserted away."""
        self.settle()
        self.shots += 1
        SHOTS.mkdir(exist_ok=True)
        self.page.screenshot(path=SHOTS / f"{self.name}-{self.shots:02d}-{name}.png", full_page=True)
        if accessibility:
            assert_accessible(self.page, name)


def assert_accessible(page: Any, name: str) -> None:
    """axe-core (kept in the tests, evaluated in the page) finds no serious or critical violation."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        # evaluated through the debugging protocol: the console's script policy stays in force
        page.evaluate(AXE.read_text())
    violations = page.evaluate(
        """async (blocking) => (await axe.run(document, {resultTypes: ["violations"]})).violations
            .filter((v) => blocking.includes(v.impact))
            .map((v) => ({rule: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => n.target.join(" "))}))""",
        list(BLOCKING),
    )
    assert violations == [], f"{name}: {violations}"


def open_visitor(browser: Any, server: Server, name: str) -> Visitor:
    """A fresh browser context for one person, its requests routed through the recorder."""
    context = browser.new_context(base_url=server.url, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    visitor = Visitor(name=name, page=page, origin=server.url)
    context.route("**/*", visitor.route)
    page.on("pageerror", lambda error: visitor.errors.append(str(error)))
    # a refused file, a policy violation, a failed request: the browser logs each as an error
    page.on("console", lambda message: message.type == "error" and visitor.errors.append(message.text))
    page.set_default_timeout(15_000)
    return visitor
