"""Relay connections over a database query: only the requested page is read (LIMIT/OFFSET)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

from sqlalchemy import Select

from app.graphql.context import Info


class QueryPage:
    """A query that `relay.ListConnection` slices: each slice is one LIMIT/OFFSET read, mapped to GraphQL objects."""

    def __init__(self, info: Info, query: Select[Any], to_node: Callable[[Any], Any]) -> None:
        self._info, self._query, self._to_node = info, query, to_node

    def __getitem__(self, window: slice) -> AsyncIterator[Any]:
        return self._read(window.start or 0, window.stop)

    def __aiter__(self) -> AsyncIterator[Any]:
        return self._read(0, None)

    async def _read(self, start: int, stop: int | None) -> AsyncIterator[Any]:
        query = self._query.offset(start)
        if stop is not None:
            query = query.limit(max(stop - start, 0))
        session = await self._info.context.session()
        for row in (await session.scalars(query)).all():
            yield self._to_node(row)
