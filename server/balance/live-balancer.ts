// The live driver of the runtime/balance policies (docs/load-sharing.md, "Live cluster"): one per
// node, fed by the node's job-state changes, real timers and signed HTTP polls between peers; it
// carries out the policy's transfers over the exactly-once migration protocol.

import {
  ThroughputEwma,
  normalizePolicyOptions,
  type PolicyConfig,
  ThresholdPolicy,
  type LifetimeModel,
  type LoadSample,
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
import { parseAnswer, parseMessage } from "./balance-wire.js";
import { emptyCounters, type BalanceStats, type LiveBalanceOptions } from "./live-balance-types.js";
import { DEFAULT_MEAN_SERVICE_MS, EWMA_WEIGHT, LoadView } from "./load-view.js";
import { INITIAL_LATENCY_MS, INITIAL_TRANSFER_CPU_MS, type LiveMigration, liveMigration, pickJob } from "./pick.js";
import { PollLog, type PollEntry } from "./poll-log.js";

export type { BalanceStats, LiveBalanceOptions } from "./live-balance-types.js";

const DEFAULT_POLL_TIMEOUT_MS = 1_000;
/** A poll or notice that has not been answered after this long is abandoned. */
const HARD_TIMEOUT_MS = 10_000;
const DEFAULT_SNAPSHOT_BYTES = 256 * 1024;
/** Tries for the job-in notice, so the receiver's reservation is released. */
const JOB_IN_TRIES = 3;
/** A transfer whose pick finished first tries once more before releasing the reservation. */
const PICKS_PER_TRANSFER = 2;

export class LiveBalancer {
  private policy: ThresholdPolicy | undefined;
  private config: PolicyConfig | undefined;
  private members: string[] = [];
  private index = -1;
  private generation = 0;
  private unsubscribe: (() => void) | undefined;
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly view: LoadView;
  /** "take" probes whose answer has not been fed yet: a job-in that overtakes its answer waits here. */
  private readonly pendingTake = new Map<number, Array<() => void>>();
  private lastLoad = 0;
  private checkQueued = false;
  private lifetime: LifetimeModel | undefined;
  private pollTimeoutMs = DEFAULT_POLL_TIMEOUT_MS;
  private snapshotBytes = DEFAULT_SNAPSHOT_BYTES;
  private migration: LiveMigration = "cost-model";
  private readonly latencyMs = new Map<number, number>();
  private transferCpuMs = INITIAL_TRANSFER_CPU_MS;
  private counters = emptyCounters();
  private readonly log = new PollLog();

  constructor(
    private readonly node: FerryNode,
    private readonly store: Store,
    private readonly identity: NodeIdentity,
  ) {
    this.view = new LoadView(node);
  }

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
    this.view.meanServiceMs = options.meanServiceMs ?? DEFAULT_MEAN_SERVICE_MS;
    if (!(this.view.meanServiceMs > 0)) throw new ServerError("bad_request", `meanServiceMs must be > 0, got ${this.view.meanServiceMs}`);
    this.lifetime = options.lifetime;
    this.pollTimeoutMs = options.pollTimeoutMs ?? DEFAULT_POLL_TIMEOUT_MS;
    this.snapshotBytes = options.snapshotBytes ?? DEFAULT_SNAPSHOT_BYTES;
    this.migration = liveMigration(options.migration);
    this.view.throughput = this.config.metric.name === "throughput" ? new ThroughputEwma(1 / this.config.metric.perJob) : undefined;
    this.counters = emptyCounters();
    this.log.clear();
    this.policy = new ThresholdPolicy(this.config, {
      nodeId: index,
      nodeCount: members.length,
      rng: createRng(deriveSeed(options.seed ?? 1, index)),
    });
    this.unsubscribe = this.node.onJobState((id, state) => this.onJobState(id, state));
    for (const id of this.node.queuedJobs()) this.view.tracked.set(id, "queued");
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
  recentPolls(): ReadonlyArray<PollEntry> {
    return this.log.polls;
  }

  /** The last back-offs the policy asked for since `configure` (up to 1000): when, and the wait it asked for. */
  recentBackoffs(): ReadonlyArray<{ at: number; delayMs: number }> {
    return this.log.backoffs;
  }

  /** The policy as configured (thresholds included) and the node ids its indexes name; undefined while idle. */
  settings(): { policy: PolicyConfig; members: readonly string[] } | undefined {
    return this.config && { policy: this.config, members: this.members };
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
    this.view.observe(id, state, this.counters);
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

  private takeSample(): LoadSample {
    return this.view.sample();
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
        this.log.backoff(now, a.at - now);
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
    this.log.poll(started, to, message.probe);
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
        this.view.leaving.add(choice.jobId);
        const started = performance.now();
        try {
          await this.node.shareJob(choice.jobId, peerId, choice.mode);
          moved = true;
          this.counters[choice.mode]++;
          this.counters.transferMsSum += performance.now() - started;
          if (choice.mode === "weak") this.transferCpuMs += EWMA_WEIGHT * ((performance.now() - started) / 2 - this.transferCpuMs);
        } catch {
          // Still tracked: the migrator reinstated it here after a refusal. Gone: it finished first.
          if (this.view.tracked.has(choice.jobId)) {
            this.counters.failed++;
            break;
          }
          this.counters.raced++;
        } finally {
          this.view.leaving.delete(choice.jobId);
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
      if (this.policy) this.feed(moved ? { type: "departure", moved: true } : { type: "arrival" });
    })();
  }

  /** Which job goes, and how (pick.ts), among those the node may move to that peer on its own. */
  private pick(to: number): { jobId: string; mode: "weak" | "strong" } | undefined {
    // Only jobs the node may move on its own: anonymous ones, and clients' jobs whose owner granted it.
    const peer = this.members[to]!;
    const view = this.view;
    const queued = this.node.queuedJobs().filter((id) => !view.leaving.has(id) && this.node.mayShare(id, peer));
    const now = performance.now();
    let oldest: { id: string; ageMs: number } | undefined;
    for (const id of view.runningSince.keys()) {
      if (view.tracked.get(id) !== "running" || view.leaving.has(id) || !this.node.mayShare(id, peer)) continue;
      const ageMs = view.ageMs(id, now)!;
      if (!oldest || ageMs > oldest.ageMs) oldest = { id, ageMs };
    }
    return pickJob({
      queued,
      oldest,
      lifetime: this.lifetime ?? { kind: "exponential", mean: view.meanServiceMs },
      meanServiceMs: view.meanServiceMs,
      snapshotBytes: this.snapshotBytes,
      latencyMs: this.latencyMs.get(to) ?? INITIAL_LATENCY_MS,
      transferCpuMs: this.transferCpuMs,
      migration: this.migration,
      receiverLoad: Math.max(0, this.config!.lower),
    });
  }
}
