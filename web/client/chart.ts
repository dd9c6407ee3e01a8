// The load-per-node chart: one SVG polyline per node over the last minutes, with the balancer's
// thresholds as dashed lines. Drawn by hand (≈60 lines) rather than with a chart library: it is
// one kind of chart with a few hundred points, and this keeps the page free of dependencies.

const NS = "http://www.w3.org/2000/svg";
const COLORS = ["#0b62c4", "#d4570d", "#117a37", "#8f3fb8", "#b42318", "#0e7c86", "#806600", "#5c6670"];
const W = 800;
const H = 220;
const PAD = { left: 34, right: 110, top: 10, bottom: 22 };

export interface Series {
  name: string;
  points: ReadonlyArray<{ t: number; v: number }>;
}

function el(tag: string, attrs: Record<string, string | number>, text?: string): SVGElement {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

/** Draw `series` over [now − windowMs, now] into `svg`; `thresholds` are horizontal lines. */
export function drawChart(
  svg: SVGSVGElement,
  series: readonly Series[],
  now: number,
  windowMs: number,
  thresholds: ReadonlyArray<[string, number]>,
): void {
  svg.replaceChildren();
  svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
  const top = Math.max(2, ...series.flatMap((s) => s.points.map((p) => p.v)), ...thresholds.map(([, v]) => v + 1));
  const x = (t: number) => PAD.left + ((t - (now - windowMs)) / windowMs) * (W - PAD.left - PAD.right);
  const y = (v: number) => H - PAD.bottom - (v / top) * (H - PAD.top - PAD.bottom);
  for (let v = 0; v <= top; v += Math.max(1, Math.ceil(top / 5))) {
    svg.append(el("line", { x1: PAD.left, x2: W - PAD.right, y1: y(v), y2: y(v), stroke: "currentColor", "stroke-opacity": 0.12 }));
    svg.append(el("text", { x: PAD.left - 6, y: y(v) + 4, "text-anchor": "end" }, String(v)));
  }
  for (let k = 0; k <= 4; k++) {
    const ago = (windowMs * k) / 4;
    const label = k === 0 ? "now" : ago >= 60_000 ? `−${(ago / 60_000).toFixed(ago % 60_000 ? 1 : 0)} min` : `−${Math.round(ago / 1000)} s`;
    svg.append(el("text", { x: x(now - ago), y: H - 6, "text-anchor": "middle" }, label));
  }
  for (const [label, v] of thresholds) {
    svg.append(el("line", { x1: PAD.left, x2: W - PAD.right, y1: y(v), y2: y(v), stroke: "#b42318", "stroke-dasharray": "5 4" }));
    svg.append(el("text", { x: PAD.left + 6, y: y(v) - 4 }, `${label} threshold ${v}`));
  }
  series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length]!;
    const pts = s.points.filter((p) => p.t >= now - windowMs).map((p) => `${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`);
    if (pts.length > 0) svg.append(el("polyline", { points: pts.join(" "), fill: "none", stroke: color, "stroke-width": 2 }));
    svg.append(el("rect", { x: W - PAD.right + 4, y: PAD.top + 16 * i + 40, width: 10, height: 10, fill: color }));
    svg.append(el("text", { x: W - PAD.right + 18, y: PAD.top + 16 * i + 49 }, s.name.slice(0, 14)));
  });
}
