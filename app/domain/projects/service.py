"""Projects, project membership and per-project rate limits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, false, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from app import clock
from app.domain.accounts.models import User
from app.domain.actor import Actor
from app.domain.catalog.models import Catalog, RateLimits
from app.domain.errors import Conflict, ErrorCode, InvalidInput, NotFound
from app.domain.orgs.access import require_member, require_org_admin, require_project
from app.domain.orgs.models import Membership, Organization, OrganizationRole
from app.domain.plans.service import who_pays
from app.domain.projects.models import Project, ProjectMembership, ProjectRateLimit, ProjectRole
from app.domain.validation import MAX_EMAIL_LENGTH, clean_name

MAX_LIMIT = 10**12


@dataclass(frozen=True)
class RateLimitInput:
    """A project's own per-model ceilings; None leaves that window to the organization's limit."""

    requests_per_minute: int | None = None
    tokens_per_minute: int | None = None
    requests_per_day: int | None = None
    tokens_per_day: int | None = None


async def create_project(session: AsyncSession, actor: Actor, org_id: str, *, name: str) -> Project:
    await require_org_admin(session, actor, org_id)
    project = Project(organization_id=org_id, name=await _free_name(session, org_id, name))
    session.add(project)
    await session.flush()
    return project


async def rename_project(session: AsyncSession, actor: Actor, project_id: str, *, name: str) -> Project:
    project = await _admin_project(session, actor, project_id)
    if project.archived_at is not None:
        raise Conflict("An archived project cannot be renamed.", code=ErrorCode.PROJECT_ARCHIVED)
    project.name = await _free_name(session, project.organization_id, name, ignore=project.id)
    session.add(project)
    return project


async def archive_project(session: AsyncSession, actor: Actor, project_id: str) -> Project:
    """Archive a project: its keys stop working, members whose only project it was lose access."""
    project = await _admin_project(session, actor, project_id)
    if project.is_default:
        raise Conflict("The Default project cannot be archived.", code=ErrorCode.DEFAULT_PROJECT)
    if project.archived_at is None:
        project.archived_at = clock.now()
        session.add(project)
    return project


async def list_projects(session: AsyncSession, actor: Actor, org_id: str) -> list[Project]:
    """Organization Admins see every project (archived too); others their live assigned ones."""
    _, role = await require_member(session, actor, org_id)
    return list(await session.scalars(projects_query(org_id, actor, role)))


def projects_query(
    org_id: str, actor: Actor, role: OrganizationRole, *, archived: bool | None = None
) -> Select[Project]:
    """The projects the viewer sees (role checked by the caller), oldest first; `archived` filters them."""
    query = (
        select(Project)
        .where(col(Project.organization_id) == org_id)
        .order_by(col(Project.created_at), col(Project.id))
    )
    if role is not OrganizationRole.ORGANIZATION_ADMIN:
        query = (
            query.join(ProjectMembership, col(ProjectMembership.project_id) == col(Project.id))
            .where(col(ProjectMembership.user_id) == actor.user_id)
            .where(col(Project.archived_at).is_(None))
        )
    if archived is not None:
        archived_at = col(Project.archived_at)
        query = query.where(archived_at.is_not(None) if archived else archived_at.is_(None))
    return query


def project_member_list() -> Select[Any]:
    """Project memberships, longest-standing first; a caller picks the project (and checked who asks)."""
    return select(ProjectMembership).order_by(
        col(ProjectMembership.created_at), col(ProjectMembership.user_id)
    )


async def project_roles(session: AsyncSession, actor: Actor, org_id: str) -> dict[str, ProjectRole]:
    """The actor's own project roles in an organization, by project id."""
    rows = await session.execute(
        select(col(ProjectMembership.project_id), col(ProjectMembership.role))
        .join(Project, col(Project.id) == col(ProjectMembership.project_id))
        .where(col(Project.organization_id) == org_id)
        .where(col(ProjectMembership.user_id) == actor.user_id)
    )
    return {project_id: role for project_id, role in rows.all()}


async def set_project_member(
    session: AsyncSession, actor: Actor, project_id: str, *, user_id: str, role: ProjectRole
) -> ProjectMembership:
    """Add an organization member to the project, or change their project role."""
    project, _ = await require_project(session, actor, project_id, admin=True)
    _live(project)
    org_membership = await session.get(Membership, (project.organization_id, user_id))
    if org_membership is None:
        raise NotFound(
            "This user is not a member of the organization.", code=ErrorCode.NOT_A_MEMBER, field="userId"
        )
    if org_membership.role is OrganizationRole.ORGANIZATION_ADMIN:
        raise Conflict(
            "Organization Admins administer every project already.",
            code=ErrorCode.ALREADY_MEMBER,
            field="userId",
        )
    membership = await session.get(ProjectMembership, (project_id, user_id))
    if membership is None:
        membership = ProjectMembership(project_id=project_id, user_id=user_id, role=role)
    membership.role = role
    session.add(membership)
    await session.flush()
    return membership


async def addable_members(
    session: AsyncSession, actor: Actor, project_id: str, *, search: str | None = None
) -> Select[Any]:
    """The organization's members a Project Admin may add to the project: not in it, not Org Admins.

    By email address (unique, so it alone is the cursor's key); `search` keeps those whose email or name
    contains it, case aside. A caller pages the query: an organization may have thousands of members.
    """
    project, _ = await require_project(session, actor, project_id, admin=True)
    _live(project)
    in_project = select(col(ProjectMembership.user_id)).where(col(ProjectMembership.project_id) == project_id)
    query = (
        select(User)
        .join(Membership, col(Membership.user_id) == col(User.id))
        .where(col(Membership.organization_id) == project.organization_id)
        .where(col(Membership.role) != OrganizationRole.ORGANIZATION_ADMIN)
        .where(col(User.id).not_in(in_project))
        .order_by(col(User.email_normalized))
    )
    if search:
        needle = search.lower()
        if len(needle) > MAX_EMAIL_LENGTH:  # longer than any email or name: nothing to scan for
            return query.where(false())
        query = query.where(
            or_(
                col(User.email_normalized).contains(needle, autoescape=True),
                func.lower(col(User.name)).contains(needle, autoescape=True),
            )
        )
    return query


async def remove_project_member(
    session: AsyncSession, actor: Actor, project_id: str, *, user_id: str
) -> None:
    await require_project(session, actor, project_id, admin=True)
    membership = await session.get(ProjectMembership, (project_id, user_id))
    if membership is None:
        raise NotFound(
            "This user is not a member of the project.", code=ErrorCode.NOT_A_MEMBER, field="userId"
        )
    await session.delete(membership)


async def set_project_rate_limit(
    session: AsyncSession,
    actor: Actor,
    project_id: str,
    *,
    model_id: str,
    limits: RateLimitInput,
    catalog: Catalog,
) -> ProjectRateLimit:
    """Set a project's ceiling for one model, at most the organization's (Organization Admins only)."""
    project = await _admin_project(session, actor, project_id)
    if catalog.model(model_id) is None:
        raise InvalidInput(f"Unknown model '{model_id[:100]}'.", code=ErrorCode.UNKNOWN_MODEL, field="model")
    values = vars(limits)
    for name, value in values.items():
        if value is not None and not 0 <= value <= MAX_LIMIT:
            raise InvalidInput(f"{name} must be between 0 and {MAX_LIMIT}.", field=_camel(name))
    if all(value is None for value in values.values()):
        raise InvalidInput("Give at least one limit, or remove the project's limit for this model.")
    ceiling = await _organization_limits(session, catalog, project.organization_id, model_id)
    for name, value in values.items():
        cap = getattr(ceiling, name)
        if value is not None and cap is not None and value > cap:
            raise InvalidInput(
                f"{name.replace('_', ' ').capitalize()} {value} is above the organization's limit of {cap} "
                f"for '{model_id}'; a project's limit can only be lower.",
                code=ErrorCode.ABOVE_ORGANIZATION_LIMIT,
                field=_camel(name),
            )
    row = await session.get(ProjectRateLimit, (project.id, model_id)) or ProjectRateLimit(
        project_id=project.id, model_id=model_id
    )
    for name, value in values.items():
        setattr(row, name, value)
    row.updated_at, row.updated_by = clock.now(), actor.user_id
    session.add(row)
    await session.flush()
    return row


async def remove_project_rate_limit(
    session: AsyncSession, actor: Actor, project_id: str, *, model_id: str
) -> None:
    await _admin_project(session, actor, project_id)
    row = await session.get(ProjectRateLimit, (project_id, model_id))
    if row is None:
        raise NotFound("This project has no own limit for that model.", field="model")
    await session.delete(row)


async def _organization_limits(
    session: AsyncSession, catalog: Catalog, org_id: str, model_id: str
) -> RateLimits:
    """The organization's limits for the model now; PayGo's while nothing pays for it (e.g. no credit yet)."""
    organization = await session.get(Organization, org_id)
    assert organization is not None, "a project's organization exists"
    plan = await who_pays(session, catalog, organization=organization, model_id=model_id, at=clock.now())
    model = catalog.model(model_id)
    assert model is not None
    return plan.limits or model.paygo_limits


async def _admin_project(session: AsyncSession, actor: Actor, project_id: str) -> Project:
    """The project, if the actor is an Organization Admin of its organization."""
    project, _ = await require_project(session, actor, project_id)
    await require_org_admin(session, actor, project.organization_id)
    return project


async def _free_name(session: AsyncSession, org_id: str, name: str, ignore: str | None = None) -> str:
    cleaned = clean_name(name)
    clash = await session.scalar(
        select(col(Project.id))
        .where(col(Project.organization_id) == org_id)
        .where(col(Project.name) == cleaned)
        .where(col(Project.archived_at).is_(None))
        .where(col(Project.id) != ignore)
    )
    if clash:
        raise Conflict(f"A project named '{cleaned}' already exists.", field="name")
    return cleaned


def _live(project: Project) -> None:
    if project.archived_at is not None:
        raise Conflict("The project is archived.", code=ErrorCode.PROJECT_ARCHIVED)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)
