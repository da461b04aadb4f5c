"""Relay connections over a database query, paged by keyset: a cursor holds the last row's sort key and id.

Unlike OFFSET, a page starts right after the row its cursor names, so rows inserted meanwhile (newest
first, as the ledger grows) neither shift nor repeat what the client has seen, and page 1,000 costs what
page 1 costs (an index range scan instead of skipping rows).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Awaitable, Callable, Hashable, Iterable, Sequence
from datetime import datetime
from typing import Any

import strawberry
from graphql import GraphQLError
from sqlalchemy import Select, and_, func, literal, or_, select, tuple_
from sqlalchemy.sql import operators
from sqlalchemy.sql.elements import ColumnElement, UnaryExpression
from strawberry import relay
from strawberry.relay.types import NodeType

from app.graphql.context import Info
from app.graphql.loaders import PartRequest

CURSOR_PREFIX = "keyset:"


class QueryPage:
    """A query ordered by a unique sort key (ending in the id), with the mapping of a row to its node."""

    def __init__(
        self,
        info: Info,
        query: Select[Any],
        to_node: Callable[[Any], Any] | None = None,
        *,
        to_nodes: Callable[[list[Any]], Awaitable[list[Any]]] | None = None,
    ) -> None:
        """`to_node` maps a row; `to_nodes` maps a page's rows at once (what they need loaded together)."""
        assert (to_node is None) != (to_nodes is None), "give to_node or to_nodes"
        self._info, self._query = info, query
        self._to_nodes = to_nodes or (lambda rows: _mapped(to_node, rows))
        # (column, descending) for each ORDER BY term; the cursor stores the row's values of them
        self._keys: list[tuple[Any, bool]] = [
            (term.element, term.modifier is operators.desc_op)
            if isinstance(term, UnaryExpression)
            else (term, False)
            for term in query._order_by_clauses
        ]

    def cursor(self, row: Any) -> str:
        """The opaque cursor of a row: its sort key values, JSON in base64."""
        values = [_encode(getattr(row, column.key)) for column, _ in self._keys]
        return base64.b64encode((CURSOR_PREFIX + json.dumps(values)).encode()).decode()

    def _key_of(self, cursor: str, argument: str) -> list[Any]:
        try:
            text = base64.b64decode(cursor, validate=True).decode()
            values = json.loads(text.removeprefix(CURSOR_PREFIX)) if text.startswith(CURSOR_PREFIX) else None
        except (binascii.Error, UnicodeDecodeError, json.JSONDecodeError):
            values = None
        if not isinstance(values, list) or len(values) != len(self._keys):
            raise GraphQLError(
                f"`{argument}`: this cursor is not one this list gave out: page from `endCursor`/`startCursor`."
            )
        try:
            return [_decode(value) for value in values]
        except (TypeError, ValueError):
            raise GraphQLError(f"`{argument}`: this cursor is not one this list gave out.") from None

    def _beyond(self, cursor: str, *, forward: bool) -> ColumnElement[bool]:
        """Rows after the cursor's row in the list's order (before it when not `forward`)."""
        key = self._key_of(cursor, "after" if forward else "before")
        columns = [column for column, _ in self._keys]
        values = [literal(value, type_=column.type) for value, column in zip(key, columns, strict=True)]
        directions = {descending for _, descending in self._keys}
        if len(directions) == 1:  # one row-value comparison, which an index on the sort key serves
            return (
                tuple_(*columns) < tuple_(*values)
                if directions == {forward}
                else tuple_(*columns) > tuple_(*values)
            )
        alternatives = []
        for i, (column, descending) in enumerate(self._keys):
            later = column < values[i] if descending == forward else column > values[i]
            alternatives.append(and_(*[c == values[j] for j, c in enumerate(columns[:i])], later))
        return or_(*alternatives)

    async def connection(
        self,
        connection_type: type[relay.ListConnection[Any]],
        *,
        after: str | None,
        before: str | None,
        first: int | None,
        last: int | None,
        max_results: int,
    ) -> relay.ListConnection[Any]:
        """One page: at most `first` rows after `after`, or the `last` rows before `before`."""
        if (first is not None and first < 0) or (last is not None and last < 0):
            raise GraphQLError("`first` and `last` must not be negative.")
        backwards = last is not None and first is None
        size = min(max_results, (last if backwards else first) or max_results)
        query = self._query
        if after is not None:
            query = query.where(self._beyond(after, forward=True))
        if before is not None:
            query = query.where(self._beyond(before, forward=False))
        if backwards:
            query = query.order_by(None).order_by(
                *[column.asc() if descending else column.desc() for column, descending in self._keys]
            )
        rows = await self._rows(query, size + 1, window=(after, before, size, backwards))
        more, rows = len(rows) > size, rows[:size]
        if backwards:
            rows.reverse()
        nodes = await self._to_nodes(rows)
        edges = [
            relay.Edge(cursor=self.cursor(row), node=node) for row, node in zip(rows, nodes, strict=True)
        ]
        connection = connection_type(
            edges=edges,
            page_info=relay.PageInfo(
                has_next_page=before is not None if backwards else more,
                has_previous_page=more if backwards else after is not None,
                start_cursor=edges[0].cursor if edges else None,
                end_cursor=edges[-1].cursor if edges else None,
            ),
        )
        connection.count = self.count  # type: ignore[attr-defined]
        return connection

    async def _rows(self, query: Select[Any], limit: int, *, window: Hashable) -> list[Any]:
        """The page's rows (`limit` at most) of the query with the page's conditions and order."""
        session = await self._info.context.session()
        return list((await session.scalars(query.limit(limit))).all())

    async def count(self) -> int:
        """How many rows the whole list holds (its filters applied), asked only when a client wants it."""
        session = await self._info.context.session()
        total = await session.scalar(select(func.count()).select_from(self._query.order_by(None).subquery()))
        return total or 0


class PartitionedPage(QueryPage):
    """A list that is one partition of a query, such as one project's keys among all keys.

    The lists of the same field on a page (each project of a page of projects) are read together: one
    statement keeps each partition's first rows (ROW_NUMBER() OVER (PARTITION BY ...)), so their cost
    does not grow with the projects, and none is read beyond its page.
    """

    def __init__(
        self,
        info: Info,
        query: Select[Any],
        to_node: Callable[[Any], Any],
        *,
        column: Any,
        value: Any,
        batch: Hashable,
    ) -> None:
        """`query` spans every partition; `batch` names it (with its filters), for the lists read together."""
        super().__init__(info, query, to_node)
        self._column, self._value, self._batch = column, value, batch

    def _part(self, batch: Hashable, query: Select[Any], limit: int | None) -> Awaitable[Any]:
        assert self._info.context.loaders
        return self._info.context.loaders.partitions.load(
            PartRequest(batch, self._value, query=query, column=self._column, limit=limit)
        )

    async def _rows(self, query: Select[Any], limit: int, *, window: Hashable) -> list[Any]:
        return list(await self._part((self._batch, window, limit), query, limit))

    async def count(self) -> int:
        return int(await self._part((self._batch, "count"), self._query, None))


def _constant(value: int) -> Callable[[], Awaitable[int]]:
    async def count() -> int:
        return value

    return count


async def _mapped(to_node: Any, rows: list[Any]) -> list[Any]:
    return [to_node(row) for row in rows]


def _encode(value: Any) -> Any:
    return {"t": value.isoformat()} if isinstance(value, datetime) else value


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        return datetime.fromisoformat(value["t"])
    if value is None or isinstance(value, (str, int)):
        return value
    raise TypeError(value)


@strawberry.type(name="Connection", description="A connection to a list of items.")
class KeysetConnection(relay.ListConnection[NodeType]):
    """A ListConnection that pages a QueryPage by keyset (other iterables: by offset, as before)."""

    count: strawberry.Private[Callable[[], Awaitable[int]] | None] = None

    @strawberry.field(
        description="How many items the whole list holds, its filters applied, across all pages."
    )
    async def total_count(self) -> int:
        assert self.count is not None, "every KeysetConnection is built by resolve_connection"
        return await self.count()

    @classmethod
    def resolve_connection(  # type: ignore[override]
        cls,
        nodes: Iterable[NodeType] | QueryPage,
        *,
        info: Info,
        before: str | None = None,
        after: str | None = None,
        first: int | None = None,
        last: int | None = None,
        max_results: int | None = None,
        **kwargs: Any,
    ) -> Any:
        if not isinstance(nodes, QueryPage):
            assert isinstance(nodes, Sequence), "an offset-paged list is a list, whose length is its count"
            connection = super().resolve_connection(
                nodes,
                info=info,
                before=before,
                after=after,
                first=first,
                last=last,
                max_results=max_results,
                **kwargs,
            )
            assert isinstance(connection, KeysetConnection), "a list resolves synchronously"
            connection.count = _constant(len(nodes))
            return connection
        limit = max_results if max_results is not None else info.schema.config.relay_max_results
        return nodes.connection(cls, after=after, before=before, first=first, last=last, max_results=limit)
