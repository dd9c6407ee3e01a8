// The one interface every sandbox's instances share: same run / resume / snapshot / dispose, same
// result values and trap codes, whether the guest runs in this thread or in a child process.

import type { InstanceStatus, ResumeOptions, RunOptions, RunResult, SnapshotOptions } from "../exec/guest-instance.js";
import type { Snapshot } from "../exec/snapshot.js";
import type { WasmValue } from "../exec/values.js";
import type { EntryPoint } from "../code/instrument.js";

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
  /** Release the instance; an isolated one's run in flight ends `trapped` with `disposed`. */
  dispose(): void;
  [Symbol.dispose](): void;
}
