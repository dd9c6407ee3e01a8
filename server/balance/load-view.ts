// The balancer's view of its node's load: the live jobs by state (from the node's job-state feed),
// since when each runs and with how much fuel already used (its age, job-age.ts), which ones are
// promised to a peer already, and the estimates a policy and a pick need (mean service time, fuel
// rate, throughput). `sample` is what the policy sees.

import type { LoadSample, ThroughputEwma } from "../../runtime/balance/index.js";
import type { FerryNode } from "../node/ferry-node.js";
import type { JobState } from "../store/records.js";
import { jobAgeMs } from "./job-age.js";
import type { BalanceCounters } from "./live-balance-types.js";

export type Tracked = "queued" | "running" | "paused";

export const DEFAULT_MEAN_SERVICE_MS = 40;
/** Weight of a new observation in the running estimates. */
export const EWMA_WEIGHT = 0.1;

export class LoadView {
  /** Live jobs here by state, from the node's feed. */
  readonly tracked = new Map<string, Tracked>();
  readonly runningSince = new Map<string, number>();
  /** Fuel each running job had used when it started running here: what it brought from other nodes. */
  private readonly fuelAtStart = new Map<string, number>();
  /** Fuel per ms of the legs run here (an EWMA); undefined until a leg burnt some. */
  fuelPerMs: number | undefined;
  /** Jobs chosen for a transfer that the node still counts (until the migrator takes them out). */
  readonly leaving = new Set<string>();
  meanServiceMs = DEFAULT_MEAN_SERVICE_MS;
  throughput: ThroughputEwma | undefined;
  private readonly current: LoadSample = { ready: 0, running: 0, blocked: 0, throughput: 0 };

  constructor(private readonly node: FerryNode) {}

  /** A job changed state on the node; a finished one counts in `counters` and the estimates. */
  observe(id: string, state: JobState, counters: BalanceCounters): void {
    const now = performance.now();
    if (state === "running") {
      this.tracked.set(id, "running");
      if (!this.runningSince.has(id)) {
        this.runningSince.set(id, now);
        this.fuelAtStart.set(id, this.node.fuelUsed(id) ?? 0);
      }
      return;
    }
    this.endLeg(id, now);
    if (state === "queued" || state === "paused") {
      this.tracked.set(id, state);
      this.runningSince.delete(id);
      this.fuelAtStart.delete(id);
      return;
    }
    if (state === "done" || state === "trapped" || state === "failed") {
      const since = this.runningSince.get(id);
      counters.finished++;
      if (since !== undefined) {
        counters.execMsSum += now - since;
        this.meanServiceMs += EWMA_WEIGHT * (now - since - this.meanServiceMs);
      }
      this.throughput?.record(now);
    }
    this.tracked.delete(id);
    this.runningSince.delete(id);
    this.fuelAtStart.delete(id);
  }

  /** A job stopped running here (ended, paused, moved away): its leg's fuel rate joins the node's. */
  private endLeg(id: string, now: number): void {
    const since = this.runningSince.get(id);
    const fuel = this.node.fuelUsed(id);
    if (since === undefined || fuel === undefined) return;
    const legFuel = fuel - (this.fuelAtStart.get(id) ?? 0);
    if (!(legFuel > 0) || !(now > since)) return;
    const rate = legFuel / (now - since);
    this.fuelPerMs = this.fuelPerMs === undefined ? rate : this.fuelPerMs + EWMA_WEIGHT * (rate - this.fuelPerMs);
  }

  /** A running job's age in ms: the work it had on every node, not only since it came here (job-age.ts). */
  ageMs(id: string, now: number): number | undefined {
    const since = this.runningSince.get(id);
    if (since === undefined) return undefined;
    const fuelAtStart = this.fuelAtStart.get(id) ?? 0;
    const fuel = this.node.fuelUsed(id) ?? fuelAtStart;
    return jobAgeMs({ fuel, fuelAtStart, legMs: now - since, fuelPerMs: this.fuelPerMs });
  }

  /** The node's load less the jobs already promised away (the live form of the policy's `releasedThisCall`). */
  sample(): LoadSample {
    const l = this.node.load();
    const waiting = new Set(this.node.queuedJobs());
    // A job the node took off its queue and is still launching is in neither of load()'s counts:
    // it counts as running here, or a busy node would look idle for the launch's few milliseconds.
    let seenRunning = 0;
    for (const [id, t] of this.tracked) if (t === "running" || (t === "queued" && !waiting.has(id) && !this.leaving.has(id))) seenRunning++;
    let queued = 0;
    let running = 0;
    for (const id of this.leaving) {
      const t = this.tracked.get(id);
      if (t === "queued" && waiting.has(id)) queued++;
      else if (t === "running") running++;
    }
    const s = this.current;
    s.ready = Math.max(0, l.queued - queued);
    s.running = Math.max(0, Math.max(l.running, seenRunning) - running);
    s.blocked = 0;
    s.throughput = this.throughput ? this.throughput.value(performance.now()) : 0;
    return s;
  }
}
