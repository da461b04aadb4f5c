// Billing documents: receipts of every payment (printable), and monthly statements (with CSV downloads).
import { query } from "../api.js";
import { label, localDate, localTime, money } from "../format.js";
import { html, useState } from "../html.js";
import { Field, ListError, Loading, useLoad } from "../ui.js";

const M = "{ amount currency }";
const RECEIPTS = `query Receipts($id: ID!, $before: Int) { receipts(organizationId: $id, first: 20, before: $before) {
  __typename ... on Error { message }
  ... on Receipts { nextBefore receipts { id numberLabel issuedAt purpose description amount ${M} cardBrand cardLast4 downloadUrl } } } }`;
const STATEMENT = `query Statement($id: ID!, $month: String!) { statement(organizationId: $id, month: $month) {
  __typename ... on Error { message field }
  ... on Statement { month startsAt endsAt openingBalance ${M} creditsBought ${M} creditsGranted ${M} creditsUsed ${M}
    creditsExpired ${M} creditsRefunded ${M} settlement ${M} subscriptionCharges ${M} closingBalance ${M}
    summaryCsvUrl usageCsvUrl } } }`;

const LINES = [
  ["openingBalance", "Opening balance"],
  ["creditsBought", "Credits bought"],
  ["creditsGranted", "Promotional credits"],
  ["creditsUsed", "Credits used"],
  ["creditsExpired", "Credits expired"],
  ["creditsRefunded", "Credits refunded"],
  ["settlement", "Usage beyond credits (settled)"],
  ["subscriptionCharges", "Subscription charges"],
  ["closingBalance", "Closing balance"],
];

function Receipts({ org }) {
  const [before, setBefore] = useState(null);
  const state = useLoad(() => query(RECEIPTS, { id: org.id, before }), [org.id, before]);
  return html`<section class="card"><h2>Receipts</h2>
    <${Loading} state=${state}>
      ${(data) => {
        const result = data.receipts;
        if (result.__typename !== "Receipts") return html`<${ListError} result=${result} />`;
        if (result.receipts.length === 0) return html`<p>No payments yet: each one gets a receipt here.</p>`;
        return html`<table aria-label="Receipts">
            <thead><tr><th>Receipt</th><th>Date</th><th>What</th><th class="num">Amount</th><th>Card</th></tr></thead>
            <tbody>${result.receipts.map((r) => html`<tr>
              <td><a href=${r.downloadUrl} target="_blank" rel="noopener">${r.numberLabel}</a></td>
              <td>${localTime(r.issuedAt)}</td><td>${r.description || label(r.purpose)}</td>
              <td class="num">${money(r.amount)}</td><td>${r.cardBrand ? `${r.cardBrand} ending ${r.cardLast4}` : "—"}</td></tr>`)}</tbody>
          </table>
          ${before !== null && html`<button type="button" class="secondary" onClick=${() => setBefore(null)}>Newest receipts</button> `}
          ${result.nextBefore !== null && html`<button type="button" class="secondary" onClick=${() => setBefore(result.nextBefore)}>Older receipts</button>`}`;
      }}
    </${Loading}>
  </section>`;
}

function Statement({ org }) {
  const [month, setMonth] = useState(() => new Date().toISOString().slice(0, 7)); // this UTC month
  const state = useLoad(() => query(STATEMENT, { id: org.id, month }), [org.id, month]);
  return html`<section class="card"><h2>Monthly statement</h2>
    <${Field} label="Month (UTC)" name="month" type="month" value=${month} required
      onChange=${(e) => e.currentTarget.value && setMonth(e.currentTarget.value)} />
    <${Loading} state=${state}>
      ${(data) => {
        const s = data.statement;
        if (s.__typename !== "Statement") return html`<${ListError} result=${s} />`;
        return html`<p>From ${localDate(s.startsAt)} to ${localDate(s.endsAt)} (UTC month ${s.month}).</p>
          <table aria-label=${`Statement ${s.month}`}>
            <tbody>${LINES.map(([key, text]) => html`<tr><th scope="row">${text}</th><td class="num">${money(s[key])}</td></tr>`)}</tbody>
          </table>
          <p><a href=${s.summaryCsvUrl} download>Statement (CSV)</a> · <a href=${s.usageCsvUrl} download>Usage by day, model and project (CSV)</a></p>`;
      }}
    </${Loading}>
  </section>`;
}

export function DocumentsTab({ org }) {
  return html`<${Receipts} org=${org} /><${Statement} org=${org} />`;
}
