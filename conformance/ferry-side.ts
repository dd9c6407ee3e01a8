// One module in Ferry, run one way: straight (one slice), sliced (a pause every few fuel), or
// snapshotted (at every pause: snapshot → encode → decode → restore into a fresh instance, which
// carries on). Each way keeps its own instance across a script's calls, as the spec harness does.
//
// A trap ends a Ferry instance, while the spec's instance lives on. After a trap the next call
// gets a fresh instance into which the calls that returned are replayed (straight, uncounted): the
// state a spec instance would have, unless a trapping call wrote something before it trapped.

import { encodeSnapshot, type Engine, type GuestModule, type Instance, type RunResult, type WasmValue } from "../runtime/index.js";
import { errorOutcome, type Outcome } from "./outcome.js";

export type Mode = "straight" | "sliced" | "snapshot";
export const MODES: readonly Mode[] = ["straight", "sliced", "snapshot"];

export interface Call {
  entry: string;
  args: WasmValue[];
}

export interface SideOptions {
  /** Fuel per slice when sliced (and the least when snapshotted). */
  sliceFuel: number;
  /** A sliced call pausing more often than this is given up (an error outcome, counted as skipped). */
  maxPauses: number;
  /** Snapshotted calls take slices of at least the straight run's fuel / this, so they pause at most about this often. */
  snapshotPauses: number;
  /** Total fuel of any one call: a run that loops for ever ends out_of_fuel instead of hanging the runner. */
  fuelLimit: number;
}

export const PAUSE_CAP = "pause_cap";

export class FerrySide {
  private instance: Instance | undefined;
  private readonly history: Call[] = [];
  /** Fresh instances made after a trap, with the earlier calls replayed. */
  replays = 0;

  constructor(
    private readonly engine: Engine,
    private readonly module: GuestModule,
    readonly mode: Mode,
    private readonly options: SideOptions,
  ) {}

  /** Run one call; `straightFuel` (the straight run's fuel) sizes the snapshotted run's slices. */
  async call(call: Call, straightFuel?: number): Promise<Outcome> {
    let instance: Instance;
    try {
      instance = await this.ready();
    } catch (e) {
      return errorOutcome(e, "instantiate");
    }
    let outcome: Outcome;
    try {
      outcome = await this.runIn(instance, call, straightFuel);
    } catch (e) {
      // A host-side failure mid-run (or a refused call: checkArgs runs before anything else).
      outcome = errorOutcome(e, "run");
    }
    if (outcome.kind === "values") this.history.push(call);
    else if (outcome.kind === "trap" || outcome.code === PAUSE_CAP || this.instance?.state !== "done") this.drop();
    return outcome;
  }

  dispose(): void {
    this.drop();
  }

  private drop(): void {
    this.instance?.dispose();
    this.instance = undefined;
  }

  private async ready(): Promise<Instance> {
    if (this.instance) return this.instance;
    const instance = await this.engine.instantiate(this.module);
    if (this.history.length > 0) this.replays++;
    for (const h of this.history) {
      const r = await instance.run(h.entry, h.args, { fuelLimit: this.options.fuelLimit });
      if (r.status !== "done") {
        instance.dispose();
        throw new Error(`replaying ${h.entry} after a trap ended ${r.status}`);
      }
    }
    this.instance = instance;
    return instance;
  }

  private async runIn(instance: Instance, call: Call, straightFuel: number | undefined): Promise<Outcome> {
    const { sliceFuel, maxPauses, snapshotPauses, fuelLimit } = this.options;
    if (this.mode === "straight") return outcome(await instance.run(call.entry, call.args, { fuelLimit }), 0);
    const fuel = this.mode === "sliced" ? sliceFuel : Math.max(sliceFuel, Math.ceil((straightFuel ?? 0) / snapshotPauses));
    let current = instance;
    let r = await current.run(call.entry, call.args, { fuel, fuelLimit });
    let pauses = 0;
    while (r.status === "paused") {
      if (++pauses > maxPauses) {
        return { kind: "error", code: PAUSE_CAP, message: `more than ${maxPauses} pauses of ${fuel} fuel` };
      }
      if (this.mode === "snapshot") {
        const bytes = encodeSnapshot(await current.snapshot({ move: true }));
        current = await this.engine.restore(bytes);
        this.instance = current;
      }
      r = await current.resume({ fuel });
    }
    return outcome(r, pauses);
  }
}

function outcome(r: RunResult, pauses: number): Outcome {
  if (r.status === "done") return { kind: "values", value: r.value, fuel: r.fuelUsed, pauses };
  if (r.status === "trapped") return { kind: "trap", code: r.code, message: r.message, fuel: r.fuelUsed, pauses };
  return { kind: "error", code: "paused", message: `ended paused (${r.reason})` };
}
