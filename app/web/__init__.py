"""The web pages the app serves itself, so they work without internet: the console, GraphiQL, the API reference.

Every asset comes from ``static/`` (third-party files pinned under ``static/vendor/<package>-<version>/``
with their licenses, taken from the npm registry's tarballs); no page loads anything from another origin,
except the payment provider's own card form where the provider requires it (Stripe.js, only while Stripe
is the provider: see ``console_policy``).
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

from app.domain.accounts.recovery import RESET_PATH
from app.payments.types import PaymentUi

WEB = Path(__file__).resolve().parent
STATIC = WEB / "static"
VENDOR = "/static/vendor"
REDOC_JS = f"{VENDOR}/redoc-2.5.4/redoc.standalone.js"
FAVICON = "<link rel='icon' type='image/svg+xml' href='/static/console/favicon.svg'>"
GRAPHIQL_HTML = (WEB / "graphiql.html").read_text(encoding="utf-8")
CONSOLE_HTML = (STATIC / "console" / "index.html").read_bytes()

# The console's page may run only its own files and its import map, and talk only to its origin: an
# injected script could not run, nor send the session token elsewhere. (uPlot sets inline styles.)
# The one exception is the payment provider's own card form, when the provider has one that must load
# from the provider (Stripe.js): its script, frame and API origins, and only while that provider is active.
_IMPORT_MAP = re.search(rb'<script type="importmap">(.*?)</script>', CONSOLE_HTML, re.S)
assert _IMPORT_MAP, "the console's page has lost its import map"
_IMPORT_MAP_HASH = f"'sha256-{base64.b64encode(hashlib.sha256(_IMPORT_MAP.group(1)).digest()).decode()}'"

# the paths the console's single page answers; the email links to an invitation and to a password reset too
CONSOLE_PATHS = ["/", "/invitations/accept", RESET_PATH]


def console_policy(ui: PaymentUi) -> str:
    """The console page's Content-Security-Policy: this origin, plus the payment provider's UI if it has one."""

    def sources(*extra: str) -> str:
        return " ".join(("'self'", *extra))

    frames = f"frame-src {sources(*ui.frame_origins)}; " if ui.frame_origins else ""
    return (
        "default-src 'self'; "
        f"script-src {sources(_IMPORT_MAP_HASH, *ui.script_origins)}; "
        "style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
        f"connect-src {sources(*ui.connect_origins)}; {frames}"
        "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
    )


def web_routes(payment_ui: PaymentUi) -> list[ControllerRouterHandler]:
    """The console's page (its policy allowing the payment provider's UI) and every static asset."""
    # the console's own files change with each release under the same names: browsers revalidate them
    headers = {"cache-control": "no-cache", "content-security-policy": console_policy(payment_ui)}

    @get(CONSOLE_PATHS, include_in_schema=False, sync_to_thread=False)
    def console_page() -> Response[bytes]:
        """The console's page: a single-page app of ES modules talking GraphQL."""
        return Response(CONSOLE_HTML, media_type=MediaType.HTML, headers=headers)

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
