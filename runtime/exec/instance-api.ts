// The instance contract, in one place: what every sandbox's instances do (run / resume / snapshot /
// dispose), the options they take, the results they give and the trap codes in them — the same
// whether the guest runs in this thread or in a child process. Sandboxes implement it; the engine,
// the scheduler and the node use nothing else.

import type { EntryPoint } from "../code/segment.js";
import { FerryError } from "../errors.js";
import type { Capability } from "../resources/capabilities.js";
import type { Directory } from "../resources/directory.js";
import type { ResourceProvider } from "../resources/provider.js";
import type { TrapCode } from "../traps.js";
import type { Snapshot } from "./snapshot.js";
import type { WasmValue } from "./values.js";

/**
 * Where a guest runs. `in-process`: the host's own thread, protected by the memory cap, fuel
 * slices and the import allow-list (cheap; for anonymous, pure-compute code). `isolated`: a
 * separate OS process the host can kill (for authenticated code that may touch resources).
 */
export type SandboxKind = "in-process" | "isolated";

/** Who sent the code: picks the default sandbox and the host functions it may import. */
export type TrustClass = "anonymous" | "authenticated";

export const SANDBOX_KINDS: readonly SandboxKind[] = ["in-process", "isolated"];
export const TRUST_CLASSES: readonly TrustClass[] = ["anonymous", "authenticated"];

/** anonymous → in-process, authenticated → isolated (the lecture's download / upload split). */
export function defaultSandbox(trust: TrustClass): SandboxKind {
  return trust === "anonymous" ? "in-process" : "isolated";
}

export interface Instance {
  readonly sandbox: SandboxKind;
  readonly trust: TrustClass;
  readonly codeHash: string;
  readonly state: InstanceStatus;
  /** Fuel the current run has used so far (0 before the first run). */
  readonly fuelUsed: number;
  /** The bytes the guest reads as input. */
  readonly inputBytes: Uint8Array;
  /** Everything the guest has written to its output (carried across migrations). */
  output(): Uint8Array;
  /** The output from byte `offset` on, without merging what came before (what a stream has not seen). */
  outputSince(offset: number): Uint8Array;
  /** Log lines written since this instance was created (not carried across migrations). */
  logs(): readonly string[];
  /** The entry and arguments of the current (or last) run, for weak migration. */
  currentRun(): { entry: EntryPoint; args: WasmValue[] } | undefined;
  run(entry: string, args?: readonly WasmValue[], options?: RunOptions): Promise<RunResult>;
  resume(options?: ResumeOptions): Promise<RunResult>;
  /** The execution segment of a paused instance (see `SnapshotOptions` for move and recycle). */
  snapshot(options?: SnapshotOptions): Promise<Snapshot>;
  /**
   * Paused with reason "await": resolves once the awaited host call has its answer (or has passed
   * its deadline), so resume() goes on at once; otherwise at once. Never rejects. Waiting holds
   * nothing: the instance stays paused (snapshot, dispose) meanwhile.
   */
  settled(): Promise<void>;
  /** Release the instance; an isolated one's run in flight ends `trapped` with `disposed`. */
  dispose(): void;
  [Symbol.dispose](): void;
}

/** Engine-wide settings an instance needs. */
export interface InstanceConfig {
  continuationStackBytes: number;
  seed: number;
}

export interface InstanceOptions {
  /** Who sent the code (default anonymous): decides which host functions it may import. */
  trust?: TrustClass;
  /** Bytes the guest reads with `ferry.input_read` (at most DEFAULT_MAX_INPUT_BYTES). */
  input?: Uint8Array;
  /** Default DEFAULT_MAX_OUTPUT_BYTES. */
  maxOutputBytes?: number;
  /** Default DEFAULT_MAX_LOG_BYTES. */
  maxLogBytes?: number;
  /** Called for every log line the guest writes, as it is written. */
  onLog?: (line: string) => void;
  /** Authenticated code only: the resources it may bind, e.g. "reports/*:rw" (default none). */
  capabilities?: ReadonlyArray<string | Capability>;
  /** Authenticated code only: where the resources it opens live. */
  resources?: ResourceProvider;
  /** A WASI program's arguments, environment and directories (see WasiOptions). */
  wasi?: WasiOptions;
  /**
   * Longest wait for one awaited host call (an AsyncDirectory's operation), ms: past it the call
   * fails (EIO for WASI) and the guest goes on. Default DEFAULT_AWAIT_DEADLINE_MS (30 s).
   */
  awaitDeadlineMs?: number;
}

/**
 * What a WASI program (one importing `wasi_snapshot_preview1`) is given, like `wasmtime run`'s
 * arguments, `--env` and `--dir`. Nothing of the host's leaks in: no host environment, no host
 * directory that is not named here.
 */
export interface WasiOptions {
  /** argv[0] (default "guest"). */
  program?: string;
  /** argv[1..]. */
  args?: readonly string[];
  /** The environment, exactly. */
  env?: Readonly<Record<string, string>>;
  /**
   * Preopened directories: the guest's name for each ("/data", ".") → the tree. Anonymous code may
   * be given only in-memory trees (MemoryDirectory); authenticated code also directories of this
   * host (HostDirectory), which its embedder chose for it.
   */
  dirs?: Readonly<Record<string, Directory>>;
}

export interface RunOptions {
  /** Fuel per slice: how much work runs before the host takes control back. Default: unlimited. */
  fuel?: number;
  /** Total fuel for the whole run; exceeding it traps with `out_of_fuel`. Default: none. */
  fuelLimit?: number;
  /** Wall-clock budget of this slice, ms (see SliceDeadline). Default: none. */
  sliceMs?: number;
}

/** A slice with no fuel bound (run and resume without `fuel`). */
export const UNLIMITED_FUEL = Number.MAX_SAFE_INTEGER;

/**
 * The run and resume options, checked alike in both sandboxes (an isolated instance's child runs
 * them through here): the slice's fuel (UNLIMITED_FUEL when not given), the run's limit (0: none)
 * and the slice's wall-clock budget.
 */
export function checkRunOptions(options: RunOptions): { fuel: number; fuelLimit: number; sliceMs: number | undefined } {
  const fuel = options.fuel === undefined ? UNLIMITED_FUEL : positiveInteger("fuel", options.fuel);
  const fuelLimit = options.fuelLimit === undefined ? 0 : positiveInteger("fuelLimit", options.fuelLimit);
  const sliceMs = options.sliceMs;
  if (sliceMs !== undefined && (typeof sliceMs !== "number" || !Number.isFinite(sliceMs) || sliceMs <= 0)) {
    throw new FerryError("invalid_option", `\`sliceMs\` must be a positive number of milliseconds, got ${String(sliceMs)}`);
  }
  return { fuel, fuelLimit, sliceMs };
}

function positiveInteger(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value < 1) {
    throw new FerryError("invalid_option", `\`${name}\` must be a positive integer, got ${String(value)}`);
  }
  return value;
}

export interface SnapshotOptions {
  /** Hand the memory to the snapshot without copying and dispose the instance. Default false. */
  move?: boolean;
  /**
   * A snapshot you no longer need (say, the previous checkpoint, already encoded): its memory
   * buffers are reused, which saves the kernel's first-touch cost, and it is left empty.
   */
  recycle?: Snapshot;
  /**
   * An earlier snapshot of this instance: capture only what changed since (diffSnapshot's delta —
   * unchanged pages left out, pages that became zero sent as zero pages), for
   * `applyDelta(since, delta)`. Cheaper than a copy when little changed. Not with move or recycle.
   */
  since?: Snapshot;
}

/** The options both kinds of instance take, checked alike: `move` and `since` as they apply. */
export function checkSnapshotOptions(options: SnapshotOptions, codeHash: string): { move: boolean; since: Snapshot | undefined } {
  const move = options.move ?? false;
  if (typeof move !== "boolean") throw new FerryError("invalid_option", `\`move\` must be a boolean, got ${typeof move}`);
  if (move && options.recycle) throw new FerryError("invalid_option", "`recycle` has no use with `move: true`, which copies nothing");
  const since = options.since;
  if (since && (move || options.recycle))
    throw new FerryError("invalid_option", "`since` captures a delta: it goes with neither `move` nor `recycle`");
  if (since && since.codeHash !== codeHash) throw new FerryError("snapshot_code_mismatch", "`since` is a snapshot of another module");
  return { move, since };
}

export interface ResumeOptions {
  fuel?: number;
  /**
   * Wall-clock budget of this slice, ms. Fuel bounds the work; this bounds the time when the work
   * is slow per unit of fuel (first-touch memory, a host call, a grow): once it has passed, the
   * slice ends at the next fuel check after a host call or a chunk of bulk work, with fuel left.
   * The fuel the run uses stays exact; only where the slice ends moves. Default: none.
   */
  sliceMs?: number;
}

export type RunValue = WasmValue | WasmValue[] | null;

export type PauseReason = "fuel" | "checkpoint" | "sleep" | "await";

export type RunResult =
  /** `exitCode`: the program ended itself with WASI's proc_exit (0 is success); absent when it returned. */
  | { status: "done"; value: RunValue; fuelUsed: number; exitCode?: number }
  /**
   * `fuel`: the slice's fuel (or its `sliceMs`) ran out; `checkpoint`: an explicit guest stopped at
   * one; `sleep`: the guest waits for a clock (WASI poll_oneoff) — resume it after `sleepMs` (earlier
   * is harmless: it sleeps again for the rest). A sleeping instance holds no thread. `await`: the
   * guest waits in an awaited host call (an AsyncDirectory's operation); `settled()` says when its
   * answer is in, and resume() waits for it anyway. It may be snapshotted meanwhile.
   */
  | { status: "paused"; reason: PauseReason; fuelUsed: number; sleepMs?: number }
  | { status: "trapped"; code: TrapCode; message: string; fuelUsed: number };

export type InstanceStatus = "fresh" | "running" | "paused" | "done" | "trapped" | "disposed";
