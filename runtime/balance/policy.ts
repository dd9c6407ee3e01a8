// The load-sharing policies as one deterministic state machine per node: sender-initiated,
// receiver-initiated, symmetric (both) and adaptive symmetric with two thresholds, the
// single-threshold ones of Eager, Lazowska & Zahorjan, plus `none`. Driven by events, emitting
// actions; time and randomness come from the caller, so simulator and live node share it.

import type { LoadMetric, LoadSample } from "./load-metric.js";
import { isSingleThreshold, normalizePolicyOptions, type PolicyConfig, type PolicyOptions } from "./policy-options.js";
import type { LoadSharingPolicy, PolicyAction, PolicyEvent, ProbeKind } from "./protocol.js";
import type { Rng } from "./rng.js";
import { roleOf, type Role, type Thresholds } from "./thresholds.js";

const IDLE = 0; // may start a round when the node has the side's role
const POLLING = 1; // one probe outstanding, `polls` sent this round
const BACKOFF = 2; // a round failed; waiting D (or the adaptive wait) for the timer `token` (two thresholds only)
const AWAITING_JOB = 3; // receiver side only: a "take" was accepted, the job is on its way
type SideState = typeof IDLE | typeof POLLING | typeof BACKOFF | typeof AWAITING_JOB;

/** One initiating side: the sender side sends "give" probes, the receiver side "take" probes. */
class Side {
  state: SideState = IDLE;
  probeId = -1;
  polls = 0;
  /** Nodes polled this round, so a round does not ask the same node twice while others remain. */
  readonly polled: number[] = [];
  token = -1;
  /** Failed rounds in a row (the adaptive variant backs off on these). */
  failures = 0;
  constructor(
    readonly probe: ProbeKind,
    readonly role: Role,
  ) {}
}

export interface PolicyContext {
  /** This node's number in 0..nodeCount−1. */
  nodeId: number;
  nodeCount: number;
  rng: Rng;
}

export function createPolicy(options: PolicyOptions, context: PolicyContext): LoadSharingPolicy {
  return new ThresholdPolicy(normalizePolicyOptions(options), context);
}

export class ThresholdPolicy implements LoadSharingPolicy {
  readonly config: PolicyConfig;
  pollsSent = 0;
  private readonly metric: LoadMetric;
  private readonly thresholds: Thresholds;
  private readonly sender: Side | undefined;
  private readonly receiver: Side | undefined;
  /** Single threshold T (elz-sender, elz-receiver): sender at load ≥ T, receiver below, rounds only on their event. */
  private readonly single: boolean;
  /** Reservations held here, with when they lapse: accepted "give" probes and own outstanding or accepted "take" probes. */
  private readonly reservations = new Map<number, number>();
  /** The time of the event being handled. */
  private now = 0;
  /** Jobs this call has already promised away (the node removes them after the call returns). */
  private releasedThisCall = 0;
  private nextId = 0;
  private nextToken = 0;

  constructor(
    config: PolicyConfig,
    private readonly ctx: PolicyContext,
  ) {
    this.config = config;
    this.metric = config.metric;
    this.thresholds = { lower: config.lower, upper: config.upper };
    const k = config.kind;
    this.single = isSingleThreshold(k);
    const both = k === "symmetric" || k === "adaptive";
    this.sender = k === "sender" || k === "elz-sender" || both ? new Side("give", "sender") : undefined;
    this.receiver = k === "receiver" || k === "elz-receiver" || both ? new Side("take", "receiver") : undefined;
  }

  /** Reservations currently counted in this node's load. */
  get reserved(): number {
    return this.reservations.size;
  }

  /** Load including reservations: a slot promised to an incoming job counts as that job. */
  effectiveLoad(load: LoadSample): number {
    return this.metric.value(load) + this.metric.perJob * (this.reservations.size - this.releasedThisCall);
  }

  role(load: LoadSample): Role {
    const l = this.effectiveLoad(load);
    if (this.single) return l >= this.config.threshold ? "sender" : "receiver";
    return roleOf(l, this.thresholds);
  }

  handle(now: number, event: PolicyEvent, load: LoadSample, out: PolicyAction[]): void {
    this.releasedThisCall = 0;
    this.now = now;
    this.expireReservations(now);
    switch (event.type) {
      case "timer":
        for (const side of [this.sender, this.receiver]) {
          if (side && side.state === BACKOFF && side.token === event.token) side.state = IDLE;
        }
        break;
      case "job-in": {
        const owner = event.probe === "give" ? event.from : this.ctx.nodeId;
        this.reservations.delete(this.key(owner, event.id));
        const r = this.receiver;
        if (r && event.probe === "take" && r.state === AWAITING_JOB && r.probeId === event.id) r.state = IDLE;
        break;
      }
      case "message":
        this.onMessage(now, event.message, load, out);
        break;
      default:
        break; // start / arrival / departure: only the load changed, re-evaluated below
    }
    this.evaluate(event, load, out);
  }

  private onMessage(now: number, m: Extract<PolicyEvent, { type: "message" }>["message"], load: LoadSample, out: PolicyAction[]): void {
    if (m.kind === "cancel") {
      this.reservations.delete(this.key(m.from, m.id));
      return;
    }
    if (m.kind === "probe") {
      // Anyone may be polled; only policies that share load say yes.
      const sharing = this.config.kind !== "none";
      const role = this.role(load);
      if (m.probe === "give") {
        const accept = sharing && role === "receiver";
        if (accept) this.reserve(this.key(m.from, m.id));
        out.push({ type: "send", to: m.from, message: { kind: "answer", probe: "give", id: m.id, from: this.ctx.nodeId, accept } });
      } else {
        const accept = sharing && role === "sender";
        out.push({ type: "send", to: m.from, message: { kind: "answer", probe: "take", id: m.id, from: this.ctx.nodeId, accept } });
        if (accept) {
          out.push({ type: "transfer", to: m.from, probe: "take", id: m.id });
          this.releasedThisCall++;
        }
      }
      return;
    }
    // An answer to one of our probes. A stale one (the driver already fed a refusal on timeout)
    // that accepted a "give" holds a reservation at the receiver: release it.
    const side = m.probe === "give" ? this.sender : this.receiver;
    if (!side || side.state !== POLLING || side.probeId !== m.id) {
      if (m.accept && m.probe === "give")
        out.push({ type: "send", to: m.from, message: { kind: "cancel", id: m.id, from: this.ctx.nodeId } });
      return;
    }
    if (m.accept) {
      side.failures = 0;
      if (side.probe === "give") {
        out.push({ type: "transfer", to: m.from, probe: "give", id: m.id });
        this.releasedThisCall++;
        side.state = IDLE;
      } else {
        side.state = AWAITING_JOB; // the reservation stays until the job is in
      }
      return;
    }
    if (side.probe === "take") this.reservations.delete(this.key(this.ctx.nodeId, m.id));
    if (this.role(load) !== side.role) {
      side.state = IDLE;
    } else if (side.polls < this.config.maxPolls) {
      this.poll(side, out);
    } else if (this.single) {
      side.state = IDLE; // Lp polls failed: the job stays (sender) or the node waits for its next completion (receiver)
    } else {
      side.failures++;
      side.state = BACKOFF;
      side.token = this.nextToken++;
      out.push({ type: "set-timer", at: now + this.backoff(side), token: side.token });
    }
  }

  private reserve(key: number): void {
    this.reservations.set(key, this.now + this.config.reservationTimeout);
  }

  /** Drop reservations whose job never came; a receiver waiting for one gives up and may poll again. */
  private expireReservations(now: number): void {
    for (const [key, lapses] of this.reservations) {
      if (lapses > now) continue;
      this.reservations.delete(key);
      const r = this.receiver;
      if (r && r.state === AWAITING_JOB && key === this.key(this.ctx.nodeId, r.probeId)) r.state = IDLE;
    }
  }

  /** Start a round on each idle side whose role the node now has (and, single threshold, whose event this is). */
  private evaluate(event: PolicyEvent, load: LoadSample, out: PolicyAction[]): void {
    if (this.ctx.nodeCount < 2) return;
    for (const side of [this.sender, this.receiver]) {
      if (side && side.state === IDLE && this.role(load) === side.role && this.triggers(side, event)) {
        side.polls = 0;
        side.polled.length = 0;
        this.poll(side, out);
      }
    }
  }

  /**
   * Two thresholds: any event finding the node in the side's role starts a round. Single threshold,
   * as Eager, Lazowska & Zahorjan model it: the sender side only on a job arriving from outside (a job
   * moved here is never moved again), the receiver side only on a job completing (not on one moved away).
   */
  private triggers(side: Side, event: PolicyEvent): boolean {
    if (!this.single) return true;
    if (side.probe === "give") return event.type === "arrival";
    return event.type === "departure" && event.moved !== true;
  }

  private poll(side: Side, out: PolicyAction[]): void {
    if (side.polled.length >= this.ctx.nodeCount - 1) side.polled.length = 0; // all asked: start over
    const target = this.pickTarget(side.polled);
    side.polled.push(target);
    side.probeId = this.nextId++;
    side.polls++;
    side.state = POLLING;
    this.pollsSent++;
    // An outstanding "take" reserves a slot so this node does not also accept a "give" meanwhile.
    if (side.probe === "take") this.reserve(this.key(this.ctx.nodeId, side.probeId));
    out.push({ type: "send", to: target, message: { kind: "probe", probe: side.probe, id: side.probeId, from: this.ctx.nodeId } });
  }

  /** A uniformly random other node not yet polled in this cycle (the caller keeps one unpolled). */
  private pickTarget(polled: readonly number[]): number {
    const { nodeId, nodeCount, rng } = this.ctx;
    for (;;) {
      let t = rng.int(nodeCount - 1);
      if (t >= nodeId) t++;
      if (!polled.includes(t)) return t;
    }
  }

  private backoff(side: Side): number {
    const d = this.config.retryInterval;
    if (this.config.kind !== "adaptive") return d;
    return d * Math.min(this.config.backoffFactor ** (side.failures - 1), this.config.maxBackoffMultiple);
  }

  private key(owner: number, id: number): number {
    return id * this.ctx.nodeCount + owner;
  }
}
