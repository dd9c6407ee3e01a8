// How jobs, run results and module listings look over HTTP: plain JSON, i64 values as decimal strings (JSON numbers
// cannot hold them exactly). A job's output is not in its view: it is served in pages of its own.

import type { RunResult, RunValue, WasmValue } from "../../runtime/index.js";
import type { CheckpointRecord, JobRecord, Json, JobWasi, SegmentStats } from "../store/records.js";

/** A run result as stored and served: `{ status, value[, exitCode] }`, `{ status, code, message }` or `{ status, reason }`. */
export function resultJson(r: RunResult): Json {
  if (r.status === "done") {
    // A WASI program that ended itself says with what code (0 is success).
    if (r.exitCode !== undefined) return { status: "done", value: valueJson(r.value), exitCode: r.exitCode, fuelUsed: r.fuelUsed };
    return { status: "done", value: valueJson(r.value), fuelUsed: r.fuelUsed };
  }
  if (r.status === "trapped") return { status: "trapped", code: r.code, message: r.message, fuelUsed: r.fuelUsed };
  return { status: "paused", reason: r.reason, fuelUsed: r.fuelUsed };
}

export function valueJson(v: RunValue): Json {
  if (v === null) return null;
  if (Array.isArray(v)) return v.map(scalarJson);
  return scalarJson(v);
}

function scalarJson(v: WasmValue): Json {
  if (typeof v === "bigint") return v.toString();
  // NaN and ±Infinity are not JSON: send them as strings, like i64.
  return Number.isFinite(v) ? v : String(v);
}

export interface JobView {
  id: string;
  state: string;
  codeHash: string;
  entry: string;
  args: Json[];
  trust: string;
  sandbox: string;
  node: string;
  epoch: number;
  fuelUsed: number;
  /**
   * How the job ended — `{ status: "done", value }`, `{ status: "trapped", code, message }`,
   * `{ status: "failed", message }`, `{ status: "cancelled" }` — or null while it has not ended
   * (queued, running, paused, migrating, migrated, prepared). Never the node's own bookkeeping.
   */
  result: JobResult | null;
  /**
   * Set when the job is `migrated`: the node it lives on now, where to reach it (this node's peer
   * address for it; null if the peer is no longer configured here), and whether the target
   * acknowledged the hand-over (COMMIT answered). Clients follow it (FerryClient.follow).
   */
  movedTo: MovedTo | null;
  /**
   * Bytes of output so far. The output itself is never part of the job (it may be megabytes):
   * GET /jobs/:id/output serves it a page at a time.
   */
  outputBytes: number;
  /**
   * The newest durable snapshot: where a restart after a crash would resume from. `seq` counts the
   * job's checkpoints on this node (1, 2, 3, …), `bytes` is its stored size (a delta's own bytes
   * when `delta`, written on top of an earlier full one).
   */
  lastCheckpoint: { seq: number; fuel: number; createdAt: number; bytes: number; delta: boolean } | null;
  /**
   * The job's execution segment as of its newest checkpoint (null with none, or one written before
   * these numbers were kept): what its instance held then, read from the checkpoint's row, never
   * decoded per request.
   */
  executionSegment: ExecutionSegmentView | null;
  /** A WASI job's argv, environment and directories, as given (absent for other jobs). */
  wasi?: JobWasi;
  createdAt: number;
  updatedAt: number;
}

/**
 * How a job ended (JobView.result): its value (i64 as a decimal string, NaN and ±Infinity as
 * strings), a trap code from the runtime's closed set, a failure of the node to run it, or a
 * cancellation (`expired`: an anonymous job deleted after its time).
 */
export type JobResult =
  | { status: "done"; value: Json; fuelUsed: number }
  | { status: "trapped"; code: string; message: string; fuelUsed: number }
  | { status: "failed"; message: string }
  | { status: "cancelled" }
  | { status: "expired" };

/** JobView.executionSegment: memory held and touched, and the frames saved, at checkpoint `checkpoint`. */
export interface ExecutionSegmentView {
  checkpoint: number;
  /** Linear memory, in 64 KiB pages and bytes. */
  memoryPages: number;
  memoryBytes: number;
  /** Pages holding a non-zero byte: what a full snapshot carries. */
  touchedPages: number;
  /** Bytes of call frames Asyncify saved at the pause (0: the job stopped with no frame to save). */
  savedFrameBytes: number;
}

/** Where a migrated job went (JobView.movedTo). */
export interface MovedTo {
  node: string;
  url: string | null;
  committed: boolean;
}

/** States whose stored `result` is the job's outcome; in every other state the result column holds transfer bookkeeping, or nothing. */
const RESULT_STATES: readonly string[] = ["done", "trapped", "failed", "cancelled"];

/** The job's outcome as served: null until it has one. */
export function publicResult(record: Pick<JobRecord, "state" | "result">): JobResult | null {
  return RESULT_STATES.includes(record.state) ? (record.result as JobResult | null) : null;
}

/** Where a migrated job lives now (`peerUrl`: this node's address for that peer), or null. */
export function movedTo(record: Pick<JobRecord, "state" | "node" | "result">, peerUrl: string | undefined): MovedTo | null {
  if (record.state !== "migrated") return null;
  const r = record.result as { committed?: unknown } | null;
  const committed = !(r !== null && typeof r === "object" && !Array.isArray(r) && r.committed === false);
  return { node: record.node, url: peerUrl ?? null, committed };
}

export function jobView(
  record: JobRecord,
  outputBytes: number,
  checkpoint: CheckpointRecord | undefined,
  fuelUsed = record.fuelUsed,
  peerUrl?: string,
): JobView {
  return {
    id: record.id,
    state: record.state,
    codeHash: record.codeHash,
    entry: record.entry,
    args: record.args,
    trust: record.trust,
    sandbox: record.sandbox,
    node: record.node,
    epoch: record.epoch,
    fuelUsed,
    result: publicResult(record),
    movedTo: movedTo(record, peerUrl),
    outputBytes,
    lastCheckpoint: checkpoint
      ? {
          seq: checkpoint.seq,
          fuel: checkpoint.fuel,
          createdAt: checkpoint.createdAt,
          bytes: checkpoint.size,
          delta: checkpoint.baseHash !== undefined,
        }
      : null,
    executionSegment: checkpoint?.segment ? segmentView(checkpoint.seq, checkpoint.segment) : null,
    ...(record.wasi ? { wasi: record.wasi } : {}),
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
  };
}

/** A WebAssembly page. */
const WASM_PAGE_BYTES = 65_536;

function segmentView(seq: number, s: SegmentStats): ExecutionSegmentView {
  return {
    checkpoint: seq,
    memoryPages: s.memoryPages,
    memoryBytes: s.memoryPages * WASM_PAGE_BYTES,
    touchedPages: s.touchedPages,
    savedFrameBytes: s.savedFrameBytes,
  };
}

/** A job in a listing: its view without the output size (GET /jobs/:id has it: a finished job's costs a read). */
export type JobSummary = Omit<JobView, "outputBytes">;

export function jobSummary(
  record: JobRecord,
  checkpoint: CheckpointRecord | undefined,
  fuelUsed = record.fuelUsed,
  peerUrl?: string,
): JobSummary {
  const { outputBytes: _output, ...summary } = jobView(record, 0, checkpoint, fuelUsed, peerUrl);
  return summary;
}

/** A module in a listing (GET /modules): never its owners, only whether the caller is one. */
export interface ModuleSummary {
  codeHash: string;
  public: boolean;
  size: number;
  createdAt: number;
  mine: boolean;
}
