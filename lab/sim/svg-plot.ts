// A hand-written SVG line chart (no dependency): mean response time against load, one curve per
// series, logarithmic y axis because M/M/1 and a thrashing policy dwarf everything else.

export interface Series {
  label: string;
  points: readonly (readonly [number, number])[];
  /** Bounds are drawn dashed. */
  dashed?: boolean;
}

export interface PlotOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  /** A line under the title (what the dashed bounds mean). */
  note?: string;
}

const WIDTH = 820;
const HEIGHT = 520;
const MARGIN = { left: 70, right: 170, top: 40, bottom: 55 };
const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"];
const BOUND_COLORS = ["#555555", "#999999"];

function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Round-number ticks 1, 2, 5 × 10^k covering [lo, hi] (lo > 0). */
function logTicks(lo: number, hi: number): number[] {
  const ticks: number[] = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++) {
    for (const m of [1, 2, 5]) {
      const t = m * 10 ** e;
      if (t >= lo * 0.999 && t <= hi * 1.001) ticks.push(t);
    }
  }
  return ticks;
}

function linearTicks(lo: number, hi: number): number[] {
  const raw = (hi - lo) / 8;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  const ticks: number[] = [];
  for (let t = Math.ceil(lo / step - 1e-9) * step; t <= hi + 1e-9; t += step) ticks.push(Number(t.toFixed(10)));
  return ticks;
}

export function plotSvg(series: readonly Series[], o: PlotOptions): string {
  const xs = series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = series.flatMap((s) => s.points.map((p) => p[1])).filter((y) => Number.isFinite(y) && y > 0);
  const xMin = Math.min(...xs);
  const xMax = Math.max(...xs);
  const lo = 10 ** (Math.floor(Math.log10(Math.min(...ys)) * 10) / 10);
  const hi = 10 ** (Math.ceil(Math.log10(Math.max(...ys)) * 10) / 10);
  const plotW = WIDTH - MARGIN.left - MARGIN.right;
  const plotH = HEIGHT - MARGIN.top - MARGIN.bottom;
  const sx = (x: number): number => MARGIN.left + (xMax === xMin ? plotW / 2 : ((x - xMin) / (xMax - xMin)) * plotW);
  const sy = (y: number): number =>
    MARGIN.top + plotH - ((Math.log10(y) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo) || 1)) * plotH;
  const f = (v: number): string => v.toFixed(1);

  const out: string[] = [];
  out.push(
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${HEIGHT}" viewBox="0 0 ${WIDTH} ${HEIGHT}" font-family="sans-serif" font-size="12">`,
  );
  out.push(`<rect width="${WIDTH}" height="${HEIGHT}" fill="white"/>`);
  out.push(`<text x="${f(MARGIN.left + plotW / 2)}" y="22" text-anchor="middle" font-size="15">${escapeXml(o.title)}</text>`);
  if (o.note) out.push(`<text x="${f(WIDTH / 2)}" y="36" text-anchor="middle" font-size="10">${escapeXml(o.note)}</text>`);
  // Grid and ticks.
  for (const t of logTicks(lo, hi)) {
    const y = sy(t);
    out.push(`<line x1="${MARGIN.left}" y1="${f(y)}" x2="${MARGIN.left + plotW}" y2="${f(y)}" stroke="#e6e6e6"/>`);
    out.push(`<text x="${MARGIN.left - 8}" y="${f(y + 4)}" text-anchor="end">${t >= 1000 ? t.toExponential(0) : String(t)}</text>`);
  }
  for (const t of linearTicks(xMin, xMax)) {
    const x = sx(t);
    out.push(`<line x1="${f(x)}" y1="${MARGIN.top}" x2="${f(x)}" y2="${MARGIN.top + plotH}" stroke="#f0f0f0"/>`);
    out.push(`<line x1="${f(x)}" y1="${MARGIN.top + plotH}" x2="${f(x)}" y2="${MARGIN.top + plotH + 5}" stroke="black"/>`);
    out.push(`<text x="${f(x)}" y="${MARGIN.top + plotH + 19}" text-anchor="middle">${String(t)}</text>`);
  }
  // Axes and their labels.
  out.push(`<line x1="${MARGIN.left}" y1="${MARGIN.top}" x2="${MARGIN.left}" y2="${MARGIN.top + plotH}" stroke="black"/>`);
  out.push(`<line x1="${MARGIN.left}" y1="${MARGIN.top + plotH}" x2="${MARGIN.left + plotW}" y2="${MARGIN.top + plotH}" stroke="black"/>`);
  out.push(`<text x="${f(MARGIN.left + plotW / 2)}" y="${HEIGHT - 12}" text-anchor="middle">${escapeXml(o.xLabel)}</text>`);
  out.push(`<text transform="translate(18 ${f(MARGIN.top + plotH / 2)}) rotate(-90)" text-anchor="middle">${escapeXml(o.yLabel)}</text>`);
  // Curves, then the legend.
  let colour = 0;
  let bound = 0;
  series.forEach((s, i) => {
    const stroke = s.dashed ? BOUND_COLORS[bound++ % BOUND_COLORS.length]! : COLORS[colour++ % COLORS.length]!;
    const dash = s.dashed ? ` stroke-dasharray="6 4"` : "";
    const pts = s.points.filter((p) => Number.isFinite(p[1]) && p[1] > 0);
    out.push(
      `<polyline fill="none" stroke="${stroke}" stroke-width="2"${dash} points="${pts.map((p) => `${f(sx(p[0]))},${f(sy(p[1]))}`).join(" ")}"/>`,
    );
    for (const p of s.dashed ? [] : pts) out.push(`<circle cx="${f(sx(p[0]))}" cy="${f(sy(p[1]))}" r="2.5" fill="${stroke}"/>`);
    const ly = MARGIN.top + 10 + i * 20;
    const lx = WIDTH - MARGIN.right + 15;
    out.push(`<line x1="${lx}" y1="${ly}" x2="${lx + 28}" y2="${ly}" stroke="${stroke}" stroke-width="2"${dash}/>`);
    out.push(`<text x="${lx + 34}" y="${ly + 4}">${escapeXml(s.label)}</text>`);
  });
  out.push("</svg>");
  return `${out.join("\n")}\n`;
}
