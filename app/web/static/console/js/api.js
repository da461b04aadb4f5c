// The one GraphQL helper: every request of the console goes through `query` or `mutate`.

const TOKEN_KEY = "console.session"; // GraphiQL on the same origin reads it too

export const session = {
  get token() {
    return localStorage.getItem(TOKEN_KEY);
  },
  set(token) {
    localStorage.setItem(TOKEN_KEY, token);
  },
  clear() {
    localStorage.removeItem(TOKEN_KEY);
  },
};

// The selection every mutation result ends with: its type, and the typed error's fields.
export const ERROR = "__typename ... on Error { message code field }";

const SIGNED_OUT = new Set(["UNAUTHENTICATED", "SESSION_EXPIRED"]);

/** A failure outside the typed unions: network, masked server error, invalid query. */
export class ApiError extends Error {}

/** Run a query; resolves to `data`, rejects with ApiError on transport or top-level errors. */
export async function query(text, variables = {}) {
  const headers = { "content-type": "application/json", accept: "application/json" };
  if (session.token) headers.authorization = `Bearer ${session.token}`;
  let response;
  try {
    response = await fetch("/graphql", { method: "POST", headers, body: JSON.stringify({ query: text, variables }) });
  } catch {
    throw new ApiError("The server cannot be reached; check your connection and try again.");
  }
  const body = await response.json().catch(() => null);
  if (!body) throw new ApiError(`The server answered ${response.status} without a readable body.`);
  if (body.errors?.length) {
    const first = body.errors[0];
    const ref = first.extensions?.correlationId ? ` (reference ${first.extensions.correlationId})` : "";
    throw new ApiError(`${first.message}${ref}`);
  }
  return body.data;
}

/** Run a mutation with one `input`; resolves to {ok} (the success payload) or {error} (a typed error). */
export async function mutate(text, input) {
  const data = await query(text, { input });
  const result = Object.values(data)[0];
  if (result && "code" in result && "message" in result) {
    if (SIGNED_OUT.has(result.code) && session.token) {
      session.clear(); // the session ended (expired or revoked elsewhere): back to signing in
      location.reload();
    }
    return { error: result };
  }
  return { ok: result };
}
