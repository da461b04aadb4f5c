// Subscriptions: per model, its tiers with monthly rates and limits (or Temporarily Sold Out); subscribe, change, cancel.
import { ERROR, mutate, query } from "../api.js";
import { count, label, localDate, money } from "../format.js";
import { html, useState } from "../html.js";
import { MAY_NEED_CONFIRMATION, confirmPayment } from "../provider.js";
import { ListError, Loading, Notice, useLoad } from "../ui.js";

const M = "{ amount currency }";
const LIMITS = "limits { requestsPerMinute tokensPerMinute requestsPerDay tokensPerDay }";
const DATA = `query Subscriptions($id: ID!) {
  catalog { ... on Catalog { models { modelId displayName isDeprecated inputPricePerMillion ${M} outputPricePerMillion ${M}
    tiers { tierId displayName monthlyPrice ${M} soldOut capacityLeft ${LIMITS} } } } }
  node(id: $id) { ... on Organization { subscriptions { __typename ... on Error { message }
    ... on SubscriptionList { subscriptions(first: 100) { edges { node {
      id modelId tierId state cancelAtPeriodEnd currentPeriodEnd monthlyPrice ${M}
      tier { displayName } scheduledTier { displayName } pendingTier { displayName } } } } } } } } }`;

const SUBSCRIBE = `mutation Subscribe($input: SubscribeInput!) { subscribe(input: $input) { ${ERROR} ${MAY_NEED_CONFIRMATION} } }`;
const CHANGE = `mutation ChangeTier($input: ChangeSubscriptionTierInput!) { changeSubscriptionTier(input: $input) {
  ${ERROR} ${MAY_NEED_CONFIRMATION} } }`;
const CANCEL = `mutation Cancel($input: SubscriptionIdInput!) { cancelSubscription(input: $input) { ${ERROR} } }`;
const RESUME = `mutation Resume($input: SubscriptionIdInput!) { resumeSubscription(input: $input) { ${ERROR} } }`;

function limitsText(l) {
  const parts = [
    l.requestsPerMinute != null && `${count(l.requestsPerMinute)} requests/min`,
    l.tokensPerMinute != null && `${count(l.tokensPerMinute)} tokens/min`,
    l.requestsPerDay != null && `${count(l.requestsPerDay)} requests/day`,
    l.tokensPerDay != null && `${count(l.tokensPerDay)} tokens/day`,
  ];
  return parts.filter(Boolean).join(", ") || "no limits";
}

function ModelCard({ model, subscription, act }) {
  return html`<section class="card" aria-labelledby=${`m-${model.modelId}`}>
    <h2 id=${`m-${model.modelId}`}>${model.displayName} <span class="hint mono">${model.modelId}</span></h2>
    <p>Pay as you go: ${money(model.inputPricePerMillion)} per million input tokens, ${money(model.outputPricePerMillion)} per million output tokens.</p>
    ${subscription &&
    html`<p><strong>Subscribed: ${subscription.tier?.displayName ?? subscription.tierId}</strong>, ${label(subscription.state)},
      ${money(subscription.monthlyPrice ?? { amount: "0.00", currency: "USD" })} a month;
      ${subscription.cancelAtPeriodEnd ? "ends" : "renews"} ${localDate(subscription.currentPeriodEnd)}.
      ${subscription.scheduledTier && ` Changes to ${subscription.scheduledTier.displayName} then.`}
      ${" "}${subscription.cancelAtPeriodEnd
        ? html`<button type="button" class="secondary" onClick=${() => act(RESUME, { subscriptionId: subscription.id }, "The subscription will renew.")}>Keep subscription</button>`
        : html`<button type="button" class="danger" onClick=${() => confirm(`Cancel ${model.displayName}? It runs to the end of the paid month.`) && act(CANCEL, { subscriptionId: subscription.id }, "Canceled: it runs to the end of the paid period.")}>Cancel subscription</button>`}</p>`}
    <table>
      <thead><tr><th>Tier</th><th class="num">Monthly rate</th><th>Limits</th><th><span class="sr-only">Actions</span></th></tr></thead>
      <tbody>${model.tiers.map((tier) => {
        const current = subscription?.tierId === tier.tierId;
        const action = subscription
          ? () => act(CHANGE, { subscriptionId: subscription.id, tier: tier.tierId }, `Changed to ${tier.displayName}.`)
          : () => act(SUBSCRIBE, { model: model.modelId, tier: tier.tierId }, `Subscribed to ${tier.displayName}.`);
        return html`<tr>
          <td>${tier.displayName}</td>
          <td class="num">${money(tier.monthlyPrice)}</td>
          <td>${limitsText(tier.limits)}</td>
          <td>${current
            ? html`<span class="badge">Current</span>`
            : tier.soldOut
              ? html`<span class="badge soldout">Temporarily Sold Out</span>`
              : html`<button type="button" aria-label=${`${subscription ? "Change tier to" : "Subscribe to"} ${model.displayName} ${tier.displayName}`}
                  onClick=${action}>${subscription ? "Change tier" : "Subscribe"}</button>`}</td>
        </tr>`;
      })}</tbody>
    </table>
  </section>`;
}

export function Subscriptions({ org }) {
  const state = useLoad(() => query(DATA, { id: org.id }), [org.id]);
  const [outcome, setOutcome] = useState(null);
  const act = async (mutation, input, done) => {
    const withOrg = "model" in input ? { organizationId: org.id, ...input } : input;
    let result = await mutate(mutation, withOrg).catch((e) => ({ error: e }));
    if (result.error?.__typename === "PaymentAuthenticationRequired") {
      // the bank asks the cardholder to confirm the first month or the upgrade (3-D Secure)
      result = await confirmPayment(result.error).catch((e) => ({ error: e }));
    }
    setOutcome(result.error ? { kind: "bad", text: result.error.message } : { kind: "good", text: done });
    // asked again rather than taken from the payload's organization: the tiers' places left
    // (the catalog, outside the organization) change with a subscription too
    state.reload();
  };
  return html`${outcome && html`<${Notice} kind=${outcome.kind}>${outcome.text}</${Notice}>`}
    <${Loading} state=${state}>
      ${(data) => {
        const list = data.node.subscriptions;
        if (list.__typename !== "SubscriptionList") return html`<${ListError} result=${list} />`;
        const byModel = new Map(list.subscriptions.edges.map(({ node }) => [node.modelId, node]));
        return data.catalog.models
          .filter((m) => m.tiers.length && !m.isDeprecated)
          .map((m) => html`<${ModelCard} key=${m.modelId} model=${m} subscription=${byModel.get(m.modelId)} act=${act} />`);
      }}
    </${Loading}>`;
}
