// The live driver of the runtime/balance policies (docs/load-sharing.md, "Live cluster"): one per
// node, fed by the node's job-state changes, real timers and signed HTTP polls between peers; it
// carries out the policy's transfers over the exactly-once migration protocol.

import {
  ThroughputEwma,
  type LoadSample,
  chooseMove,
  estimateRemainingWork,
  type LifetimeModel,
  type LinkCost,
  normalizePolicyOptions,
  type PolicyConfig,
  type PolicyOptions,
  ThresholdPolicy,
  type Message,
  type PolicyAction,
  type PolicyEvent,
  type ProbeKind,
  createRng,
  deriveSeed,
} from "../../runtime/balance/index.js";
import type { NodeIdentity } from "../auth/index.js";
import { ServerError } from "../errors.js";
import { peerRequest } from "../peers/peer-link.js";
import type { FerryNode } from "../node/ferry-node.js";
import type { JobState } from "../store/records.js";
import type { Store } from "../store/store.js";

export interface LiveBalanceOptions {
  /** The policy; `retryInterval` (D) is in milliseconds here. */
  policy: PolicyOptions;
  /** Mean service time assumed until jobs have finished here, ms (wait and remaining-work estimates). Default 40. */
  meanServiceMs?: number;
  /** How the remaining work of a running job is guessed, ms. Default exponential with the observed mean. */
  lifetime?: LifetimeModel;
  /** Seed of this node's policy random stream (its node index is mixed in). Default 1. */
  seed?: number;
  /** A poll unanswered after this long counts as a refusal (a late answer is still honoured or cancelled). Default 1000. */
  pollTimeoutMs?: number;
  /** Node ids in policy index order, this node included. Default: this node and its peers, sorted. */
  members?: string[];
  /** Execution-segment size assumed when weighing a strong move, bytes. Default 256 KiB. */
  snapshotBytes?: number;
}

export interface BalanceStats {
  enabled: boolean;
  policy: string;
  nodeIndex: number;
  /** Probes this node sent (the policy's count), and of those "give" (sender side) and "take" (receiver side). */
  polls: number;
  givePolls: number;
  takePolls: number;
  /** Polls that found no answer within `pollTimeoutMs` (fed back as refusals). */
  pollTimeouts: number;
  /** Probes from peers this node answered, and how many it accepted. */
  probesAnswered: number;
  probesAccepted: number;
  weak: number;
  strong: number;
  /** Transfers the policy asked for that had nothing worth moving (the reservation was released). */
  empty: number;
  /** Transfers the migration protocol refused or that failed (the job went on here). */
  failed: number;
  /** Running jobs picked to move that finished before they could be stopped (the slot went to the next pick). */
  raced: number;
  /** Wall time of the successful transfers (stop → committed), summed, ms. */
  transferMsSum: number;
  /** Jobs that arrived here by a balancing transfer. */
  jobsIn: number;
  /** Jobs that finished on this node (done, trapped or failed) since the balancer was configured. */
  finished: number;
  /** Time from running to finished here, summed over `finished` jobs, ms (CPU contention shows here). */
  execMsSum: number;
  /** Current view: effective load (with reservations) and reservations held. */
  load: number;
  reserved: number;
}

const DEFAULT_MEAN_SERVICE_MS = 40;
const DEFAULT_POLL_TIMEOUT_MS = 1_000;
/** A poll or notice that has not been answered after this long is abandoned. */
const HARD_TIMEOUT_MS = 10_000;
const DEFAULT_SNAPSHOT_BYTES = 256 * 1024;
/** A weak transfer ships the job header (code hash, entry, arguments); the code is usually cached. */
const WEAK_BYTES = 1024;
/** Initial link estimates on loopback, refined by measured poll round trips and transfer times. */
const INITIAL_LATENCY_MS = 1;
const INITIAL_TRANSFER_CPU_MS = 3;
const BYTES_PER_MS = 100_000;
const CPU_MS_PER_BYTE = 1e-6;
/** Weight of a new observation in the running estimates. */
const EWMA_WEIGHT = 0.1;
const POLL_LOG_SIZE = 1_000;
/** Tries for the job-in notice, so the receiver's reservation is released. */
const JOB_IN_TRIES = 3;
/** A transfer whose pick finished first tries once more before releasing the reservation. */
const PICKS_PER_TRANSFER = 2;

type Tracked = "queued" | "running" | "paused";

export class LiveBalancer {
  private policy: ThresholdPolicy | undefined;
  private config: PolicyConfig | undefined;
  private members: string[] = [];
  private index = -1;
  private generation = 0;
  private unsubscribe: (() => void) | undefined;
  private readonly timers = new Set<NodeJS.Timeout>();
  /** Live jobs here by state, from the node's feed. */
  private readonly tracked = new Map<string, Tracked>();
  private readonly runningSince = new Map<string, number>();
  /** Jobs chosen for a transfer that the node still counts (until the migrator takes them out). */
  private readonly leaving = new Set<string>();
  /** "take" probes whose answer has not been fed yet: a job-in that overtakes its answer waits here. */
  private readonly pendingTake = new Map<number, Array<() => void>>();
  private lastLoad = 0;
  private checkQueued = false;
  private meanServiceMs = DEFAULT_MEAN_SERVICE_MS;
  private lifetime: LifetimeModel | undefined;
  private pollTimeoutMs = DEFAULT_POLL_TIMEOUT_MS;
  private snapshotBytes = DEFAULT_SNAPSHOT_BYTES;
  private throughput: ThroughputEwma | undefined;
  private readonly latencyMs = new Map<number, number>();
  private transferCpuMs = INITIAL_TRANSFER_CPU_MS;
  private counters = emptyCounters();
  /** The most recent polls sent, oldest first (tests check MAX and D with it). */
  private readonly polls: Array<{ at: number; to: number; probe: ProbeKind; round: number }> = [];
  /** Back-offs the policy asked for since `configure`: when, and how long (ms). */
  private readonly backoffs: Array<{ at: number; delayMs: number }> = [];
  /** Rounds end at a back-off: polls sent before the first are round 0, and so on. */
  private round = 0;
  private readonly sample: LoadSample = { ready: 0, running: 0, blocked: 0, throughput: 0 };

  constructor(
    private readonly node: FerryNode,
    private readonly store: Store,
    private readonly identity: NodeIdentity,
  ) {}

  get enabled(): boolean {
    return this.policy !== undefined;
  }

  /** Start (or restart, with fresh counters) load sharing with `options`. */
  configure(options: LiveBalanceOptions): void {
    this.stop();
    const members = options.members ?? [this.node.id, ...this.store.peers.list().map((p) => p.nodeId)].sort();
    const index = members.indexOf(this.node.id);
    if (index < 0) throw new ServerError("bad_request", `members must include this node (${this.node.id})`);
    if (new Set(members).size !== members.length) throw new ServerError("bad_request", "members must be distinct node ids");
    for (const id of members)
      if (id !== this.node.id && !this.store.peers.get(id)) throw new ServerError("bad_request", `member ${id} is not a configured peer`);
    this.config = normalizePolicyOptions(options.policy);
    this.members = members;
    this.index = index;
    this.meanServiceMs = options.meanServiceMs ?? DEFAULT_MEAN_SERVICE_MS;
    if (!(this.meanServiceMs > 0)) throw new ServerError("bad_request", `meanServiceMs must be > 0, got ${this.meanServiceMs}`);
    this.lifetime = options.lifetime;
    this.pollTimeoutMs = options.pollTimeoutMs ?? DEFAULT_POLL_TIMEOUT_MS;
    this.snapshotBytes = options.snapshotBytes ?? DEFAULT_SNAPSHOT_BYTES;
    this.throughput = this.config.metric.name === "throughput" ? new ThroughputEwma(1 / this.config.metric.perJob) : undefined;
    this.counters = emptyCounters();
    this.polls.length = 0;
    this.backoffs.length = 0;
    this.round = 0;
    this.policy = new ThresholdPolicy(this.config, {
      nodeId: index,
      nodeCount: members.length,
      rng: createRng(deriveSeed(options.seed ?? 1, index)),
    });
    this.unsubscribe = this.node.onJobState((id, state) => this.onJobState(id, state));
    for (const id of this.node.queuedJobs()) this.tracked.set(id, "queued");
    this.feed({ type: "start" });
  }

  /** Stop polling and answering (probes are refused from now on); transfers under way finish. */
  stop(): void {
    this.generation++;
    this.policy = undefined;
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.pendingTake.clear();
  }

  stats(): BalanceStats {
    const p = this.policy;
    return {
      enabled: p !== undefined,
      policy: this.config?.kind ?? "none",
      nodeIndex: this.index,
      polls: p?.pollsSent ?? 0,
      ...this.counters,
      load: p ? p.effectiveLoad(this.takeSample()) : 0,
      reserved: p?.reserved ?? 0,
    };
  }

  /**
   * The last polls sent since `configure` (up to 1000): when (performance.now() ms), to which node
   * index, which kind, and in which round (rounds are counted by the back-offs that end them, so a
   * slow machine cannot blur one round into the next).
   */
  recentPolls(): ReadonlyArray<{ at: number; to: number; probe: ProbeKind; round: number }> {
    return this.polls;
  }

  /** The last back-offs the policy asked for since `configure` (up to 1000): when, and the wait it asked for. */
  recentBackoffs(): ReadonlyArray<{ at: number; delayMs: number }> {
    return this.backoffs;
  }

  /** The policy's view of this node right now ("sender", "receiver" or "neutral"). */
  role(): string {
    return this.policy ? this.policy.role(this.takeSample()) : "neutral";
  }

  // ---- messages from peers (the /peer/balance routes) ----

  /** A policy message from peer `peerId`; returns the answer to a probe (null for anything else). */
  receive(peerId: string, body: Record<string, unknown>): Message | null {
    const from = this.members.indexOf(peerId);
    const message = parseMessage(body, from);
    const policy = this.policy;
    if (!policy || from < 0 || from === this.index) {
      // Not sharing (or not with this peer): every probe is refused, nothing else matters.
      return message.kind === "probe" ? { kind: "answer", probe: message.probe, id: message.id, from: this.index, accept: false } : null;
    }
    const out: PolicyAction[] = [];
    const now = performance.now();
    policy.handle(now, { type: "message", message }, this.takeSample(), out);
    let answer: Extract<Message, { kind: "answer" }> | null = null;
    const rest: PolicyAction[] = [];
    for (const a of out) {
      if (
        !answer &&
        message.kind === "probe" &&
        a.type === "send" &&
        a.to === from &&
        a.message.kind === "answer" &&
        a.message.id === message.id
      )
        answer = a.message;
      else rest.push(a);
    }
    if (message.kind === "probe") {
      this.counters.probesAnswered++;
      if (answer?.accept) this.counters.probesAccepted++;
    }
    this.carryOut(rest, now);
    return answer;
  }

  /** The sender's notice that the transfer for probe `id` is over (`job`: whether a job came). */
  jobIn(peerId: string, body: Record<string, unknown>): void {
    const from = this.members.indexOf(peerId);
    const { probe, id, job } = body;
    if ((probe !== "give" && probe !== "take") || !Number.isSafeInteger(id) || typeof job !== "boolean") {
      throw new ServerError("bad_request", "body must be { probe: give|take, id, job: boolean }");
    }
    if (!this.policy || from < 0) return;
    if (job) this.counters.jobsIn++;
    const event: PolicyEvent = { type: "job-in", from, probe, id: id as number, job };
    const waiting = probe === "take" ? this.pendingTake.get(id as number) : undefined;
    if (waiting) waiting.push(() => this.feed(event));
    else this.feed(event);
  }

  // ---- the node's feed ----

  private onJobState(id: string, state: JobState): void {
    const now = performance.now();
    if (state === "running") {
      this.tracked.set(id, "running");
      if (!this.runningSince.has(id)) this.runningSince.set(id, now);
    } else if (state === "queued" || state === "paused") {
      this.tracked.set(id, state);
      this.runningSince.delete(id);
    } else {
      if (state === "done" || state === "trapped" || state === "failed") {
        const since = this.runningSince.get(id);
        this.counters.finished++;
        if (since !== undefined) {
          this.counters.execMsSum += now - since;
          this.meanServiceMs += EWMA_WEIGHT * (now - since - this.meanServiceMs);
        }
        this.throughput?.record(now);
      }
      this.tracked.delete(id);
      this.runningSince.delete(id);
    }
    this.scheduleCheck();
  }

  /** Coalesce the node's state changes into one arrival/departure event once the node's call returns. */
  private scheduleCheck(): void {
    if (this.checkQueued || !this.policy) return;
    this.checkQueued = true;
    queueMicrotask(() => {
      this.checkQueued = false;
      const s = this.takeSample();
      const load = s.ready + s.running;
      if (load > this.lastLoad) this.feed({ type: "arrival" });
      else if (load < this.lastLoad) this.feed({ type: "departure" });
    });
  }

  /** The node's load less the jobs already promised away (the live form of the policy's `releasedThisCall`). */
  private takeSample(): LoadSample {
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
    const s = this.sample;
    s.ready = Math.max(0, l.queued - queued);
    s.running = Math.max(0, Math.max(l.running, seenRunning) - running);
    s.blocked = 0;
    s.throughput = this.throughput ? this.throughput.value(performance.now()) : 0;
    return s;
  }

  private feed(event: PolicyEvent): void {
    const policy = this.policy;
    if (!policy) return;
    const s = this.takeSample();
    this.lastLoad = s.ready + s.running;
    const out: PolicyAction[] = [];
    const now = performance.now();
    policy.handle(now, event, s, out);
    this.carryOut(out, now);
  }

  /** Do what the policy decided at `now` (its clock). */
  private carryOut(out: readonly PolicyAction[], now: number): void {
    for (const a of out) {
      if (a.type === "send") this.send(a.to, a.message);
      else if (a.type === "set-timer") {
        // The policy's only timer is a failed round's back-off.
        this.backoffs.push({ at: now, delayMs: a.at - now });
        if (this.backoffs.length > POLL_LOG_SIZE) this.backoffs.splice(0, this.backoffs.length - POLL_LOG_SIZE);
        this.round++;
        this.setTimer(a.at, a.token);
      } else this.transfer(a.to, a.probe, a.id);
    }
  }

  private setTimer(at: number, token: number): void {
    const generation = this.generation;
    const t = setTimeout(
      () => {
        this.timers.delete(t);
        if (generation === this.generation) this.feed({ type: "timer", token });
      },
      Math.max(0, at - performance.now()),
    );
    t.unref();
    this.timers.add(t);
  }

  // ---- messages to peers ----

  private send(to: number, message: Message): void {
    if (message.kind !== "probe") {
      // Answers travel as HTTP responses (see receive); what is left to post is a cancel.
      void this.post(to, "/peer/balance/message", message).catch(() => undefined);
      return;
    }
    const generation = this.generation;
    const started = performance.now();
    let fed = false;
    this.counters[message.probe === "give" ? "givePolls" : "takePolls"]++;
    this.polls.push({ at: started, to, probe: message.probe, round: this.round });
    if (this.polls.length > POLL_LOG_SIZE) this.polls.splice(0, this.polls.length - POLL_LOG_SIZE);
    if (message.probe === "take") this.pendingTake.set(message.id, []);
    const deliver = (answer: Message): void => {
      if (generation !== this.generation) return;
      this.feed({ type: "message", message: answer });
      const waiting = this.pendingTake.get(message.id);
      if (waiting) {
        this.pendingTake.delete(message.id);
        for (const w of waiting) w();
      }
    };
    const refusal: Message = { kind: "answer", probe: message.probe, id: message.id, from: to, accept: false };
    const timer = setTimeout(() => {
      if (fed) return;
      fed = true;
      this.counters.pollTimeouts++;
      deliver(refusal);
    }, this.pollTimeoutMs);
    timer.unref();
    this.post(to, "/peer/balance/message", message).then(
      (reply) => {
        clearTimeout(timer);
        const rtt = performance.now() - started;
        const previous = this.latencyMs.get(to) ?? INITIAL_LATENCY_MS;
        this.latencyMs.set(to, previous + EWMA_WEIGHT * (rtt / 2 - previous));
        const answer = parseAnswer(reply, message, to);
        if (!fed) {
          fed = true;
          deliver(answer);
        } else if (answer.accept && generation === this.generation) {
          // Late: the policy already counted a refusal; it cancels an accepted "give" itself.
          this.feed({ type: "message", message: answer });
        }
      },
      () => {
        clearTimeout(timer);
        if (fed) return;
        fed = true;
        deliver(refusal);
      },
    );
  }

  private async post(to: number, path: string, body: unknown): Promise<unknown> {
    const peerId = this.members[to];
    const peer = peerId === undefined ? undefined : this.store.peers.get(peerId);
    if (!peer) throw new ServerError("not_found", `no peer at index ${to}`);
    const response = await peerRequest(this.identity, peer, "POST", path, new TextEncoder().encode(JSON.stringify(body)), HARD_TIMEOUT_MS);
    return response.json();
  }

  // ---- transfers ----

  /**
   * The policy reserved a slot at `to` (or `to` asked for a job): pick a job by the cost model and ship it.
   * A running job may finish while it is being stopped; the slot is still held at `to`, so the next pick
   * gets it (a short job finishing first is the common case in a storm, not a failure).
   */
  private transfer(to: number, probe: ProbeKind, id: number): void {
    const peerId = this.members[to]!;
    void (async () => {
      let moved = false;
      let picked = false;
      for (let attempt = 0; attempt < PICKS_PER_TRANSFER && !moved; attempt++) {
        const choice = this.pick(to);
        if (!choice) break;
        picked = true;
        this.leaving.add(choice.jobId);
        const started = performance.now();
        try {
          await this.node.shareJob(choice.jobId, peerId, choice.mode);
          moved = true;
          this.counters[choice.mode]++;
          this.counters.transferMsSum += performance.now() - started;
          if (choice.mode === "weak") this.transferCpuMs += EWMA_WEIGHT * ((performance.now() - started) / 2 - this.transferCpuMs);
        } catch {
          // Still tracked: the migrator reinstated it here after a refusal. Gone: it finished first.
          if (this.tracked.has(choice.jobId)) {
            this.counters.failed++;
            break;
          }
          this.counters.raced++;
        } finally {
          this.leaving.delete(choice.jobId);
        }
      }
      if (!picked) this.counters.empty++;
      for (let attempt = 0; attempt < JOB_IN_TRIES; attempt++) {
        try {
          await this.post(to, "/peer/balance/job-in", { probe, id, job: moved });
          break;
        } catch {
          // the receiver may be busy; its reservation is released when the notice gets through
        }
      }
      if (this.policy) this.feed({ type: moved ? "departure" : "arrival" });
    })();
  }

  /** Which job goes, and how: the last queued one weakly, or the oldest running one strongly when that pays. */
  private pick(to: number): { jobId: string; mode: "weak" | "strong" } | undefined {
    // Only jobs the node may move on its own: anonymous ones, and clients' jobs whose owner granted it.
    const peer = this.members[to]!;
    const queued = this.node.queuedJobs().filter((id) => !this.leaving.has(id) && this.node.mayShare(id, peer));
    const now = performance.now();
    let oldest: { id: string; since: number } | undefined;
    for (const [id, since] of this.runningSince) {
      if (this.tracked.get(id) !== "running" || this.leaving.has(id) || !this.node.mayShare(id, peer)) continue;
      if (!oldest || since < oldest.since) oldest = { id, since };
    }
    const lifetime = this.lifetime ?? { kind: "exponential", mean: this.meanServiceMs };
    const remaining = oldest ? estimateRemainingWork(now - oldest.since, lifetime) : 0;
    const link: LinkCost = {
      latency: this.latencyMs.get(to) ?? INITIAL_LATENCY_MS,
      bytesPerTime: BYTES_PER_MS,
      cpuPerTransfer: this.transferCpuMs,
      cpuPerByte: CPU_MS_PER_BYTE,
    };
    const decision = chooseMove(
      {
        queued: queued.length,
        weakBytes: WEAK_BYTES,
        localWait: Math.max(0, remaining + (queued.length - 1) * this.meanServiceMs),
        targetWait: 0, // it answered as a receiver, or asked as one
        ...(oldest ? { running: { snapshotBytes: this.snapshotBytes, remainingWork: remaining } } : {}),
      },
      link,
    );
    if (decision.mode === "weak") return { jobId: queued[queued.length - 1]!, mode: "weak" };
    if (decision.mode === "strong") return { jobId: oldest!.id, mode: "strong" };
    return undefined;
  }
}

function emptyCounters() {
  return {
    givePolls: 0,
    takePolls: 0,
    pollTimeouts: 0,
    probesAnswered: 0,
    probesAccepted: 0,
    weak: 0,
    strong: 0,
    empty: 0,
    failed: 0,
    raced: 0,
    transferMsSum: 0,
    jobsIn: 0,
    finished: 0,
    execMsSum: 0,
  };
}

/** A policy message from the wire; `from` is always the signer's index, whatever the body says. */
function parseMessage(body: Record<string, unknown>, from: number): Message {
  const bad = (): never => {
    throw new ServerError("bad_request", "body must be a balance message { kind: probe|cancel, probe?, id }");
  };
  const id = body.id;
  if (!Number.isSafeInteger(id) || (id as number) < 0) bad();
  if (body.kind === "probe") {
    if (body.probe !== "give" && body.probe !== "take") bad();
    return { kind: "probe", probe: body.probe as ProbeKind, id: id as number, from };
  }
  if (body.kind === "cancel") return { kind: "cancel", id: id as number, from };
  return bad();
}

/** The answer a peer returned to `probe`; anything malformed counts as a refusal. */
function parseAnswer(reply: unknown, probe: Extract<Message, { kind: "probe" }>, from: number): Extract<Message, { kind: "answer" }> {
  const a = (reply as { answer?: { kind?: unknown; accept?: unknown; id?: unknown } } | null)?.answer;
  const accept = a?.kind === "answer" && a.id === probe.id && a.accept === true;
  return { kind: "answer", probe: probe.probe, id: probe.id, from, accept };
}
