// How jobs, run results and module listings look over HTTP: plain JSON, i64 values as decimal strings (JSON numbers
// cannot hold them exactly). A job's output is not in its view: it is served in pages of its own.

import type { RunResult, RunValue, WasmValue } from "../../runtime/index.js";
import type { CheckpointRecord, JobRecord, Json } from "../store/records.js";

/** A run result as stored and served: `{ status, value }`, `{ status, code, message }` or `{ status, reason }`. */
export function resultJson(r: RunResult): Json {
  if (r.status === "done") return { status: "done", value: valueJson(r.value), fuelUsed: r.fuelUsed };
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
  result: Json;
  /**
   * Bytes of output so far. The output itself is never part of the job (it may be megabytes):
   * GET /jobs/:id/output serves it a page at a time.
   */
  outputBytes: number;
  /** The newest durable snapshot: where a restart after a crash would resume from. */
  lastCheckpoint: { seq: number; fuel: number; createdAt: number } | null;
  createdAt: number;
  updatedAt: number;
}

export function jobView(record: JobRecord, outputBytes: number, checkpoint: CheckpointRecord | undefined, fuelUsed = record.fuelUsed): JobView {
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
    result: record.result,
    outputBytes,
    lastCheckpoint: checkpoint ? { seq: checkpoint.seq, fuel: checkpoint.fuel, createdAt: checkpoint.createdAt } : null,
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
  };
}

/** A job in a listing: its view without the output size and checkpoint (GET /jobs/:id has those). */
export type JobSummary = Omit<JobView, "outputBytes" | "lastCheckpoint">;

export function jobSummary(record: JobRecord, fuelUsed = record.fuelUsed): JobSummary {
  const { outputBytes: _output, lastCheckpoint: _checkpoint, ...summary } = jobView(record, 0, undefined, fuelUsed);
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
