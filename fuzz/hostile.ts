// The adversarial shapes of fuzz/hostile-shapes.ts as module cases: random parameters drawn from
// its generators, run straight, sliced and through snapshots like any module, plus the checks its
// work counter makes possible (every unit of work charged; a stopped run did no more than allowed).

import {
  MemoryResources,
  type Engine,
  type GuestModule,
  type InstantiateOptions,
  type Instance,
  type RunResult,
} from "../runtime/index.js";
import { CaseFailure, count, toBase64 } from "./case.js";
import { drawHostile, fileBytes, inputBytes, type HostNeeds } from "./hostile-shapes.js";
import { overBound, type StopBound } from "./meter-bound.js";
import type { Rng } from "./rng.js";

export interface HostileSpec {
  name: string;
  entry: string;
  args: number[];
  /** The entry's value after a complete run, as decimal text; null when it returns nothing. */
  expected: string | null;
  totalWork: number;
  maxOpWork: number;
  host: HostNeeds;
  /**
   * An output limit below what the shape writes: the run must trap `output_limit` having kept
   * exactly this many bytes, however its writes were cut into pieces, slices and snapshots.
   */
  outputLimit?: number;
}

export function drawHostileSpec(rng: Rng): { wasm: string; hostile: HostileSpec } {
  const h = drawHostile(rng);
  // Drawn last, so the shape drawn before it is the same as without it.
  const outputLimit = h.host.outputBytes > 0 && rng.chance(0.3) ? rng.int(h.host.outputBytes) : undefined;
  return {
    wasm: toBase64(h.bytes),
    hostile: {
      name: h.name,
      entry: h.entry,
      args: h.args,
      expected: h.expected === null ? null : String(h.expected),
      totalWork: h.totalWork,
      maxOpWork: h.maxOpWork,
      host: h.host,
      ...(outputLimit !== undefined ? { outputLimit } : {}),
    },
  };
}

/** What a complete run of the shape ends with: its value, or the trap its output limit causes. */
export function hostileOutcome(h: HostileSpec): string {
  if (h.outputLimit !== undefined) return "trap:output_limit";
  return h.expected === null ? "()" : `i64:${h.expected}`;
}

/** A run's output must be exactly the limit's bytes once the limit traps it. */
export function checkHostileOutput(h: HostileSpec, instance: Instance, when: string): void {
  if (h.outputLimit === undefined) return;
  const kept = instance.output().byteLength;
  if (kept !== h.outputLimit)
    throw new CaseFailure("output-limit", `${h.name}, ${when}: the output kept ${kept} bytes, the limit is ${h.outputLimit}`);
}

/** The input of the last size asked for: every instance of a case reads the same (up to 4 MiB) bytes, and none writes them. */
let lastInput: Uint8Array | undefined;
function sharedInput(n: number): Uint8Array {
  if (lastInput?.byteLength !== n) lastInput = inputBytes(n);
  return lastInput;
}

/** Instance options that give the shape what it needs: input, files, capabilities, room for output. */
export function hostileOptions(h: HostileSpec): InstantiateOptions {
  const o: InstantiateOptions = {
    sandbox: "in-process",
    trust: h.host.trust,
    input: sharedInput(h.host.inputBytes),
    maxOutputBytes: h.outputLimit ?? h.host.outputBytes + 1024,
    maxLogBytes: h.host.logBytes + 1024,
  };
  if (h.host.trust === "authenticated") {
    o.capabilities = h.host.capabilities;
    o.resources = new MemoryResources(Object.fromEntries(h.host.files.map((f) => [f.name, fileBytes(f.bytes)])));
  }
  return o;
}

export function showHostile(r: RunResult): string {
  if (r.status === "done") return `value:${r.value === null ? "null" : String(r.value)}`;
  if (r.status === "trapped") return `trap:${r.code}`;
  return `paused:${r.reason}`;
}

/** The `work` counter (global 0) of a paused instance, read from a snapshot. */
export async function workOf(instance: Instance): Promise<number> {
  const s = await instance.snapshot();
  const g = s.globals.find((x) => x.index === 0);
  if (!g) throw new CaseFailure("harness", "the hostile module's work counter is not in the snapshot");
  return Number(g.value);
}

/**
 * Stop the shape after `limit` fuel (a slice) and check the work it did: never more than it paid
 * for, and, with a meter bound, never more than the slice plus the bound plus one operation.
 */
export async function checkHostileSlice(
  engine: Engine,
  module: GuestModule,
  h: HostileSpec,
  limit: number,
  bound: StopBound | undefined,
  counters: Record<string, number>,
): Promise<void> {
  const instance = await engine.instantiate(module, hostileOptions(h));
  try {
    const r = await instance.run(h.entry, h.args, { fuel: limit });
    if (r.status !== "paused") return;
    const work = await workOf(instance);
    count(counters, "hostile work checks");
    if (work > r.fuelUsed)
      throw new CaseFailure("uncharged-work", `${h.name}: did ${work} units of work for ${r.fuelUsed} fuel (slice ${limit})`);
    if (bound === undefined) return;
    const over = overBound(bound, limit, r.fuelUsed);
    if (over) throw new CaseFailure("meter-bound", `${h.name}: a ${limit}-fuel slice used ${over}`);
    if (work > limit + bound.meterBound + h.maxOpWork)
      throw new CaseFailure(
        "meter-bound",
        `${h.name}: a ${limit}-fuel slice did ${work} work, over limit + meterBound ${bound.meterBound} + one op ${h.maxOpWork}`,
      );
  } finally {
    instance.dispose();
  }
}
