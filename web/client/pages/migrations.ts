// Migrations: a live feed of moves across the cluster — each node's recent moves out (GET
// /migrations: this node's signed, so your own jobs are named; the peers' as public reads, jobs
// unnamed), merged newest first and refreshed every two seconds.

import { json, type Migration, type Peer } from "../api.js";
import { every, fill, h } from "../dom.js";
import type { Page } from "../page.js";
import { migrationTable } from "./migration-table.js";

export function renderMigrations(page: Page): () => void {
  const summary = h("p", { class: "muted" });
  const feed = h("div", { id: "migration-feed" });
  fill(page.main, h("h1", {}, "Migrations"), summary, feed);
  let peers: Peer[] = [];
  let tick = 0;
  return every(2_000, async () => {
    if (tick++ % 5 === 0) peers = await json<Peer[]>("GET", "/peers", { sign: false });
    const lists = await Promise.all([
      json<{ migrations: Migration[] }>("GET", "/migrations"),
      ...peers.map((p) =>
        json<{ migrations: Migration[] }>("GET", "/migrations", { origin: new URL(p.url).origin }).catch(() => ({ migrations: [] })),
      ),
    ]);
    // Each move once: as its sender logged it (a move in is the same move, seen from the receiver).
    const all = lists
      .flatMap((l) => l.migrations)
      .filter((m) => m.direction !== "in")
      .sort((a, b) => b.at - a.at);
    const strong = all.filter((m) => m.mode === "strong");
    const downtimes = strong.map((m) => m.downtimeMs ?? 0).sort((a, b) => a - b);
    const median = downtimes.length ? downtimes[Math.floor(downtimes.length / 2)] : undefined;
    summary.textContent = `${all.length} moves on ${peers.length + 1} nodes (${strong.length} strong, ${all.length - strong.length} weak)${median === undefined ? "" : `; median strong downtime ${median} ms`}.`;
    fill(feed, migrationTable(all.slice(0, 100)));
  });
}
