// Shared pieces of every screen: labelled fields with their errors, notices, loading, copy buttons.
import { html, useCallback, useEffect, useState } from "./html.js";

let nextId = 0;

/** A labelled input; shows the typed error whose `field` names it, tied to it for screen readers. */
export function Field({ label, name, error, hint, type = "text", children, ...attrs }) {
  const [id] = useState(() => `f${++nextId}`);
  const own = error && error.field === name ? error.message : null;
  const described = [hint && `${id}-hint`, own && `${id}-error`].filter(Boolean).join(" ") || undefined;
  const control = children
    ? html`<select id=${id} name=${name} aria-invalid=${own ? "true" : undefined} aria-describedby=${described} ...${attrs}>${children}</select>`
    : type === "textarea"
      ? html`<textarea id=${id} name=${name} aria-invalid=${own ? "true" : undefined} aria-describedby=${described} ...${attrs} />`
      : html`<input id=${id} name=${name} type=${type} aria-invalid=${own ? "true" : undefined} aria-describedby=${described} ...${attrs} />`;
  return html`<div class="field">
    <label for=${id}>${label}</label>
    ${control}
    ${hint && html`<span class="hint" id=${`${id}-hint`}>${hint}</span>`}
    ${own && html`<span class="error" id=${`${id}-error`}>${own}</span>`}
  </div>`;
}

/** The error of a form that no field of it names (or any error, when `fields` is not given). */
export function FormError({ error, fields = [] }) {
  if (!error || fields.includes(error.field)) return null;
  return html`<p class="notice bad" role="alert">${error.message}</p>`;
}

export function Notice({ kind = "", children }) {
  return html`<p class=${`notice ${kind}`} role=${kind === "bad" ? "alert" : "status"}>${children}</p>`;
}

/**
 * Submit handling for a form whose inputs are named like the mutation's input fields:
 * `action(values, form)` returns {ok} or {error}; the state says busy, the typed error, or the payload.
 */
export function useSubmit(action) {
  const [state, setState] = useState({ busy: false, error: null, ok: null });
  const onSubmit = useCallback(
    async (event) => {
      event.preventDefault();
      const form = event.currentTarget;
      const values = Object.fromEntries(new FormData(form));
      setState({ busy: true, error: null, ok: null });
      try {
        const result = (await action(values, form)) ?? {};
        setState({ busy: false, error: result.error ?? null, ok: result.ok ?? null });
      } catch (failure) {
        setState({ busy: false, error: { message: failure.message }, ok: null });
      }
    },
    [action],
  );
  return [state, onSubmit];
}

/** Load data with `loader()` when `deps` change; `reload()` asks again. */
export function useLoad(loader, deps) {
  const [state, setState] = useState({ data: null, error: null, loading: true });
  const [round, setRound] = useState(0);
  useEffect(() => {
    let live = true;
    setState((old) => ({ ...old, loading: true }));
    loader().then(
      (data) => live && setState({ data, error: null, loading: false }),
      (failure) => live && setState({ data: null, error: failure.message, loading: false }),
    );
    return () => {
      live = false;
    };
  }, [...deps, round]);
  return {
    ...state,
    reload: () => setRound((n) => n + 1),
    show: (data) => setState({ data, error: null, loading: false }),
  };
}

/**
 * After a mutation: show the organization it answered with (read with the screen's own fragment), so the
 * screen needs no second request; ask again only when it gave none.
 */
export function showOrganization(state, organization) {
  if (organization) state.show({ node: organization });
  else state.reload();
}

/** What a screen shows while its data loads or when loading failed. */
export function Loading({ state, children }) {
  if (state.error) return html`<p class="notice bad" role="alert">${state.error}</p>`;
  if (!state.data) return html`<p class="loading" role="status">Loading…</p>`;
  return children(state.data);
}

export function CopyButton({ text, label = "Copy" }) {
  const [done, setDone] = useState(false);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(text);
      setDone(true);
    } catch {
      setDone(false);
    }
  };
  return html`<button type="button" class="secondary" onClick=${copy}>${label}</button>
    <span role="status" class="hint">${done ? "Copied" : ""}</span>`;
}

/** The typed error of a list field (e.g. MembersResult's ForbiddenError) shown in place of the list. */
export function ListError({ result }) {
  return html`<p class="notice bad" role="alert">${result.message}</p>`;
}
