// Hash routes (#/o/<organization>/<screen>/<tab>): the server serves one page; the invitation link has its own path.
import { useEffect, useState } from "./html.js";

/** The current route as {path: [...parts]}; re-renders on navigation. */
export function useRoute() {
  const read = () => location.hash.replace(/^#\/?/, "").split("/").filter(Boolean).map(decodeURIComponent);
  const [parts, setParts] = useState(read);
  useEffect(() => {
    const onChange = () => setParts(read());
    addEventListener("hashchange", onChange);
    return () => removeEventListener("hashchange", onChange);
  }, []);
  return parts;
}

/** The href of a route. */
export function href(...parts) {
  return "#/" + parts.map(encodeURIComponent).join("/");
}

export function navigate(...parts) {
  location.hash = href(...parts).slice(1);
}
