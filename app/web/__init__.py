"""The web pages the app serves itself, so they work without internet: the console, GraphiQL, the API reference.

Every asset comes from ``static/`` (third-party files pinned under ``static/vendor/<package>-<version>/``
with their licenses, taken from the npm registry's tarballs); no page loads anything from another origin.
"""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path
from typing import Any

from litestar import Request, Response, get
from litestar.datastructures import CacheControlHeader
from litestar.enums import MediaType
from litestar.openapi.plugins import RedocRenderPlugin
from litestar.static_files import create_static_files_router
from litestar.types import ControllerRouterHandler

WEB = Path(__file__).resolve().parent
STATIC = WEB / "static"
VENDOR = "/static/vendor"
REDOC_JS = f"{VENDOR}/redoc-2.5.4/redoc.standalone.js"
FAVICON = "<link rel='icon' type='image/svg+xml' href='/static/console/favicon.svg'>"
GRAPHIQL_HTML = (WEB / "graphiql.html").read_text(encoding="utf-8")
CONSOLE_HTML = (STATIC / "console" / "index.html").read_bytes()

# The console's page may run only its own files and its import map, and talk only to its origin: an
# injected script could not run, nor send the session token elsewhere. (uPlot sets inline styles.)
_IMPORT_MAP = re.search(rb'<script type="importmap">(.*?)</script>', CONSOLE_HTML, re.S)
assert _IMPORT_MAP, "the console's page has lost its import map"
CONSOLE_POLICY = (
    "default-src 'self'; "
    f"script-src 'self' 'sha256-{base64.b64encode(hashlib.sha256(_IMPORT_MAP.group(1)).digest()).decode()}'; "
    "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
# the console's own files change with each release under the same names: browsers revalidate them
CONSOLE_HEADERS = {"cache-control": "no-cache", "content-security-policy": CONSOLE_POLICY}

# the paths the console's single page answers; the email link to an invitation is one of them
CONSOLE_PATHS = ["/", "/invitations/accept"]


@get(CONSOLE_PATHS, include_in_schema=False, sync_to_thread=False)
def console_page() -> Response[bytes]:
    """The console's page: a single-page app of ES modules talking GraphQL."""
    return Response(CONSOLE_HTML, media_type=MediaType.HTML, headers=CONSOLE_HEADERS)


def web_routes() -> list[ControllerRouterHandler]:
    """The console's page and every static asset (the console's, GraphiQL's and Redoc's)."""
    static = create_static_files_router(
        path="/static",
        directories=[STATIC],
        include_in_schema=False,
        cache_control=CacheControlHeader(no_cache=True),
    )
    return [console_page, static]


class OfflineRedoc(RedocRenderPlugin):
    """Redoc from the app, no web fonts, no favicon from a CDN.

    Redoc's sidebar always shows Redocly's logo from cdn.redoc.ly; an image policy of this origin keeps
    the browser from asking for it (the image hides itself when refused; the text link stays).
    """

    IMAGE_POLICY = b"<head><meta http-equiv='Content-Security-Policy' content=\"img-src 'self' data: blob:\">"

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        return super().render(request, openapi_schema).replace(b"<head>", self.IMAGE_POLICY, 1)


def openapi_render_plugins() -> list[RedocRenderPlugin]:
    """The API reference at /schema (and /schema/redoc), rendered by the pinned Redoc."""
    return [OfflineRedoc(js_url=REDOC_JS, google_fonts=False, favicon=FAVICON, path="/redoc")]


def offline_graphiql(controller: type[Any]) -> type[Any]:
    """Strawberry's GraphQL controller with its GraphiQL page loading the pinned copies served here."""

    class OfflineGraphiQLController(controller):  # type: ignore[misc, valid-type]
        @property
        def graphql_ide_html(self) -> str:
            return GRAPHIQL_HTML

    return OfflineGraphiQLController
