// Billing: Overview (balance, Add Credits), Pay as you go (grants, auto-recharge, refunds), and the other tabs.
import { ERROR, mutate, query } from "../api.js";
import { label, localDate, localTime, money } from "../format.js";
import { html, useState } from "../html.js";
import { href } from "../router.js";
import { MAY_NEED_CONFIRMATION, confirmPayment } from "../provider.js";
import { Field, FormError, ListError, Loading, Notice, showOrganization, useLoad, useSubmit } from "../ui.js";
import { AlertsCard } from "./alerts.js";
import { DocumentsTab } from "./documents.js";
import { NotificationsTab } from "./notifications.js";
import { BillingAddressTab, PaymentTab } from "./payment.js";
import { Subscriptions } from "./subscriptions.js";

const M = "{ amount currency }";
// what the credit tabs show of the organization; the mutations answer with it, so a tab updates in place
const TABS_DATA = `fragment CreditTabs on Organization { credits { __typename ... on Error { message }
  ... on Credits { balance ${M} debt ${M}
    autoRecharge { enabled threshold ${M} rechargeTo ${M} monthlyCap ${M} spentThisMonth ${M} consecutiveFailures pausedUntil }
    grants(first: 100) { edges { node { id source amount ${M} remaining ${M} state boughtAt expiresAt note } } }
    autoRechargeAttempts(first: 10) { edges { node { status amount ${M} message createdAt } } }
    refundRequests(first: 20) { edges { node { amountRequested ${M} status decision reason createdAt } } } } }
  billing { __typename ... on Billing { paymentMethods { id brand last4 isDefault }
    charges(first: 10) { edges { node { id purpose amount ${M} status description message createdAt } } } } } }`;
const CREDITS = `query Credits($id: ID!) { node(id: $id) { ...CreditTabs } } ${TABS_DATA}`;
const ORG = `organization { ...CreditTabs }`;

const ADD = `mutation AddCredits($input: AddCreditsInput!) { addCredits(input: $input) { ${ERROR}
  ... on PaymentError { declineCode } ${MAY_NEED_CONFIRMATION}
  ... on AddCreditsPayload { balance ${M} grant { amount ${M} } ${ORG} } } } ${TABS_DATA}`;
const PAID = `charge { id status } balance ${M} grant { amount ${M} } ${ORG}`; // what a confirmed payment reads back
const CONFIGURE = `mutation AutoRecharge($input: ConfigureAutoRechargeInput!) { configureAutoRecharge(input: $input) { ${ERROR}
  ... on AutoRechargePayload { ${ORG} } } } ${TABS_DATA}`;
const DISABLE = `mutation NoAutoRecharge($input: DisableAutoRechargeInput!) { disableAutoRecharge(input: $input) { ${ERROR}
  ... on AutoRechargePayload { ${ORG} } } } ${TABS_DATA}`;
const REFUND = `mutation Refund($input: RequestRefundInput!) { requestRefund(input: $input) { ${ERROR}
  ... on RefundPayload { refundRequest { status decision } ${ORG} } } } ${TABS_DATA}`;

const TABS = [
  ["overview", "Overview", (org) => html`<${CreditsTab} org=${org} paygo=${false} />`],
  ["paygo", "Pay as you go", (org) => html`<${CreditsTab} org=${org} paygo=${true} />`],
  ["subscriptions", "Subscriptions", (org) => html`<${Subscriptions} org=${org} />`],
  ["payment", "Payment", (org) => html`<${PaymentTab} org=${org} />`],
  ["address", "Billing address", (org) => html`<${BillingAddressTab} org=${org} />`],
  ["documents", "Receipts and statements", (org) => html`<${DocumentsTab} org=${org} />`],
  ["notifications", "Notifications", (org) => html`<${NotificationsTab} org=${org} />`],
];

export function Billing({ org, tab = "overview" }) {
  const [current, , view] = TABS.find(([path]) => path === tab) ?? TABS[0];
  return html`<h1 tabindex="-1">Billing</h1>
    <nav class="tabs" aria-label="Billing">
      ${TABS.map(([path, title]) => html`<a href=${href("o", org.id, "billing", path)} aria-current=${path === current ? "page" : undefined}>${title}</a>`)}
    </nav>
    ${view(org)}`;
}

function CreditsTab({ org, paygo }) {
  const state = useLoad(() => query(CREDITS, { id: org.id }), [org.id]);
  const update = (organization) => showOrganization(state, organization);
  return html`<${Loading} state=${state}>
    ${(data) => {
      const { credits, billing } = data.node;
      if (credits.__typename !== "Credits") return html`<${ListError} result=${credits} />`;
      return paygo
        ? html`<${PayGo} org=${org} credits=${credits} update=${update} reload=${state.reload} />`
        : html`<${Overview} org=${org} credits=${credits} billing=${billing} update=${update} />`;
    }}
  </${Loading}>`;
}

/**
 * Buy credits; when the bank asks the cardholder to confirm (3-D Secure), the provider's UI does it and the
 * payment is completed (`completePayment`). Resolves like `mutate`.
 */
async function buyCredits(input) {
  const bought = await mutate(ADD, input);
  if (bought.error?.__typename !== "PaymentAuthenticationRequired") return bought;
  return confirmPayment(bought.error, PAID, TABS_DATA);
}

/** A charge waiting for the cardholder (an auto-recharge, a renewal: the email links here): confirm it. */
function ConfirmCharge({ charge, update }) {
  const [state, setState] = useState({ busy: false, error: null });
  const confirm = async () => {
    setState({ busy: true, error: null });
    const result = await confirmPayment({ chargeId: charge.id }, PAID, TABS_DATA).catch((e) => ({ error: e }));
    setState({ busy: false, error: result.error ?? null });
    if (result.ok) update(result.ok.organization);
  };
  return html`<button class="secondary" disabled=${state.busy} onClick=${confirm}>Confirm payment</button>
    ${state.error && html`<span role="alert"> ${state.error.message}</span>`}`;
}

function Overview({ org, credits, billing, update }) {
  const [key, setKey] = useState(() => crypto.randomUUID()); // one key per purchase: a retried click never charges twice
  const [state, onSubmit] = useSubmit(async (values, form) => {
    const result = await buyCredits({ organizationId: org.id, amount: values.amount, idempotencyKey: key });
    if (result.ok) {
      form.reset();
      setKey(crypto.randomUUID());
      update(result.ok.organization);
    }
    return result;
  });
  const card = billing.paymentMethods?.find((m) => m.isDefault);
  return html`<section class="card">
      <h2>Credit balance</h2>
      <p class="balance"><strong data-balance>${money(credits.balance)}</strong></p>
      ${credits.debt.amount !== "0.00" && html`<p>Debt to be charged at the end of the month: ${money(credits.debt)}</p>`}
      <p>Auto-recharge: ${credits.autoRecharge.enabled ? `on, below ${money(credits.autoRecharge.threshold)} back to ${money(credits.autoRecharge.rechargeTo)}` : "off"}${" "}
        (<a href=${href("o", org.id, "billing", "paygo")}>change</a>)</p>
    </section>
    <section class="card">
      <h2>Add credits</h2>
      <p>${card ? `Charged to ${card.brand} ending ${card.last4}.` : html`No card yet: <a href=${href("o", org.id, "billing", "payment")}>add one</a> first.`}${" "}
        Credits expire one year after purchase. All purchases are final.</p>
      <form class="inline" onSubmit=${onSubmit}>
        <${Field} label="Amount (USD)" name="amount" inputmode="decimal" required placeholder="25.00" error=${state.error}
          hint="$10 to $10,000, whole cents." />
        <button disabled=${state.busy}>Add credits</button>
      </form>
      <${FormError} error=${state.error} fields=${["amount"]} />
      ${state.ok?.grant && html`<${Notice} kind="good">Added ${money(state.ok.grant.amount)}; the balance is ${money(state.ok.balance)}.</${Notice}>`}
    </section>
    ${billing.__typename === "Billing" &&
    html`<section class="card">
      <h2>Recent charges</h2>
      <table>
        <thead><tr><th>Date</th><th>What</th><th class="num">Amount</th><th>Status</th></tr></thead>
        <tbody>${billing.charges.edges.map(({ node: c }) => html`<tr>
          <td>${localTime(c.createdAt)}</td><td>${c.description || label(c.purpose)}</td>
          <td class="num">${money(c.amount)}</td><td>${label(c.status)}${c.message ? `: ${c.message}` : ""}
            ${c.status === "REQUIRES_ACTION" && html` <${ConfirmCharge} charge=${c} update=${update} />`}</td></tr>`)}</tbody>
      </table>
    </section>`}`;
}

function AutoRechargeForm({ org, recharge, update }) {
  const [state, onSubmit] = useSubmit(async (values) => {
    const input = { organizationId: org.id, threshold: values.threshold, rechargeTo: values.rechargeTo, monthlyCap: values.monthlyCap || null };
    const result = await mutate(CONFIGURE, input);
    if (result.ok) update(result.ok.organization);
    return result;
  });
  const [off, onDisable] = useSubmit(async () => {
    const result = await mutate(DISABLE, { organizationId: org.id });
    if (result.ok) update(result.ok.organization);
    return result;
  });
  return html`<section class="card">
    <h2>Auto-recharge</h2>
    <p>${recharge.enabled
      ? `On: when the balance drops below ${money(recharge.threshold)}, it is recharged to ${money(recharge.rechargeTo)}.` +
        (recharge.monthlyCap ? ` At most ${money(recharge.monthlyCap)} a month (${money(recharge.spentThisMonth)} so far).` : "")
      : "Off."}
      ${recharge.consecutiveFailures > 0 && ` ${recharge.consecutiveFailures} failed recharge(s) in a row.`}</p>
    <form class="inline" onSubmit=${onSubmit}>
      <${Field} label="Threshold (USD)" name="threshold" inputmode="decimal" required error=${state.error}
        value=${recharge.enabled ? recharge.threshold.amount : ""} />
      <${Field} label="Recharge to (USD)" name="rechargeTo" inputmode="decimal" required error=${state.error}
        value=${recharge.enabled ? recharge.rechargeTo.amount : ""} />
      <${Field} label="Monthly cap (USD, optional)" name="monthlyCap" inputmode="decimal" error=${state.error}
        value=${recharge.monthlyCap?.amount ?? ""} />
      <button disabled=${state.busy}>${recharge.enabled ? "Save auto-recharge" : "Enable auto-recharge"}</button>
    </form>
    <${FormError} error=${state.error} fields=${["threshold", "rechargeTo", "monthlyCap"]} />
    ${state.ok && html`<${Notice} kind="good">Auto-recharge is on.</${Notice}>`}
    ${recharge.enabled && html`<form onSubmit=${onDisable}><button class="secondary" disabled=${off.busy}>Disable auto-recharge</button></form>`}
    <${FormError} error=${off.error} />
  </section>`;
}

function RefundForm({ grant, update, reload }) {
  const [state, onSubmit] = useSubmit(async (values) => {
    const result = await mutate(REFUND, { grantId: grant.id, reason: values.reason });
    if (result.ok) update(result.ok.organization);
    else reload(); // a refused request is recorded too: the list shows it
    return result;
  });
  return html`<form class="inline" onSubmit=${onSubmit} aria-label="Refund request">
    <${Field} label="Why do you ask for a refund?" name="reason" required error=${state.error} />
    <button class="secondary" disabled=${state.busy}>Request refund</button>
    ${state.ok && html`<${Notice}>${label(state.ok.refundRequest.status)}: ${state.ok.refundRequest.decision}</${Notice}>`}
    <${FormError} error=${state.error} fields=${["reason"]} />
  </form>`;
}

function PayGo({ org, credits, update, reload }) {
  const grants = credits.grants.edges.map((e) => e.node);
  const refundable = grants.filter((g) => g.source !== "PROMOTIONAL" && g.state === "ACTIVE");
  const [grantId, setGrantId] = useState(null);
  const chosen = refundable.find((g) => g.id === grantId) ?? refundable[0];
  return html`<section class="card">
      <h2>Grant history</h2>
      <p>Balance: <strong>${money(credits.balance)}</strong></p>
      <table>
        <thead><tr><th>Source</th><th class="num">Amount</th><th class="num">Remaining</th><th>Bought</th><th>Expires</th><th>State</th></tr></thead>
        <tbody>${grants.map((g) => html`<tr>
          <td>${label(g.source)}${g.note ? html`<br /><span class="hint">${g.note}</span>` : ""}</td>
          <td class="num">${money(g.amount)}</td><td class="num">${money(g.remaining)}</td>
          <td>${localTime(g.boughtAt)}</td><td>${localDate(g.expiresAt)}</td><td>${label(g.state)}</td></tr>`)}</tbody>
      </table>
    </section>
    <${AutoRechargeForm} org=${org} recharge=${credits.autoRecharge} update=${update} />
    <${AlertsCard} org=${org} />
    <section class="card">
      <h2>Refunds</h2>
      <p>All purchases are final; you may still ask, and the answer is recorded here.</p>
      ${chosen &&
      html`<div class="field"><label for="refund-grant">Purchase</label>
        <select id="refund-grant" value=${chosen.id} onChange=${(e) => setGrantId(e.currentTarget.value)}>
          ${refundable.map((g) => html`<option value=${g.id}>${money(g.amount)} bought ${localDate(g.boughtAt)}</option>`)}
        </select></div>
        <${RefundForm} key=${chosen.id} grant=${chosen} update=${update} reload=${reload} />`}
      <ul aria-label="Refund requests">${credits.refundRequests.edges.map(({ node: r }) => html`<li>${localTime(r.createdAt)}: ${money(r.amountRequested)}, ${label(r.status)}: ${r.decision}</li>`)}</ul>
    </section>`;
}
