"""Global IDs in mutation inputs: decoded and checked against the type they must name."""

from __future__ import annotations

from strawberry import relay

from app.domain.errors import NotFound


def node_id(global_id: relay.GlobalID, type_name: str, field: str) -> str:
    """The database id inside a global ID of ``type_name``; another type's ID is simply not found."""
    if global_id.type_name != type_name:
        raise NotFound(f"No {type_name} with this ID is visible to you.", field=field)
    return global_id.node_id


def org_id(global_id: relay.GlobalID) -> str:
    """The organization id inside an input's ``organizationId``."""
    return node_id(global_id, "Organization", "organizationId")
