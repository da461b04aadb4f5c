"""Mutations answer with the changed object and its parent, so a normalized client cache can update."""

from __future__ import annotations

from tests.support import GraphQL, World


async def test_a_new_or_revoked_key_comes_with_its_project(gql: GraphQL, world: World) -> None:
    project = world.gid("Project", world.project_a_id)
    created = await gql(
        'mutation($p: ID!) { createApiKey(input: {projectId: $p, name: "ci"}) { ... on CreateApiKeyPayload { '
        "apiKey { id } project { id apiKeys(state: ACTIVE) { totalCount } } } } }",
        {"p": project},
        token=world.token("project_admin"),
    )
    payload = created["createApiKey"]
    assert payload["project"]["id"] == project
    revoked = await gql(
        "mutation($k: ID!) { revokeApiKey(input: {apiKeyId: $k}) { ... on RevokeApiKeyPayload { "
        "project { apiKeys(state: ACTIVE) { totalCount } } } } }",
        {"k": payload["apiKey"]["id"]},
        token=world.token("project_admin"),
    )
    active_before = payload["project"]["apiKeys"]["totalCount"]
    assert revoked["revokeApiKey"]["project"]["apiKeys"]["totalCount"] == active_before - 1


async def test_member_changes_come_with_the_organization(gql: GraphQL, world: World) -> None:
    acme = world.gid("Organization", world.acme_id)
    member = world.gid("User", world.people["project_member"].user_id)
    removed = await gql(
        "mutation($o: ID!, $u: ID!) { removeMember(input: {organizationId: $o, userId: $u}) { "
        "... on MembershipEndedPayload { organization { id members { ... on MemberList { members { totalCount } } } } } } }",
        {"o": acme, "u": member},
        token=world.token("admin"),
    )
    organization = removed["removeMember"]["organization"]
    assert organization["id"] == acme
    assert organization["members"]["members"]["totalCount"] == 3  # admin and the two project admins
    left = await gql(
        "mutation($o: ID!) { leaveOrganization(input: {organizationId: $o}) { "
        "... on MembershipEndedPayload { organizationId organization { id } } } }",
        {"o": acme},
        token=world.token("project_admin"),
    )
    assert left["leaveOrganization"] == {"organizationId": acme, "organization": None}  # no longer theirs
    invited = await gql(
        'mutation($o: ID!) { inviteMembers(input: {organizationId: $o, emails: ["new@example.com"], '
        "role: ORGANIZATION_ADMIN}) { ... on InviteMembersPayload { organization { "
        "invitations(states: [PENDING]) { ... on InvitationList { invitations { totalCount } } } } } } }",
        {"o": acme},
        token=world.token("admin"),
    )
    assert invited["inviteMembers"]["organization"]["invitations"]["invitations"]["totalCount"] == 1


async def _mutate(
    gql: GraphQL, world: World, field: str, input_type: str, selection: str, **values: object
) -> dict:  # type: ignore[type-arg]
    document = f"mutation($input: {input_type}!) {{ {field}(input: $input) {{ __typename ... on Error {{ code message }} {selection} }} }}"
    data = await gql(document, {"input": values}, token=world.token("admin"))
    return data[field]  # type: ignore[no-any-return]


CARDS = "organization { id billing { ... on Billing { paymentMethods { id isDefault } } } }"
CREDITS = "organization { id credits { ... on Credits { balance { amount } autoRecharge { enabled } } } }"


async def test_card_changes_come_with_the_organization(gql: GraphQL, world: World) -> None:
    acme = world.gid("Organization", world.acme_id)
    first = await _mutate(
        gql,
        world,
        "attachPaymentMethod",
        "AttachPaymentMethodInput",
        f"... on PaymentMethodPayload {{ paymentMethod {{ id }} {CARDS} }}",
        organizationId=acme,
        paymentMethodRef="pm_card_visa",
    )
    assert first["__typename"] == "PaymentMethodPayload", first
    assert first["organization"]["id"] == acme
    assert [m["id"] for m in first["organization"]["billing"]["paymentMethods"]] == [
        first["paymentMethod"]["id"]
    ]
    second = await _mutate(
        gql,
        world,
        "attachPaymentMethod",
        "AttachPaymentMethodInput",
        f"... on PaymentMethodPayload {{ paymentMethod {{ id }} {CARDS} }}",
        organizationId=acme,
        paymentMethodRef="pm_card_mastercard",
        makeDefault=False,
    )
    assert len(second["organization"]["billing"]["paymentMethods"]) == 2
    made_default = await _mutate(
        gql,
        world,
        "setDefaultPaymentMethod",
        "PaymentMethodIdInput",
        f"... on PaymentMethodPayload {{ {CARDS} }}",
        paymentMethodId=second["paymentMethod"]["id"],
    )
    cards = made_default["organization"]["billing"]["paymentMethods"]
    assert cards[0] == {"id": second["paymentMethod"]["id"], "isDefault": True}  # the default first
    removed = await _mutate(
        gql,
        world,
        "removePaymentMethod",
        "PaymentMethodIdInput",
        f"... on RemovePaymentMethodPayload {{ {CARDS} }}",
        paymentMethodId=first["paymentMethod"]["id"],
    )
    assert [m["id"] for m in removed["organization"]["billing"]["paymentMethods"]] == [
        second["paymentMethod"]["id"]
    ]
    address = await _mutate(
        gql,
        world,
        "setBillingAddress",
        "SetBillingAddressInput",
        "... on BillingAddressPayload { organization { billing { ... on Billing { billingAddress { city } } } } }",
        organizationId=acme,
        name="Acme Inc.",
        line1="1 Main St",
        city="Berlin",
        postalCode="10115",
        country="DE",
    )
    assert address["organization"]["billing"]["billingAddress"] == {"city": "Berlin"}


async def test_credit_changes_come_with_the_organization(gql: GraphQL, world: World) -> None:
    acme = world.gid("Organization", world.acme_id)
    await _mutate(
        gql,
        world,
        "attachPaymentMethod",
        "AttachPaymentMethodInput",
        "",
        organizationId=acme,
        paymentMethodRef="pm_card_visa",
    )
    bought = await _mutate(
        gql,
        world,
        "addCredits",
        "AddCreditsInput",
        f"... on AddCreditsPayload {{ balance {{ amount }} grant {{ id }} {CREDITS} }}",
        organizationId=acme,
        amount="25",
        idempotencyKey="parents-buy-1",
    )
    assert bought["__typename"] == "AddCreditsPayload", bought
    assert bought["organization"]["credits"]["balance"] == bought["balance"]
    enabled = await _mutate(
        gql,
        world,
        "configureAutoRecharge",
        "ConfigureAutoRechargeInput",
        f"... on AutoRechargePayload {{ {CREDITS} }}",
        organizationId=acme,
        threshold="5",
        rechargeTo="20",
    )
    assert enabled["organization"]["credits"]["autoRecharge"] == {"enabled": True}
    disabled = await _mutate(
        gql,
        world,
        "disableAutoRecharge",
        "DisableAutoRechargeInput",
        f"... on AutoRechargePayload {{ {CREDITS} }}",
        organizationId=acme,
    )
    assert disabled["organization"]["credits"]["autoRecharge"] == {"enabled": False}
    # platform staff give promotional credits to organizations they are no member of: no parent for them
    granted = await gql(
        "mutation($input: GrantPromotionalCreditsInput!) { grantPromotionalCredits(input: $input) { __typename "
        "... on GrantPromotionalCreditsPayload { grant { id } organization { id } } } }",
        {
            "input": {
                "organizationId": acme,
                "amount": "5",
                "expiresAt": "2030-01-01T00:00:00Z",
                "note": "Welcome",
            }
        },
        token=world.token("staff"),
    )
    assert granted["grantPromotionalCredits"]["organization"] is None


async def test_subscription_changes_come_with_the_organization(gql: GraphQL, world: World) -> None:
    acme = world.gid("Organization", world.acme_id)
    await _mutate(
        gql,
        world,
        "attachPaymentMethod",
        "AttachPaymentMethodInput",
        "",
        organizationId=acme,
        paymentMethodRef="pm_card_visa",
    )
    listed = "organization { id subscriptions { ... on SubscriptionList { subscriptions { edges { node { id state } } } } } }"
    subscribed = await _mutate(
        gql,
        world,
        "subscribe",
        "SubscribeInput",
        f"... on SubscriptionPayload {{ subscription {{ id }} {listed} }}",
        organizationId=acme,
        model="gpt-oss-120b",
        tier="starter",
    )
    assert subscribed["__typename"] == "SubscriptionPayload", subscribed
    subscription_id = subscribed["subscription"]["id"]
    assert [
        e["node"]["id"] for e in subscribed["organization"]["subscriptions"]["subscriptions"]["edges"]
    ] == [subscription_id]
    cancelled = await _mutate(
        gql,
        world,
        "cancelSubscription",
        "SubscriptionIdInput",
        f"... on SubscriptionPayload {{ subscription {{ state }} {listed} }}",
        subscriptionId=subscription_id,
    )
    assert cancelled["organization"]["id"] == acme
    assert (
        cancelled["organization"]["subscriptions"]["subscriptions"]["edges"][0]["node"]["state"]
        == cancelled["subscription"]["state"]
    )
