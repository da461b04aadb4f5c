// Projects: create, archive, members, per-project rate limits.
import { ERROR, mutate, query } from "../api.js";
import { count, label, localDate } from "../format.js";
import { html, useState } from "../html.js";
import { PROJECT_CAN, may } from "../permissions.js";
import { Field, FormError, Loading, Notice, useLoad, useSubmit } from "../ui.js";

// whom a Project Admin may add: the first ones by email, and a search when the organization has more
// (the Projects page counts none of them: a count per project would be a statement per project)
const CANDIDATE_PAGE = (count = "") =>
  `... on ProjectCandidates { candidates(first: 50) { ${count} pageInfo { hasNextPage } edges { node { userId name email } } } }`;

const PROJECTS = `query Projects($id: ID!, $archived: Boolean) {
  catalog { ... on Catalog { models { modelId displayName isDeprecated } } }
  node(id: $id) { ... on Organization {
    projects(first: 100, archived: $archived) { totalCount edges { node {
    id name isDefault createdAt archivedAt viewerRole ${PROJECT_CAN}
    members(first: 100) { totalCount edges { node { role user { id name email } } } }
    addableMembers { __typename ${CANDIDATE_PAGE()} }
    rateLimits { model requestsPerMinute tokensPerMinute requestsPerDay tokensPerDay } } } } } } }`;

const FIND_CANDIDATES = `query FindCandidates($id: ID!, $search: String) { node(id: $id) { ... on Project {
  addableMembers(search: $search) { ${ERROR} ${CANDIDATE_PAGE("totalCount")} } } } }`;
const CREATE = `mutation CreateProject($input: CreateProjectInput!) { createProject(input: $input) { ${ERROR} } }`;
const ARCHIVE = `mutation Archive($input: ArchiveProjectInput!) { archiveProject(input: $input) { ${ERROR} } }`;
const SET_LIMIT = `mutation SetLimit($input: SetProjectRateLimitInput!) { setProjectRateLimit(input: $input) { ${ERROR} } }`;
const REMOVE_LIMIT = `mutation RemoveLimit($input: RemoveProjectRateLimitInput!) { removeProjectRateLimit(input: $input) { ${ERROR} } }`;
const SET_MEMBER = `mutation SetProjectMember($input: SetProjectMemberInput!) { setProjectMember(input: $input) { ${ERROR} } }`;
const REMOVE_MEMBER = `mutation RemoveProjectMember($input: RemoveProjectMemberInput!) { removeProjectMember(input: $input) { ${ERROR} } }`;
const LIMITS = ["requestsPerMinute", "tokensPerMinute", "requestsPerDay", "tokensPerDay"];
const LIMIT_LABELS = { requestsPerMinute: "Requests / minute", tokensPerMinute: "Tokens / minute", requestsPerDay: "Requests / day", tokensPerDay: "Tokens / day" };

function LimitForm({ project, models, onSaved }) {
  const [state, onSubmit] = useSubmit(async (values, form) => {
    const input = { projectId: project.id, model: values.model };
    for (const name of LIMITS) input[name] = values[name] === "" ? null : Number(values[name]);
    const result = await mutate(SET_LIMIT, input);
    if (result.ok) {
      form.reset();
      onSaved();
    }
    return result;
  });
  return html`<form class="inline" onSubmit=${onSubmit} aria-label=${`Rate limit of ${project.name}`}>
    <${Field} label="Model" name="model" error=${state.error}>
      ${models.map((m) => html`<option value=${m.modelId}>${m.displayName}</option>`)}
    </${Field}>
    ${LIMITS.map((name) => html`<${Field} label=${LIMIT_LABELS[name]} name=${name} type="number" min="0" step="1" error=${state.error} />`)}
    <button disabled=${state.busy}>Set limit</button>
    <${FormError} error=${state.error} fields=${["model", ...LIMITS]} />
  </form>`;
}

const PROJECT_ROLES = [
  ["PROJECT_MEMBER", "Project member"],
  ["PROJECT_ADMIN", "Project admin"],
];

/** Add one of the organization's members to the project (the API lists whom the viewer may add, a page at a time). */
function AddMember({ project, candidates, onAdded }) {
  const [found, setFound] = useState(null); // what a search found, in place of the first page
  const [search, onSearch] = useSubmit(async (values) => {
    const addable = (await query(FIND_CANDIDATES, { id: project.id, search: values.search })).node.addableMembers;
    if (addable.__typename !== "ProjectCandidates") return { error: addable };
    setFound(addable.candidates);
    return {};
  });
  const [state, onSubmit] = useSubmit(async (values) => {
    const result = await mutate(SET_MEMBER, { projectId: project.id, userId: values.userId, role: values.role });
    if (result.ok) {
      setFound(null); // the one added is no longer a candidate: back to the first page, read again
      onAdded();
    }
    return result;
  });
  if (!candidates.edges.length) return null;
  const shown = (found ?? candidates).edges.map((e) => e.node);
  return html`${candidates.pageInfo.hasNextPage &&
    html`<form class="inline" role="search" onSubmit=${onSearch} aria-label=${`Search the candidates for ${project.name}`}>
      <${Field} label=${`Find a member for ${project.name}`} name="search" type="search" error=${search.error}
        hint=${found
          ? `${found.totalCount} found${found.pageInfo.hasNextPage ? `; the first ${shown.length} are listed` : ""}.`
          : `The first ${shown.length} are listed; search by name or email.`} />
      <button class="secondary" disabled=${search.busy}>Find</button>
      <${FormError} error=${search.error} fields=${["search"]} />
    </form>`}
    ${shown.length === 0
      ? html`<p>Nobody matches; try another search.</p>`
      : html`<form class="inline" onSubmit=${onSubmit} aria-label=${`Add a member to ${project.name}`}>
    <${Field} label=${`Add to ${project.name}`} name="userId" error=${state.error}>
      ${shown.map((u) => html`<option value=${u.userId}>${u.name ? `${u.name} (${u.email})` : u.email}</option>`)}
    </${Field}>
    <${Field} label="Project role" name="role" error=${state.error}>
      ${PROJECT_ROLES.map(([value, text]) => html`<option value=${value}>${text}</option>`)}
    </${Field}>
    <button disabled=${state.busy}>Add member</button>
    <${FormError} error=${state.error} fields=${["userId", "role"]} />
  </form>`}`;
}

function ProjectMembers({ project, manage, act, reload }) {
  const addable = project.addableMembers;
  const members = project.members.edges.map((e) => e.node);
  const more = project.members.totalCount - members.length;
  return html`<h3>Members</h3>
    ${members.length === 0 && html`<p>No project members yet; Organization Admins work in every project.</p>`}
    ${more > 0 && html`<p>The first ${members.length} of ${project.members.totalCount} members, longest-standing first.</p>`}
    <table hidden=${members.length === 0}>
      <thead><tr><th>Name</th><th>Email</th><th>Project role</th><th><span class="sr-only">Actions</span></th></tr></thead>
      <tbody>${members.map((m) => html`<tr>
        <td>${m.user.name || "—"}</td><td>${m.user.email}</td>
        <td>${manage
          ? html`<label class="sr-only" for=${`pr-${project.id}-${m.user.id}`}>Project role of ${m.user.email}</label>
              <select id=${`pr-${project.id}-${m.user.id}`} value=${m.role}
                onChange=${(e) => act(SET_MEMBER, { projectId: project.id, userId: m.user.id, role: e.currentTarget.value }, `${m.user.email} is now ${label(e.currentTarget.value)}.`)}>
                ${PROJECT_ROLES.map(([value, text]) => html`<option value=${value}>${text}</option>`)}
              </select>`
          : label(m.role)}</td>
        <td>${manage && html`<button type="button" class="danger" aria-label=${`Remove ${m.user.email} from ${project.name}`}
          onClick=${() => act(REMOVE_MEMBER, { projectId: project.id, userId: m.user.id }, `${m.user.email} left ${project.name}.`)}>Remove</button>`}</td>
      </tr>`)}</tbody>
    </table>
    ${manage && addable.__typename === "ProjectCandidates" && html`<${AddMember} project=${project} candidates=${addable.candidates} onAdded=${reload} />`}`;
}

function ProjectCard({ project, models, act, reload }) {
  const admin = may.setRateLimits(project);
  return html`<section class="card" aria-labelledby=${`p-${project.id}`}>
    <h2 id=${`p-${project.id}`}>${project.name}
      ${project.isDefault && html` <span class="badge">Default</span>`}
      ${project.archivedAt && html` <span class="badge">Archived ${localDate(project.archivedAt)}</span>`}</h2>
    <p>Your role: ${label(project.viewerRole)} · created ${localDate(project.createdAt)}</p>
    <${ProjectMembers} project=${project} manage=${may.manageProjectMembers(project)} act=${act} reload=${reload} />
    <h3>Rate limits of this project</h3>
    ${project.rateLimits.length
      ? html`<table>
          <thead><tr><th>Model</th>${LIMITS.map((n) => html`<th class="num">${LIMIT_LABELS[n]}</th>`)}<th><span class="sr-only">Actions</span></th></tr></thead>
          <tbody>${project.rateLimits.map((l) => html`<tr><td>${l.model}</td>
            ${LIMITS.map((n) => html`<td class="num">${l[n] == null ? "—" : count(l[n])}</td>`)}
            <td>${admin && html`<button type="button" class="danger" aria-label=${`Remove the limit of ${l.model} in ${project.name}`}
              onClick=${() => act(REMOVE_LIMIT, { projectId: project.id, model: l.model }, "Limit removed.")}>Remove</button>`}</td></tr>`)}</tbody>
        </table>`
      : html`<p>None: the organization's limits apply.</p>`}
    ${admin && !project.archivedAt && html`<${LimitForm} project=${project} models=${models} onSaved=${reload} />`}
    ${may.archive(project) &&
    html`<p><button type="button" class="danger"
      onClick=${() => confirm(`Archive ${project.name}? Its API keys stop working at once.`) && act(ARCHIVE, { projectId: project.id }, `${project.name} was archived.`)}>
      Archive ${project.name}</button></p>`}
  </section>`;
}

export function Projects({ org }) {
  const [showArchived, setShowArchived] = useState(false);
  // archived projects are left out by the API unless asked for
  const state = useLoad(() => query(PROJECTS, { id: org.id, archived: showArchived ? null : false }), [org.id, showArchived]);
  const [outcome, setOutcome] = useState(null);
  const act = async (mutation, input, done) => {
    const result = await mutate(mutation, input).catch((e) => ({ error: e }));
    setOutcome(result.error ? { kind: "bad", text: result.error.message } : { kind: "good", text: done });
    state.reload();
  };
  const [created, onCreate] = useSubmit(async (values, form) => {
    const result = await mutate(CREATE, { organizationId: org.id, name: values.name });
    if (result.ok) {
      form.reset();
      state.reload();
    }
    return result;
  });
  return html`<h1 tabindex="-1">Projects</h1>
    ${may.createProject(org) &&
    html`<form class="inline" onSubmit=${onCreate}>
      <${Field} label="New project name" name="name" required error=${created.error} />
      <button disabled=${created.busy}>Create project</button>
      <${FormError} error=${created.error} fields=${["name"]} />
    </form>`}
    ${outcome && html`<${Notice} kind=${outcome.kind}>${outcome.text}</${Notice}>`}
    ${may.createProject(org) &&
    html`<p><label><input type="checkbox" checked=${showArchived} onChange=${(e) => setShowArchived(e.currentTarget.checked)} /> Show archived projects</label></p>`}
    <${Loading} state=${state}>
      ${(data) => {
        const models = data.catalog.models?.filter((m) => !m.isDeprecated) ?? [];
        return data.node.projects.edges.map(
          ({ node }) => html`<${ProjectCard} key=${node.id} project=${node} models=${models} act=${act} reload=${state.reload} />`,
        );
      }}
    </${Loading}>`;
}
