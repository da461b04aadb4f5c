// Invites (Organization Admins): invite several addresses at once, the recent list, resend, revoke.
import { ERROR, mutate, query } from "../api.js";
import { label, localTime } from "../format.js";
import { html, useState } from "../html.js";
import { Field, FormError, ListError, Loading, Notice, useLoad, useSubmit } from "../ui.js";

const INVITES = `query Invites($id: ID!) { node(id: $id) { ... on Organization {
  projects(first: 100) { edges { node { id name isDefault archivedAt } } }
  invitations { __typename ... on Error { message }
    ... on InvitationList { invitations(first: 100) { edges { node {
      id email role state sentAt expiresAt emailDelivery projects { role project { name } } } } } } } } } }`;

const INVITE = `mutation Invite($input: InviteMembersInput!) { inviteMembers(input: $input) { ${ERROR}
  ... on InviteMembersPayload { invitedCount outcomes { __typename
    ... on AddressInvited { email }
    ... on AddressRefusedError { email message code } } } } }`;
const RESEND = `mutation Resend($input: InvitationIdInput!) { resendInvitation(input: $input) { ${ERROR} } }`;
const REVOKE = `mutation Revoke($input: InvitationIdInput!) { revokeInvitation(input: $input) { ${ERROR} } }`;

/** The addresses typed in one box: separated by commas, semicolons, spaces or lines. */
export function splitAddresses(text) {
  return text.split(/[\s,;]+/).filter(Boolean);
}

function InviteForm({ org, projects, onInvited }) {
  const [state, onSubmit] = useSubmit(async (values) => {
    const input = { organizationId: org.id, emails: splitAddresses(values.emails), role: values.role, projects: [] };
    if (values.projectId) input.projects = [{ projectId: values.projectId, role: values.projectRole }];
    const result = await mutate(INVITE, input);
    if (result.ok) onInvited();
    return result;
  });
  return html`<section class="card">
    <h2>New invite</h2>
    <form class="stack" onSubmit=${onSubmit}>
      <${Field} label="Email addresses" name="emails" type="textarea" rows="3" required error=${state.error}
        hint="One or more, separated by commas or new lines. Each gets its own invitation." />
      <${Field} label="Organization role" name="role" error=${state.error}>
        <option value="MEMBER">Member</option>
        <option value="ORGANIZATION_ADMIN">Organization admin</option>
      </${Field}>
      <${Field} label="Project" name="projectId" error=${state.error} hint="Members work in projects; Organization admins are in all of them.">
        ${projects.map((p) => html`<option value=${p.id}>${p.name}</option>`)}
        <option value="">No project (Organization admins only)</option>
      </${Field}>
      <${Field} label="Project role" name="projectRole">
        <option value="PROJECT_MEMBER">Project member</option>
        <option value="PROJECT_ADMIN">Project admin</option>
      </${Field}>
      <${FormError} error=${state.error} fields=${["emails", "role"]} />
      <button disabled=${state.busy}>Send invitations</button>
    </form>
    ${state.ok &&
    html`<div role="status">
      <p>${state.ok.invitedCount} invitation${state.ok.invitedCount === 1 ? "" : "s"} sent.</p>
      <ul aria-label="Result per address">
        ${state.ok.outcomes.map((o) =>
          o.__typename === "AddressInvited"
            ? html`<li><strong>${o.email}</strong>: invited</li>`
            : html`<li class="error"><strong>${o.email}</strong>: ${o.message}</li>`,
        )}
      </ul>
    </div>`}
  </section>`;
}

export function Invites({ org }) {
  const state = useLoad(() => query(INVITES, { id: org.id }), [org.id]);
  const [outcome, setOutcome] = useState(null);
  const act = async (mutation, invitation, done) => {
    const result = await mutate(mutation, { invitationId: invitation.id }).catch((e) => ({ error: e }));
    setOutcome(result.error ? { kind: "bad", text: result.error.message } : { kind: "good", text: done });
    state.reload();
  };
  return html`<h1 tabindex="-1">Invites</h1>
    <${Loading} state=${state}>
      ${(data) => {
        const projects = data.node.projects.edges
          .map((e) => e.node)
          .filter((p) => !p.archivedAt)
          .sort((a, b) => b.isDefault - a.isDefault); // the Default project first: the usual choice
        const list = data.node.invitations;
        return html`<${InviteForm} org=${org} projects=${projects} onInvited=${state.reload} />
          <h2>Pending, declined and expired (last 30 days)</h2>
          ${outcome && html`<${Notice} kind=${outcome.kind}>${outcome.text}</${Notice}>`}
          ${list.__typename !== "InvitationList"
            ? html`<${ListError} result=${list} />`
            : list.invitations.edges.length === 0
              ? html`<p>No invitation in the last 30 days.</p>`
              : html`<table>
                <thead><tr><th>Email</th><th>Role</th><th>State</th><th>Sent</th><th>Expires</th><th><span class="sr-only">Actions</span></th></tr></thead>
                <tbody>
                  ${list.invitations.edges.map(({ node: i }) => html`<tr>
                    <td>${i.email}</td>
                    <td>${label(i.role)}${i.projects.map((p) => html`<br />${p.project.name} (${label(p.role)})`)}</td>
                    <td>${label(i.state)}${i.emailDelivery === "FAILED" ? " (email failed)" : ""}</td>
                    <td>${localTime(i.sentAt)}</td>
                    <td>${localTime(i.expiresAt)}</td>
                    <td>
                      <button type="button" class="secondary" aria-label=${`Resend to ${i.email}`}
                        onClick=${() => act(RESEND, i, `A new invitation went to ${i.email}.`)}>Resend</button>
                      ${i.state === "PENDING" &&
                      html` <button type="button" class="danger" aria-label=${`Revoke the invitation of ${i.email}`}
                        onClick=${() => act(REVOKE, i, `The invitation of ${i.email} was revoked.`)}>Revoke</button>`}
                    </td>
                  </tr>`)}
                </tbody>
              </table>`}`;
      }}
    </${Loading}>`;
}
