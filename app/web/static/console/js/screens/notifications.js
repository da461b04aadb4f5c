// Who gets which billing emails: the asking admin's own notices, and billing contacts who are not members.
import { ERROR, mutate, query } from "../api.js";
import { label, localDate } from "../format.js";
import { html, useState } from "../html.js";
import { Field, FormError, ListError, Loading, Notice, useLoad, useSubmit } from "../ui.js";

const NOTICES = [
  ["RECEIPTS", "Receipts of payments"],
  ["LOW_BALANCE", "Low balance"],
  ["CREDITS_EXPIRING", "Credits about to expire"],
  ["SPEND_ALERTS", "Spend alerts"],
  ["FAILED_CHARGES", "Failed charges"],
  ["SUBSCRIPTION_CHANGES", "Subscription renewals and changes"],
];
const FIELDS = "__typename myNotices billingContacts { id email notices createdAt }";
const LOAD = `query Notifications($id: ID!) { notificationSettings(organizationId: $id) { __typename ... on Error { message }
  ... on NotificationSettings { ${FIELDS} } } }`;
// each change answers with the settings as they are now: the tab shows them without asking again
const change = (name, input) => `mutation ${name[0].toUpperCase()}${name.slice(1)}($input: ${input}!) {
  ${name}(input: $input) { ${ERROR} ... on NotificationSettingsPayload { settings { ${FIELDS} } } } }`;
const MINE = change("setMyNotices", "SetMyNoticesInput");
const ADD = change("addBillingContact", "AddBillingContactInput");
const UPDATE = change("updateBillingContact", "UpdateBillingContactInput");
const REMOVE = change("removeBillingContact", "RemoveBillingContactInput");

const chosen = (form) => new FormData(form).getAll("notices");

function NoticeChoices({ legend, checked }) {
  return html`<fieldset><legend>${legend}</legend>
    ${NOTICES.map(([value, text]) => html`<label class="check">
      <input type="checkbox" name="notices" value=${value} checked=${checked.includes(value)} /> ${text}</label>`)}
  </fieldset>`;
}

function Contact({ contact, apply }) {
  const [saved, onSave] = useSubmit((_, form) => apply(UPDATE, { contactId: contact.id, notices: chosen(form) }));
  const [removeError, setRemoveError] = useState(null);
  const remove = async () => {
    const result = await apply(REMOVE, { contactId: contact.id }).catch((failure) => ({ error: failure }));
    setRemoveError(result.error ?? null);
  };
  return html`<li>
    <form class="stack" onSubmit=${onSave} aria-label=${`Billing contact ${contact.email}`}>
      <${NoticeChoices} legend=${`${contact.email} (added ${localDate(contact.createdAt)}) gets`} checked=${contact.notices} />
      <${FormError} error=${saved.error} />
      <p><button class="secondary" disabled=${saved.busy}>Save</button>
        ${" "}<button type="button" class="danger" onClick=${remove}>Remove ${contact.email}</button></p>
      <${FormError} error=${removeError} />
    </form>
  </li>`;
}

export function NotificationsTab({ org }) {
  const state = useLoad(() => query(LOAD, { id: org.id }), [org.id]);
  const apply = async (mutation, input) => {
    const result = await mutate(mutation, input);
    if (result.ok) state.show({ notificationSettings: result.ok.settings });
    return result;
  };
  const [mine, onMine] = useSubmit((_, form) => apply(MINE, { organizationId: org.id, notices: chosen(form) }));
  const [added, onAdd] = useSubmit(async (values, form) => {
    const result = await apply(ADD, { organizationId: org.id, email: values.email, notices: chosen(form) });
    if (result.ok) form.reset();
    return result;
  });
  return html`<${Loading} state=${state}>
    ${(data) => {
      const s = data.notificationSettings;
      if (s.__typename !== "NotificationSettings") return html`<${ListError} result=${s} />`;
      return html`<section class="card"><h2>Your billing emails</h2>
          <p>Security notices (such as a failed auto-recharge) reach every Organization Admin whatever is chosen here.</p>
          <form class="stack" onSubmit=${onMine} aria-label="Your billing emails">
            <${NoticeChoices} legend="You get" checked=${s.myNotices} />
            <${FormError} error=${mine.error} />
            <button disabled=${mine.busy}>Save your notices</button>
          </form>
          ${mine.ok && html`<${Notice} kind="good">Your notices are saved: ${s.myNotices.map(label).join(", ") || "none"}.</${Notice}>`}
        </section>
        <section class="card"><h2>Billing contacts</h2>
          <p>Addresses outside the organization (an accounts department) that get billing emails.</p>
          ${s.billingContacts.length === 0 && html`<p>No billing contact yet.</p>`}
          <ul class="plain" aria-label="Billing contacts">${s.billingContacts.map((c) => html`<${Contact} key=${c.id} contact=${c} apply=${apply} />`)}</ul>
          <form class="stack" onSubmit=${onAdd} aria-label="New billing contact">
            <${Field} label="Contact's email" name="email" type="email" required error=${added.error} />
            <${NoticeChoices} legend="The contact gets" checked=${["RECEIPTS"]} />
            <${FormError} error=${added.error} fields=${["email"]} />
            <button disabled=${added.busy}>Add billing contact</button>
          </form>
        </section>`;
    }}
  </${Loading}>`;
}
