"""Creating and revoking API keys."""

from __future__ import annotations

from typing import Annotated

import strawberry
from strawberry import relay

from app.domain.api_keys import service as api_keys
from app.graphql.api_keys.types import ApiKey
from app.graphql.context import Info
from app.graphql.errors import INPUT, mutation, result_union
from app.graphql.ids import node_id
from app.graphql.orgs.types import Project, visible_project


@strawberry.input(description="A new API key for a project.")
class CreateApiKeyInput:
    project_id: relay.GlobalID = strawberry.field(description="The project the key belongs to.")
    name: str = strawberry.field(description="A name to recognize the key by (1 to 100 characters).")


@strawberry.input(description="The API key to revoke; it stops working at once.")
class RevokeApiKeyInput:
    api_key_id: relay.GlobalID = strawberry.field(description="The API key.")


@strawberry.type(description="A new API key. The secret is shown only now: store it safely.")
class CreateApiKeyPayload:
    api_key: ApiKey = strawberry.field(description="The key, as lists will show it.")
    secret: str = strawberry.field(description="The full secret (`csk-…`); it cannot be shown again.")

    @strawberry.field(description="The key's project, as it is now (its key list included).")
    async def project(self, info: Info) -> Project:
        return await visible_project(info, self.api_key.project_id)


@strawberry.type(description="The revoked key.")
class RevokeApiKeyPayload:
    api_key: ApiKey = strawberry.field(description="The key, now revoked.")

    @strawberry.field(description="The key's project, as it is now (its key list included).")
    async def project(self, info: Info) -> Project:
        return await visible_project(info, self.api_key.project_id)


CreateApiKeyResult = result_union("CreateApiKeyResult", CreateApiKeyPayload)
RevokeApiKeyResult = result_union("RevokeApiKeyResult", RevokeApiKeyPayload)


@strawberry.type
class ApiKeyMutations:
    @mutation("Create an API key (Organization Admins and the project's Project Admins).")
    async def create_api_key(
        self, info: Info, input: Annotated[CreateApiKeyInput, INPUT]
    ) -> CreateApiKeyResult:
        actor = info.context.actor()
        project_id = node_id(input.project_id, "Project", "projectId")
        async with info.context.transaction() as session:
            created = await api_keys.create_api_key(session, actor, project_id, name=input.name)
        return CreateApiKeyPayload(api_key=ApiKey.from_model(created.api_key), secret=created.secret)

    @mutation("Revoke an API key (Organization Admins and the project's Project Admins); it stops at once.")
    async def revoke_api_key(
        self, info: Info, input: Annotated[RevokeApiKeyInput, INPUT]
    ) -> RevokeApiKeyResult:
        actor = info.context.actor()
        async with info.context.transaction() as session:
            api_key = await api_keys.revoke_api_key(
                session, actor, node_id(input.api_key_id, "ApiKey", "apiKeyId")
            )
        return RevokeApiKeyPayload(api_key=ApiKey.from_model(api_key))
