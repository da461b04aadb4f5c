// Payment methods through the provider's own card form, and the billing address.
import { ERROR, mutate, query } from "../api.js";
import { html, useState } from "../html.js";
import { Field, FormError, ListError, Loading, Notice, useLoad, useSubmit } from "../ui.js";

const METHODS = `query Methods($id: ID!) { node(id: $id) { ... on Organization { billing { __typename ... on Error { message }
  ... on Billing { paymentMethods { id brand last4 expMonth expYear isDefault }
    billingAddress { name line1 line2 city postalCode state country } } } } } }`;
const SET_UP = `mutation SetUp($input: SetUpPaymentMethodInput!) { setUpPaymentMethod(input: $input) { ${ERROR}
  ... on PaymentMethodSetupPayload { provider publishableKey clientSecret setupRef } } }`;
const ATTACH = `mutation Attach($input: AttachPaymentMethodInput!) { attachPaymentMethod(input: $input) { ${ERROR}
  ... on PaymentMethodPayload { paymentMethod { brand last4 } } } }`;
const REMOVE = `mutation RemoveCard($input: PaymentMethodIdInput!) { removePaymentMethod(input: $input) { ${ERROR} } }`;
const DEFAULT = `mutation DefaultCard($input: PaymentMethodIdInput!) { setDefaultPaymentMethod(input: $input) { ${ERROR} } }`;
const ADDRESS = `mutation Address($input: SetBillingAddressInput!) { setBillingAddress(input: $input) { ${ERROR} } }`;

/** The fake provider's own card form: its test numbers stand for cards (4242 4242 4242 4242 succeeds). */
function FakeCardForm({ org, onAttached }) {
  const [state, onSubmit] = useSubmit(async (values) => {
    const result = await mutate(ATTACH, { organizationId: org.id, paymentMethodRef: values.number, makeDefault: true });
    if (result.ok) onAttached(result.ok.paymentMethod);
    return result;
  });
  return html`<form class="stack" onSubmit=${onSubmit} aria-label="Test card">
    <p class="notice">Test mode (fake provider): no real card is charged. 4242 4242 4242 4242 succeeds,
      4000 0000 0000 0002 is declined, 4000 0000 0000 9995 has insufficient funds.</p>
    <${Field} label="Card number" name="number" inputmode="numeric" autocomplete="cc-number" required error=${state.error}
      hint="A test card number." />
    <${FormError} error=${state.error} fields=${["number"]} />
    <button disabled=${state.busy}>Save card</button>
  </form>`;
}

function AddCard({ org, onAttached }) {
  const [setup, setSetup] = useState(null);
  const [state, onSubmit] = useSubmit(async () => {
    const result = await mutate(SET_UP, { organizationId: org.id });
    if (result.ok) setSetup(result.ok);
    return result;
  });
  if (setup?.provider === "fake") return html`<${FakeCardForm} org=${org} onAttached=${onAttached} />`;
  if (setup) {
    return html`<${Notice} kind="bad">The card form of the ${setup.provider} provider is not part of this console yet; add the card with the provider's own tools.</${Notice}>`;
  }
  return html`<form onSubmit=${onSubmit}><button disabled=${state.busy}>Add a card</button><${FormError} error=${state.error} /></form>`;
}

export function PaymentTab({ org }) {
  const state = useLoad(() => query(METHODS, { id: org.id }), [org.id]);
  const [outcome, setOutcome] = useState(null);
  const act = async (mutation, method, done) => {
    const result = await mutate(mutation, { paymentMethodId: method.id }).catch((e) => ({ error: e }));
    setOutcome(result.error ? { kind: "bad", text: result.error.message } : { kind: "good", text: done });
    state.reload();
  };
  const attached = (card) => {
    setOutcome({ kind: "good", text: `Saved ${card.brand} ending ${card.last4}.` });
    state.reload();
  };
  return html`<${Loading} state=${state}>
    ${(data) => {
      const billing = data.node.billing;
      if (billing.__typename !== "Billing") return html`<${ListError} result=${billing} />`;
      return html`<section class="card">
        <h2>Cards</h2>
        ${outcome && html`<${Notice} kind=${outcome.kind}>${outcome.text}</${Notice}>`}
        ${billing.paymentMethods.length === 0 && html`<p>No card yet.</p>`}
        <ul>${billing.paymentMethods.map((m) => html`<li>
          ${m.brand} ending <span data-last4>${m.last4}</span>, expires ${String(m.expMonth).padStart(2, "0")}/${m.expYear}
          ${m.isDefault ? html` <span class="badge">Default</span>` : html` <button type="button" class="secondary" onClick=${() => act(DEFAULT, m, "Default card changed.")}>Make default</button>`}
          ${" "}<button type="button" class="danger" aria-label=${`Remove ${m.brand} ending ${m.last4}`} onClick=${() => act(REMOVE, m, "Card removed.")}>Remove</button>
        </li>`)}</ul>
        <${AddCard} org=${org} onAttached=${attached} />
      </section>`;
    }}
  </${Loading}>`;
}

const ADDRESS_FIELDS = [
  ["name", "Name (company or person)", true],
  ["line1", "Address line 1", true],
  ["line2", "Address line 2", false],
  ["city", "City", true],
  ["postalCode", "Postal code", false],
  ["state", "State or region", false],
  ["country", "Country (two letters, e.g. US)", true],
];

export function BillingAddressTab({ org }) {
  const state = useLoad(() => query(METHODS, { id: org.id }), [org.id]);
  const [saved, onSubmit] = useSubmit((values) => mutate(ADDRESS, { organizationId: org.id, ...values }));
  return html`<${Loading} state=${state}>
    ${(data) => {
      const billing = data.node.billing;
      if (billing.__typename !== "Billing") return html`<${ListError} result=${billing} />`;
      const address = billing.billingAddress ?? {};
      return html`<section class="card"><h2>Billing address</h2>
        <form class="stack" onSubmit=${onSubmit}>
          ${ADDRESS_FIELDS.map(([name, text, required]) => html`<${Field} label=${text} name=${name} required=${required} value=${address[name] ?? ""} error=${saved.error} />`)}
          <${FormError} error=${saved.error} fields=${ADDRESS_FIELDS.map(([name]) => name)} />
          <button disabled=${saved.busy}>Save billing address</button>
        </form>
        ${saved.ok && html`<${Notice} kind="good">The billing address is saved.</${Notice}>`}
      </section>`;
    }}
  </${Loading}>`;
}
