// Small shared helpers for the benchmark scripts: medians, an interleaved runner (variants take
// turns, so drift on a shared machine hits all of them alike), GitHub-flavoured markdown tables,
// machine facts and atomic JSON output.

import { existsSync, mkdirSync, readFileSync } from "node:fs";
import os from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import binaryen from "binaryen";
import { writeFileAtomic } from "../runtime/light.js";

/** Median of a non-empty sample (mean of the two middle values for an even count). */
export function median(xs: readonly number[]): number {
  if (xs.length === 0) throw new Error("median of an empty sample");
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Monotonic clock in milliseconds with sub-microsecond resolution. */
export function nowMs(): number {
  return Number(process.hrtime.bigint()) / 1e6;
}

let gcFunction: (() => void) | undefined | null;

/**
 * A full garbage collection, run *between* timed regions so one variant's garbage (say, a dropped
 * 64 MiB memory) is not collected on another variant's clock. `--expose-gc` turned on at run time:
 * `npm run bench` runs plain `node`, and the flag only affects contexts created afterwards.
 */
export function collectGarbage(): void {
  if (gcFunction === undefined) {
    try {
      setFlagsFromString("--expose-gc");
      gcFunction = runInNewContext("gc") as () => void;
    } catch {
      gcFunction = null;
    }
  }
  gcFunction?.();
}

/**
 * Collect until the heap and external memory stop shrinking. Wasm memories and other external
 * buffers are released by finalizers that run after a GC, between turns of the event loop, so one
 * `gc()` can leave an earlier part's garbage to be freed in the middle of a measurement.
 */
export async function settleGarbage(maxRounds = 8): Promise<void> {
  let last = Number.POSITIVE_INFINITY;
  for (let round = 0; round < maxRounds; round++) {
    collectGarbage();
    await new Promise((resolve) => setImmediate(resolve));
    const { heapUsed, external } = process.memoryUsage();
    if (heapUsed + external >= last) return;
    last = heapUsed + external;
  }
}

export interface Variant {
  name: string;
  /** One sample: returns the measured milliseconds (the variant times only what it means to time). */
  sample: () => number | Promise<number>;
}

export interface InterleaveOptions {
  /** Rounds run and discarded first (JIT tier-up, page faults, caches). */
  warmup: number;
  /** Rounds kept; each round takes one sample of every variant. */
  runs: number;
  /** Collect garbage before every sample. Default true. */
  gcBetween?: boolean;
}

/**
 * Take samples round-robin (A B C, B C A, C A B, …: interleaved, and rotated so no variant always
 * follows the same neighbour). Returns every kept sample per variant, in round order.
 */
export async function interleave(variants: readonly Variant[], o: InterleaveOptions): Promise<Map<string, number[]>> {
  const samples = new Map<string, number[]>(variants.map((v) => [v.name, []]));
  const gcBetween = o.gcBetween ?? true;
  for (let round = 0; round < o.warmup + o.runs; round++) {
    for (let k = 0; k < variants.length; k++) {
      const v = variants[(round + k) % variants.length]!;
      if (gcBetween) collectGarbage();
      const ms = await v.sample();
      if (round >= o.warmup) samples.get(v.name)!.push(ms);
    }
  }
  return samples;
}

/** Medians of `interleave`'s samples, by variant name. */
export function medians(samples: Map<string, number[]>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, xs] of samples) out[name] = median(xs);
  return out;
}

export type Align = "left" | "right";

export interface Table {
  title: string;
  headers: string[];
  rows: string[][];
  /** Per column; default: first column left, the rest right. */
  align?: Align[];
  /** Lines printed after the table (footnotes). */
  notes?: string[];
}

/** A GitHub-flavoured markdown table preceded by a bold title line, ready to paste into README. */
export function renderTable(t: Table): string {
  const align = t.align ?? t.headers.map((_, i) => (i === 0 ? "left" : "right"));
  const widths = t.headers.map((h, i) => Math.max(h.length, 3, ...t.rows.map((r) => (r[i] ?? "").length)));
  const pad = (s: string, i: number): string => (align[i] === "right" ? s.padStart(widths[i]!) : s.padEnd(widths[i]!));
  const line = (cells: string[]): string => `| ${cells.map((c, i) => pad(c, i)).join(" | ")} |`;
  const rule = `|${widths.map((w, i) => (align[i] === "right" ? `${"-".repeat(w + 1)}:` : `:${"-".repeat(w + 1)}`)).join("|")}|`;
  const out = [`**${t.title}**`, "", line(t.headers), rule, ...t.rows.map(line)];
  if (t.notes && t.notes.length > 0) out.push("", ...t.notes);
  return out.join("\n");
}

export function printTable(t: Table): void {
  process.stdout.write(`\n${renderTable(t)}\n`);
}

// ---- number formatting (3 significant figures is all a noisy 2-core machine supports) ----

export function fmtMs(ms: number): string {
  if (ms >= 100) return ms.toFixed(0);
  if (ms >= 10) return ms.toFixed(1);
  if (ms >= 1) return ms.toFixed(2);
  return ms.toFixed(3);
}

export function fmtUs(us: number): string {
  return us >= 100 ? us.toFixed(0) : us >= 10 ? us.toFixed(1) : us.toFixed(2);
}

export function fmtRatio(r: number): string {
  return `${r.toFixed(2)}×`;
}

/** Decimal gigabytes per second. */
export function gbPerSecond(bytes: number, ms: number): number {
  return bytes / (ms / 1000) / 1e9;
}

export function fmtGbs(gbs: number): string {
  return gbs >= 10 ? gbs.toFixed(1) : gbs.toFixed(2);
}

export function fmtBytes(n: number): string {
  if (n >= 1024 * 1024) return `${(n / (1024 * 1024)).toFixed(2)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${n} B`;
}

export function fmtInt(n: number): string {
  return Math.round(n).toLocaleString("en-US");
}

export const mark = (ok: boolean): string => (ok ? "✓" : "✗");

// ---- targets, machine facts, output ----

/** One performance target: `value` compared with `limit` in the direction `op`. */
export interface TargetCheck {
  target: string;
  value: number;
  limit: number;
  op: "<=" | ">=";
  unit: string;
  ok: boolean;
}

export function check(target: string, value: number, op: "<=" | ">=", limit: number, unit: string): TargetCheck {
  return { target, value, limit, op, unit, ok: op === "<=" ? value <= limit : value >= limit };
}

export interface MachineFacts {
  node: string;
  v8: string;
  platform: string;
  arch: string;
  cpuModel: string;
  cores: number;
  totalMemoryBytes: number;
  loadAverage: number[];
  date: string;
}

export function machineFacts(): MachineFacts {
  const cpus = os.cpus();
  return {
    node: process.version,
    v8: process.versions.v8,
    platform: process.platform,
    arch: process.arch,
    cpuModel: cpus[0]?.model.trim() ?? "unknown",
    cores: cpus.length,
    totalMemoryBytes: os.totalmem(),
    loadAverage: os.loadavg(),
    date: new Date().toISOString(),
  };
}

/** The directory of the package.json named "ferry" (works from bench/ and from dist/bench/). */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = join(dir, "package.json");
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, "utf8")) as { name?: unknown }).name === "ferry") return dir;
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no package.json named "ferry" above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
}

/** JSON with bigints as strings, written atomically (never half a file). */
export function writeJsonAtomic(path: string, data: unknown): void {
  mkdirSync(dirname(path), { recursive: true });
  const text = `${JSON.stringify(data, (_k, v: unknown) => (typeof v === "bigint" ? v.toString() : v), 2)}\n`;
  writeFileAtomic(path, Buffer.from(text, "utf8"));
}

/** A module from WebAssembly text (bench guests are tiny inline WAT). */
export function watToWasm(text: string): Uint8Array {
  const m = binaryen.parseText(text);
  try {
    return m.emitBinary();
  } finally {
    m.dispose();
  }
}
