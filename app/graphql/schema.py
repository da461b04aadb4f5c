"""The GraphQL schema: every area's queries and mutations merged, with the protective extensions."""

from __future__ import annotations

import copy
import functools
from typing import Any

import strawberry
from graphql import GraphQLError
from strawberry import relay
from strawberry.extensions import DisableIntrospection
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext
from strawberry.types.base import get_object_definition

from app.graphql import masking
from app.graphql.accounts.mutations import AccountMutations, AccountSecurityMutations
from app.graphql.accounts.queries import AccountQueries, AccountSecurityQueries
from app.graphql.accounts.types import User
from app.graphql.api_keys.mutations import ApiKeyMutations
from app.graphql.api_keys.types import ApiKey
from app.graphql.billing.mutations import BillingMutations
from app.graphql.billing.queries import BillingQueries
from app.graphql.billing.types import Charge, PaymentMethod
from app.graphql.catalog.mutations import CatalogMutations
from app.graphql.catalog.queries import CatalogQueries
from app.graphql.credits.mutations import CreditMutations
from app.graphql.credits.types import CreditGrant, CreditLedgerEntry
from app.graphql.edge import hide_suggestions
from app.graphql.errors import MalformedGlobalId
from app.graphql.execution import ColumnExecutionContext
from app.graphql.invitations.mutations import InvitationMutations
from app.graphql.invitations.queries import InvitationQueries
from app.graphql.limits import query_limits
from app.graphql.notifications.mutations import NotificationMutations
from app.graphql.notifications.queries import NotificationQueries
from app.graphql.orgs.mutations import OrganizationMutations
from app.graphql.orgs.types import Invitation, Organization, OrganizationMember, Project
from app.graphql.plans.mutations import PlanMutations
from app.graphql.projects.mutations import ProjectMutations
from app.graphql.receipts.queries import ReceiptQueries
from app.graphql.receipts.types import Receipt
from app.graphql.scalars import SCALARS
from app.graphql.subscriptions.mutations import SubscriptionMutations
from app.graphql.subscriptions.types import ModelSubscription
from app.graphql.usage.queries import UsageQueries
from app.observability.logs import GraphQLLogContext
from app.observability.tracing import graphql_extensions
from app.settings import Settings


@strawberry.type
class NodeQueries:
    node: relay.Node | None = relay.node(
        description="Any object by its global ID; null when it does not exist or is not visible to you."
    )


Query = merge_types(
    "Query",
    (
        NodeQueries,
        AccountQueries,
        AccountSecurityQueries,
        InvitationQueries,
        UsageQueries,
        CatalogQueries,
        BillingQueries,
        NotificationQueries,
        ReceiptQueries,
    ),
)
Mutation = merge_types(
    "Mutation",
    (
        AccountMutations,
        AccountSecurityMutations,
        OrganizationMutations,
        ProjectMutations,
        ApiKeyMutations,
        InvitationMutations,
        SubscriptionMutations,
        CatalogMutations,
        PlanMutations,
        BillingMutations,
        CreditMutations,
        NotificationMutations,
    ),
)
get_object_definition(Query, strict=True).description = "What the console reads. Lists are Relay connections."
get_object_definition(Mutation, strict=True).description = (
    "What the console changes. Each mutation takes one `input` and returns a union of its success type "
    "and typed errors (implementing `Error`)."
)


class Schema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        context = execution_context.context if execution_context else None
        if not getattr(getattr(context, "settings", None), "graphql_introspection", True):
            hide_suggestions(errors)
        masking.process_errors(errors, execution_context)


# Each object type a node lookup may answer with, so the schema knows them before any query names them.
NODE_TYPES: list[Any] = [
    User,
    Organization,
    OrganizationMember,
    Project,
    ApiKey,
    Invitation,
    ModelSubscription,
    PaymentMethod,
    Charge,
    CreditGrant,
    CreditLedgerEntry,
    Receipt,
]


@functools.cache
def _typed_schema() -> Schema:
    """The types converted once per process: Strawberry's relay fields change themselves when converted."""
    return Schema(
        query=Query,
        mutation=Mutation,
        types=NODE_TYPES,
        config=StrawberryConfig(scalar_map=SCALARS),
        exception_handlers=[MalformedGlobalId()],
        execution_context_class=ColumnExecutionContext,
    )


def protective_extensions(settings: Settings) -> list[Any]:
    """The caches and the limits the settings ask for (extension classes or factories: one per request)."""
    extensions: list[Any] = [GraphQLLogContext, *graphql_extensions(settings)]
    if not settings.graphql_introspection:
        extensions.append(DisableIntrospection)  # first: its validation rule is part of the cached outcome
    # parser and validation caches bounded in bytes, and the document limits (app/graphql/limits.py)
    extensions.append(query_limits(settings))
    return extensions


def build_schema(settings: Settings) -> Schema:
    """The schema an app serves: the process's typed schema with the extensions of its settings."""
    schema = copy.copy(_typed_schema())
    schema.extensions = tuple(protective_extensions(settings))
    return schema
