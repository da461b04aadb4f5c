// Spend alerts (an email when the month's spend passes an amount) and the low-balance alert's level.
import { ERROR, mutate, query } from "../api.js";
import { localTime, money } from "../format.js";
import { html } from "../html.js";
import { Field, FormError, ListError, Loading, Notice, useLoad, useSubmit } from "../ui.js";

const M = "{ amount currency }";
const FIELDS = `__typename month monthToDateSpend ${M} lowBalanceAlert ${M} lowBalanceAlertIsDefault
  spendAlerts { id amount ${M} firedAt }`;
const LOAD = `query Alerts($id: ID!) { notificationSettings(organizationId: $id) { __typename ... on Error { message }
  ... on NotificationSettings { ${FIELDS} } } }`;
// each change answers with the settings as they are now: the card shows them without asking again
const change = (name, input) => `mutation ${name[0].toUpperCase()}${name.slice(1)}($input: ${input}!) {
  ${name}(input: $input) { ${ERROR} ... on NotificationSettingsPayload { settings { ${FIELDS} } } } }`;
const ADD = change("addSpendAlert", "AddSpendAlertInput");
const REMOVE = change("removeSpendAlert", "RemoveSpendAlertInput");
const LOW = change("setLowBalanceAlert", "SetLowBalanceAlertInput");

export function AlertsCard({ org }) {
  const state = useLoad(() => query(LOAD, { id: org.id }), [org.id]);
  const after = async (promise) => {
    const result = await promise;
    if (result.ok) state.show({ notificationSettings: result.ok.settings });
    return result;
  };
  const [added, onAdd] = useSubmit((values, form) =>
    after(mutate(ADD, { organizationId: org.id, amount: values.amount })).then((r) => (r.ok && form.reset(), r)),
  );
  const [low, onLow] = useSubmit((values) => after(mutate(LOW, { organizationId: org.id, amount: values.lowBalance || null })));
  const [removed, onRemove] = useSubmit((values) => after(mutate(REMOVE, { alertId: values.alertId })));
  return html`<section class="card"><h2>Alerts</h2>
    <${Loading} state=${state}>
      ${(data) => {
        const s = data.notificationSettings;
        if (s.__typename !== "NotificationSettings") return html`<${ListError} result=${s} />`;
        return html`<p>Spend in ${s.month} (UTC) so far: <strong>${money(s.monthToDateSpend)}</strong>.</p>
          <ul aria-label="Spend alerts">${s.spendAlerts.map((a) => html`<li>
            <form class="inline" onSubmit=${onRemove} aria-label=${`Spend alert at ${money(a.amount)}`}>
              Email when the month's spend passes ${money(a.amount)}${a.firedAt ? ` (sent ${localTime(a.firedAt)})` : ""}
              <input type="hidden" name="alertId" value=${a.id} />
              <button class="secondary" disabled=${removed.busy} aria-label=${`Remove the spend alert at ${money(a.amount)}`}>Remove</button>
            </form></li>`)}</ul>
          ${s.spendAlerts.length === 0 && html`<p>No spend alert yet.</p>`}
          <${FormError} error=${removed.error} />
          <form class="inline" onSubmit=${onAdd} aria-label="New spend alert">
            <${Field} label="Alert when the month's spend passes (USD)" name="amount" inputmode="decimal" required error=${added.error} />
            <button disabled=${added.busy}>Add spend alert</button>
          </form>
          <${FormError} error=${added.error} fields=${["amount"]} />
          ${added.ok && html`<${Notice} kind="good">The spend alert is added.</${Notice}>`}
          <form class="inline" onSubmit=${onLow} aria-label="Low-balance alert">
            <${Field} label="Low-balance alert below (USD)" name="lowBalance" inputmode="decimal" error=${low.error}
              value=${s.lowBalanceAlertIsDefault ? "" : s.lowBalanceAlert.amount}
              hint=${`Now ${money(s.lowBalanceAlert)}${s.lowBalanceAlertIsDefault ? ", the service's default" : ""}; empty: the default.`} />
            <button class="secondary" disabled=${low.busy}>Save low-balance alert</button>
          </form>
          <${FormError} error=${low.error} fields=${["amount", "lowBalance"]} />
          ${low.ok && html`<${Notice} kind="good">The low-balance alert is saved.</${Notice}>`}`;
      }}
    </${Loading}>
  </section>`;
}
