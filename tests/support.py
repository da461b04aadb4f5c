"""Helpers for tests: a GraphQL client as the console uses it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx


@dataclass
class GraphQL:
    """Posts GraphQL operations as the console does."""

    client: httpx.AsyncClient

    async def raw(self, query: str, variables: dict[str, Any] | None = None, token: str | None = None) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = await self.client.post("/graphql", json={"query": query, "variables": variables or {}}, headers=headers)
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    async def __call__(self, query: str, variables: dict[str, Any] | None = None, token: str | None = None) -> dict[str, Any]:
        """The `data` of an operation that must not produce top-level errors."""
        body = await self.raw(query, variables, token)
        assert not body.get("errors"), body["errors"]
        return body["data"]  # type: ignore[no-any-return]
