"""Schemathesis hooks (SCHEMATHESIS_HOOKS=tests.fuzz.hooks): GraphQL's internal errors count as failures.

A GraphQL server answers 200 even when a resolver crashed; the masked error carries the code
INTERNAL_SERVER_ERROR. That is a server error as much as a 500 is. (Schemathesis's own GraphQL
check counts every top-level error, a malformed ID the client sent included: too wide here.)
"""

from __future__ import annotations

from typing import Any

import schemathesis


@schemathesis.check
def no_internal_graphql_error(ctx: Any, response: Any, case: Any) -> bool | None:
    """No 5xx, and no top-level GraphQL error is an internal one."""
    if response.status_code >= 500:
        raise AssertionError(f"Server error {response.status_code}: {response.text[:500]}")
    if "json" not in response.headers.get("content-type", [""])[0]:
        return None
    try:
        body = response.json()
    except ValueError:
        return None
    errors = body.get("errors") if isinstance(body, dict) else None
    for error in errors or ():
        if (error.get("extensions") or {}).get("code") == "INTERNAL_SERVER_ERROR":
            raise AssertionError(f"Internal server error: {error.get('message')}")
    return None
