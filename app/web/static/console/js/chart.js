// A line chart on uPlot (canvas); its figures are in the totals table beside it for screen readers.
import uPlot from "uplot";
import { html, useEffect, useRef } from "./html.js";

const COLORS = ["#1d4ed8", "#b91c1c", "#047857", "#7c3aed", "#b45309", "#0e7490", "#be185d", "#4b5563"];

/** Axis figures: up to four significant digits, so small amounts (spend in fractions of a cent) stay readable. */
const tick = (_, splits) => splits.map((v) => (v == null ? "" : Number(v.toPrecision(4)).toLocaleString(undefined, { maximumSignificantDigits: 4 })));

export function LineChart({ title, xs, series }) {
  const box = useRef(null);
  useEffect(() => {
    const width = Math.max(320, box.current.clientWidth || 800);
    const options = {
      title,
      width,
      height: 220,
      series: [{}, ...series.map(([name], i) => ({ label: name, stroke: COLORS[i % COLORS.length], width: 2 }))],
      axes: [{}, { size: 70, values: tick }],
    };
    const plot = new uPlot(options, [xs, ...series.map(([, values]) => values)], box.current);
    return () => plot.destroy();
  }, [title, xs, series]);
  return html`<figure class="chart" role="img" aria-label=${`${title} over time`} data-chart=${title}><div ref=${box}></div></figure>`;
}
