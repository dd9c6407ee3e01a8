// Cluster: this node and its peers with their live load (GET /load of each: a peer's is a public,
// cross-origin read), the load-per-node chart over the last minutes (kept in this page only), the
// balancer's policy, thresholds and recent polls (GET /balance, /balance/recent) and the last moves.

import { json, type Load, type Migration, type Peer } from "../api.js";
import { drawChart, type Series } from "../chart.js";
import { count, every, facts, fill, h, table, time } from "../dom.js";
import { migrationTable } from "./migration-table.js";
import type { Page } from "../page.js";

const WINDOW_MS = 5 * 60_000;
const POLL_MS = 1_000;

/** Samples per node id: the chart's memory, kept while the page is open (not on any server). */
const history = new Map<string, Array<{ t: number; v: number }>>();

interface Recent {
  enabled: boolean;
  policy: string;
  metric?: string;
  thresholds: { lower: number; upper: number; threshold: number } | null;
  polls: Array<{ at: number; to: string; probe: string; round: number }>;
}

function sample(node: string, t: number, v: number): void {
  const points = history.get(node) ?? [];
  points.push({ t, v });
  while (points.length > 0 && points[0]!.t < t - WINDOW_MS) points.shift();
  history.set(node, points);
}

const loadOf = (l: Load) => l.running + l.queued;

export function renderCluster(page: Page): () => void {
  const nodes = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("class", "chart");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", "jobs running or queued per node, up to the last five minutes");
  const balance = h("div", {});
  const moves = h("div", {});
  fill(
    page.main,
    h("h1", {}, "Cluster"),
    nodes,
    h("h2", {}, "Load per node (running + queued jobs), up to the last 5 minutes"),
    svg,
    h("h2", {}, "Load sharing"),
    balance,
    h("h2", {}, "Recent transfers out of and into this node"),
    moves,
  );
  let peers: Peer[] = [];
  let thresholds: Array<[string, number]> = [];
  let tick = 0;
  return every(POLL_MS, async () => {
    if (tick++ % 10 === 0) peers = await json<Peer[]>("GET", "/peers", { sign: false });
    const now = Date.now();
    const loads = await Promise.all([
      json<Load>("GET", "/load", { sign: false }).then((l) => ({ url: location.origin, load: l as Load | null })),
      ...peers.map((p) =>
        json<Load>("GET", "/load", { origin: new URL(p.url).origin })
          .then((l) => ({ url: p.url, load: l as Load | null }))
          .catch(() => ({ url: p.url, load: null })),
      ),
    ]);
    for (const x of loads) if (x.load) sample(x.load.node, now, loadOf(x.load));
    const rows = loads.map((x, i) => {
      const id = x.load?.node ?? peers[i - 1]?.nodeId ?? "?";
      const l = x.load;
      return [
        i === 0 ? `${id} (this node)` : id,
        x.url,
        l ? l.running : "unreachable",
        l ? l.queued : "",
        l ? l.paused : "",
        l ? l.inProcessQueue : "",
      ];
    });
    fill(nodes, table(["node", "address", "#running", "#queued", "#paused", "#in-process queue"], rows));
    if (tick % 2 === 1) thresholds = await renderBalance(balance, moves);
    const series: Series[] = [...history.entries()].map(([name, points]) => ({ name, points }));
    // The window grows with what has been seen, from one minute up to five.
    const oldest = Math.min(now, ...series.map((x) => x.points[0]?.t ?? now));
    drawChart(svg, series, now, Math.min(WINDOW_MS, Math.max(60_000, now - oldest)), thresholds);
  });
}

/** The balancer's settings, counters and last polls, and the node's last moves; returns the thresholds to draw. */
async function renderBalance(balance: HTMLElement, moves: HTMLElement): Promise<Array<[string, number]>> {
  const [stats, recent, migrations] = await Promise.all([
    json<Record<string, number | string | boolean>>("GET", "/balance", { sign: false }),
    json<Recent>("GET", "/balance/recent", { sign: false }),
    json<{ migrations: Migration[] }>("GET", "/migrations?limit=10"),
  ]);
  const t = recent.thresholds;
  fill(
    balance,
    facts([
      [
        "policy",
        recent.enabled
          ? `${recent.policy} (${recent.metric ?? "?"} metric)`
          : "none — this node does not share load (ferry serve --balance)",
      ],
      ["role now", String(stats.role)],
      ["thresholds", t ? `lower ${t.lower}, upper ${t.upper}` : "—"],
      ["polls sent / probes answered", `${count(Number(stats.polls))} / ${count(Number(stats.probesAnswered))}`],
      ["transfers strong / weak / failed", `${stats.strong} / ${stats.weak} / ${stats.failed}`],
    ]),
    recent.polls.length
      ? table(
          ["time", "to", "probe", "#round"],
          recent.polls
            .slice(-10)
            .reverse()
            .map((p) => [time(p.at), p.to, p.probe, p.round]),
          "last polls",
        )
      : h("p", { class: "muted" }, "No polls yet."),
  );
  fill(moves, migrationTable(migrations.migrations, true));
  return t && recent.enabled
    ? [
        ["upper", t.upper],
        ["lower", t.lower],
      ]
    : [];
}
