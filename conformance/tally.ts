// What a run found, counted per script and summed per proposal (directory): modules accepted and
// refused by code, assertions agreed and disagreed in each way of running, skips by reason, and
// every disagreement with its file and line.

import type { Mode } from "./ferry-side.js";

export interface Disagreement {
  file: string;
  line: number;
  command: string;
  /** Which run differed: a Ferry mode, "module" (an unexpected refusal) or "refusal" (a module Ferry should have refused). */
  where: Mode | "module" | "refusal";
  detail: string;
}

/** An assertion where raw V8 itself does not do what the spec says (so Ferry is not judged on it). */
export interface RawMismatch {
  file: string;
  line: number;
  detail: string;
}

export interface Tally {
  files: number;
  /** Files not run at all, with the reason. */
  filesNotRun: string[];
  /** Top-level forms wast2json could not convert (dropped, with the assertions of a dropped module). */
  formsDropped: number;
  /** Module fields wast2json could not convert (dropped, the module kept). */
  fieldsDropped: number;
  modules: number;
  v8Rejected: number;
  accepted: number;
  /** Refused modules by FerryError code (or "non-FerryError ..."). */
  refused: Record<string, number>;
  /** assert_return, assert_trap, assert_exhaustion and action commands. */
  assertions: number;
  agreed: Record<Mode, number>;
  disagreed: Record<Mode, number>;
  /** Assertions run snapshotted (the sampled modules'). */
  snapshotted: number;
  /** Pauses of the sliced and snapshotted runs (each snapshotted one a snapshot, encode, decode and restore). */
  pauses: Record<Mode, number>;
  /** Fresh Ferry instances made after a trap, with the calls before it replayed. */
  replays: number;
  skipped: Record<string, number>;
  /** assert_invalid, assert_malformed, assert_unlinkable, assert_uninstantiable. */
  refusals: number;
  refusalsAgreed: number;
  refusalsDisagreed: number;
  refusalsSkipped: Record<string, number>;
  rawMismatches: RawMismatch[];
  disagreements: Disagreement[];
}

export function emptyTally(): Tally {
  return {
    files: 0,
    filesNotRun: [],
    formsDropped: 0,
    fieldsDropped: 0,
    modules: 0,
    v8Rejected: 0,
    accepted: 0,
    refused: {},
    assertions: 0,
    agreed: { straight: 0, sliced: 0, snapshot: 0 },
    disagreed: { straight: 0, sliced: 0, snapshot: 0 },
    snapshotted: 0,
    pauses: { straight: 0, sliced: 0, snapshot: 0 },
    replays: 0,
    skipped: {},
    refusals: 0,
    refusalsAgreed: 0,
    refusalsDisagreed: 0,
    refusalsSkipped: {},
    rawMismatches: [],
    disagreements: [],
  };
}

export function bump(counts: Record<string, number>, key: string, by = 1): void {
  counts[key] = (counts[key] ?? 0) + by;
}

export function addTally(into: Tally, t: Tally): void {
  for (const k of [
    "files",
    "formsDropped",
    "fieldsDropped",
    "modules",
    "v8Rejected",
    "accepted",
    "assertions",
    "snapshotted",
    "replays",
    "refusals",
    "refusalsAgreed",
    "refusalsDisagreed",
  ] as const)
    into[k] += t[k];
  for (const m of ["straight", "sliced", "snapshot"] as const) {
    into.agreed[m] += t.agreed[m];
    into.disagreed[m] += t.disagreed[m];
    into.pauses[m] += t.pauses[m];
  }
  for (const [k, v] of Object.entries(t.refused)) bump(into.refused, k, v);
  for (const [k, v] of Object.entries(t.skipped)) bump(into.skipped, k, v);
  for (const [k, v] of Object.entries(t.refusalsSkipped)) bump(into.refusalsSkipped, k, v);
  into.filesNotRun.push(...t.filesNotRun);
  into.rawMismatches.push(...t.rawMismatches);
  into.disagreements.push(...t.disagreements);
}

export function totalDisagreements(t: Tally): number {
  return t.disagreements.length;
}

const sum = (counts: Record<string, number>): number => Object.values(counts).reduce((a, b) => a + b, 0);

function codes(counts: Record<string, number>): string {
  const entries = Object.entries(counts).sort((a, b) => b[1] - a[1]);
  return entries.length === 0 ? "0" : `${sum(counts)} (${entries.map(([k, v]) => `${k} ${v}`).join(", ")})`;
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(" | ")} |`;
  const rule = `|${widths.map((w, i) => (i === 0 ? `:${"-".repeat(w + 1)}` : `${"-".repeat(w + 1)}:`)).join("|")}|`;
  return [line(header), rule, ...rows.map(line)].join("\n");
}

/** The report: one row per proposal, then the refusal codes, the skips by reason and every disagreement. */
export function renderReport(groups: ReadonlyMap<string, Tally>, total: Tally, maxListed = Infinity): string {
  const rows = [...groups.entries(), ["all", total] as [string, Tally]];
  const ratio = (a: number, of: number) => `${a}/${of}`;
  const out: string[] = [];
  out.push(
    table(
      [
        "proposal",
        "files",
        "modules",
        "accepted",
        "refused",
        "V8 rejects",
        "assertions",
        "skipped",
        "straight",
        "sliced",
        "snapshotted",
        "invalid etc. refused",
        "disagreements",
      ],
      rows.map(([g, t]) => {
        const run = t.assertions - sum(t.skipped);
        return [
          g,
          String(t.files),
          String(t.modules),
          String(t.accepted),
          String(sum(t.refused)),
          String(t.v8Rejected),
          String(t.assertions),
          String(sum(t.skipped)),
          ratio(t.agreed.straight, run),
          ratio(t.agreed.sliced, run),
          ratio(t.agreed.snapshot, t.snapshotted),
          ratio(t.refusalsAgreed, t.refusals - sum(t.refusalsSkipped)),
          String(totalDisagreements(t)),
        ];
      }),
    ),
  );
  out.push(
    "",
    `Pauses: ${total.pauses.sliced} sliced, ${total.pauses.snapshot} snapshotted (each a snapshot, encode, decode and restore into a fresh instance); ${total.replays} replays after a trap.`,
  );
  out.push(
    "",
    "Refused modules by code:",
    table(
      ["proposal", "refused"],
      rows.filter(([, t]) => sum(t.refused) > 0).map(([g, t]) => [g, codes(t.refused)]),
    ),
  );
  const reasons = (pick: (t: Tally) => Record<string, number>, title: string) => {
    const all = pick(total);
    if (sum(all) === 0) return;
    out.push(
      "",
      title,
      table(
        ["reason", "count"],
        Object.entries(all)
          .sort((a, b) => b[1] - a[1])
          .map(([k, v]) => [k, String(v)]),
      ),
    );
  };
  reasons((t) => t.skipped, "Assertions skipped, by reason:");
  reasons((t) => t.refusalsSkipped, "Refusal assertions (assert_invalid/malformed/unlinkable/uninstantiable) skipped, by reason:");
  if (total.filesNotRun.length > 0) out.push("", `Files not run: ${total.filesNotRun.length}`, ...total.filesNotRun.map((f) => `  ${f}`));
  if (total.formsDropped + total.fieldsDropped > 0) {
    out.push(
      "",
      `wast2json could not convert ${total.formsDropped} forms (dropped, with a dropped module's assertions) and ${total.fieldsDropped} module fields (dropped, the module kept)`,
    );
  }
  if (total.rawMismatches.length > 0) {
    out.push("", `Raw V8 differs from the spec (Ferry not judged there): ${total.rawMismatches.length}`);
    for (const m of total.rawMismatches.slice(0, 50)) out.push(`  ${m.file}:${m.line}: ${m.detail}`);
    if (total.rawMismatches.length > 50) out.push(`  … and ${total.rawMismatches.length - 50} more`);
  }
  out.push("", `Disagreements: ${total.disagreements.length}`);
  for (const d of total.disagreements.slice(0, maxListed)) out.push(`  ${d.file}:${d.line} ${d.command} [${d.where}]: ${d.detail}`);
  if (total.disagreements.length > maxListed) out.push(`  … and ${total.disagreements.length - maxListed} more (all of them in --json)`);
  return out.join("\n");
}
