"""Node lookups by global ID: each one access-checked, what the viewer may not see is null."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from app.domain.errors import DomainError
from app.graphql.context import Info


async def visible_nodes(info: Info, lookup: Any, node_ids: Iterable[str], required: bool) -> list[Any]:
    """Resolve nodes one by one through an access-checked lookup; what is not visible is None."""
    if info.context.user is None:
        return [None for _ in node_ids]
    actor = info.context.actor()
    session = await info.context.session()
    result = []
    for node_id in node_ids:
        try:
            result.append(await lookup(session, actor, node_id))
        except DomainError:
            result.append(None)
    return result
