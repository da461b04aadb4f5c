"""The invitation preview an invitee opens from the email link."""

from __future__ import annotations

from typing import Annotated

import strawberry

from app.domain.invitations import respond
from app.graphql.context import Info
from app.graphql.invitations.types import TOKEN, InvitationPreview


@strawberry.type
class InvitationQueries:
    @strawberry.field(
        description="The invitation behind a link, for the accept page; no sign-in needed. "
        "Null when the token is unknown or was replaced by a resend."
    )
    async def invitation(self, info: Info, token: Annotated[str, TOKEN]) -> InvitationPreview | None:
        preview = await respond.preview_invitation(await info.context.session(), token)
        return InvitationPreview.from_model(preview) if preview else None
