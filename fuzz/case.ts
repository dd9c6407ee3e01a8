// What every fuzz target reports for one case, and the counters the summary adds up.

import { isMainThread, parentPort } from "node:worker_threads";

/** Where the running case is, sent to the main thread so a hang report can say where it hung. */
export function progress(stage: string): void {
  if (!isMainThread) parentPort?.postMessage({ progress: stage });
}

export type CaseStatus = "ok" | "refused" | "skipped" | "failed";

export interface Failure {
  /** A short class name, e.g. "raw-vs-ferry" or "untyped-refusal": minimization keeps the class. */
  kind: string;
  detail: string;
}

export interface CaseOutcome {
  status: CaseStatus;
  failure?: Failure;
  /** Things counted but not failures (pauses, snapshots, refusals by code, documented limitations). */
  counters: Record<string, number>;
}

export function count(counters: Record<string, number>, key: string, by = 1): void {
  counters[key] = (counters[key] ?? 0) + by;
}

export class CaseFailure extends Error {
  constructor(
    readonly kind: string,
    readonly detail: string,
  ) {
    super(`${kind}: ${detail}`);
  }
}

/** Text for anything thrown, including its class, for failure details. */
export function describeError(e: unknown): string {
  if (e instanceof Error) return `${e.constructor.name}${"code" in e ? `(${String((e as { code: unknown }).code)})` : ""}: ${e.message}`;
  return `non-Error thrown: ${String(e)}`;
}

export function toBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("base64");
}

export function fromBase64(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text, "base64"));
}
