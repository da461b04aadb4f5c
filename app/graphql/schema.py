"""The GraphQL schema: every area's queries and mutations merged, with the protective extensions."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import strawberry
from graphql import GraphQLError
from graphql.validation import NoSchemaIntrospectionCustomRule
from strawberry import relay
from strawberry.extensions import SchemaExtension
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types
from strawberry.types import ExecutionContext

from app.graphql import masking
from app.graphql.accounts import AccountMutations, AccountQueries
from app.graphql.api_keys import ApiKeyMutations
from app.graphql.billing import BillingMutations, Charge, PaymentMethod
from app.graphql.catalog import CatalogMutations, CatalogQueries
from app.graphql.credit_types import CreditGrant, CreditLedgerEntry
from app.graphql.credits import CreditMutations
from app.graphql.edge import hide_suggestions
from app.graphql.invitation_types import Invitation
from app.graphql.invitations import InvitationMutations, InvitationQueries
from app.graphql.limits import query_limits
from app.graphql.orgs import OrganizationMutations
from app.graphql.plans import PlanMutations
from app.graphql.projects import ProjectMutations
from app.graphql.scalars import SCALARS
from app.graphql.subscription_types import ModelSubscription
from app.graphql.subscriptions import SubscriptionMutations
from app.graphql.types import ApiKey, Organization, OrganizationMember, Project, User
from app.graphql.usage import UsageQueries
from app.settings import Settings, get_settings


@strawberry.type
class NodeQueries:
    node: relay.Node | None = relay.node(
        description="Any object by its global ID; null when it does not exist or is not visible to you."
    )


Query = merge_types("Query", (NodeQueries, AccountQueries, InvitationQueries, UsageQueries, CatalogQueries))
Mutation = merge_types(
    "Mutation",
    (
        AccountMutations,
        OrganizationMutations,
        ProjectMutations,
        ApiKeyMutations,
        InvitationMutations,
        SubscriptionMutations,
        CatalogMutations,
        PlanMutations,
        BillingMutations,
        CreditMutations,
    ),
)
Query.__strawberry_definition__.description = "What the console reads. Lists are Relay connections."
Mutation.__strawberry_definition__.description = (
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


class IntrospectionSwitch(SchemaExtension):
    """Refuses introspection when the app's settings turn it off (read per request from the context)."""

    def on_operation(self) -> Iterator[None]:
        context = self.execution_context.context
        if not getattr(getattr(context, "settings", None), "graphql_introspection", True):
            rules = self.execution_context.validation_rules
            self.execution_context.validation_rules = (*rules, NoSchemaIntrospectionCustomRule)
        yield


def build_schema(settings: Settings) -> Schema:
    """The schema with the caches and limits on. Build it once per process: fields cannot be shared."""
    extensions: list[Any] = [IntrospectionSwitch, query_limits(settings)]
    types: list[Any] = [
        User,
        Organization,
        OrganizationMember,
        Project,
        ApiKey,
        Invitation,
        ModelSubscription,
    ]
    types += [PaymentMethod, Charge, CreditGrant, CreditLedgerEntry]
    return Schema(
        query=Query,
        mutation=Mutation,
        extensions=extensions,
        types=types,
        config=StrawberryConfig(scalar_map=SCALARS),
    )


# The process's one schema; `strawberry export-schema app.graphql.schema:schema` reads it too.
schema = build_schema(get_settings())
