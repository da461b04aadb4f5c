#!/usr/bin/env python3
"""Benchmark of the console's screens on the demo data, in the system's Chromium.

    .venv/bin/python bench/console.py [--rounds 5]

It serves the app as `python -m app.cli serve` does (fresh SQLite, the demo data), signs in as the
demo admin, and opens each screen by its address in a fresh page (a cold start of the single-page
app each time, files from the browser's cache after the first round). For each screen it prints the
median over the rounds of: first contentful paint, and the time until the screen shows its data (no
loading notice left), both from the start of navigation, in milliseconds.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.demo import DEMO_EMAIL, DEMO_PASSWORD  # noqa: E402
from tests.console.browser import CHROMIUM, run_server  # noqa: E402

SCREENS = [
    "usage",
    "projects",
    "keys",
    "members",
    "invites",
    "billing/overview",
    "billing/paygo",
    "billing/subscriptions",
    "billing/payment",
    "settings",
]
# resolves with the moment the screen shows its heading and no loading notice (observed in the page)
READY = """() => new Promise((resolve) => {
  const done = () => document.querySelector("main h1") && !document.querySelector(".loading");
  if (done()) return resolve(performance.now());
  new MutationObserver((_, observer) => {
    if (done()) { observer.disconnect(); resolve(performance.now()); }
  }).observe(document, { subtree: true, childList: true });
})"""
PAINT = "performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? null"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as workdir, sync_playwright() as playwright:
        servers = run_server(Path(workdir), setup=("seed-demo",))
        server = next(servers)
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        context = browser.new_context(base_url=server.url)
        page = context.new_page()
        page.goto("/")
        page.get_by_label("Email").fill(DEMO_EMAIL)
        page.get_by_label("Password").fill(DEMO_PASSWORD)
        page.get_by_role("button", name="Sign in").click()
        page.get_by_role("navigation", name="Console").wait_for()
        org = page.url.split("#/o/")[1].split("/")[0]
        paint: dict[str, list[float]] = {screen: [] for screen in SCREENS}
        ready: dict[str, list[float]] = {screen: [] for screen in SCREENS}
        for _ in range(args.rounds):
            for screen in SCREENS:
                fresh = context.new_page()
                fresh.goto(f"/#/o/{org}/{screen}")
                ready[screen].append(fresh.evaluate(READY))
                paint[screen].append(fresh.evaluate(PAINT))
                fresh.close()
        browser.close()
        next(servers, None)
    print(f"console screens on the demo, median of {args.rounds} cold page loads (ms from navigation start)")
    print(f"{'screen':<24}{'first paint':>12}{'data shown':>12}")
    for screen in SCREENS:
        print(
            f"{screen:<24}{statistics.median(paint[screen]):>12.0f}{statistics.median(ready[screen]):>12.0f}"
        )


if __name__ == "__main__":
    main()
