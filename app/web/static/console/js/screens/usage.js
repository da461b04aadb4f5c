// Usage: tokens, requests and spend over time as charts, by model, project or key, with totals; limits used now.
import { query } from "../api.js";
import { count, label, money, viewerZone } from "../format.js";
import { html, useState } from "../html.js";
import { LineChart } from "../chart.js";
import { ListError, Loading, useLoad } from "../ui.js";

const RANGES = [
  ["1h", "Last hour", 3600, "MINUTE"],
  ["24h", "Last 24 hours", 86400, "HOUR"],
  ["7d", "Last 7 days", 7 * 86400, "HOUR"],
  ["30d", "Last 30 days", 30 * 86400, "DAY"],
];

const TOTAL = "total { requests inputTokens outputTokens spend { amount currency } }";
const USAGE = `query Usage($input: UsageInput!, $id: ID!) {
  usage(input: $input) { __typename ... on Error { message }
    ... on UsageSeries { ${TOTAL} series(zeroFilled: true) { group name starts requests inputTokens outputTokens spend ${TOTAL} } } }
  node(id: $id) { ... on Organization {
    plans { modelId kind limitsSource reason usageNow { kind window limit used remaining } }
    projects(first: 100, archived: false) { edges { node { id name } } } } } }`;

/** The API's zero-filled columns as chart lines: x in unix seconds, one line per group. */
function columns(series) {
  return {
    xs: (series[0]?.starts ?? []).map((start) => Date.parse(start) / 1000),
    groups: series.map((s) => ({
      name: s.name ?? (s.group ? s.group : "All"),
      tokens: s.inputTokens.map((v, i) => Number(BigInt(v) + BigInt(s.outputTokens[i]))),
      requests: s.requests.map(Number),
      spend: s.spend.map(Number), // for drawing only; totals below stay exact
    })),
  };
}

const CSV_HEADER = ["bucket_start_utc", "group_id", "group", "requests", "input_tokens", "output_tokens", "spend_usd"];

/** The series as shown, one row per group and bucket, amounts exact as the API gives them. */
function usageCsv(series) {
  const cell = (value) => (/[",\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value);
  const rows = series.flatMap((s) =>
    s.starts.map((start, i) => [start, s.group ?? "", s.name ?? "All", s.requests[i], s.inputTokens[i], s.outputTokens[i], s.spend[i]]),
  );
  return [CSV_HEADER, ...rows].map((row) => row.map((v) => cell(String(v))).join(",")).join("\r\n") + "\r\n";
}

function downloadCsv(series, name) {
  const link = document.createElement("a");
  link.href = URL.createObjectURL(new Blob([usageCsv(series)], { type: "text/csv" }));
  link.download = name;
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 1000);
}

function Totals({ usage }) {
  const rows = [
    ...usage.series.map((s) => ({ name: s.name ?? "All", ...s.total })),
    ...(usage.series.length > 1 ? [{ name: "Total", ...usage.total }] : []),
  ];
  return html`<table aria-label="Totals over the range">
    <thead><tr><th>Group</th><th class="num">Requests</th><th class="num">Input tokens</th><th class="num">Output tokens</th><th class="num">Spend</th></tr></thead>
    <tbody>${rows.map((r) => html`<tr><td>${r.name}</td><td class="num">${count(r.requests)}</td><td class="num">${count(r.inputTokens)}</td>
      <td class="num">${count(r.outputTokens)}</td><td class="num" data-spend>${money(r.spend)}</td></tr>`)}</tbody>
  </table>`;
}

function Limits({ plans }) {
  return html`<h2>Limits per model, used now</h2>
    <table>
      <thead><tr><th>Model</th><th>Plan</th><th>Limit</th><th class="num">Used</th><th class="num">Limit</th><th class="num">Remaining</th></tr></thead>
      <tbody>${plans.flatMap((p) =>
        (p.usageNow.length ? p.usageNow : [null]).map((u, i) => html`<tr>
          <td>${i === 0 ? p.modelId : ""}</td><td>${i === 0 ? html`${label(p.kind)}<br /><span class="hint">${p.reason}</span>` : ""}</td>
          <td>${u ? `${label(u.kind)} per ${u.window}` : "—"}</td>
          <td class="num">${u ? count(u.used) : ""}</td><td class="num">${u ? count(u.limit) : ""}</td><td class="num">${u ? count(u.remaining) : ""}</td></tr>`),
      )}</tbody>
    </table>`;
}

export function Usage({ org }) {
  const [range, setRange] = useState("24h");
  const [granularity, setGranularity] = useState("HOUR");
  const [groupBy, setGroupBy] = useState("MODEL");
  const [projectId, setProjectId] = useState("");
  const [projects, setProjects] = useState([]);
  const [, , seconds] = RANGES.find((r) => r[0] === range);
  const state = useLoad(() => {
    const to = Date.now() / 1000;
    const from = to - seconds;
    const input = { organizationId: org.id, from: new Date(from * 1000).toISOString(), to: new Date(to * 1000).toISOString(), granularity, groupBy };
    if (projectId) input.projectIds = [projectId];
    return query(USAGE, { input, id: org.id }).then((data) => {
      setProjects(data.node.projects.edges.map((e) => e.node));
      return { ...data, from, to };
    });
  }, [org.id, range, granularity, groupBy, projectId]);
  const choose = (setter) => (event) => setter(event.currentTarget.value);
  return html`<h1 tabindex="-1">Usage</h1>
    <form class="inline" onSubmit=${(e) => e.preventDefault()} aria-label="Usage filters">
      <div class="field"><label for="u-range">Range</label>
        <select id="u-range" value=${range} onChange=${(e) => { setRange(e.currentTarget.value); setGranularity(RANGES.find((r) => r[0] === e.currentTarget.value)[3]); }}>
          ${RANGES.map(([value, text]) => html`<option value=${value}>${text}</option>`)}</select></div>
      <div class="field"><label for="u-granularity">Buckets (UTC)</label>
        <select id="u-granularity" value=${granularity} onChange=${choose(setGranularity)}>
          <option value="MINUTE">Minute</option><option value="HOUR">Hour</option><option value="DAY">Day (UTC days)</option></select></div>
      <div class="field"><label for="u-group">Split by</label>
        <select id="u-group" value=${groupBy} onChange=${choose(setGroupBy)}>
          <option value="NONE">Nothing</option><option value="MODEL">Model</option><option value="PROJECT">Project</option><option value="API_KEY">API key</option></select></div>
      <div class="field"><label for="u-project">Project</label>
        <select id="u-project" value=${projectId} onChange=${choose(setProjectId)}>
          <option value="">All projects</option>
          ${projects.map((p) => html`<option value=${p.id}>${p.name}</option>`)}</select></div>
      <button type="button" class="secondary" onClick=${state.reload}>Refresh</button>
    </form>
    <p class="hint">Buckets are UTC ${granularity.toLowerCase()}s; times on the axis are in your time zone (${viewerZone}).</p>
    <${Loading} state=${state}>
      ${(data) => {
        if (data.usage.__typename !== "UsageSeries") return html`<${ListError} result=${data.usage} />`;
        const filled = columns(data.usage.series);
        const named = filled.groups;
        return html`
          ${Number(data.usage.total.requests) === 0 && html`<p role="status">No usage in this range.</p>`}
          <${LineChart} title="Tokens (input + output)" xs=${filled.xs} series=${named.map((g) => [g.name, g.tokens])} />
          <${LineChart} title="Requests" xs=${filled.xs} series=${named.map((g) => [g.name, g.requests])} />
          <${LineChart} title="Spend (USD)" xs=${filled.xs} series=${named.map((g) => [g.name, g.spend])} />
          <h2>Totals</h2>
          <${Totals} usage=${data.usage} />
          <p><button type="button" class="secondary" onClick=${() => downloadCsv(data.usage.series, `usage-${range}-${granularity.toLowerCase()}-by-${groupBy.toLowerCase()}.csv`)}>
            Download CSV</button> <span class="hint">Every bucket of the charts (UTC), exact amounts.</span></p>
          <${Limits} plans=${data.node.plans} />`;
      }}
    </${Loading}>`;
}
