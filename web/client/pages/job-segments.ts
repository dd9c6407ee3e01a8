// A job's execution and resource segments on its page, from the fields GET /jobs/:id gives: the
// memory its newest checkpoint held and touched, that snapshot's size and the call frames it saved,
// and for a WASI job its resources with what a migration does with each, and (stopped) its open
// descriptors. Each number says what it means: they are a checkpoint's, not the instance's now.

import type { JobView } from "../api.js";
import { bytes, count, facts, h, table } from "../dom.js";

/** States in which a job keeps no checkpoint here. */
const ENDED = ["migrated", "done", "trapped", "failed", "cancelled"];

export function executionSegment(v: JobView): HTMLElement {
  const s = v.executionSegment;
  const c = v.lastCheckpoint;
  if (!s || !c)
    return h(
      "p",
      { class: "muted", id: "exec-segment" },
      ENDED.includes(v.state)
        ? `The job is ${v.state} here: its checkpoints, which these numbers come from, are gone.`
        : "No checkpoint here yet: the numbers come from the job's newest checkpoint.",
    );
  return h(
    "div",
    { id: "exec-segment" },
    h("p", { class: "muted" }, `As of checkpoint #${s.checkpoint}, counted when it was written.`),
    facts([
      ["memory held", `${bytes(s.memoryBytes)} (${count(s.memoryPages)} pages of 64 KiB: the guest's linear memory)`],
      ["pages touched", `${count(s.touchedPages)} (pages holding a non-zero byte: what a full snapshot carries)`],
      ["snapshot size", `${bytes(c.bytes)}${c.delta ? " (a delta on an earlier full checkpoint)" : ""}`],
      ["saved frames", `${bytes(s.savedFrameBytes)} (call frames Asyncify saved at the pause; 0: stopped with none on the stack)`],
    ]),
  );
}

/** A WASI job's bindings and open descriptors; nothing for other jobs (they hold no resources). */
export function resourceSegment(v: JobView): HTMLElement[] {
  if (!v.bindings) return [];
  const parts: HTMLElement[] = [
    h("h2", {}, "Resources"),
    table(
      ["resource", "kind", "binding", "attachment", "on migration"],
      v.bindings.map((b) => [b.resource, b.kind, b.binding, b.attachment, b.home ? `${b.action} (stays at ${b.home})` : b.action]),
      "What the job holds and what a move does with each (docs/resource-segment.md)",
    ),
  ];
  const seg = v.resourceSegment;
  if (seg && seg.fds.length > 0)
    parts.push(
      table(
        ["#fd", "kind", "preopen", "path", "#offset", "rights"],
        seg.fds.map((f) => [f.fd, f.kind, f.preopen ?? "—", f.path, count(f.offset), f.rights]),
        `Open descriptors at checkpoint #${seg.checkpoint}${seg.sleeping ? " (sleeping)" : ""}`,
      ),
    );
  return parts;
}
