"""Who may do what: every query and mutation against every actor, from one table.

Each row is one operation; each cell the outcome for one actor: "ok" (the success type, or a
visible object), "null" (nothing visible), or an error code. Every cell runs on a fresh world.
A test fails when the schema has a root field that the table does not cover.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from app.db import Database
from app.domain.actor import Actor
from app.domain.billing.accounts import attach_payment_method
from app.domain.credits.purchases import add_credits
from app.domain.notifications.preferences import add_billing_contact
from app.domain.notifications.spend_alerts import add_spend_alert
from app.domain.receipts.models import Receipt
from app.graphql.schema import build_schema
from app.services import Services
from app.settings import Settings, get_settings
from tests.subscriptions.support import insert_subscription, use_card
from tests.support import ACTORS, GraphQL, World, with_invitation

OK, NULL = "ok", "null"
UNAUTH, FORBIDDEN, NOT_FOUND = "UNAUTHENTICATED", "FORBIDDEN", "NOT_FOUND"
RESULT = "{ __typename ... on Error { code } }"


@dataclass(frozen=True)
class Case:
    field: str  # the root field exercised
    document: str
    variables: Callable[[World], dict[str, Any]]
    expect: dict[str, str]


def outcomes(anonymous: str = UNAUTH, **by_actor: str) -> dict[str, str]:
    """Every actor's expected outcome; unspecified ones are NOT_FOUND (they must learn nothing)."""
    table = {actor: NOT_FOUND for actor in ACTORS}
    table["anonymous"] = anonymous
    table.update(by_actor)
    return table


def visible_to(*actors: str) -> dict[str, str]:
    """A query's outcome: the object for these actors, nothing (null) for everyone else."""
    return {actor: OK if actor in actors else NULL for actor in ACTORS}


EVERYONE_SIGNED_IN = {actor: OK for actor in ACTORS if actor != "anonymous"}
ACME_ADMIN_ONLY = outcomes(
    admin=OK, project_admin=FORBIDDEN, other_project_admin=FORBIDDEN, project_member=FORBIDDEN
)
PROJECT_A_ADMINS = outcomes(admin=OK, project_admin=OK, project_member=FORBIDDEN)
PROJECT_A_ORG_ADMIN = outcomes(admin=OK, project_admin=FORBIDDEN, project_member=FORBIDDEN)
PROJECT_A_VISIBLE = visible_to("admin", "project_admin", "project_member")
ACME_VISIBLE = visible_to("admin", "project_admin", "other_project_admin", "project_member")


def mutation(
    field: str, input_type: str, variables: Callable[[World], dict[str, Any]], expect: dict[str, str]
) -> Case:
    return Case(
        field,
        f"mutation($input: {input_type}!) {{ {field}(input: $input) {RESULT} }}",
        lambda w: {"input": variables(w)},
        expect,
    )


def node(name: str, type_name: str, node_id: Callable[[World], str], expect: dict[str, str]) -> Case:
    return Case(
        "node",
        "query($id: ID!) { node(id: $id) { id } }",
        lambda w: {"id": w.gid(type_name, node_id(w))},
        expect,
    )


def acme(w: World) -> str:
    return w.gid("Organization", w.acme_id)


def project_a(w: World) -> str:
    return w.gid("Project", w.project_a_id)


CASES: dict[str, Case] = {
    "me": Case("me", "{ me { user { id } } }", lambda w: {}, visible_to(*EVERYONE_SIGNED_IN)),
    "node: Acme": node("Acme", "Organization", lambda w: w.acme_id, ACME_VISIBLE),
    "node: Evil (another org)": node("Evil", "Organization", lambda w: w.evil_id, visible_to("outsider")),
    "node: project A": node("A", "Project", lambda w: w.project_a_id, PROJECT_A_VISIBLE),
    "node: Evil's project": node("E", "Project", lambda w: w.evil_project_id, visible_to("outsider")),
    "node: key of A": node("K", "ApiKey", lambda w: w.key_a_id, PROJECT_A_VISIBLE),
    "node: Evil's key": node("EK", "ApiKey", lambda w: w.evil_key_id, visible_to("outsider")),
    "node: a co-member's user": node("U", "User", lambda w: w.people["project_member"].user_id, ACME_VISIBLE),
    "node: Acme's member": node(
        "M",
        "OrganizationMember",
        lambda w: f"{w.acme_id}/{w.people['project_member'].user_id}",
        visible_to("admin"),
    ),
    "Organization.members": Case(
        "node",
        "query($id: ID!) { node(id: $id) { ... on Organization { members { __typename ... on Error { code } } } } }",
        lambda w: {"id": acme(w)},
        {
            **visible_to("admin"),
            "project_admin": FORBIDDEN,
            "other_project_admin": FORBIDDEN,
            "project_member": FORBIDDEN,
        },
    ),
    "Project.addableMembers": Case(
        "node",
        "query($id: ID!) { node(id: $id) { ... on Project { addableMembers { __typename ... on Error { code } } } } }",
        lambda w: {"id": project_a(w)},
        {**visible_to("admin", "project_admin"), "project_member": FORBIDDEN},
    ),
    "signUp": mutation(
        "signUp",
        "SignUpInput",
        lambda w: {"email": "new@example.com", "password": "a long password"},
        outcomes(OK, **EVERYONE_SIGNED_IN),
    ),
    "signIn": mutation(
        "signIn",
        "SignInInput",
        lambda w: {"email": "admin@example.com", "password": "correct horse battery"},
        outcomes(OK, **EVERYONE_SIGNED_IN),
    ),
    "signOut": mutation("signOut", "SignOutInput", lambda w: {}, outcomes(**EVERYONE_SIGNED_IN)),
    "createOrganization": mutation(
        "createOrganization",
        "CreateOrganizationInput",
        lambda w: {"name": "New"},
        outcomes(**EVERYONE_SIGNED_IN),
    ),
    "renameOrganization": mutation(
        "renameOrganization",
        "RenameOrganizationInput",
        lambda w: {"organizationId": acme(w), "name": "Acme 2"},
        ACME_ADMIN_ONLY,
    ),
    "setOrganizationType": mutation(
        "setOrganizationType",
        "SetOrganizationTypeInput",
        lambda w: {"organizationId": acme(w), "type": "TEAM"},
        {**{actor: FORBIDDEN for actor in ACTORS}, "anonymous": UNAUTH, "staff": OK},
    ),
    "changeMemberRole": mutation(
        "changeMemberRole",
        "ChangeMemberRoleInput",
        lambda w: {
            "organizationId": acme(w),
            "userId": w.people["project_member"].gid,
            "role": "ORGANIZATION_ADMIN",
        },
        ACME_ADMIN_ONLY,
    ),
    "removeMember": mutation(
        "removeMember",
        "RemoveMemberInput",
        lambda w: {"organizationId": acme(w), "userId": w.people["project_member"].gid},
        ACME_ADMIN_ONLY,
    ),
    "leaveOrganization": mutation(
        "leaveOrganization",
        "LeaveOrganizationInput",
        lambda w: {"organizationId": acme(w)},
        outcomes(
            admin="LAST_ORGANIZATION_ADMIN", project_admin=OK, other_project_admin=OK, project_member=OK
        ),
    ),
    "createProject": mutation(
        "createProject",
        "CreateProjectInput",
        lambda w: {"organizationId": acme(w), "name": "C"},
        ACME_ADMIN_ONLY,
    ),
    "renameProject": mutation(
        "renameProject",
        "RenameProjectInput",
        lambda w: {"projectId": project_a(w), "name": "A2"},
        PROJECT_A_ORG_ADMIN,
    ),
    "archiveProject": mutation(
        "archiveProject", "ArchiveProjectInput", lambda w: {"projectId": project_a(w)}, PROJECT_A_ORG_ADMIN
    ),
    "setProjectMember": mutation(
        "setProjectMember",
        "SetProjectMemberInput",
        lambda w: {
            "projectId": project_a(w),
            "userId": w.people["other_project_admin"].gid,
            "role": "PROJECT_MEMBER",
        },
        PROJECT_A_ADMINS,
    ),
    "removeProjectMember": mutation(
        "removeProjectMember",
        "RemoveProjectMemberInput",
        lambda w: {"projectId": project_a(w), "userId": w.people["project_member"].gid},
        PROJECT_A_ADMINS,
    ),
    "setProjectRateLimit": mutation(
        "setProjectRateLimit",
        "SetProjectRateLimitInput",
        lambda w: {"projectId": project_a(w), "model": "gpt-oss-120b", "requestsPerMinute": 10},
        PROJECT_A_ORG_ADMIN,
    ),
    "removeProjectRateLimit": mutation(
        "removeProjectRateLimit",
        "RemoveProjectRateLimitInput",
        lambda w: {"projectId": project_a(w), "model": "gpt-oss-120b"},
        PROJECT_A_ORG_ADMIN,
    ),
    "createApiKey": mutation(
        "createApiKey",
        "CreateApiKeyInput",
        lambda w: {"projectId": project_a(w), "name": "k"},
        PROJECT_A_ADMINS,
    ),
    "revokeApiKey": mutation(
        "revokeApiKey",
        "RevokeApiKeyInput",
        lambda w: {"apiKeyId": w.gid("ApiKey", w.key_a_id)},
        PROJECT_A_ADMINS,
    ),
    "invitation (public preview)": Case(
        "invitation",
        "query($t: String!) { invitation(token: $t) { state } }",
        lambda w: {"t": w.invitation_token},
        {actor: OK for actor in ACTORS},
    ),
    "node: Acme's invitation": node("I", "Invitation", lambda w: w.invitation_id, visible_to("admin")),
    "Organization.invitations": Case(
        "node",
        "query($id: ID!) { node(id: $id) { ... on Organization { invitations { __typename ... on Error { code } } } } }",
        lambda w: {"id": acme(w)},
        {
            **visible_to("admin"),
            "project_admin": FORBIDDEN,
            "other_project_admin": FORBIDDEN,
            "project_member": FORBIDDEN,
        },
    ),
    "inviteMembers": mutation(
        "inviteMembers",
        "InviteMembersInput",
        lambda w: {"organizationId": acme(w), "emails": ["new@example.com"], "role": "ORGANIZATION_ADMIN"},
        ACME_ADMIN_ONLY,
    ),
    "resendInvitation": mutation(
        "resendInvitation",
        "InvitationIdInput",
        lambda w: {"invitationId": w.gid("Invitation", w.invitation_id)},
        ACME_ADMIN_ONLY,
    ),
    "revokeInvitation": mutation(
        "revokeInvitation",
        "InvitationIdInput",
        lambda w: {"invitationId": w.gid("Invitation", w.invitation_id)},
        ACME_ADMIN_ONLY,
    ),
    # the invitation is for invitee@example.com, none of the actors: nobody else may use its link
    "acceptInvitation": mutation(
        "acceptInvitation",
        "InvitationTokenInput",
        lambda w: {"token": w.invitation_token},
        outcomes(**{a: "INVITATION_EMAIL_MISMATCH" for a in ACTORS if a != "anonymous"}),
    ),
    "declineInvitation": mutation(
        "declineInvitation",
        "InvitationTokenInput",
        lambda w: {"token": w.invitation_token},
        outcomes(**{a: "INVITATION_EMAIL_MISMATCH" for a in ACTORS if a != "anonymous"}),
    ),
    # Org Admins see the organization's usage, project roles their projects' (tests/fleet/test_usage_graphs.py)
    "usage": Case(
        "usage",
        'query($o: ID!) { usage(input: {organizationId: $o, from: "2026-11-01T00:00:00Z", '
        'to: "2026-11-02T00:00:00Z", granularity: HOUR}) { __typename ... on Error { code } } }',
        lambda w: {"o": acme(w)},
        outcomes(admin=OK, project_admin=OK, other_project_admin=OK, project_member=OK),
    ),
}


# Subscriptions: Acme's admin alone acts on Acme's; the catalog is for everyone signed in; staff set capacity
SUBSCRIPTION_ID = "sub_authorization"
STAFF_ONLY = {**{actor: FORBIDDEN for actor in ACTORS}, "anonymous": UNAUTH, "staff": OK}


def acme_subscription(w: World) -> str:
    return w.gid("ModelSubscription", SUBSCRIPTION_ID)


CASES.update(
    {
        "catalog": Case(
            "catalog", "{ catalog { __typename ... on Error { code } } }", lambda w: {}, outcomes(**EVERYONE_SIGNED_IN)
        ),
        "paymentProvider": Case(
            "paymentProvider",
            "{ paymentProvider { __typename ... on Error { code } } }",
            lambda w: {},
            outcomes(**EVERYONE_SIGNED_IN),
        ),
        "node: Acme's subscription": node("S", "ModelSubscription", lambda w: SUBSCRIPTION_ID, visible_to("admin")),
        "Organization.subscriptions": Case(
            "node",
            "query($id: ID!) { node(id: $id) { ... on Organization { subscriptions { __typename ... on Error { code } } } } }",
            lambda w: {"id": acme(w)},
            {**visible_to("admin"), "project_admin": FORBIDDEN, "other_project_admin": FORBIDDEN, "project_member": FORBIDDEN},
        ),
        "Organization.plans": Case(
            "node",
            "query($id: ID!) { node(id: $id) { ... on Organization { plans { kind } } } }",
            lambda w: {"id": acme(w)},
            ACME_VISIBLE,
        ),
        "subscribe": mutation(
            "subscribe", "SubscribeInput",
            lambda w: {"organizationId": acme(w), "model": "gpt-oss-120b", "tier": "starter"}, ACME_ADMIN_ONLY,
        ),
        "changeSubscriptionTier": mutation(
            "changeSubscriptionTier", "ChangeSubscriptionTierInput",
            lambda w: {"subscriptionId": acme_subscription(w), "tier": "starter"}, ACME_ADMIN_ONLY,
        ),
        "cancelSubscription": mutation(
            "cancelSubscription", "SubscriptionIdInput", lambda w: {"subscriptionId": acme_subscription(w)}, ACME_ADMIN_ONLY
        ),
        "resumeSubscription": mutation(
            "resumeSubscription", "SubscriptionIdInput", lambda w: {"subscriptionId": acme_subscription(w)}, ACME_ADMIN_ONLY
        ),
        "setTierCapacity": mutation(
            "setTierCapacity", "SetTierCapacityInput",
            lambda w: {"model": "gpt-oss-120b", "tier": "scale", "capacity": 3}, STAFF_ONLY,
        ),
        "setModelLimitOverride": mutation(
            "setModelLimitOverride", "SetModelLimitOverrideInput",
            lambda w: {"organizationId": acme(w), "model": "gpt-oss-120b", "requestsPerMinute": 5000, "tokensPerMinute": 10**7},
            STAFF_ONLY,
        ),
        "removeModelLimitOverride": mutation(
            "removeModelLimitOverride", "RemoveModelLimitOverrideInput",
            lambda w: {"organizationId": acme(w), "model": "gpt-oss-120b"}, STAFF_ONLY,
        ),
    }
)  # fmt: skip


async def acme_card(database: Database, services: Services, world: World) -> None:
    await use_card(database, services, world.acme_id)


async def acme_subscribed(database: Database, services: Services, world: World) -> None:
    start = datetime(2026, 11, 1, tzinfo=UTC)
    await insert_subscription(database, world.acme_id, subscription_id=SUBSCRIPTION_ID, start=start)


# Payment methods, billing address, credits: Acme's admin alone; promotional credits: staff alone
ADMIN_ONLY_FIELD = {
    **visible_to("admin"),
    "project_admin": FORBIDDEN,
    "other_project_admin": FORBIDDEN,
    "project_member": FORBIDDEN,
}


def org_field(name: str) -> Case:
    document = f"query($id: ID!) {{ node(id: $id) {{ ... on Organization {{ {name} {{ __typename ... on Error {{ code }} }} }} }} }}"
    return Case("node", document, lambda w: {"id": acme(w)}, ADMIN_ONLY_FIELD)


def acme_payment_method(w: World) -> str:
    return w.gid("PaymentMethod", w.extra["payment_method"])


def acme_grant(w: World) -> str:
    return w.gid("CreditGrant", w.extra["grant"])


CASES.update(
    {
        "Organization.billing": org_field("billing"),
        "Organization.credits": org_field("credits"),
        "node: Acme's card": node("PM", "PaymentMethod", lambda w: w.extra["payment_method"], visible_to("admin")),
        "node: Acme's credit grant": node("G", "CreditGrant", lambda w: w.extra["grant"], visible_to("admin")),
        "setUpPaymentMethod": mutation(
            "setUpPaymentMethod", "SetUpPaymentMethodInput", lambda w: {"organizationId": acme(w)}, ACME_ADMIN_ONLY
        ),
        "attachPaymentMethod": mutation(
            "attachPaymentMethod", "AttachPaymentMethodInput",
            lambda w: {"organizationId": acme(w), "paymentMethodRef": "pm_card_visa"}, ACME_ADMIN_ONLY,
        ),
        "removePaymentMethod": mutation(
            "removePaymentMethod", "PaymentMethodIdInput",
            lambda w: {"paymentMethodId": acme_payment_method(w)}, ACME_ADMIN_ONLY,
        ),
        "setDefaultPaymentMethod": mutation(
            "setDefaultPaymentMethod", "PaymentMethodIdInput",
            lambda w: {"paymentMethodId": acme_payment_method(w)}, ACME_ADMIN_ONLY,
        ),
        "setBillingAddress": mutation(
            "setBillingAddress", "SetBillingAddressInput",
            lambda w: {"organizationId": acme(w), "name": "Acme Inc.", "line1": "1 Main St", "city": "Berlin",
                       "postalCode": "10115", "country": "DE"},
            ACME_ADMIN_ONLY,
        ),
        "addCredits": mutation(
            "addCredits", "AddCreditsInput", lambda w: {"organizationId": acme(w), "amount": "10"}, ACME_ADMIN_ONLY
        ),
        "completePayment": mutation(
            "completePayment", "CompletePaymentInput",
            lambda w: {"chargeId": w.gid("Charge", w.extra["charge"])}, ACME_ADMIN_ONLY,
        ),
        "configureAutoRecharge": mutation(
            "configureAutoRecharge", "ConfigureAutoRechargeInput",
            lambda w: {"organizationId": acme(w), "threshold": "5", "rechargeTo": "20"}, ACME_ADMIN_ONLY,
        ),
        "disableAutoRecharge": mutation(
            "disableAutoRecharge", "DisableAutoRechargeInput", lambda w: {"organizationId": acme(w)}, ACME_ADMIN_ONLY
        ),
        "requestRefund": mutation(
            "requestRefund", "RequestRefundInput", lambda w: {"grantId": acme_grant(w), "reason": "changed my mind"},
            outcomes(admin="REFUND_REFUSED", project_admin=FORBIDDEN, other_project_admin=FORBIDDEN, project_member=FORBIDDEN),
        ),
        "grantPromotionalCredits": mutation(
            "grantPromotionalCredits", "GrantPromotionalCreditsInput",
            lambda w: {"organizationId": acme(w), "amount": "25", "expiresAt": "2027-06-30T00:00:00Z", "note": "Welcome"},
            STAFF_ONLY,
        ),
    }
)  # fmt: skip


async def acme_card_on_file(database: Database, services: Services, world: World) -> None:
    card = await attach_payment_method(
        database, world.acme_id, payments=services.payments, provider_ref="pm_card_visa"
    )
    world.extra["payment_method"] = card.id


async def acme_purchase(database: Database, services: Services, world: World) -> None:
    await acme_card(database, services, world)
    admin = Actor(world.people["admin"].user_id)
    purchase = await add_credits(
        database,
        admin,
        world.acme_id,
        payments=services.payments,
        amount="10",
        idempotency_key=None,
        settings=get_settings(),
    )
    world.extra["grant"] = purchase.grant.id
    world.extra["charge"] = purchase.charge.id


DatabaseSetup = Callable[[Database, Services, World], Awaitable[None]]

# Rows whose operation needs something to exist first: the admin sets it up through the API, or
# (where the API cannot, e.g. a card collected by the provider's own UI) the test writes it directly.
SETUP: dict[str, Case | DatabaseSetup] = {
    "removeProjectRateLimit": CASES["setProjectRateLimit"],
    "subscribe": acme_card,
    "node: Acme's subscription": acme_subscribed,
    "changeSubscriptionTier": acme_subscribed,
    "cancelSubscription": acme_subscribed,
    "resumeSubscription": acme_subscribed,
    "node: Acme's card": acme_card_on_file,
    "removePaymentMethod": acme_card_on_file,
    "setDefaultPaymentMethod": acme_card_on_file,
    "addCredits": acme_card,
    "configureAutoRecharge": acme_card,
    "node: Acme's credit grant": acme_purchase,
    "requestRefund": acme_purchase,
    "completePayment": acme_purchase,
}


# Account security, notification settings, receipts and statements
NEW_PASSWORD = "mauve tractor sings at dawn"
CASES.update(
    {
        "sessionStatus": Case("sessionStatus", "{ sessionStatus }", lambda w: {}, {a: OK for a in ACTORS}),
        "mySessions": Case("mySessions", "{ mySessions " + RESULT + " }", lambda w: {}, outcomes(**EVERYONE_SIGNED_IN)),
        "changePassword": mutation(
            "changePassword", "ChangePasswordInput",
            lambda w: {"currentPassword": "correct horse battery", "newPassword": NEW_PASSWORD}, outcomes(**EVERYONE_SIGNED_IN),
        ),
        "requestPasswordReset": mutation(
            "requestPasswordReset", "RequestPasswordResetInput", lambda w: {"email": "admin@example.com"},
            {a: OK for a in ACTORS},
        ),
        "resetPassword": mutation(
            "resetPassword", "ResetPasswordInput", lambda w: {"token": "not-a-token", "newPassword": NEW_PASSWORD},
            {a: "RESET_LINK_INVALID" for a in ACTORS},
        ),
        "endSession": mutation("endSession", "EndSessionInput", lambda w: {"sessionId": "ses_unknown"}, outcomes()),
        "updateProfile": mutation("updateProfile", "UpdateProfileInput", lambda w: {"name": "Ada"}, outcomes(**EVERYONE_SIGNED_IN)),
        "notificationSettings": Case(
            "notificationSettings", "query($id: ID!) { notificationSettings(organizationId: $id) " + RESULT + " }",
            lambda w: {"id": acme(w)}, ACME_ADMIN_ONLY,
        ),
        "receipts": Case(
            "receipts", "query($id: ID!) { receipts(organizationId: $id) " + RESULT + " }",
            lambda w: {"id": acme(w)}, ACME_ADMIN_ONLY,
        ),
        "statement": Case(
            "statement", 'query($id: ID!) { statement(organizationId: $id, month: "2026-11") ' + RESULT + " }",
            lambda w: {"id": acme(w)}, ACME_ADMIN_ONLY,
        ),
        "node: Acme's receipt": node("R", "Receipt", lambda w: w.extra["receipt"], visible_to("admin")),
        "addSpendAlert": mutation(
            "addSpendAlert", "AddSpendAlertInput", lambda w: {"organizationId": acme(w), "amount": "5"}, ACME_ADMIN_ONLY
        ),
        "removeSpendAlert": mutation(
            "removeSpendAlert", "RemoveSpendAlertInput", lambda w: {"alertId": w.extra["alert"]}, ACME_ADMIN_ONLY
        ),
        "setLowBalanceAlert": mutation(
            "setLowBalanceAlert", "SetLowBalanceAlertInput", lambda w: {"organizationId": acme(w), "amount": "20"},
            ACME_ADMIN_ONLY,
        ),
        "addBillingContact": mutation(
            "addBillingContact", "AddBillingContactInput",
            lambda w: {"organizationId": acme(w), "email": "ap@books.example", "notices": ["RECEIPTS"]}, ACME_ADMIN_ONLY,
        ),
        "updateBillingContact": mutation(
            "updateBillingContact", "UpdateBillingContactInput",
            lambda w: {"contactId": w.extra["contact"], "notices": ["SPEND_ALERTS"]}, ACME_ADMIN_ONLY,
        ),
        "removeBillingContact": mutation(
            "removeBillingContact", "RemoveBillingContactInput", lambda w: {"contactId": w.extra["contact"]}, ACME_ADMIN_ONLY
        ),
        "setMyNotices": mutation(
            "setMyNotices", "SetMyNoticesInput", lambda w: {"organizationId": acme(w), "notices": ["RECEIPTS"]},
            ACME_ADMIN_ONLY,
        ),
    }
)  # fmt: skip


async def acme_receipt(database: Database, services: Services, world: World) -> None:
    await acme_purchase(database, services, world)
    async with database.reader() as session:
        world.extra["receipt"] = await session.scalar(select(Receipt.id))


async def acme_alert_and_contact(database: Database, services: Services, world: World) -> None:
    admin = Actor(world.people["admin"].user_id)
    async with database.transaction() as session:
        alert = await add_spend_alert(session, admin, world.acme_id, amount_nanos=5 * 10**9)
        contact = await add_billing_contact(
            session, admin, world.acme_id, email="ap@books.example", notices=[]
        )
        world.extra["alert"], world.extra["contact"] = alert.id, contact.id


SETUP.update(
    {
        "node: Acme's receipt": acme_receipt,
        "removeSpendAlert": acme_alert_and_contact,
        "updateBillingContact": acme_alert_and_contact,
        "removeBillingContact": acme_alert_and_contact,
    }
)


def read_outcome(data: dict[str, Any], field: str) -> str:
    value = data[field]
    if isinstance(value, str):  # an enum answer (sessionStatus)
        return OK
    if value is None:
        return NULL
    if field == "node" and len(value) == 1 and isinstance(next(iter(value.values())), dict):
        value = next(iter(value.values()))  # a list field of the node: members, invitations
    typename = value.get("__typename", "")
    return value["code"] if typename.endswith("Error") else OK


def test_the_table_covers_every_root_field() -> None:
    covered = {case.field for case in CASES.values()}
    for root_name in ("Query", "Mutation"):
        root = build_schema(get_settings())._schema.type_map[root_name]
        missing = set(root.fields) - covered  # type: ignore[attr-defined]
        assert not missing, f"add rows for {sorted(missing)} to the authorization table"


@pytest.mark.parametrize("actor", ACTORS)
@pytest.mark.parametrize("row", list(CASES))
async def test_authorization(
    row: str,
    actor: str,
    world: World,
    gql: GraphQL,
    database: Database,
    services: Services,
    settings: Settings,
) -> None:
    """One actor, one operation, on a fresh world: no earlier success changes the outcome."""
    world = await with_invitation(database, settings, world)
    case = CASES[row]
    if row in SETUP:
        setup = SETUP[row]
        if isinstance(setup, Case):
            await gql(setup.document, setup.variables(world), token=world.token("admin"))
        else:
            await setup(database, services, world)
    data = await gql(case.document, case.variables(world), token=world.token(actor))
    assert read_outcome(data, case.field) == case.expect[actor]
