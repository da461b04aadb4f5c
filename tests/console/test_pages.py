"""The pages the app serves for browsers load every file from the app: console, GraphiQL, API reference."""

from __future__ import annotations

import base64
import gzip
import hashlib
import re
from pathlib import Path

import httpx
import pytest

from app.cli import served_url
from app.web import STATIC

HTML = {"accept": "text/html"}
ATTRIBUTE = re.compile(r"""\b(?:src|href)\s*=\s*["']([^"']+)["']""")
TAG_WITH_INTEGRITY = re.compile(r"<(?:script|link)\b[^>]*>", re.S)
IMPORT = re.compile(r"""(?:^|\n)\s*(?:import|export)\b[^"';]*?from\s+["']([^"']+)["']""")
IMPORT_MAP = re.compile(r'<script type="importmap">(.*?)</script>', re.S)
CONSOLE_JS_BUDGET = 250_000  # bytes of JavaScript, gzip-compressed, GraphiQL aside


@pytest.fixture
def backend() -> str:
    """These pages need no particular database: SQLite only."""
    return "sqlite"


async def assert_served_locally(client: httpx.AsyncClient, page: str) -> list[str]:
    """Every src/href of the page is a path of this app that answers 200; returns them."""
    urls = [url for url in ATTRIBUTE.findall(page) if not url.startswith(("data:", "#"))]
    assert urls
    outside = [url for url in urls if not url.startswith("/")]
    assert outside == [], f"the page loads files from elsewhere: {outside}"
    for url in urls:
        answer = await client.get(url)
        assert answer.status_code == 200, url
    return urls


async def test_graphiql_loads_its_pinned_files_from_the_app(client: httpx.AsyncClient) -> None:
    page = await client.get("/graphql", headers=HTML)
    assert page.status_code == 200
    assert "unpkg.com" not in page.text
    urls = await assert_served_locally(client, page.text)
    assert len([u for u in urls if u.startswith("/static/vendor/")]) == 7
    # the files are the very ones Strawberry pins: each matches its Subresource Integrity hash
    for tag in TAG_WITH_INTEGRITY.findall(page.text):
        url = ATTRIBUTE.search(tag)
        integrity = re.search(r'integrity="sha384-([^"]+)"', tag)
        if url and integrity:
            body = (await client.get(url.group(1))).content
            assert base64.b64encode(hashlib.sha384(body).digest()).decode() == integrity.group(1), url.group(
                1
            )
    assert "Authorization" in page.text and "Bearer" in page.text  # how to send the session token


async def test_api_reference_renders_with_redoc_from_the_app(client: httpx.AsyncClient) -> None:
    for path in ("/schema", "/schema/redoc"):
        page = await client.get(path, headers=HTML)
        assert page.status_code == 200, path
        assert "fonts.googleapis.com" not in page.text and "cdn." not in page.text.split("<body")[0]
        urls = await assert_served_locally(client, page.text.split("<body")[0])
        assert "/static/vendor/redoc-2.5.4/redoc.standalone.js" in urls
        # Redoc's sidebar logo is hard-wired to a CDN: the page's image policy refuses it
        assert "img-src 'self' data: blob:" in page.text


async def test_console_page_answers_at_the_root_and_at_the_invitation_link(client: httpx.AsyncClient) -> None:
    root = await client.get("/", headers=HTML)
    link = await client.get("/invitations/accept?token=abc", headers=HTML)
    reset = await client.get("/reset-password?token=abc", headers=HTML)  # the password-reset email's link
    assert root.status_code == link.status_code == reset.status_code == 200
    assert reset.text == root.text
    assert root.headers["content-type"].startswith("text/html")
    assert root.text == link.text
    await assert_served_locally(client, root.text)
    policy = root.headers["content-security-policy"]
    assert (
        "default-src 'self'" in policy
        and "connect-src 'self';" in policy
        and "'unsafe-inline'" not in policy.split("style-src")[0]
    )
    # the fake provider's form is the console's own: no other origin is named (Stripe's only with Stripe,
    # tests/console/test_stripe_elements.py)
    assert "https:" not in policy and "frame-src" not in policy


def console_modules(index: str) -> dict[str, bytes]:
    """Every JavaScript file the console's page loads: its modules, their imports, the import map's files."""
    import json

    imports: dict[str, str] = json.loads(IMPORT_MAP.search(index).group(1))["imports"]  # type: ignore[union-attr]
    pending = [url for url in ATTRIBUTE.findall(index) if url.endswith(".js")] + list(imports.values())
    found: dict[str, bytes] = {}
    while pending:
        url = pending.pop()
        if url in found:
            continue
        path = STATIC / url.removeprefix("/static/")
        found[url] = path.read_bytes()
        for name in IMPORT.findall(found[url].decode()):
            target = imports.get(name) or "/static/" + str(
                path.parent.joinpath(name).resolve().relative_to(STATIC)
            )
            pending.append(target)
    return found


def test_console_javascript_stays_small() -> None:
    modules = console_modules((STATIC / "console" / "index.html").read_text())
    assert (
        "/static/console/js/screens/usage.js" in modules
        and "/static/vendor/uplot-1.6.32/uPlot.esm.js" in modules
    )
    compressed = sum(len(gzip.compress(body, 9)) for body in modules.values())
    assert compressed < CONSOLE_JS_BUDGET, f"{compressed} bytes of gzip-compressed JavaScript"


def test_console_files_name_no_other_origin() -> None:
    for path in (STATIC / "console").rglob("*"):
        if path.is_file() and path.suffix in {".js", ".css", ".html"}:
            text = path.read_text()
            assert not re.search(r"https?://", text), path


def test_every_vendored_package_keeps_its_license() -> None:
    roots = [STATIC / "vendor", Path(__file__).parent / "vendor"]
    packages = [p for root in roots for p in root.iterdir() if p.is_dir()]
    assert len(packages) == 10
    for package in packages:
        assert (package / "LICENSE").is_file(), package
        assert re.search(r"-\d+\.\d+\.\d+$", package.name), (
            f"{package.name}: pin the version in the folder name"
        )


@pytest.mark.parametrize(
    ("host", "port", "url"),
    [
        ("127.0.0.1", 9000, "http://127.0.0.1:9000"),
        ("0.0.0.0", 8080, "http://localhost:8080"),
        ("::", 8000, "http://localhost:8000"),
        ("::1", 8001, "http://[::1]:8001"),
        ("console.internal", 80, "http://console.internal:80"),
    ],
)
def test_public_url_follows_the_served_host_and_port(host: str, port: int, url: str) -> None:
    assert served_url(host, port) == url
