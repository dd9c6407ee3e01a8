// The code segment and what describes it: the types and constants every pass of the pipeline, the
// cache and the execution segment share (what instrument.ts produces, with the options it takes).
// A leaf of code/: the passes import it, never instrument.ts, so imports go one way.

import { createHash } from "node:crypto";
import { DEFAULT_CONTINUATION_STACK_BYTES } from "../limits.js";
import type { ModuleLimits } from "./validate.js";
import type { ValType } from "./wasm-reader.js";

/** Bump whenever the instrumented output for the same input can change. Snapshots carry it. */
export const PIPELINE_VERSION = 16;

export interface InstrumentOptions {
  /** Insert fuel metering (without it a guest cannot be stopped). */
  metering: boolean;
  /** Make `ferry.yield` unwindable, so guests can pause anywhere and migrate. */
  asyncify: boolean;
  limits: ModuleLimits;
  /**
   * The Asyncify stack buffer of a guest without its own continuation struct, bytes: the pages
   * reserved at the start of its memory hold it (memory-shift.ts). Default
   * DEFAULT_CONTINUATION_STACK_BYTES.
   */
  continuationStackBytes?: number;
  /**
   * Tests only: call-free loops store their fuel every iteration instead of on the way out — the
   * straightforward form the default is checked against (both must charge exactly the same fuel).
   */
  eagerLoopFuel?: boolean;
}

export interface EntryPoint {
  name: string;
  /** Position in the original module's export section: how the continuation names an entry. */
  exportIndex: number;
  params: ValType[];
  results: ValType[];
}

export interface SnapshotGlobal {
  /** Index in the original module's global space. */
  index: number;
  type: "i32" | "i64" | "f32" | "f64" | "v128" | "funcref" | "externref";
  exportName: string;
}

/** A table snapshots carry (ref-state.ts): one some instruction can change. */
export interface SnapshotTable {
  /** Index in the original module's table space. */
  index: number;
  type: "funcref" | "externref";
  exportName: string;
  /** The most elements it may have: its declared maximum, capped at the engine's table limit. */
  max: number;
}

/** The code segment: instrumented bytes plus what the runtime needs to know about them. */
export interface CodeSegment {
  codeHash: string;
  pipelineVersion: number;
  metering: boolean;
  asyncify: boolean;
  maxMemoryPages: number;
  bytes: Uint8Array;
  originalBytes: number;
  entries: EntryPoint[];
  globals: SnapshotGlobal[];
  hasStart: boolean;
  /** The guest exports its own continuation struct (an SDK guest). */
  hasContinuation: boolean;
  /**
   * Pages at the start of linear memory that hold the runtime's continuation struct for a guest
   * without its own (0 for SDK guests and without Asyncify): every guest address is shifted past
   * them, so guest address a is real address a + reservedPages × 64 KiB (memory-shift.ts).
   */
  reservedPages: number;
  /** The stack buffer in the reserved pages, bytes (0 when none are reserved). */
  continuationStackBytes: number;
  /** The guest imports `ferry.checkpoint`, so it can stop cleanly at explicit continuation points. */
  usesCheckpoints: boolean;
  initialMemoryPages: number;
  /** The tables snapshots carry: those an instruction can change (ref-state.ts). */
  tables: SnapshotTable[];
  /** The functions snapshots can name in a table or funcref global, exported as `__ferry_fn<k>` (ref-state.ts). */
  refFunctions: number[];
  recursiveFunctions: number;
  /** Functions that check fuel at entry (recursive ones and those bounding a call's work). */
  checkedFunctions: number;
  meteredLoops: number;
  /**
   * The most fuel the instrumented code can use between two fuel checks (docs/metering.md); 0
   * without metering. A run with a fuel limit L stops having charged at most L + meterBound, plus
   * the charge of the last host call or memory.grow it made.
   */
  meterBound: number;
}

/** The continuation stack a compile reserves pages for (InstrumentOptions.continuationStackBytes). */
export function stackBytesOf(options: InstrumentOptions): number {
  return options.continuationStackBytes ?? DEFAULT_CONTINUATION_STACK_BYTES;
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}
