// Payment methods through the provider's own card form, and the billing address.
import { ERROR, mutate, query } from "../api.js";
import { html, useEffect, useRef, useState } from "../html.js";
import { paymentProvider } from "../provider.js";
import { Field, FormError, ListError, Loading, Notice, showOrganization, useLoad, useSubmit } from "../ui.js";

// what these tabs show of the organization; the mutations answer with it, so the tab updates in place
const BILLING = `fragment PaymentTabs on Organization { billing { __typename ... on Error { message }
  ... on Billing { paymentMethods { id brand last4 expMonth expYear isDefault }
    billingAddress { name line1 line2 city postalCode state country } } } }`;
const METHODS = `query Methods($id: ID!) { node(id: $id) { ...PaymentTabs } } ${BILLING}`;
const SET_UP = `mutation SetUp($input: SetUpPaymentMethodInput!) { setUpPaymentMethod(input: $input) { ${ERROR}
  ... on PaymentMethodSetupPayload { provider publishableKey clientSecret setupRef } } }`;
const ATTACH = `mutation Attach($input: AttachPaymentMethodInput!) { attachPaymentMethod(input: $input) { ${ERROR}
  ... on PaymentMethodPayload { paymentMethod { brand last4 } organization { ...PaymentTabs } } } } ${BILLING}`;
const REMOVE = `mutation RemoveCard($input: PaymentMethodIdInput!) { removePaymentMethod(input: $input) { ${ERROR}
  ... on RemovePaymentMethodPayload { organization { ...PaymentTabs } } } } ${BILLING}`;
const DEFAULT = `mutation DefaultCard($input: PaymentMethodIdInput!) { setDefaultPaymentMethod(input: $input) { ${ERROR}
  ... on PaymentMethodPayload { organization { ...PaymentTabs } } } } ${BILLING}`;
const ADDRESS = `mutation Address($input: SetBillingAddressInput!) { setBillingAddress(input: $input) { ${ERROR}
  ... on BillingAddressPayload { organization { ...PaymentTabs } } } } ${BILLING}`;

const attach = (org, paymentMethodRef) => mutate(ATTACH, { organizationId: org.id, paymentMethodRef, makeDefault: true });

/** The fake provider's own card form: its test numbers stand for cards (4242 4242 4242 4242 succeeds). */
function FakeCardForm({ org, onAttached }) {
  const [state, onSubmit] = useSubmit(async (values) => {
    const result = await attach(org, values.number);
    if (result.ok) onAttached(result.ok);
    return result;
  });
  return html`<form class="stack" onSubmit=${onSubmit} aria-label="Test card">
    <p class="notice">Test mode (fake provider): no real card is charged. 4242 4242 4242 4242 succeeds,
      4000 0000 0000 0002 is declined, 4000 0000 0000 9995 has insufficient funds,
      4000 0025 0000 3155 asks you to authenticate each payment (3-D Secure).</p>
    <${Field} label="Card number" name="number" inputmode="numeric" autocomplete="cc-number" required error=${state.error}
      hint="A test card number." />
    <${FormError} error=${state.error} fields=${["number"]} />
    <button disabled=${state.busy}>Save card</button>
  </form>`;
}

/**
 * Stripe's own card field (Elements, in Stripe's frame): the card goes from the browser to Stripe only;
 * confirming the set-up gives the PaymentMethod that the API then keeps on file.
 */
function StripeCardForm({ org, setup, onAttached }) {
  const target = useRef(null);
  const [form, setForm] = useState({ stripe: null, card: null, error: null });
  useEffect(() => {
    let card = null;
    let live = true;
    paymentProvider().then(
      ({ client: stripe }) => {
        if (!live) return; // the form closed while Stripe.js loaded
        card = stripe.elements().create("card");
        card.mount(target.current);
        setForm({ stripe, card, error: null });
      },
      (failure) => live && setForm({ stripe: null, card: null, error: failure.message }),
    );
    return () => {
      live = false;
      card?.destroy();
    };
  }, []);
  const [state, onSubmit] = useSubmit(async () => {
    const { setupIntent, error } = await form.stripe.confirmCardSetup(setup.clientSecret, {
      payment_method: { card: form.card },
    });
    if (error) return { error: { message: error.message } };
    const result = await attach(org, setupIntent.payment_method);
    if (result.ok) onAttached(result.ok);
    return result;
  });
  return html`<form class="stack" onSubmit=${onSubmit} aria-label="Card">
    <fieldset><legend>Card details (collected by Stripe)</legend><div class="card-element" ref=${target}></div></fieldset>
    ${form.error && html`<${Notice} kind="bad">${form.error}</${Notice}>`}
    <${FormError} error=${state.error} />
    <button disabled=${state.busy || !form.card}>Save card</button>
  </form>`;
}

function AddCard({ org, onAttached }) {
  const [setup, setSetup] = useState(null);
  const [state, onSubmit] = useSubmit(async () => {
    const result = await mutate(SET_UP, { organizationId: org.id });
    if (result.ok) setSetup(result.ok);
    return result;
  });
  const done = (payload) => {
    setSetup(null); // a set-up serves one card
    onAttached(payload);
  };
  if (setup?.provider === "fake") return html`<${FakeCardForm} org=${org} onAttached=${done} />`;
  if (setup?.provider === "stripe") return html`<${StripeCardForm} org=${org} setup=${setup} onAttached=${done} />`;
  if (setup) {
    return html`<${Notice} kind="bad">The ${setup.provider} provider has no card form in this console; add the card with the provider's own tools.</${Notice}>`;
  }
  return html`<form onSubmit=${onSubmit}><button disabled=${state.busy}>Add a card</button><${FormError} error=${state.error} /></form>`;
}

export function PaymentTab({ org }) {
  const state = useLoad(() => query(METHODS, { id: org.id }), [org.id]);
  const [outcome, setOutcome] = useState(null);
  const act = async (mutation, method, done) => {
    const result = await mutate(mutation, { paymentMethodId: method.id }).catch((e) => ({ error: e }));
    setOutcome(result.error ? { kind: "bad", text: result.error.message } : { kind: "good", text: done });
    if (result.ok) showOrganization(state, result.ok.organization);
  };
  const attached = ({ paymentMethod: card, organization }) => {
    setOutcome({ kind: "good", text: `Saved ${card.brand} ending ${card.last4}.` });
    showOrganization(state, organization);
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
  const [saved, onSubmit] = useSubmit(async (values) => {
    const result = await mutate(ADDRESS, { organizationId: org.id, ...values });
    if (result.ok) showOrganization(state, result.ok.organization);
    return result;
  });
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
