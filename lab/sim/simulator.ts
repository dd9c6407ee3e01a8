// The discrete-event simulator: N single-processor FCFS nodes, Poisson arrivals, a service-time
// distribution, network and CPU costs, and one balance/ policy per node driven through its events.

import {
  chooseMigrant,
  chooseMove,
  type MigrationRule,
  transferDelay,
  estimateRemainingWork,
  ThroughputEwma,
  type LoadSample,
  createPolicy,
  type LoadSharingPolicy,
  type Message,
  type PolicyAction,
  type PolicyEvent,
  type ProbeKind,
  createRng,
  deriveSeed,
  type Rng,
} from "../../runtime/balance/index.js";
import { EventQueue } from "./event-queue.js";
import { ARRIVAL, countOutcomes, DONE, JOB_IN, MESSAGE, TIMER, type Transfer } from "./sim-events.js";
import { normalizeSimOptions, type SimConfig, type SimOptions } from "./sim-config.js";
import { percentile } from "./slowdown.js";

export interface SimResult {
  /** Mean response time (arrival to completion) of the jobs after the warm-up. */
  meanResponse: number;
  /** 99th percentile of the same (NaN when percentiles are off). */
  p99Response: number;
  /** Mean of response time ÷ the job's service time (its slowdown), over the same jobs. */
  meanSlowdown: number;
  /** 99th percentile of the slowdown (NaN when percentiles are off). */
  p99Slowdown: number;
  /** Jobs whose response time was measured. */
  measured: number;
  completed: number;
  /** Jobs never completed / completed more than once: both must be 0. */
  lost: number;
  duplicated: number;
  polls: number;
  /** Messages of the policy protocol (polls, answers, cancels). */
  messages: number;
  weakTransfers: number;
  strongTransfers: number;
  /** Transfers that found nothing worth moving (the reservation was released). */
  emptyTransfers: number;
  /** CPU time spent on load sharing, as a fraction of the total capacity used by jobs. */
  overheadFraction: number;
  simulatedTime: number;
  events: number;
}

/** Growable FIFO of job ids with O(1) push, shift and pop (the tail is the weak-migration candidate). */
class JobQueue {
  items: number[] = [];
  head = 0;
  get length(): number {
    return this.items.length - this.head;
  }
  push(j: number): void {
    this.items.push(j);
  }
  shift(): number {
    const j = this.items[this.head++]!;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return j;
  }
  pop(): number {
    return this.items.pop()!;
  }
}

export function simulate(options: SimOptions): SimResult {
  return new Simulation(normalizeSimOptions(options)).run();
}

class Simulation {
  private readonly q = new EventQueue<Message | Transfer>();
  private readonly arrivalRng: Rng;
  private readonly serviceRng: Rng;
  private readonly dispatchRng: Rng;
  private readonly arrivalTime: Float64Array;
  /** Service a job still needs (a strong move leaves the rest); `size` is all of it. */
  private readonly work: Float64Array;
  private readonly size: Float64Array;
  private readonly done: Uint8Array;
  private readonly responses: Float64Array;
  private readonly slowdowns: Float64Array;
  private measured = 0;
  private responseSum = 0;
  private slowdownSum = 0;

  private readonly queues: JobQueue[];
  private readonly running: Int32Array;
  private readonly runStart: Float64Array;
  private readonly runEnd: Float64Array;
  private readonly overheadUntil: Float64Array;
  private readonly throughput: ThroughputEwma[] | undefined;
  private readonly policies: LoadSharingPolicy[] | undefined;
  private readonly central = new JobQueue();
  private readonly idle: number[] = [];

  private now = 0;
  private arrived = 0;
  private completed = 0;
  private messages = 0;
  private weak = 0;
  private strong = 0;
  private empty = 0;
  private overhead = 0;
  private events = 0;
  /** Transfer events carrying a job that have not been delivered yet. */
  private inFlight = 0;
  private readonly sample: LoadSample = { ready: 0, running: 0, blocked: 0, throughput: 0 };

  constructor(private readonly c: SimConfig) {
    const { nodes, jobs, seed } = c;
    this.arrivalRng = createRng(deriveSeed(seed, 0));
    this.serviceRng = createRng(deriveSeed(seed, 1));
    this.dispatchRng = createRng(deriveSeed(seed, 2));
    this.arrivalTime = new Float64Array(jobs);
    this.work = new Float64Array(jobs);
    this.size = new Float64Array(jobs);
    this.done = new Uint8Array(jobs);
    this.responses = new Float64Array(c.percentiles ? jobs - c.warmupJobs : 0);
    this.slowdowns = new Float64Array(c.percentiles ? jobs - c.warmupJobs : 0);
    this.queues = Array.from({ length: nodes }, () => new JobQueue());
    this.running = new Int32Array(nodes).fill(-1);
    this.runStart = new Float64Array(nodes);
    this.runEnd = new Float64Array(nodes);
    this.overheadUntil = new Float64Array(nodes);
    if (c.policy.metric.name === "throughput") {
      this.throughput = Array.from({ length: nodes }, () => new ThroughputEwma(1 / c.policy.metric.perJob));
    }
    if (c.dispatch === "local" && c.policy.kind !== "none") {
      this.policies = Array.from({ length: nodes }, (_, nodeId) =>
        createPolicy(c.policy, { nodeId, nodeCount: nodes, rng: createRng(deriveSeed(seed, 3 + nodeId)) }),
      );
    }
    for (let n = nodes - 1; n >= 0; n--) this.idle.push(n);
  }

  run(): SimResult {
    const { q, c } = this;
    if (this.policies) for (let n = 0; n < c.nodes; n++) this.tell(n, { type: "start" });
    q.push(this.nextInterarrival(), ARRIVAL, 0, 0);
    while (this.completed < c.jobs) {
      const slot = q.pop();
      if (slot < 0) break;
      // A lost job would leave policies polling forever: now and then look for any job left.
      if (++this.events % 1_000_000 === 0 && this.noJobLeft()) break;
      this.now = q.timeOf(slot);
      const node = q.nodeOf(slot);
      const arg = q.argOf(slot);
      switch (q.kindOf(slot)) {
        case ARRIVAL:
          this.onArrival();
          break;
        case DONE:
          this.onDone(node, arg);
          break;
        case MESSAGE: {
          const message = q.takeObj(slot) as Message;
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

  private onArrival(): void {
    const { c } = this;
    const j = this.arrived++;
    this.arrivalTime[j] = this.now;
    this.work[j] = this.size[j] = c.service.sample(this.serviceRng);
    if (this.arrived < c.jobs) this.q.push(this.nextInterarrival(), ARRIVAL, 0, 0);
    if (c.dispatch === "central") {
      if (this.idle.length > 0) this.startJob(this.idle.pop()!, j);
      else this.central.push(j);
      return;
    }
    const n = c.dispatch === "shortest-of-d" ? this.shortestOfD() : this.arrivalNode();
    this.queues[n]!.push(j);
    if (this.running[n]! < 0) this.startNext(n);
    if (this.policies) this.tell(n, { type: "arrival" });
  }

  private arrivalNode(): number {
    const w = this.c.weights;
    if (!w) return this.dispatchRng.int(this.c.nodes);
    const u = this.dispatchRng.next();
    let lo = 0;
    let hi = w.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (w[mid]! > u) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }

  /** JSQ(d): d distinct random nodes, the one with fewest jobs (first sampled wins ties). */
  private shortestOfD(): number {
    const { nodes, d } = this.c;
    let best = -1;
    let bestLen = Infinity;
    const picked: number[] = [];
    while (picked.length < d) {
      const n = this.dispatchRng.int(nodes);
      if (picked.includes(n)) continue;
      picked.push(n);
      const len = this.queues[n]!.length + (this.running[n]! >= 0 ? 1 : 0);
      if (len < bestLen) {
        best = n;
        bestLen = len;
      }
    }
    return best;
  }

  private onDone(n: number, j: number): void {
    if (this.running[n] !== j) return; // the job was migrated away while running
    if (this.runEnd[n]! > this.now) {
      this.q.push(this.runEnd[n]!, DONE, n, j); // overhead was charged meanwhile
      return;
    }
    this.running[n] = -1;
    this.finish(j);
    if (this.throughput) this.throughput[n]!.record(this.now);
    if (this.c.dispatch === "central") {
      if (this.central.length > 0) this.startJob(n, this.central.shift());
      else this.idle.push(n);
      return;
    }
    this.startNext(n);
    if (this.policies) this.tell(n, { type: "departure" });
  }

  private finish(j: number): void {
    this.done[j]!++;
    this.completed++;
    if (j >= this.c.warmupJobs) {
      const r = this.now - this.arrivalTime[j]!;
      const slowdown = r / this.size[j]!;
      this.responseSum += r;
      this.slowdownSum += slowdown;
      if (this.c.percentiles) {
        this.responses[this.measured] = r;
        this.slowdowns[this.measured] = slowdown;
      }
      this.measured++;
    }
  }

  private startNext(n: number): void {
    const queue = this.queues[n]!;
    if (this.running[n]! < 0 && queue.length > 0) this.startJob(n, queue.shift());
  }

  private startJob(n: number, j: number): void {
    const start = Math.max(this.now, this.overheadUntil[n]!);
    this.running[n] = j;
    this.runStart[n] = start;
    this.runEnd[n] = start + this.work[j]!;
    this.q.push(this.runEnd[n]!, DONE, n, j);
  }

  /** CPU time spent on load sharing delays whatever the node runs next (or the running job). */
  private charge(n: number, cpu: number): void {
    if (cpu <= 0) return;
    this.overhead += cpu;
    if (this.running[n]! >= 0) this.runEnd[n]! += cpu;
    else this.overheadUntil[n] = Math.max(this.now, this.overheadUntil[n]!) + cpu;
  }

  private tell(n: number, event: PolicyEvent): void {
    const policy = this.policies![n]!;
    const s = this.sample;
    s.ready = this.queues[n]!.length;
    s.running = this.running[n]! >= 0 ? 1 : 0;
    s.throughput = this.throughput ? this.throughput[n]!.value(this.now) : 0;
    const out: PolicyAction[] = [];
    policy.handle(this.now, event, s, out);
    for (const a of out) {
      if (a.type === "send") {
        this.messages++;
        this.charge(n, this.c.costs.cpuPerMessage);
        this.q.push(this.now + this.c.costs.latency, MESSAGE, a.to, 0, a.message);
      } else if (a.type === "set-timer") {
        this.q.push(Math.max(a.at, this.now), TIMER, n, a.token);
      } else {
        this.transfer(n, a.to, a.probe, a.id);
      }
    }
  }

  /** Carry out a policy's transfer: pick a job by the cost model, ship it, tell the policy it left. */
  private transfer(n: number, to: number, probe: ProbeKind, id: number): void {
    const { costs, service } = this.c;
    const queue = this.queues[n]!;
    const r = this.running[n]!;
    // Its age is all the service it has had, on this node and on any it was moved from.
    const age = r >= 0 ? this.size[r]! - this.work[r]! + Math.max(0, this.now - this.runStart[n]!) : 0;
    const remaining = r >= 0 ? estimateRemainingWork(age, service.lifetime) : 0;
    const decision = this.c.migration
      ? this.byRule(this.c.migration, age, r >= 0, queue.length)
      : chooseMove(
          {
            queued: queue.length,
            weakBytes: costs.weakBytes,
            localWait: Math.max(0, (r >= 0 ? remaining : 0) + (queue.length - 1) * service.mean),
            targetWait: 0, // it answered as a receiver (or asked as one)
            running: r >= 0 ? { snapshotBytes: costs.snapshotBytes, remainingWork: remaining } : undefined,
          },
          costs,
        );
    let job = -1;
    let bytes = 0;
    if (decision.mode === "weak") {
      job = queue.pop();
      bytes = costs.weakBytes;
      this.weak++;
    } else if (decision.mode === "strong") {
      job = r;
      this.work[job] = Math.max(0, this.runEnd[n]! - this.now); // resumes where it stopped
      this.running[n] = -1;
      bytes = costs.snapshotBytes;
      this.strong++;
    } else {
      this.empty++;
    }
    if (job >= 0) {
      this.charge(n, costs.cpuPerTransfer + bytes * costs.cpuPerByte);
      this.inFlight++;
    }
    this.q.push(this.now + costs.latency + bytes / costs.bytesPerTime, JOB_IN, to, 0, { from: n, probe, id, job, bytes });
    if (job >= 0) {
      this.startNext(n);
      this.tell(n, { type: "departure", moved: true });
    }
  }

  /** A migration rule's choice (preemption.ts): the running job with its age, the queued ones new (the newest last). */
  private byRule(rule: MigrationRule, age: number, running: boolean, queued: number): { mode: "weak" | "strong" | "none" } {
    const jobs = [...(running ? [{ age, moved: false }] : []), ...Array.from({ length: queued }, () => ({ age: 0, moved: false }))];
    const strongCost = transferDelay(this.c.costs.snapshotBytes, this.c.costs);
    return chooseMigrant(rule, jobs, strongCost, this.c.policy.kind === "elz-sender" ? this.c.policy.threshold - 1 : this.c.policy.lower);
  }

  private onJobIn(n: number, t: Transfer): void {
    if (t.job >= 0) {
      this.inFlight--;
      this.charge(n, this.c.costs.cpuPerTransfer + t.bytes * this.c.costs.cpuPerByte);
      this.queues[n]!.push(t.job);
      this.startNext(n);
    }
    this.tell(n, { type: "job-in", from: t.from, probe: t.probe, id: t.id, job: t.job >= 0 });
  }

  /** True when all jobs have arrived and none is queued, running or in flight anywhere. */
  private noJobLeft(): boolean {
    if (this.arrived < this.c.jobs || this.inFlight > 0 || this.central.length > 0) return false;
    for (let n = 0; n < this.c.nodes; n++) if (this.queues[n]!.length > 0 || this.running[n]! >= 0) return false;
    return true;
  }

  private result(): SimResult {
    const { lost, duplicated } = countOutcomes(this.done);
    const m = this.measured;
    let polls = 0;
    for (const p of this.policies ?? []) polls += p.pollsSent;
    let workDone = 0;
    for (let j = 0; j < this.c.jobs; j++) workDone += this.done[j]! > 0 ? 1 : 0;
    return {
      meanResponse: m > 0 ? this.responseSum / m : NaN,
      p99Response: this.c.percentiles ? percentile(this.responses.subarray(0, m), 0.99) : NaN,
      meanSlowdown: m > 0 ? this.slowdownSum / m : NaN,
      p99Slowdown: this.c.percentiles ? percentile(this.slowdowns.subarray(0, m), 0.99) : NaN,
      measured: this.measured,
      completed: this.completed,
      lost,
      duplicated,
      polls,
      messages: this.messages,
      weakTransfers: this.weak,
      strongTransfers: this.strong,
      emptyTransfers: this.empty,
      overheadFraction: workDone > 0 ? this.overhead / (workDone * this.c.service.mean) : 0,
      simulatedTime: this.now,
      events: this.events,
    };
  }
}
