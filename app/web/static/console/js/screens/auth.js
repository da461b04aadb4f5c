// Sign up, sign in, and creating a Team organization.
import { ERROR, mutate, session } from "../api.js";
import { html } from "../html.js";
import { ORGANIZATION_FIELDS } from "../permissions.js";
import { href, navigate } from "../router.js";
import { Field, FormError, useSubmit } from "../ui.js";

const SESSION = `... on SessionPayload { token expiresAt user { id email name } organizations { role organization { ${ORGANIZATION_FIELDS} } } }`;
const SIGN_IN = `mutation SignIn($input: SignInInput!) { signIn(input: $input) { ${ERROR} ${SESSION} } }`;
const SIGN_UP = `mutation SignUp($input: SignUpInput!) { signUp(input: $input) { ${ERROR} ${SESSION} } }`;

function useSession(mutation, onSignedIn) {
  return useSubmit(async (values) => {
    const result = await mutate(mutation, values);
    if (result.ok) {
      session.set(result.ok.token);
      onSignedIn(result.ok);
    }
    return result;
  });
}

/** The sign-in form; `email` pre-fills the address (the invitation page), `framed` adds the page around it. */
export function SignInForm({ onSignedIn, email }) {
  const [state, onSubmit] = useSession(SIGN_IN, onSignedIn);
  return html`<form class="stack" onSubmit=${onSubmit} aria-label="Sign in">
    <${Field} label="Email" name="email" type="email" autocomplete="username" required value=${email} error=${state.error} />
    <${Field} label="Password" name="password" type="password" autocomplete="current-password" required error=${state.error} />
    <${FormError} error=${state.error} fields=${["email", "password"]} />
    <button disabled=${state.busy}>Sign in</button>
  </form>`;
}

export function SignUpForm({ onSignedIn, email }) {
  const [state, onSubmit] = useSession(SIGN_UP, onSignedIn);
  return html`<form class="stack" onSubmit=${onSubmit} aria-label="Sign up">
    <${Field} label="Name" name="name" autocomplete="name" error=${state.error} />
    <${Field} label="Email" name="email" type="email" autocomplete="username" required value=${email} error=${state.error} />
    <${Field} label="Password" name="password" type="password" autocomplete="new-password" required error=${state.error}
      hint="At least 12 characters." />
    <${FormError} error=${state.error} fields=${["email", "password", "name"]} />
    <button disabled=${state.busy}>Create account</button>
  </form>`;
}

export function SignIn({ onSignedIn }) {
  return html`<main class="centered" id="main">
    <h1 tabindex="-1">Sign in</h1>
    <${SignInForm} onSignedIn=${onSignedIn} />
    <p><a href="/reset-password">Forgot your password?</a></p>
    <p>New here? <a href=${href("signup")}>Create an account</a></p>
  </main>`;
}

export function SignUp({ onSignedIn }) {
  return html`<main class="centered" id="main">
    <h1 tabindex="-1">Create your account</h1>
    <p>You get a Personal organization with free usage; create a Team to work with others.</p>
    <${SignUpForm} onSignedIn=${onSignedIn} />
    <p>Have an account? <a href=${href("signin")}>Sign in</a></p>
  </main>`;
}

const CREATE_TEAM = `mutation CreateTeam($input: CreateOrganizationInput!) {
  createOrganization(input: $input) { ${ERROR} ... on OrganizationPayload { organization { id } } } }`;

export function CreateTeam({ onCreated }) {
  const [state, onSubmit] = useSubmit(async (values) => {
    const result = await mutate(CREATE_TEAM, values);
    if (result.ok) {
      await onCreated(); // the switcher must know the new Team before the route names it
      navigate("o", result.ok.organization.id, "settings");
    }
    return result;
  });
  return html`<h1 tabindex="-1">Create a Team</h1>
    <p>A Team organization has members, projects and billing; you become its Organization Admin.</p>
    <form class="stack" onSubmit=${onSubmit}>
      <${Field} label="Team name" name="name" required error=${state.error} />
      <${FormError} error=${state.error} fields=${["name"]} />
      <button disabled=${state.busy}>Create Team</button>
    </form>`;
}
