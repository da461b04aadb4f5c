// Money stays a decimal string end to end (never a float); times show in the viewer's zone.

const NANOS = 1_000_000_000n;

/** Nano-units (BigInt) of a decimal string such as "12.5" or "-0.00000035". */
export function toNanos(amount) {
  const negative = amount.startsWith("-");
  const [units, frac = ""] = amount.replace("-", "").split(".");
  const nanos = BigInt(units || "0") * NANOS + BigInt((frac + "000000000").slice(0, 9));
  return negative ? -nanos : nanos;
}

/** The exact decimal string of nano-units: at least two decimals, no trailing zeros past them. */
export function fromNanos(nanos) {
  const sign = nanos < 0n ? "-" : "";
  const abs = nanos < 0n ? -nanos : nanos;
  const frac = (abs % NANOS).toString().padStart(9, "0").replace(/0+$/, "").padEnd(2, "0");
  return `${sign}${abs / NANOS}.${frac}`;
}

/** An exact amount for people: "$1,234.5678" (every digit kept, grouped thousands). */
export function money(value) {
  const amount = typeof value === "string" ? value : value.amount;
  const currency = typeof value === "string" ? "USD" : value.currency;
  const negative = amount.startsWith("-");
  const [units, frac] = amount.replace("-", "").split(".");
  const grouped = units.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  const symbol = currency === "USD" ? "$" : `${currency} `;
  return `${negative ? "−" : ""}${symbol}${grouped}${frac ? "." + frac : ""}`;
}

const zoneName = Intl.DateTimeFormat().resolvedOptions().timeZone;

/** A timestamp in the viewer's time zone, with the zone named. */
export function localTime(iso) {
  if (!iso) return "—";
  return new Date(iso).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" }) + ` (${zoneName})`;
}

/** A date only, in the viewer's time zone. */
export function localDate(iso) {
  return iso ? new Date(iso).toLocaleDateString(undefined, { dateStyle: "medium" }) : "—";
}

export const viewerZone = zoneName;

/** Enum values for people: ORGANIZATION_ADMIN -> "Organization admin". */
export function label(value) {
  if (!value) return "";
  const words = value.toLowerCase().split("_").join(" ");
  return words[0].toUpperCase() + words.slice(1);
}

/** A whole number with grouped thousands. */
export function count(value) {
  return BigInt(value).toLocaleString();
}
