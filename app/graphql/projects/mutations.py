"""Creating, renaming and archiving projects, their members and rate limits."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry import relay

from app.domain.orgs.access import require_project
from app.domain.projects import service as projects
from app.domain.projects.models import ProjectRole
from app.graphql.context import Info
from app.graphql.enums import ProjectRoleEnum
from app.graphql.errors import INPUT, mutation, result_union
from app.graphql.ids import node_id, org_id
from app.graphql.orgs.types import Project
from app.graphql.projects.types import ProjectMember, ProjectRateLimit


@strawberry.input(description="A new project in an organization.")
class CreateProjectInput:
    organization_id: relay.GlobalID = strawberry.field(description="The organization.")
    name: str = strawberry.field(
        description="The project's name (1 to 100 characters, unique among live projects)."
    )


@strawberry.input(description="A new name for a project.")
class RenameProjectInput:
    project_id: relay.GlobalID = strawberry.field(description="The project.")
    name: str = strawberry.field(description="The new name.")


@strawberry.input(description="The project to archive: its API keys stop working.")
class ArchiveProjectInput:
    project_id: relay.GlobalID = strawberry.field(description="The project (not the Default project).")


@strawberry.input(description="Add an organization member to a project, or change their project role.")
class SetProjectMemberInput:
    project_id: relay.GlobalID = strawberry.field(description="The project.")
    user_id: relay.GlobalID = strawberry.field(
        description="The member's user ID; they must be in the organization."
    )
    role: ProjectRoleEnum = strawberry.field(description="Their role in the project.")


@strawberry.input(description="A member to take off a project.")
class RemoveProjectMemberInput:
    project_id: relay.GlobalID = strawberry.field(description="The project.")
    user_id: relay.GlobalID = strawberry.field(description="The member's user ID.")


@strawberry.input(
    description="A project's own ceiling for one model; a null limit leaves that window to the org."
)
class SetProjectRateLimitInput:
    project_id: relay.GlobalID = strawberry.field(description="The project.")
    model: str = strawberry.field(description="The model's catalog id, e.g. `gpt-oss-120b`.")
    requests_per_minute: int | None = strawberry.field(default=None, description="Requests per minute.")
    tokens_per_minute: int | None = strawberry.field(default=None, description="Tokens per minute.")
    requests_per_day: int | None = strawberry.field(default=None, description="Requests per day.")
    tokens_per_day: int | None = strawberry.field(default=None, description="Tokens per day.")


@strawberry.input(description="Remove a project's own limit for one model.")
class RemoveProjectRateLimitInput:
    project_id: relay.GlobalID = strawberry.field(description="The project.")
    model: str = strawberry.field(description="The model's catalog id.")


@strawberry.type(description="The project as it is now.")
class ProjectPayload:
    project: Project = strawberry.field(description="The project.")


@strawberry.type(description="The project member as they are now.")
class ProjectMemberPayload:
    project: Project = strawberry.field(description="The project.")
    member: ProjectMember = strawberry.field(description="The member and their project role.")


@strawberry.type(description="The project's rate limit for the model as it is now.")
class ProjectRateLimitPayload:
    project: Project = strawberry.field(description="The project.")
    rate_limit: ProjectRateLimit | None = strawberry.field(description="The limit; null once removed.")


CreateProjectResult = result_union("CreateProjectResult", ProjectPayload)
RenameProjectResult = result_union("RenameProjectResult", ProjectPayload)
ArchiveProjectResult = result_union("ArchiveProjectResult", ProjectPayload)
SetProjectMemberResult = result_union("SetProjectMemberResult", ProjectMemberPayload)
RemoveProjectMemberResult = result_union("RemoveProjectMemberResult", ProjectPayload)
SetProjectRateLimitResult = result_union("SetProjectRateLimitResult", ProjectRateLimitPayload)
RemoveProjectRateLimitResult = result_union("RemoveProjectRateLimitResult", ProjectRateLimitPayload)


def _project_id(gid: relay.GlobalID) -> str:
    return node_id(gid, "Project", "projectId")


@strawberry.type
class ProjectMutations:
    @mutation("Create a project (Organization Admins).")
    async def create_project(
        self, info: Info, input: Annotated[CreateProjectInput, INPUT]
    ) -> CreateProjectResult:
        actor = info.context.actor()
        organization_id = org_id(input.organization_id)
        async with info.context.transaction() as session:
            project = await projects.create_project(session, actor, organization_id, name=input.name)
        return ProjectPayload(project=Project.from_model(project, ProjectRole.PROJECT_ADMIN))

    @mutation("Rename a project (Organization Admins).")
    async def rename_project(
        self, info: Info, input: Annotated[RenameProjectInput, INPUT]
    ) -> RenameProjectResult:
        actor = info.context.actor()
        async with info.context.transaction() as session:
            project = await projects.rename_project(
                session, actor, _project_id(input.project_id), name=input.name
            )
        return ProjectPayload(project=Project.from_model(project, ProjectRole.PROJECT_ADMIN))

    @mutation("Archive a project (Organization Admins): its keys stop at once. The Default project stays.")
    async def archive_project(
        self, info: Info, input: Annotated[ArchiveProjectInput, INPUT]
    ) -> ArchiveProjectResult:
        actor = info.context.actor()
        async with info.context.transaction() as session:
            project = await projects.archive_project(session, actor, _project_id(input.project_id))
        return ProjectPayload(project=Project.from_model(project, ProjectRole.PROJECT_ADMIN))

    @mutation(
        "Add an organization member to a project or change their role (Org Admins, the project's admins)."
    )
    async def set_project_member(
        self, info: Info, input: Annotated[SetProjectMemberInput, INPUT]
    ) -> SetProjectMemberResult:
        actor = info.context.actor()
        project_id = _project_id(input.project_id)
        user_id = node_id(input.user_id, "User", "userId")
        async with info.context.transaction() as session:
            membership = await projects.set_project_member(
                session, actor, project_id, user_id=user_id, role=input.role
            )
            project, role = await require_project(session, actor, project_id)
        return ProjectMemberPayload(
            project=Project.from_model(project, role),
            member=ProjectMember(
                user_id=membership.user_id, role=membership.role, added_at=membership.created_at
            ),
        )

    @mutation("Take a member off a project (Org Admins, the project's admins).")
    async def remove_project_member(
        self, info: Info, input: Annotated[RemoveProjectMemberInput, INPUT]
    ) -> RemoveProjectMemberResult:
        actor = info.context.actor()
        project_id = _project_id(input.project_id)
        async with info.context.transaction() as session:
            await projects.remove_project_member(
                session, actor, project_id, user_id=node_id(input.user_id, "User", "userId")
            )
            project, role = await require_project(session, actor, project_id)
        return ProjectPayload(project=Project.from_model(project, role))

    @mutation("Set a project's own rate limit for a model, below the organization's (Organization Admins).")
    async def set_project_rate_limit(
        self, info: Info, input: Annotated[SetProjectRateLimitInput, INPUT]
    ) -> SetProjectRateLimitResult:
        actor = info.context.actor()
        limits = projects.RateLimitInput(
            requests_per_minute=input.requests_per_minute,
            tokens_per_minute=input.tokens_per_minute,
            requests_per_day=input.requests_per_day,
            tokens_per_day=input.tokens_per_day,
        )
        async with info.context.transaction() as session:
            row = await projects.set_project_rate_limit(
                session,
                actor,
                _project_id(input.project_id),
                model_id=input.model,
                limits=limits,
                catalog=info.context.services.catalog,
            )
            project, role = await require_project(session, actor, row.project_id)
        return ProjectRateLimitPayload(
            project=Project.from_model(project, role), rate_limit=ProjectRateLimit.from_model(row)
        )

    @mutation("Remove a project's own rate limit for a model (Organization Admins).")
    async def remove_project_rate_limit(
        self, info: Info, input: Annotated[RemoveProjectRateLimitInput, INPUT]
    ) -> RemoveProjectRateLimitResult:
        actor = info.context.actor()
        project_id = _project_id(input.project_id)
        async with info.context.transaction() as session:
            await projects.remove_project_rate_limit(session, actor, project_id, model_id=input.model)
            project, role = await require_project(session, actor, project_id)
        return ProjectRateLimitPayload(project=Project.from_model(project, role), rate_limit=None)
