// The payment provider's own UI for cards, as the API names it (`paymentProvider`). With Stripe, that is
// Stripe.js, loaded from Stripe itself when first needed (Stripe's rule: never a copy, never bundled); the
// page's policy allows Stripe's origins only while Stripe is the provider. The fake provider's script comes
// from the app's own origin and does 3-D Secure only (its dialog); the console's own test-card form
// stands for its card form.
import { ERROR, mutate, query } from "./api.js";

const PROVIDER = `query PaymentProvider { paymentProvider { __typename ... on Error { message }
  ... on PaymentProvider { name publishableKey scriptUrl } } }`;

let loading = null;

function loadScript(src) {
  return new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = src;
    script.onload = resolve;
    script.onerror = () => {
      script.remove();
      reject(new Error("The payment provider's card form could not be loaded; check your connection and try again."));
    };
    document.head.append(script);
  });
}

// the function each provider's script defines, which makes its client from the publishable key
const CLIENT_OF_SCRIPT = { stripe: "Stripe", fake: "FakeProvider" };

/**
 * {name, publishableKey, client}: `client` is the provider's script's client (Stripe.js's for Stripe, with
 * `elements` and `confirmCardSetup`; every client has `confirmCardPayment`), or null when it has no script.
 */
export function paymentProvider() {
  loading ??= query(PROVIDER)
    .then(async ({ paymentProvider: provider }) => {
      if (provider.__typename !== "PaymentProvider") throw new Error(provider.message);
      const global = CLIENT_OF_SCRIPT[provider.name];
      if (!global || !provider.scriptUrl) return { ...provider, client: null };
      if (!window[global]) await loadScript(provider.scriptUrl);
      return { ...provider, client: window[global](provider.publishableKey) };
    })
    .catch((failure) => {
      loading = null; // a failed load is tried again next time
      throw failure;
    });
  return loading;
}

/**
 * Let the cardholder authenticate a payment (3-D Secure) in the provider's UI. Resolves to null when done
 * there (the caller then completes it with `completePayment`), or to a message to show.
 */
export async function authenticatePayment(clientSecret) {
  const provider = await paymentProvider();
  if (!provider.client || !clientSecret) {
    return "Your bank asks you to confirm this payment, and this provider has no confirmation page in the console.";
  }
  const { error } = await provider.client.confirmCardPayment(clientSecret);
  return error ? error.message : null;
}

const AWAITING = "... on PaymentAuthenticationRequired { chargeId clientSecret }";

/**
 * Finish a payment the bank wants the cardholder to confirm (the answer `PaymentAuthenticationRequired` of a
 * purchase, subscription or upgrade, or a charge waiting in the list): the provider's UI asks for it, then
 * `completePayment` applies it. `payload` is what to read back on success (e.g. the organization), with the
 * `fragments` it spreads. Resolves like `mutate`.
 */
export async function confirmPayment({ chargeId, clientSecret }, payload = "charge { id status }", fragments = "") {
  const complete = `mutation CompletePayment($input: CompletePaymentInput!) { completePayment(input: $input) {
    ${ERROR} ${AWAITING} ... on CompletePaymentPayload { ${payload} } } } ${fragments}`;
  if (!clientSecret) {
    // a charge from the list: the API says whether it is still waiting, and gives the secret if so
    const asked = await mutate(complete, { chargeId });
    if (asked.error?.__typename !== "PaymentAuthenticationRequired") return asked;
    clientSecret = asked.error.clientSecret;
  }
  const problem = await authenticatePayment(clientSecret);
  if (problem) return { error: { message: problem } };
  return mutate(complete, { chargeId });
}

/** The fields a mutation whose card may need the cardholder's confirmation asks for. */
export const MAY_NEED_CONFIRMATION = AWAITING;
