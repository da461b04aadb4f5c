// Members (Organization Admins): roles, removal, project assignments.
import { ERROR, mutate, query } from "../api.js";
import { html, useState } from "../html.js";
import { label, localDate } from "../format.js";
import { ListError, Loading, Notice, useLoad } from "../ui.js";

const MEMBERS = `query Members($id: ID!) { node(id: $id) { ... on Organization {
  members { __typename ... on Error { message }
    ... on MemberList { members(first: 100) { edges { node {
      id role joinedAt user { id name email } projectRoles { role project { id name } } } } } } } } } }`;

const CHANGE_ROLE = `mutation ChangeRole($input: ChangeMemberRoleInput!) { changeMemberRole(input: $input) { ${ERROR} } }`;
const REMOVE = `mutation Remove($input: RemoveMemberInput!) { removeMember(input: $input) { ${ERROR} } }`;

export function Members({ org, me }) {
  const state = useLoad(() => query(MEMBERS, { id: org.id }), [org.id]);
  const [outcome, setOutcome] = useState(null);
  const act = async (mutation, input, done) => {
    const result = await mutate(mutation, { organizationId: org.id, ...input }).catch((e) => ({ error: e }));
    setOutcome(result.error ? { kind: "bad", text: result.error.message } : { kind: "good", text: done });
    state.reload();
  };
  return html`<h1 tabindex="-1">Members</h1>
    ${outcome && html`<${Notice} kind=${outcome.kind}>${outcome.text}</${Notice}>`}
    <${Loading} state=${state}>
      ${(data) => {
        const result = data.node.members;
        if (result.__typename !== "MemberList") return html`<${ListError} result=${result} />`;
        const members = result.members.edges.map((e) => e.node);
        return html`<table>
          <caption class="sr-only">Members of ${org.name}</caption>
          <thead><tr><th>Name</th><th>Email</th><th>Role</th><th>Projects</th><th>Joined</th><th><span class="sr-only">Actions</span></th></tr></thead>
          <tbody>
            ${members.map(
              (m) => html`<tr>
                <td>${m.user.name || "—"}</td>
                <td>${m.user.email}</td>
                <td>
                  <label class="sr-only" for=${`role-${m.id}`}>Role of ${m.user.email}</label>
                  <select id=${`role-${m.id}`} value=${m.role}
                    onChange=${(e) => act(CHANGE_ROLE, { userId: m.user.id, role: e.currentTarget.value }, `${m.user.email} is now ${label(e.currentTarget.value)}.`)}>
                    <option value="ORGANIZATION_ADMIN">Organization admin</option>
                    <option value="MEMBER">Member</option>
                  </select>
                </td>
                <td>${m.projectRoles.map((p) => `${p.project.name} (${label(p.role)})`).join(", ") || "—"}</td>
                <td>${localDate(m.joinedAt)}</td>
                <td>${m.user.id !== me.user.id &&
                  html`<button type="button" class="danger" aria-label=${`Remove ${m.user.email}`}
                    onClick=${() => confirm(`Remove ${m.user.email} from ${org.name}?`) && act(REMOVE, { userId: m.user.id }, `${m.user.email} was removed.`)}>Remove</button>`}</td>
              </tr>`,
            )}
          </tbody>
        </table>`;
      }}
    </${Loading}>`;
}
