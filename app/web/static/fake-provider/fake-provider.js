// The fake payment provider's own UI script, as Stripe.js is Stripe's: the console loads it from the URL the
// provider's `payment_ui` hook gives, and calls `FakeProvider(publishableKey).confirmCardPayment(clientSecret)`
// as it calls Stripe.js's method of that name. It shows the cardholder a 3-D Secure dialog and posts their
// answer to the provider (providers/fake/web.py) with the charge's client secret, the only credential; the
// console then asks the API to complete the payment. Served by the app, so the page's policy needs no origin.
(() => {
  const ENDPOINT = "/fake-provider/authentications";
  const CLOSED = "The authentication was closed; the payment waits for it in Recent charges.";

  /** Resolves to "authenticate", "fail", or null when the cardholder closes the dialog. */
  function ask() {
    return new Promise((resolve) => {
      const dialog = document.createElement("dialog");
      dialog.setAttribute("aria-labelledby", "fake-3ds-title");
      dialog.dataset.fakeProvider = "3ds";
      dialog.innerHTML = `<h2 id="fake-3ds-title">Authenticate this payment</h2>
        <p>Fake bank, test mode: your bank asks you to confirm this payment. No real card is charged.</p>
        <form method="dialog" class="row">
          <button value="authenticate">Authenticate</button>
          <button value="fail" class="danger">Fail authentication</button>
        </form>`;
      dialog.addEventListener("close", () => {
        dialog.remove();
        resolve(dialog.returnValue || null);
      });
      document.body.append(dialog);
      dialog.showModal();
    });
  }

  async function answer(clientSecret, outcome) {
    const response = await fetch(ENDPOINT, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ client_secret: clientSecret, outcome }),
    }).catch(() => null);
    const body = await response?.json().catch(() => null);
    if (!response?.ok || !body) {
      return { error: body?.error ?? { message: "The payment provider could not be reached; try again." } };
    }
    // a failed authentication is the cardholder's answer, as Stripe.js reports it: an error with the reason
    if (body.status !== "succeeded") return { error: { code: "payment_intent_authentication_failure", message: body.message } };
    return { paymentIntent: { status: body.status } };
  }

  window.FakeProvider = function FakeProvider(publishableKey) {
    if (!publishableKey) throw new Error("FakeProvider(): a publishable key is required");
    return {
      async confirmCardPayment(clientSecret) {
        const outcome = await ask();
        return outcome ? answer(clientSecret, outcome) : { error: { message: CLOSED } };
      },
    };
  };
})();
