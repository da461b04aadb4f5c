"""One source of truth for "this organization changed": a version bumped in the changing transaction.

Whatever process commits a change to what admission depends on (a server, a job, `app.cli`, a
staff command), session events of its write sessions see the change and bump the organization's
row in `organization_version` in the same transaction, so the news is exactly as durable as the
change. Replicas learn of it through the database (PostgreSQL NOTIFY, sent by the same
transaction; on SQLite a poll of the versions) and, when configured, through the generation in
Redis that every rate-limit call checks (see directory.Directory).

What admission depends on, and so what is watched: organizations (name, type), projects (archived),
API keys (revoked), project and staff limits, subscriptions, and the credit ledger: every entry but
a usage burn that leaves the balance above zero (the fleet counts those itself, see credit.py).
ORM changes are seen at flush, ledger entries at their INSERT (a set-based write names its rows, see
credits.ledger.name_ledger_rows, read at the commit); code that writes a watched table
with another Core statement calls `note_organization` (none does today).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy import Insert, event, func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, attributes
from sqlmodel import col

from app import clock
from app.domain.api_keys.models import ApiKey
from app.domain.credits.ledger import LEDGER_ROWS
from app.domain.credits.models import CreditLedgerEntry, EntryKind
from app.domain.orgs.models import Organization
from app.domain.plans.models import ModelLimitOverride
from app.domain.projects.models import Project, ProjectRateLimit
from app.domain.subscriptions.models import Subscription
from app.fleet.models import OrganizationVersion

CHANNEL = "organization_changed"
NOTIFY_BATCH = 150  # organization ids (40 characters at most) per NOTIFY payload
CHANGED = "changed_organizations"  # session.info: ids of the organizations this transaction changed
_PROJECTS = "changed_projects"  # session.info: ids of projects whose organization is looked up at commit
_VERSIONS = OrganizationVersion.__table__  # type: ignore[attr-defined]
_LEDGER = CreditLedgerEntry.__table__  # type: ignore[attr-defined]

# class -> the attributes whose change matters to admission (None: any), and how to find the organization
_WATCHED: dict[type, tuple[frozenset[str] | None, str]] = {
    Organization: (frozenset({"name", "type"}), "id"),
    Project: (frozenset({"archived_at", "organization_id"}), "organization_id"),
    ApiKey: (frozenset({"revoked_at", "project_id", "secret_hash"}), "project_id"),
    ProjectRateLimit: (None, "project_id"),
    ModelLimitOverride: (None, "organization_id"),
    Subscription: (None, "organization_id"),
    CreditLedgerEntry: (None, "organization_id"),
}


def note_organization(session: Session, organization_id: str) -> None:
    """Record that this transaction changes the organization (for writes the events cannot see)."""
    session.info.setdefault(CHANGED, set()).add(organization_id)


def _note(session: Session, instance: Any, *, new_or_deleted: bool) -> None:
    watched = _WATCHED.get(type(instance))
    if watched is None:
        return
    names, via = watched
    if not new_or_deleted and names is not None:
        state = attributes.instance_state(instance)
        if not any(state.attrs[name].history.has_changes() for name in names):
            return  # e.g. an API key's last use: nothing admission looks at
    if isinstance(instance, CreditLedgerEntry) and not _changes_credit(
        instance.kind, instance.balance_after_nanos
    ):
        return
    owner = getattr(instance, via)
    if owner is None:  # not attached to anything yet: nothing cached can depend on it
        return
    if via == "project_id":
        session.info.setdefault(_PROJECTS, set()).add(owner)
    else:
        note_organization(session, owner)


def _changes_credit(kind: Any, balance_after: int) -> bool:
    """Whether a ledger entry changes what admission knows of the credit (see credit.py)."""
    return kind not in (EntryKind.USAGE, EntryKind.USAGE.value) or balance_after <= 0


def _before_flush(session: Session, _context: Any, _instances: Any) -> None:
    for instance in session.new:
        _note(session, instance, new_or_deleted=True)
    for instance in session.deleted:
        _note(session, instance, new_or_deleted=True)
    for instance in session.dirty:
        _note(session, instance, new_or_deleted=False)


def _do_orm_execute(state: Any) -> None:
    """Core inserts into the ledger (the ledger writes entries without the ORM)."""
    statement = state.statement
    if not (state.is_insert and isinstance(statement, Insert) and statement.table is _LEDGER):
        return
    rows: Iterable[dict[str, Any]]
    if statement.select is not None:  # INSERT … SELECT: the writer names its rows, read at the commit
        if LEDGER_ROWS not in state.session.info:
            raise ValueError(
                "an INSERT … SELECT into the ledger names its rows (credits.ledger.name_ledger_rows)"
            )
        return
    if isinstance(state.parameters, list):
        rows = state.parameters
    elif state.parameters:
        rows = [state.parameters]
    else:
        rows = [statement.compile().params]
    for row in rows:
        if _changes_credit(row.get("kind"), int(row.get("balance_after_nanos") or 0)):
            note_organization(state.session, row["organization_id"])


def _before_commit(session: Session) -> None:
    session.flush()  # pending objects pass through before_flush first
    for organization_id, kind, balance_after in session.info.pop(LEDGER_ROWS, ()):
        if _changes_credit(kind, balance_after):
            note_organization(session, organization_id)
    projects = session.info.pop(_PROJECTS, None)
    if projects:
        owners = session.execute(select(col(Project.organization_id)).where(col(Project.id).in_(projects)))
        session.info.setdefault(CHANGED, set()).update(owners.scalars())
    changed = sorted(session.info.get(CHANGED, ()))  # a fixed order: no deadlock between writers
    if changed:
        bump(session, changed)


def bump(session: Session, organization_ids: list[str]) -> None:
    """Bump the organizations' versions in this transaction (and on PostgreSQL, NOTIFY at its commit)."""
    bind = session.get_bind()
    now = clock.now()
    if bind.dialect.name == "postgresql":
        statement = postgresql.insert(_VERSIONS)
        statement = statement.on_conflict_do_update(
            index_elements=[_VERSIONS.c.organization_id],
            set_={"version": _VERSIONS.c.version + 1, "changed_at": statement.excluded.changed_at},
        )
        session.execute(
            statement, [{"organization_id": o, "version": 1, "changed_at": now} for o in organization_ids]
        )
        for start in range(0, len(organization_ids), NOTIFY_BATCH):  # a payload holds under 8,000 bytes
            payload = ",".join(organization_ids[start : start + NOTIFY_BATCH])
            session.execute(
                text("SELECT pg_notify(:channel, :payload)"), {"channel": CHANNEL, "payload": payload}
            )
        return
    # SQLite: the write lock is held, so max + 1 grows in commit order and a poll misses nothing
    latest = session.execute(select(func.coalesce(func.max(_VERSIONS.c.version), 0))).scalar_one()
    upsert = sqlite.insert(_VERSIONS)
    upsert = upsert.on_conflict_do_update(
        index_elements=[_VERSIONS.c.organization_id],
        set_={"version": upsert.excluded.version, "changed_at": upsert.excluded.changed_at},
    )
    session.execute(
        upsert, [{"organization_id": o, "version": latest + 1, "changed_at": now} for o in organization_ids]
    )


def _after_soft_rollback(session: Session, _previous: Any) -> None:
    session.info.pop(CHANGED, None)
    session.info.pop(_PROJECTS, None)
    session.info.pop(LEDGER_ROWS, None)


class TrackedSession(Session):
    """The write sessions' class: its events keep organization versions (see the module's docstring)."""


event.listen(TrackedSession, "before_flush", _before_flush)
event.listen(TrackedSession, "do_orm_execute", _do_orm_execute)
event.listen(TrackedSession, "before_commit", _before_commit)
event.listen(TrackedSession, "after_soft_rollback", _after_soft_rollback)


async def changes_since(connection: Any, version: int) -> tuple[int, list[str]]:
    """The newest version and the organizations changed after `version` (the SQLite poll)."""
    rows = (
        await connection.execute(
            select(_VERSIONS.c.organization_id, _VERSIONS.c.version).where(_VERSIONS.c.version > version)
        )
    ).all()
    return max((row[1] for row in rows), default=version), [row[0] for row in rows]


async def latest_version(connection: Any) -> int:
    return int(
        (await connection.execute(select(func.coalesce(func.max(_VERSIONS.c.version), 0)))).scalar_one()
    )
