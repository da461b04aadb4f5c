// A stand-in for Stripe.js (https://js.stripe.com/v3/) in the console's browser tests, which run without
// internet: the test serves this file at Stripe's address, and routes its requests to api.stripe.com to the
// tests' strict Stripe stand-in (tests/providers/stripe_js_api.py). It implements only what the console
// calls, the way Stripe.js does it: the publishable key and the intent's client secret, form-encoded.
// Real Elements draw the card field in a frame of js.stripe.com; this one is a plain input in the page.
(() => {
  const API = "https://api.stripe.com";

  function encode(value, prefix, out) {
    for (const [name, item] of Object.entries(value)) {
      const key = prefix ? `${prefix}[${name}]` : name;
      if (item !== null && typeof item === "object") encode(item, key, out);
      else out.append(key, String(item));
    }
    return out;
  }

  async function call(key, method, path, params) {
    const form = encode({ ...params, key }, "", new URLSearchParams());
    const response =
      method === "GET"
        ? await fetch(`${API}${path}?${form}`)
        : await fetch(`${API}${path}`, { method, body: form });
    const body = await response.json();
    return response.ok ? { ok: body } : { error: body.error };
  }

  const intentOf = (clientSecret) => clientSecret.split("_secret_")[0];

  function cardElement() {
    const input = document.createElement("input");
    input.setAttribute("aria-label", "Card number");
    input.setAttribute("autocomplete", "cc-number");
    input.dataset.fakeStripe = "card";
    return {
      mount(target) {
        (typeof target === "string" ? document.querySelector(target) : target).append(input);
      },
      unmount() {
        input.remove();
      },
      destroy() {
        input.remove();
      },
      on() {},
      number: () => input.value,
    };
  }

  window.Stripe = function Stripe(key) {
    if (!key || !key.startsWith("pk_")) throw new Error(`Stripe(): a publishable key is required, got ${key}`);

    // the next action of a PaymentIntent (3-D Secure): the cardholder passes the challenge in Stripe's frame
    async function handleNextAction(clientSecret) {
      const id = intentOf(clientSecret);
      const read = await call(key, "GET", `/v1/payment_intents/${id}`, { client_secret: clientSecret });
      if (read.error) return { error: read.error };
      if (read.ok.status !== "requires_action") return { paymentIntent: read.ok };
      const done = await call(key, "POST", "/v1/3ds2/authenticate", { intent: id, client_secret: clientSecret });
      return done.error ? { error: done.error } : { paymentIntent: done.ok };
    }

    return {
      elements() {
        return { create: (type) => cardElement(type) };
      },
      async confirmCardSetup(clientSecret, data) {
        const card = data?.payment_method?.card;
        const confirmed = await call(key, "POST", `/v1/setup_intents/${intentOf(clientSecret)}/confirm`, {
          client_secret: clientSecret,
          payment_method_data: { type: "card", card: { number: card.number() } },
        });
        return confirmed.error ? { error: confirmed.error } : { setupIntent: confirmed.ok };
      },
      confirmCardPayment: (clientSecret) => handleNextAction(clientSecret),
      handleNextAction: ({ clientSecret }) => handleNextAction(clientSecret),
    };
  };
})();
