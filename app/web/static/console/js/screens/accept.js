// The page an invitation email links to: who invites, to what; sign in or up with the invited address; accept or decline.
import { ERROR, mutate, query, session } from "../api.js";
import { label, localTime } from "../format.js";
import { html, useState } from "../html.js";
import { Loading, Notice, useLoad } from "../ui.js";
import { SignInForm, SignUpForm } from "./auth.js";

const PREVIEW = `query Preview($token: String!) {
  invitation(token: $token) { organizationName email invitedByName invitedByEmail role state expiresAt }
  me { user { email } } }`;
const ACCEPT = `mutation Accept($input: InvitationTokenInput!) { acceptInvitation(input: $input) { ${ERROR}
  ... on AcceptInvitationPayload { organization { id name } role } } }`;
const DECLINE = `mutation Decline($input: InvitationTokenInput!) { declineInvitation(input: $input) { ${ERROR} } }`;

export function AcceptInvitation() {
  const token = new URLSearchParams(location.search).get("token") ?? "";
  const [round, setRound] = useState(0);
  const state = useLoad(() => query(PREVIEW, { token }), [round]);
  return html`<main class="centered" id="main">
    <h1 tabindex="-1">Invitation</h1>
    <${Loading} state=${state}>
      ${(data) =>
        data.invitation
          ? html`<${Answer} token=${token} invitation=${data.invitation} me=${data.me} onSignedIn=${() => setRound((n) => n + 1)} />`
          : html`<${Notice} kind="bad">This invitation link is unknown or was replaced by a newer one. Ask for a new invitation.</${Notice}>`}
    </${Loading}>
  </main>`;
}

function Answer({ token, invitation, me, onSignedIn }) {
  const [outcome, setOutcome] = useState(null);
  const [newAccount, setNewAccount] = useState(false);
  const respond = async (mutation) => {
    const result = await mutate(mutation, { token }).catch((e) => ({ error: e }));
    setOutcome(result);
  };
  const who = invitation.invitedByName || invitation.invitedByEmail;
  const intro = html`<p>
    ${who ? `${who} invites you` : "You are invited"} to join <strong>${invitation.organizationName}</strong> as ${label(invitation.role)}.
  </p>`;
  if (invitation.state !== "PENDING") {
    return html`${intro}<${Notice} kind="bad">This invitation is ${label(invitation.state).toLowerCase()}; it can no longer be answered.</${Notice}>`;
  }
  if (outcome?.ok?.organization) {
    const org = outcome.ok.organization;
    return html`<${Notice} kind="good">You joined ${org.name}.</${Notice}>
      <p><a href=${`/#/o/${encodeURIComponent(org.id)}/usage`}>Open ${org.name} in the console</a></p>`;
  }
  if (outcome?.ok) return html`<${Notice} kind="good">You declined the invitation.</${Notice}><p><a href="/">Go to the console</a></p>`;
  if (!me || !session.token) {
    return html`${intro}
      <p>Expires ${localTime(invitation.expiresAt)}. Sign in as ${invitation.email}, or create an account with that address, to answer.</p>
      ${newAccount
        ? html`<${SignUpForm} onSignedIn=${onSignedIn} email=${invitation.email} />`
        : html`<${SignInForm} onSignedIn=${onSignedIn} email=${invitation.email} />`}
      <p><button type="button" class="secondary" onClick=${() => setNewAccount(!newAccount)}>
        ${newAccount ? "I have an account: sign in" : "I am new: create an account"}</button></p>`;
  }
  return html`${intro}
    <p>Signed in as ${me.user.email}. Expires ${localTime(invitation.expiresAt)}.</p>
    ${outcome?.error && html`<${Notice} kind="bad">${outcome.error.message}</${Notice}>`}
    <p>
      <button type="button" onClick=${() => respond(ACCEPT)}>Accept invitation</button>
      ${" "}<button type="button" class="danger" onClick=${() => respond(DECLINE)}>Decline</button>
    </p>`;
}
