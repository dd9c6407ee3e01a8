// What every fuzz target reports for one case, and the counters the summary adds up.

import { isMainThread, parentPort } from "node:worker_threads";

/** Shared with the main thread (fuzz/case-worker.ts): [length, bytes...] of the last stage. */
let stageBuffer: { length: Int32Array; bytes: Uint8Array } | undefined;
const encoder = new TextEncoder();

/** Where progress() writes from now on: memory the main thread reads when a case hangs. */
export function reportStagesTo(buffer: SharedArrayBuffer): void {
  stageBuffer = { length: new Int32Array(buffer, 0, 1), bytes: new Uint8Array(buffer, 4) };
}

/** The stage last written to `buffer` by reportStagesTo's thread. */
export function readStage(buffer: SharedArrayBuffer): string {
  const n = Atomics.load(new Int32Array(buffer, 0, 1), 0);
  return new TextDecoder().decode(new Uint8Array(buffer, 4, n).slice());
}

/**
 * Where the running case is, for the main thread, so a hang report can say where it hung. Written
 * to shared memory when the main thread gave some (a message per stage cost a few % of a run);
 * otherwise posted.
 */
export function progress(stage: string): void {
  if (stageBuffer) {
    const { written } = encoder.encodeInto(stage, stageBuffer.bytes);
    Atomics.store(stageBuffer.length, 0, written);
  } else if (!isMainThread) parentPort?.postMessage({ progress: stage });
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
