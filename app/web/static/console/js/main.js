// The console's shell: who is signed in, the organization switcher, the navigation, the screens.
import { ERROR, mutate, query, session } from "./api.js";
import { html, render, useCallback, useEffect, useState } from "./html.js";
import { ORGANIZATION_FIELDS, may } from "./permissions.js";
import { href, navigate, useRoute } from "./router.js";
import { AcceptInvitation } from "./screens/accept.js";
import { Account, ResetPassword } from "./screens/account.js";
import { CreateTeam, SignIn, SignUp } from "./screens/auth.js";
import { Billing } from "./screens/billing.js";
import { ApiKeys } from "./screens/keys.js";
import { Invites } from "./screens/invites.js";
import { Members } from "./screens/members.js";
import { Projects } from "./screens/projects.js";
import { Settings } from "./screens/settings.js";
import { Usage } from "./screens/usage.js";
import { Loading } from "./ui.js";

export const ME = `{ me { user { id email name } isStaff sessionExpiresAt
  organizations { role organization { ${ORGANIZATION_FIELDS} } } } }`;

const SCREENS = [
  { path: "usage", title: "Usage", view: Usage, visible: () => true },
  { path: "projects", title: "Projects", view: Projects, visible: () => true },
  { path: "keys", title: "API keys", view: ApiKeys, visible: () => true },
  { path: "members", title: "Members", view: Members, visible: may.manageMembers },
  { path: "invites", title: "Invites", view: Invites, visible: may.invite },
  { path: "billing", title: "Billing", view: Billing, visible: may.manageBilling },
  { path: "settings", title: "Settings", view: Settings, visible: () => true },
];

function Shell({ me, reloadMe }) {
  const route = useRoute();
  const orgs = me.organizations.map((m) => m.organization);
  const creating = route[0] === "teams" && route[1] === "new";
  const account = route[0] === "account";
  // an email's link names the organization by its Organization ID (what Settings shows)
  const org =
    orgs.find((o) => o.id === route[1] || o.organizationId === route[1]) ?? orgs.find((o) => o.type === "TEAM") ?? orgs[0];
  const screen = SCREENS.find((s) => s.path === route[2] && s.visible(org)) ?? SCREENS[0];
  useEffect(() => {
    if (creating || account) return;
    if (route[0] !== "o" || route[1] !== org.id || route[2] !== screen.path) navigate("o", org.id, screen.path, ...(route[2] === screen.path ? route.slice(3) : []));
  }, [route.join("/"), org.id]);
  useEffect(() => {
    document.title = creating
      ? "Create a Team · Inference Cloud"
      : account
        ? "Your account · Inference Cloud"
        : `${screen.title} · ${org.name} · Inference Cloud`;
    // a new screen: keyboard and screen-reader users start at its heading, not at the old link
    document.querySelector("main h1")?.focus();
  }, [creating, account, screen, org]);
  if (creating) {
    return html`<${Frame} me=${me} orgs=${orgs}><${CreateTeam} onCreated=${reloadMe} /></${Frame}>`;
  }
  if (account) return html`<${Frame} me=${me} orgs=${orgs} org=${org}><${Account} me=${me} /></${Frame}>`;
  const View = screen.view;
  return html`<${Frame} me=${me} orgs=${orgs} org=${org} screen=${screen}>
    <${View} key=${org.id} org=${org} me=${me} tab=${route[3]} reloadMe=${reloadMe} />
  </${Frame}>`;
}

function skipToMain(event) {
  event.preventDefault(); // the hash holds the route
  document.querySelector("main h1")?.focus();
}

function Frame({ me, orgs, org, screen, children }) {
  const switchTo = (event) => navigate("o", event.currentTarget.value, screen?.path ?? "usage");
  const signOut = async () => {
    await mutate(`mutation SignOut($input: SignOutInput!) { signOut(input: $input) { ${ERROR} } }`, {}).catch(() => null);
    session.clear();
    location.hash = "#/signin";
    location.reload();
  };
  return html`<a class="skip" href="#main" onClick=${skipToMain}>Skip to content</a>
  <div class="layout">
    <aside class="sidebar">
      <p><strong>Inference Cloud</strong></p>
      <div class="field">
        <label for="org-switcher">Organization</label>
        <select id="org-switcher" value=${org?.id ?? ""} onChange=${switchTo}>
          ${!org && html`<option value="">Choose…</option>`}
          ${orgs.map((o) => html`<option value=${o.id}>${o.name} (${o.type === "TEAM" ? "Team" : "Personal"})</option>`)}
        </select>
      </div>
      <p><a href=${href("teams", "new")}>Create a Team</a></p>
      ${org &&
      html`<nav aria-label="Console">
        <ul>
          ${SCREENS.filter((s) => s.visible(org)).map(
            (s) => html`<li><a href=${href("o", org.id, s.path)} aria-current=${s === screen ? "page" : undefined}>${s.title}</a></li>`,
          )}
        </ul>
      </nav>`}
      <p class="hint">Signed in as ${me.user.email}</p>
      <p><a href=${href("account")}>Your account</a></p>
      <button type="button" class="secondary" onClick=${signOut}>Sign out</button>
      <p><a href="/graphql">GraphiQL</a> · <a href="/schema">Fleet API reference</a></p>
    </aside>
    <main id="main">${children}</main>
  </div>`;
}

/** The signed-in user and their organizations, or null (a session that expired or was revoked is dropped). */
async function loadMe() {
  if (!session.token) return null;
  const data = await query(ME);
  if (!data.me) session.clear();
  return data.me;
}

function App() {
  const route = useRoute();
  const [state, setState] = useState({ data: null, error: null });
  // resolves once the new answer is shown, so a caller may then navigate to what it created
  const reloadMe = useCallback(
    () => loadMe().then((me) => setState({ data: { me }, error: null }), (failure) => setState({ data: null, error: failure.message })),
    [],
  );
  useEffect(() => {
    reloadMe();
  }, []);
  if (location.pathname === "/invitations/accept") return html`<${AcceptInvitation} />`;
  if (location.pathname === "/reset-password") return html`<${ResetPassword} />`;
  return html`<${Loading} state=${state}>
    ${({ me }) => {
      if (!me) {
        // signing in or up answers with the user and their organizations: no second request
        const signedIn = (ok) =>
          setState({ data: { me: { user: ok.user, isStaff: false, sessionExpiresAt: ok.expiresAt, organizations: ok.organizations } }, error: null });
        return route[0] === "signup" ? html`<${SignUp} onSignedIn=${signedIn} />` : html`<${SignIn} onSignedIn=${signedIn} />`;
      }
      return html`<${Shell} me=${me} reloadMe=${reloadMe} />`;
    }}
  </${Loading}>`;
}

const root = document.getElementById("app");
root.textContent = ""; // the page's own "Loading…" notice
render(html`<${App} />`, root);
