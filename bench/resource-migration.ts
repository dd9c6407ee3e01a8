// Migration downtime of a WASI job holding a 16 MiB file open in its resource directory: the
// directory moved with it (`migrate: "move"`: the tree travels in the pre-copy rounds, the PREPARE
// carries only what changed, the target lays it down at COMMIT before the job runs) against reached
// by global reference (the default: it stays at the source, the target calls it through a pin).
// Two real nodes on loopback (both in this process, as bench/node.ts's migration rows), a running
// isolated job (resource-scan-guest.ts) migrated strongly while it reads; the variants take turns,
// each sample a fresh job on a fresh copy of the file.

import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import type { TransferBytes, TransferMark } from "../server/migration/migrator.js";
import type { ClientRecord } from "../server/store/records.js";
import { until } from "../tests/helpers/until.js";
import { fmtBytes, fmtMs, fmtRatio, interleave, median, nowMs, printTable, watToWasm } from "./harness.js";
import { type NodePair, startPair } from "./node-pair.js";
import { SCAN_FILE, SCAN_PIECE_BYTES, SCAN_WAT } from "./resource-scan-guest.js";

export interface ResourceMigrationBenchOptions {
  /** Kept rounds (default 7). */
  runs?: number;
  /** Discarded rounds before them (default 1). */
  warmup?: number;
}

/** FERRY_BENCH_ONLY name. */
export const RESOURCE_MIGRATION_PARTS = ["resource-migration"] as const;

const FILE_BYTES = 16 * 1024 * 1024;
/** Pieces the job reads before it is moved: well into the file, which it holds open. */
const PIECES_BEFORE = 64;
const VARIANTS = [
  { key: "move", label: 'moved (`migrate: "move"`)' },
  { key: "reference", label: "global reference (default)" },
] as const;
type Key = (typeof VARIANTS)[number]["key"];

/** Downtime's parts, between transfer marks (both nodes in this process: one clock). */
const STEPS = [
  { name: "stop → encoded", from: "source:stopped", to: "source:encoded", what: "capture the trees (read + hash), snapshot, encode" },
  { name: "PREPARE", from: "source:encoded", to: "source:prepared", what: "send, check, store (blobs fsynced), stage" },
  { name: "decision → COMMIT", from: "source:prepared", to: "target:commit", what: "decision row (fsync), signed COMMIT" },
  { name: "COMMIT → running", from: "target:commit", to: "target:running", what: "lay the trees down, then run" },
] as const satisfies ReadonlyArray<{ name: string; from: TransferMark; to: TransferMark; what: string }>;

interface Sample {
  downtimeMs: number;
  /** source:stopped → the job's output grows at the target (it read there). */
  firstProgressMs: number;
  steps: number[];
  precopyBytes: number;
  precopyTreeBytes: number;
  prepareBytes: number;
  prepareTreeBytes: number;
  rounds: number;
}

export interface ResourceMigrationRow {
  variant: Key;
  label: string;
  downtimeMs: number;
  firstProgressMs: number;
  stepsMs: Record<string, number>;
  precopyBytes: number;
  precopyTreeBytes: number;
  prepareBytes: number;
  prepareTreeBytes: number;
  rounds: number;
  samples: Sample[];
}

export interface ResourceMigrationBenchResult {
  config: { fileBytes: number; pieceBytes: number; piecesBefore: number; runs: number; warmup: number };
  rows: ResourceMigrationRow[];
  /** moved ÷ global reference. */
  ratios: { downtime: number; firstProgress: number };
  targets: [];
  durationMs: number;
}

/** One migration's marks and bytes, and when the job's output first grew at the target. */
class Watch {
  jobId = "";
  marks = new Map<TransferMark, number>();
  precopies: TransferBytes[] = [];
  prepare: TransferBytes | undefined;

  start(jobId: string): void {
    this.jobId = jobId;
    this.marks = new Map();
    this.precopies = [];
    this.prepare = undefined;
  }

  probe = (mark: TransferMark, jobId: string, _node: string, bytes?: TransferBytes): void => {
    if (jobId !== this.jobId) return;
    if (mark === "source:precopied" && bytes) this.precopies.push(bytes);
    if (mark === "source:encoded") this.prepare = bytes;
    if (!this.marks.has(mark)) this.marks.set(mark, nowMs());
  };

  at(mark: TransferMark): number {
    const t = this.marks.get(mark);
    if (t === undefined) throw new Error(`resource-migration: no "${mark}" mark`);
    return t;
  }
}

/** The job's output size at `node` (it is live there), without copying it. */
function outputSize(pair: NodePair, at: "a" | "b", jobId: string, caller: ClientRecord): number {
  return pair[at].node.outputPage(jobId, caller, 0, 1).size;
}

/** ms from `t0` until the job's output at B passes `from` (polled each timer turn: ±1 ms). */
async function progressAfter(pair: NodePair, jobId: string, caller: ClientRecord, from: number, t0: number): Promise<number> {
  const deadline = nowMs() + 30_000;
  for (;;) {
    if (outputSize(pair, "b", jobId, caller) > from) return nowMs() - t0;
    if (nowMs() > deadline) throw new Error(`resource-migration: job ${jobId} made no progress at the target`);
    await new Promise((r) => setTimeout(r, 0));
  }
}

async function migrateSample(pair: NodePair, watch: Watch, codeHash: string, key: Key, n: number, data: Uint8Array): Promise<Sample> {
  const clientId = pair.clientA.clientId!;
  const caller = { a: pair.a.store.clients.get(clientId)!, b: pair.b.store.clients.get(clientId)! };
  const resource = `bench/${key}-${n}`;
  const at = { a: join(pair.dirs[0]!, "resources", clientId, resource), b: join(pair.dirs[1]!, "resources", clientId, resource) };
  mkdirSync(at.a, { recursive: true });
  writeFileSync(join(at.a, SCAN_FILE), data);
  const job = await pair.clientA.startJob({
    codeHash,
    wasi: {
      args: ["scan"],
      env: {},
      dirs: [{ guest: "/data", resource, access: "rw", ...(key === "move" ? { migrate: "move" as const } : {}) }],
    },
  });
  try {
    await until(async () => outputSize(pair, "a", job.id, caller.a) >= PIECES_BEFORE, `job ${job.id} to read`, 30_000);
    watch.start(job.id);
    await pair.clientA.migrate(job.id, pair.b.identity.nodeId);
    const stopped = watch.at("source:stopped");
    const firstProgressMs = await progressAfter(pair, job.id, caller.b, outputSize(pair, "b", job.id, caller.b), stopped);
    const prepare = watch.prepare ?? { body: 0, trees: 0 };
    const sample: Sample = {
      downtimeMs: watch.at("target:running") - stopped,
      // The output at the target starts from the snapshot's; it grows once the job has read there.
      firstProgressMs,
      steps: STEPS.map((s) => watch.at(s.to) - watch.at(s.from)),
      precopyBytes: watch.precopies.reduce((sum, b) => sum + b.body, 0),
      precopyTreeBytes: watch.precopies.reduce((sum, b) => sum + b.trees, 0),
      prepareBytes: prepare.body,
      prepareTreeBytes: prepare.trees,
      rounds: watch.precopies.length,
    };
    watch.start("");
    await pair.clientB.cancel(job.id);
    if (key === "move") await until(async () => !existsSync(join(at.a, SCAN_FILE)), "the moved file to leave the source", 30_000);
    return sample;
  } finally {
    await pair.clientA.cancel(job.id).catch(() => undefined);
    rmSync(at.a, { recursive: true, force: true });
    rmSync(at.b, { recursive: true, force: true });
  }
}

export async function runResourceMigrationBench(options: ResourceMigrationBenchOptions = {}): Promise<ResourceMigrationBenchResult> {
  const started = nowMs();
  const runs = options.runs ?? 7;
  const warmup = options.warmup ?? 1;
  const watch = new Watch();
  const pair = await startPair({}, watch.probe, ["bench/*:rw"]);
  try {
    const wasm = watToWasm(SCAN_WAT);
    const { codeHash } = await pair.clientA.uploadModule(wasm);
    await pair.clientB.uploadModule(wasm);
    const data = new Uint8Array(randomBytes(FILE_BYTES));
    const kept = new Map<Key, Sample[]>(VARIANTS.map((v) => [v.key, []]));
    let n = 0;
    const samples = await interleave(
      VARIANTS.map((v) => ({
        name: v.key,
        sample: async () => {
          const s = await migrateSample(pair, watch, codeHash, v.key, n++, data);
          kept.get(v.key)!.push(s);
          return s.downtimeMs;
        },
      })),
      { warmup, runs },
    );
    void samples;
    const rows = VARIANTS.map((v) => rowOf(v.key, v.label, kept.get(v.key)!.slice(-runs)));
    const [moved, ref] = rows as [ResourceMigrationRow, ResourceMigrationRow];
    const result: ResourceMigrationBenchResult = {
      config: { fileBytes: FILE_BYTES, pieceBytes: SCAN_PIECE_BYTES, piecesBefore: PIECES_BEFORE, runs, warmup },
      rows,
      ratios: { downtime: moved.downtimeMs / ref.downtimeMs, firstProgress: moved.firstProgressMs / ref.firstProgressMs },
      targets: [],
      durationMs: 0,
    };
    printResourceMigration(result);
    result.durationMs = nowMs() - started;
    return result;
  } finally {
    await pair.close();
  }
}

function rowOf(variant: Key, label: string, s: Sample[]): ResourceMigrationRow {
  const med = (f: (x: Sample) => number) => median(s.map(f));
  return {
    variant,
    label,
    downtimeMs: med((x) => x.downtimeMs),
    firstProgressMs: med((x) => x.firstProgressMs),
    stepsMs: Object.fromEntries(STEPS.map((step, i) => [step.name, med((x) => x.steps[i]!)])),
    precopyBytes: med((x) => x.precopyBytes),
    precopyTreeBytes: med((x) => x.precopyTreeBytes),
    prepareBytes: med((x) => x.prepareBytes),
    prepareTreeBytes: med((x) => x.prepareTreeBytes),
    rounds: med((x) => x.rounds),
    samples: s,
  };
}

function printResourceMigration(r: ResourceMigrationBenchResult): void {
  const range = (xs: number[]) => `${fmtMs(Math.min(...xs))} – ${fmtMs(Math.max(...xs))}`;
  const bytes = (body: number, trees: number) => `${fmtBytes(body)} (trees ${fmtBytes(trees)})`;
  printTable({
    title: `Migration downtime of a job holding a ${FILE_BYTES / 1024 / 1024} MiB file open: moved vs by global reference (median of ${r.config.runs}, interleaved)`,
    headers: ["directory", "downtime ms", "(min – max)", "stop → first progress ms", "pre-copy rounds", "PRE-COPY bytes", "PREPARE bytes"],
    rows: [
      ...r.rows.map((x) => [
        x.label,
        fmtMs(x.downtimeMs),
        range(x.samples.map((s) => s.downtimeMs)),
        fmtMs(x.firstProgressMs),
        String(x.rounds),
        bytes(x.precopyBytes, x.precopyTreeBytes),
        bytes(x.prepareBytes, x.prepareTreeBytes),
      ]),
      ["**moved ÷ global reference**", fmtRatio(r.ratios.downtime), "", fmtRatio(r.ratios.firstProgress), "", "", ""],
    ],
    notes: [
      `A WASI job (bench/resource-scan-guest.ts, isolated, as a node runs jobs with resource directories) reads ${SCAN_FILE} (${fmtBytes(FILE_BYTES)}, random) in ${SCAN_PIECE_BYTES / 1024} KiB pieces from its resource directory, over and over, holding it open; after ${PIECES_BEFORE} pieces it migrates strongly, running, between two nodes on loopback (one process). downtime: source:stopped → target:running (node-side marks). stop → first progress: to the job's output growing at the target — the file reopened by name there (locally when moved, through the pin at the source when by reference) and read (an isolated child reports its output when its run pauses at a file call: the first 64 KiB read-ahead window read, the next one asked for), polled each timer turn. Bytes: request bodies, PRE-COPY summed over the rounds, each with the tree bundle's part.`,
    ],
  });
  printTable({
    title: "Its downtime by step (median of each step, ms)",
    headers: ["step", "what", ...r.rows.map((x) => x.label)],
    rows: STEPS.map((s) => [s.name, s.what, ...r.rows.map((x) => fmtMs(x.stepsMs[s.name]!))]),
    align: ["left", "left", "right", "right"],
  });
}
