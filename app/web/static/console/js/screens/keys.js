// API keys: per project, created with a name (the secret shown once, with copy), listed masked, revoked.
import { ERROR, mutate, query } from "../api.js";
import { localTime } from "../format.js";
import { html, useState } from "../html.js";
import { PROJECT_CAN, may } from "../permissions.js";
import { CopyButton, Field, FormError, Loading, Notice, useLoad, useSubmit } from "../ui.js";

const KEYS = `query Keys($id: ID!, $state: ApiKeyState) { node(id: $id) { ... on Organization {
  projects(first: 100, archived: false) { edges { node {
  id name archivedAt viewerRole ${PROJECT_CAN}
  apiKeys(first: 100, state: $state) { totalCount edges { node { id name maskedKey createdAt lastUsedAt revokedAt isActive createdBy { email } } } } } } } } } }`;
const CREATE = `mutation CreateKey($input: CreateApiKeyInput!) { createApiKey(input: $input) { ${ERROR}
  ... on CreateApiKeyPayload { secret apiKey { id name maskedKey } } } }`;
const REVOKE = `mutation RevokeKey($input: RevokeApiKeyInput!) { revokeApiKey(input: $input) { ${ERROR} } }`;

function NewKey({ project, onCreated }) {
  const [state, onSubmit] = useSubmit(async (values, form) => {
    const result = await mutate(CREATE, { projectId: project.id, name: values.name });
    if (result.ok) {
      form.reset();
      onCreated();
    }
    return result;
  });
  return html`<form class="inline" onSubmit=${onSubmit} aria-label=${`New key in ${project.name}`}>
      <${Field} label=${`New key name (${project.name})`} name="name" required error=${state.error} />
      <button disabled=${state.busy}>Create key</button>
      <${FormError} error=${state.error} fields=${["name"]} />
    </form>
    ${state.ok &&
    html`<div class="secret" role="status">
      <span>Key <strong>${state.ok.apiKey.name}</strong>: <code data-secret>${state.ok.secret}</code></span>
      <${CopyButton} text=${state.ok.secret} label="Copy secret" />
    </div>
    <p class="hint">This is the only time the secret is shown; store it now. Only its hash is kept.</p>`}`;
}

export function ApiKeys({ org }) {
  const [showRevoked, setShowRevoked] = useState(false);
  // revoked keys are left out by the API unless asked for
  const state = useLoad(() => query(KEYS, { id: org.id, state: showRevoked ? null : "ACTIVE" }), [org.id, showRevoked]);
  const [outcome, setOutcome] = useState(null);
  const revoke = async (key) => {
    if (!confirm(`Revoke ${key.name}? It stops working at once.`)) return;
    const result = await mutate(REVOKE, { apiKeyId: key.id }).catch((e) => ({ error: e }));
    setOutcome(result.error ? { kind: "bad", text: result.error.message } : { kind: "good", text: `${key.name} was revoked.` });
    state.reload();
  };
  return html`<h1 tabindex="-1">API keys</h1>
    ${outcome && html`<${Notice} kind=${outcome.kind}>${outcome.text}</${Notice}>`}
    <p><label><input type="checkbox" checked=${showRevoked} onChange=${(e) => setShowRevoked(e.currentTarget.checked)} /> Show revoked keys</label></p>
    <${Loading} state=${state}>
      ${(data) =>
        data.node.projects.edges
          .map((e) => e.node)
          .map((project) => {
            const manage = may.manageKeys(project);
            return html`<section class="card" key=${project.id}>
              <h2>${project.name} <span class="badge">${project.apiKeys.totalCount} ${showRevoked ? "" : "active "}key${project.apiKeys.totalCount === 1 ? "" : "s"}</span></h2>
              ${manage && html`<${NewKey} project=${project} onCreated=${state.reload} />`}
              <table>
                <thead><tr><th>Name</th><th>Key</th><th>Created</th><th>Last used</th><th>Status</th><th><span class="sr-only">Actions</span></th></tr></thead>
                <tbody>
                  ${project.apiKeys.edges.map(({ node: k }) => html`<tr>
                    <td>${k.name}</td><td><code>${k.maskedKey}</code></td>
                    <td>${localTime(k.createdAt)}${k.createdBy ? html`<br />by ${k.createdBy.email}` : ""}</td>
                    <td>${k.lastUsedAt ? localTime(k.lastUsedAt) : "Never"}</td>
                    <td>${k.isActive ? "Active" : `Revoked ${localTime(k.revokedAt)}`}</td>
                    <td>${manage && k.isActive && html`<button type="button" class="danger" aria-label=${`Revoke ${k.name}`} onClick=${() => revoke(k)}>Revoke</button>`}</td>
                  </tr>`)}
                </tbody>
              </table>
            </section>`;
          })}
    </${Loading}>`;
}
