// The signed-in person's account: password and sessions; and the password-reset page the email links to.
import { ERROR, mutate, query, session } from "../api.js";
import { localTime } from "../format.js";
import { html, useState } from "../html.js";
import { Field, FormError, ListError, Loading, Notice, useLoad, useSubmit } from "../ui.js";

const SESSIONS = `query Sessions { mySessions { __typename ... on Error { message }
  ... on UserSessions { sessions { id createdAt lastUsedAt expiresAt userAgent clientAddress current } } } }`;
const CHANGE_PASSWORD = `mutation ChangePassword($input: ChangePasswordInput!) { changePassword(input: $input) { ${ERROR}
  ... on ChangePasswordPayload { endedSessions } } }`;
const END_SESSION = `mutation EndSession($input: EndSessionInput!) { endSession(input: $input) { ${ERROR}
  ... on EndSessionsPayload { endedSessions } } }`;
const REQUEST_RESET = `mutation RequestReset($input: RequestPasswordResetInput!) { requestPasswordReset(input: $input) { ${ERROR}
  ... on RequestPasswordResetPayload { message } } }`;
const RESET = `mutation ResetPassword($input: ResetPasswordInput!) { resetPassword(input: $input) { ${ERROR}
  ... on SessionPayload { token } } }`;

function ChangePassword() {
  const [state, onSubmit] = useSubmit(async (values, form) => {
    const result = await mutate(CHANGE_PASSWORD, values);
    if (result.ok) form.reset();
    return result;
  });
  return html`<section class="card"><h2>Password</h2>
    <form class="stack" onSubmit=${onSubmit} aria-label="Change password">
      <${Field} label="Current password" name="currentPassword" type="password" autocomplete="current-password" required error=${state.error} />
      <${Field} label="New password" name="newPassword" type="password" autocomplete="new-password" required error=${state.error}
        hint="At least 12 characters, not a common or leaked password." />
      <${FormError} error=${state.error} fields=${["currentPassword", "newPassword"]} />
      <button disabled=${state.busy}>Change password</button>
    </form>
    ${state.ok && html`<${Notice} kind="good">The password is changed; ${state.ok.endedSessions} other session(s) signed out.</${Notice}>`}
  </section>`;
}

function Sessions() {
  const state = useLoad(() => query(SESSIONS), []);
  const [outcome, setOutcome] = useState(null);
  const end = async (item) => {
    const result = await mutate(END_SESSION, { sessionId: item.id }).catch((e) => ({ error: e }));
    setOutcome(result.error ? { kind: "bad", text: result.error.message } : { kind: "good", text: "The session is signed out." });
    state.reload();
  };
  const everywhere = async () => {
    await mutate(`mutation SignOutAll($input: SignOutInput!) { signOut(input: $input) { ${ERROR} } }`, { everywhere: true }).catch(() => null);
    session.clear();
    location.hash = "#/signin";
    location.reload();
  };
  return html`<section class="card"><h2>Sessions</h2>
    <p>Where you are signed in. Sign out a session you do not recognize, then change your password.</p>
    ${outcome && html`<${Notice} kind=${outcome.kind}>${outcome.text}</${Notice}>`}
    <${Loading} state=${state}>
      ${(data) => {
        const result = data.mySessions;
        if (result.__typename !== "UserSessions") return html`<${ListError} result=${result} />`;
        return html`<table>
          <thead><tr><th>Client</th><th>Address</th><th>Signed in</th><th>Last used</th><th>Expires</th><th><span class="sr-only">Actions</span></th></tr></thead>
          <tbody>${result.sessions.map((s) => html`<tr>
            <td>${s.userAgent || "Unknown client"}${s.current ? html` <span class="badge">This session</span>` : ""}</td>
            <td class="mono">${s.clientAddress || "—"}</td><td>${localTime(s.createdAt)}</td>
            <td>${localTime(s.lastUsedAt)}</td><td>${localTime(s.expiresAt)}</td>
            <td>${!s.current && html`<button type="button" class="secondary" aria-label=${`Sign out the session signed in ${localTime(s.createdAt)}`} onClick=${() => end(s)}>Sign out</button>`}</td>
          </tr>`)}</tbody>
        </table>`;
      }}
    </${Loading}>
    <button type="button" class="danger" onClick=${everywhere}>Sign out everywhere</button>
  </section>`;
}

export function Account({ me }) {
  return html`<h1 tabindex="-1">Your account</h1>
    <p>${me.user.name ? `${me.user.name}, ` : ""}${me.user.email}</p>
    <${ChangePassword} />
    <${Sessions} />`;
}

/**
 * The page of the email's reset link (/reset-password?token=…): a new password, then signed in. Without a
 * token it asks for the link (the same answer whether or not the address has an account).
 */
export function ResetPassword() {
  const token = new URLSearchParams(location.search).get("token");
  const [asked, onAsk] = useSubmit((values) => mutate(REQUEST_RESET, values));
  const [reset, onReset] = useSubmit(async (values) => {
    const result = await mutate(RESET, { token, newPassword: values.newPassword });
    if (result.ok) {
      session.set(result.ok.token);
      location.replace("/"); // signed in with the new password; the link is used up
    }
    return result;
  });
  if (token) {
    return html`<main class="centered" id="main">
      <h1 tabindex="-1">Choose a new password</h1>
      <form class="stack" onSubmit=${onReset} aria-label="Set a new password">
        <${Field} label="New password" name="newPassword" type="password" autocomplete="new-password" required error=${reset.error}
          hint="At least 12 characters, not a common or leaked password." />
        <${FormError} error=${reset.error} fields=${["newPassword"]} />
        <button disabled=${reset.busy}>Set the new password</button>
      </form>
      <p><a href="/reset-password">Ask for a new link</a> · <a href="/#/signin">Sign in</a></p>
    </main>`;
  }
  return html`<main class="centered" id="main">
    <h1 tabindex="-1">Reset your password</h1>
    <p>We email a link that lets you choose a new password.</p>
    <form class="stack" onSubmit=${onAsk} aria-label="Reset password">
      <${Field} label="Email" name="email" type="email" autocomplete="username" required error=${asked.error} />
      <${FormError} error=${asked.error} fields=${["email"]} />
      <button disabled=${asked.busy}>Email me a link</button>
    </form>
    ${asked.ok && html`<${Notice} kind="good">${asked.ok.message}</${Notice}>`}
    <p><a href="/#/signin">Back to sign in</a></p>
  </main>`;
}
