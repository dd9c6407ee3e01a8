// The time-sharing simulator: N processor-sharing nodes (every job on a node gets an equal share of
// its CPU, as the live node's round-robin slices give and as UNIX hosts did in Harchol-Balter &
// Downey's study), Poisson arrivals, a service distribution, the sender policy of runtime/balance
// finding receivers, and a migration rule (placement or preemptive) choosing which job goes. A
// job's age (service received) travels with it on a strong move; a weak move restarts it.

import {
  chooseMigrant,
  createPolicy,
  createRng,
  deriveSeed,
  type LoadSample,
  type LoadSharingPolicy,
  type Message,
  type MigrantCandidate,
  type MigrationRule,
  type PolicyAction,
  type PolicyEvent,
  type PolicyOptions,
  type ProbeKind,
  type Rng,
  transferDelay,
} from "../../runtime/balance/index.js";
import { EventQueue } from "./event-queue.js";
import { ARRIVAL, countOutcomes, DONE, JOB_IN, MESSAGE, TIMER, type Transfer } from "./sim-events.js";
import { normalizeSimOptions, type SimConfig, type SimOptions } from "./sim-config.js";
import type { SimResult } from "./simulator.js";
import { percentile } from "./slowdown.js";

/** `none`: no sharing; otherwise the sender policy with that migration rule. */
export type SharingRule = "none" | MigrationRule;

export interface TsOptions extends Omit<SimOptions, "policy" | "dispatch" | "d" | "arrivals"> {
  rule: SharingRule;
  /** The sender policy's knobs (lower, upper, maxPolls, retryInterval); defaults when absent. */
  knobs?: Omit<PolicyOptions, "kind">;
}

/**
 * What a run reports, as the FCFS simulator's (mean and p99 response and slowdown, transfers, …);
 * `overheadFraction` also counts the service weak moves threw away. No message count.
 */
export type TsResult = Omit<SimResult, "messages">;

export function simulateTimeSharing(options: TsOptions): TsResult {
  const { rule, knobs, ...rest } = options;
  // The two-threshold sender policy the node runs: a loaded node (≥ upper) polls on any event, so
  // an old job is looked at again whenever its node changes, not only when a new job arrives.
  const policy: PolicyOptions = { ...knobs, kind: rule === "none" ? "none" : "sender" };
  return new TimeSharing(normalizeSimOptions({ ...rest, policy }), rule).run();
}

class TimeSharing {
  private readonly q = new EventQueue<Message | Transfer>();
  private readonly arrivalRng: Rng;
  private readonly serviceRng: Rng;
  private readonly dispatchRng: Rng;
  // Per job.
  private readonly arrivalTime: Float64Array;
  private readonly work: Float64Array;
  /** Virtual finish time at its current node; in flight: the service it still needs. */
  private readonly finishV: Float64Array;
  private readonly moved: Uint8Array;
  private readonly done: Uint8Array;
  private readonly responses: Float64Array;
  private readonly slowdowns: Float64Array;
  // Per node: its jobs in arrival order, its virtual time (service each job got since the start).
  private readonly members: number[][];
  private readonly vt: Float64Array;
  private readonly last: Float64Array;
  private readonly pausedUntil: Float64Array;
  private readonly version: Int32Array;
  private readonly policies: LoadSharingPolicy[] | undefined;
  private readonly strongCost: number;
  private readonly receiverLoad: number;

  private now = 0;
  private arrived = 0;
  private completed = 0;
  private measured = 0;
  private responseSum = 0;
  private slowdownSum = 0;
  private weak = 0;
  private strong = 0;
  private empty = 0;
  private overhead = 0;
  private events = 0;
  private inFlight = 0;
  private readonly sample: LoadSample = { ready: 0, running: 0, blocked: 0, throughput: 0 };

  constructor(
    private readonly c: SimConfig,
    private readonly rule: SharingRule,
  ) {
    const { nodes, jobs, seed } = c;
    this.arrivalRng = createRng(deriveSeed(seed, 0));
    this.serviceRng = createRng(deriveSeed(seed, 1));
    this.dispatchRng = createRng(deriveSeed(seed, 2));
    this.arrivalTime = new Float64Array(jobs);
    this.work = new Float64Array(jobs);
    this.finishV = new Float64Array(jobs);
    this.moved = new Uint8Array(jobs);
    this.done = new Uint8Array(jobs);
    this.responses = new Float64Array(c.percentiles ? jobs - c.warmupJobs : 0);
    this.slowdowns = new Float64Array(c.percentiles ? jobs - c.warmupJobs : 0);
    this.members = Array.from({ length: nodes }, () => []);
    this.vt = new Float64Array(nodes);
    this.last = new Float64Array(nodes);
    this.pausedUntil = new Float64Array(nodes);
    this.version = new Int32Array(nodes);
    this.strongCost = transferDelay(c.costs.snapshotBytes, c.costs);
    // The most jobs a receiver that accepted a "give" may have: `lower`.
    this.receiverLoad = c.policy.lower;
    if (rule !== "none") {
      this.policies = Array.from({ length: nodes }, (_, nodeId) =>
        createPolicy(c.policy, { nodeId, nodeCount: nodes, rng: createRng(deriveSeed(seed, 3 + nodeId)) }),
      );
    }
  }

  run(): TsResult {
    const { q, c } = this;
    if (this.policies) for (let n = 0; n < c.nodes; n++) this.tell(n, { type: "start" });
    q.push(this.nextInterarrival(), ARRIVAL, 0, 0);
    while (this.completed < c.jobs) {
      const slot = q.pop();
      if (slot < 0) break;
      if (++this.events % 1_000_000 === 0 && this.noJobLeft()) break;
      this.now = q.timeOf(slot);
      const node = q.nodeOf(slot);
      const arg = q.argOf(slot);
      switch (q.kindOf(slot)) {
        case ARRIVAL:
          this.onArrival();
          break;
        case DONE:
          if (arg === this.version[node]) this.onDone(node);
          break;
        case MESSAGE: {
          const message = q.takeObj(slot) as Message; // before anything is pushed: the slot is free again
          this.charge(node, c.costs.cpuPerMessage);
          this.tell(node, { type: "message", message });
          break;
        }
        case JOB_IN:
          this.onJobIn(node, q.takeObj(slot) as Transfer);
          break;
        case TIMER:
          this.tell(node, { type: "timer", token: arg });
          break;
      }
    }
    return this.result();
  }

  private nextInterarrival(): number {
    return this.now - Math.log(1 - this.arrivalRng.next()) / (this.c.load * this.c.nodes);
  }

  /** Bring node n's virtual time to now: each of its jobs got (elapsed − paused) ÷ count of service. */
  private advance(n: number): void {
    const count = this.members[n]!.length;
    const from = Math.max(this.last[n]!, this.pausedUntil[n]!);
    if (count > 0 && this.now > from) this.vt[n]! += (this.now - from) / count;
    this.last[n] = this.now;
  }

  /** Schedule node n's next completion; earlier DONE events of n become stale. */
  private reschedule(n: number): void {
    const v = ++this.version[n]!;
    const jobs = this.members[n]!;
    if (jobs.length === 0) return;
    let min = Infinity;
    for (const j of jobs) min = Math.min(min, this.finishV[j]!);
    const start = Math.max(this.now, this.pausedUntil[n]!);
    this.q.push(start + Math.max(0, min - this.vt[n]!) * jobs.length, DONE, n, v);
  }

  /** Job j joins node n needing `remaining` more service. */
  private join(n: number, j: number, remaining: number): void {
    this.advance(n);
    this.finishV[j] = this.vt[n]! + remaining;
    this.members[n]!.push(j);
    this.reschedule(n);
  }

  private onArrival(): void {
    const j = this.arrived++;
    this.arrivalTime[j] = this.now;
    this.work[j] = this.c.service.sample(this.serviceRng);
    if (this.arrived < this.c.jobs) this.q.push(this.nextInterarrival(), ARRIVAL, 0, 0);
    const n = this.dispatchRng.int(this.c.nodes);
    this.join(n, j, this.work[j]!);
    if (this.policies) this.tell(n, { type: "arrival" });
  }

  private onDone(n: number): void {
    this.advance(n);
    const jobs = this.members[n]!;
    let at = 0;
    for (let i = 1; i < jobs.length; i++) if (this.finishV[jobs[i]!]! < this.finishV[jobs[at]!]!) at = i;
    const j = jobs[at]!;
    jobs.splice(at, 1);
    this.finish(j);
    this.reschedule(n);
    if (this.policies) this.tell(n, { type: "departure" });
  }

  private finish(j: number): void {
    this.done[j]!++;
    this.completed++;
    if (j < this.c.warmupJobs) return;
    const r = this.now - this.arrivalTime[j]!;
    const s = r / this.work[j]!;
    this.responseSum += r;
    this.slowdownSum += s;
    if (this.c.percentiles) {
      this.responses[this.measured] = r;
      this.slowdowns[this.measured] = s;
    }
    this.measured++;
  }

  /** CPU spent on load sharing stops every job on the node for that long. */
  private charge(n: number, cpu: number): void {
    if (cpu <= 0) return;
    this.overhead += cpu;
    this.advance(n);
    this.pausedUntil[n] = Math.max(this.now, this.pausedUntil[n]!) + cpu;
    this.reschedule(n);
  }

  private tell(n: number, event: PolicyEvent): void {
    const s = this.sample;
    const count = this.members[n]!.length;
    s.running = count > 0 ? 1 : 0;
    s.ready = count - s.running;
    const out: PolicyAction[] = [];
    this.policies![n]!.handle(this.now, event, s, out);
    for (const a of out) {
      if (a.type === "send") {
        this.charge(n, this.c.costs.cpuPerMessage);
        this.q.push(this.now + this.c.costs.latency, MESSAGE, a.to, 0, a.message);
      } else if (a.type === "set-timer") {
        this.q.push(Math.max(a.at, this.now), TIMER, n, a.token);
      } else {
        this.transfer(n, a.to, a.probe, a.id);
      }
    }
  }

  /** Send the job the migration rule picks (or nothing: the receiver's reservation is released). */
  private transfer(n: number, to: number, probe: ProbeKind, id: number): void {
    const { costs } = this.c;
    this.advance(n);
    const jobs = this.members[n]!;
    const candidates: MigrantCandidate[] = jobs.map((j) => ({
      age: this.work[j]! - (this.finishV[j]! - this.vt[n]!),
      moved: this.moved[j] === 1,
    }));
    const choice = chooseMigrant(this.rule as MigrationRule, candidates, this.strongCost, this.receiverLoad);
    let job = -1;
    let bytes = 0;
    if (choice.mode === "none") {
      this.empty++;
    } else {
      job = jobs[choice.index]!;
      jobs.splice(choice.index, 1);
      this.moved[job] = 1;
      if (choice.mode === "weak") {
        this.overhead += candidates[choice.index]!.age; // the service it got here is thrown away
        this.finishV[job] = this.work[job]!; // restarts from the beginning
        bytes = costs.weakBytes;
        this.weak++;
      } else {
        this.finishV[job] = this.finishV[job]! - this.vt[n]!; // resumes where it stopped: its age travels
        bytes = costs.snapshotBytes;
        this.strong++;
      }
      this.inFlight++;
      this.charge(n, costs.cpuPerTransfer + bytes * costs.cpuPerByte);
      this.reschedule(n);
    }
    this.q.push(this.now + costs.latency + bytes / costs.bytesPerTime, JOB_IN, to, 0, { from: n, probe, id, job, bytes });
    if (job >= 0) this.tell(n, { type: "departure", moved: true });
  }

  private onJobIn(n: number, t: Transfer): void {
    if (t.job >= 0) {
      this.inFlight--;
      this.charge(n, this.c.costs.cpuPerTransfer + t.bytes * this.c.costs.cpuPerByte);
      this.join(n, t.job, this.finishV[t.job]!);
    }
    this.tell(n, { type: "job-in", from: t.from, probe: t.probe, id: t.id, job: t.job >= 0 });
  }

  private noJobLeft(): boolean {
    if (this.arrived < this.c.jobs || this.inFlight > 0) return false;
    return this.members.every((m) => m.length === 0);
  }

  private result(): TsResult {
    const { lost, duplicated } = countOutcomes(this.done);
    let service = 0;
    for (let j = 0; j < this.c.jobs; j++) if (this.done[j]! > 0) service += this.work[j]!;
    const m = this.measured;
    let polls = 0;
    for (const p of this.policies ?? []) polls += p.pollsSent;
    return {
      meanResponse: m > 0 ? this.responseSum / m : NaN,
      p99Response: this.c.percentiles ? percentile(this.responses.subarray(0, m), 0.99) : NaN,
      meanSlowdown: m > 0 ? this.slowdownSum / m : NaN,
      p99Slowdown: this.c.percentiles ? percentile(this.slowdowns.subarray(0, m), 0.99) : NaN,
      measured: m,
      completed: this.completed,
      lost,
      duplicated,
      polls,
      weakTransfers: this.weak,
      strongTransfers: this.strong,
      emptyTransfers: this.empty,
      overheadFraction: service > 0 ? this.overhead / service : 0,
      simulatedTime: this.now,
      events: this.events,
    };
  }
}
