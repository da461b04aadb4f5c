// Settings: the Organization ID (with copy), name, type.
import { ERROR, mutate } from "../api.js";
import { html } from "../html.js";
import { localTime } from "../format.js";
import { may } from "../permissions.js";
import { CopyButton, Field, FormError, Notice, useSubmit } from "../ui.js";

const LEAVE = `mutation Leave($input: LeaveOrganizationInput!) { leaveOrganization(input: $input) { ${ERROR} } }`;
const RENAME = `mutation Rename($input: RenameOrganizationInput!) {
  renameOrganization(input: $input) { ${ERROR} ... on OrganizationPayload { organization { id name } } } }`;

function Leave({ org, reloadMe }) {
  const [state, onSubmit] = useSubmit(async () => {
    if (!confirm(`Leave ${org.name}? You lose access to its projects and keys.`)) return {};
    const result = await mutate(LEAVE, { organizationId: org.id });
    if (result.ok) {
      await reloadMe();
      location.hash = "#/";
    }
    return result;
  });
  return html`<section class="card">
    <h2>Leave this organization</h2>
    <form onSubmit=${onSubmit}><button class="danger" disabled=${state.busy}>Leave ${org.name}</button></form>
    <${FormError} error=${state.error} />
  </section>`;
}

export function Settings({ org, reloadMe }) {
  const [state, onSubmit] = useSubmit(async (values) => {
    const result = await mutate(RENAME, { organizationId: org.id, name: values.name });
    if (result.ok) reloadMe();
    return result;
  });
  return html`<h1 tabindex="-1">Settings</h1>
    <section class="card">
      <h2>Organization</h2>
      <table>
        <tbody>
          <tr><th scope="row">Organization ID</th>
            <td><code>${org.organizationId}</code> <${CopyButton} text=${org.organizationId} label="Copy Organization ID" /></td></tr>
          <tr><th scope="row">Type</th>
            <td>${org.type === "TEAM" ? "Team" : "Personal"}. To change it, contact support.</td></tr>
          <tr><th scope="row">Created</th><td>${localTime(org.createdAt)}</td></tr>
        </tbody>
      </table>
    </section>
    ${may.rename(org)
      ? html`<section class="card">
          <h2>Name</h2>
          <form class="inline" onSubmit=${onSubmit}>
            <${Field} label="Organization name" name="name" required value=${org.name} error=${state.error} />
            <button disabled=${state.busy}>Rename</button>
          </form>
          <${FormError} error=${state.error} fields=${["name"]} />
          ${state.ok && html`<${Notice} kind="good">Renamed to ${state.ok.organization.name}.</${Notice}>`}
        </section>`
      : html`<p>Name: <strong>${org.name}</strong></p>`}
    ${org.type === "TEAM" && html`<${Leave} org=${org} reloadMe=${reloadMe} />`}`;
}
