// A list of moves as a table (the cluster page's last transfers, the migrations feed): a job's id
// links to its page only where the API named it, i.e. for its owner. `direction`: out (this node sent
// it) or in (received; its downtime is the receiver's share: PREPARE received → running).

import type { Migration } from "../api.js";
import { count, h, table, time } from "../dom.js";

/** `withDirection`: a column saying out or in (one node's own log; a merged feed shows each move once, as sent). */
export function migrationTable(list: readonly Migration[], withDirection = false): HTMLElement {
  if (list.length === 0) return h("p", { class: "muted" }, "No moves yet.");
  const columns = ["time", "job", "from", "to", "mode", "#downtime ms", "#bytes", "#pre-copy rounds"];
  return table(
    withDirection ? ["time", "direction", ...columns.slice(1)] : columns,
    list.map((m) => {
      const job = m.job
        ? h("a", { href: `/ui/jobs/${encodeURIComponent(m.job)}` }, m.job)
        : h("span", { class: "muted", title: "not your job" }, "—");
      const rest = [job, m.from, m.to, m.mode, m.downtimeMs ?? "—", count(m.bytes), m.precopyRounds];
      return withDirection ? [time(m.at), m.direction ?? "out", ...rest] : [time(m.at), ...rest];
    }),
  );
}
