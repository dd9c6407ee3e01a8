// Job lifecycle on one node: the jobs live here (by id), admission to a running slot, the scheduler
// that runs them, the watch on each run that records how it ended, and the one path every state
// change of a live job takes (`update`: the store, the job's listeners, the balancer's feed).

import { Scheduler, snapshotDecodeLimits, type RunResult, type Snapshot, type WasmValue } from "../../runtime/index.js";
import { checkpointSnapshot } from "../migration/checkpoint-format.js";
import { withJobBudget } from "../migration/job-limits.js";
import { ServerError } from "../errors.js";
import { FINISHED_JOB_STATES, type JobRecord, type Json } from "../store/records.js";
import type { JobPatch } from "../store/jobs.js";
import type { Store } from "../store/store.js";
import { Admission } from "./admission.js";
import type { NodeCounters } from "./counters.js";
import type { NodeEngines } from "./engines.js";
import { jobView, movedTo, publicResult, resultJson, type JobView } from "./job-view.js";
import { LiveJob, LiveJobs, type JobEvent } from "./live-job.js";
import type { NodeLimits } from "./node-limits.js";
import { instanceOptions, type Caller } from "./placement.js";
import type { ResourcePins } from "./resource-pins.js";
import { releaseReferences } from "./dir-migration.js";
import { AnonymousRetention } from "./retention.js";
import { takeScratch } from "./wasi-dirs.js";

export interface JobRunnerOptions {
  store: Store;
  nodeId: string;
  engines: NodeEngines;
  limits: NodeLimits;
  counters: NodeCounters;
  /** Jobs running at once (default unlimited). */
  maxRunningJobs: number;
  sliceBudgetMs: number | undefined;
  cpuShare: number | undefined;
  /** Directories kept for jobs elsewhere, and reached at other nodes (global references). */
  pins: ResourcePins;
}

export type JobStateListener = (id: string, state: JobRecord["state"]) => void;

export class JobRunner {
  readonly store: Store;
  readonly nodeId: string;
  readonly engines: NodeEngines;
  readonly limits: NodeLimits;
  readonly counters: NodeCounters;
  readonly pins: ResourcePins;
  readonly live = new LiveJobs();
  readonly admission: Admission;
  readonly retention: AnonymousRetention;
  private readonly scheduler: Scheduler;
  /** Load-balancer feed (see onJobState). */
  private readonly listeners = new Set<JobStateListener>();

  constructor(options: JobRunnerOptions) {
    ({
      store: this.store,
      nodeId: this.nodeId,
      engines: this.engines,
      limits: this.limits,
      counters: this.counters,
      pins: this.pins,
    } = options);
    if (!(options.maxRunningJobs >= 1))
      throw new ServerError("bad_request", `maxRunningJobs must be at least 1, got ${options.maxRunningJobs}`);
    this.admission = new Admission(options.maxRunningJobs, {
      runningCount: () => this.live.runningCount(),
      isLive: (job) => this.live.has(job.id),
      launch: (job) => this.launch(job),
    });
    this.scheduler = new Scheduler({
      sliceBudgetMs: options.sliceBudgetMs,
      cpuShare: options.cpuShare,
      isolatedSliceFuel: this.limits.isolatedSliceFuel,
    });
    this.retention = new AnonymousRetention(this.store, this.limits, this.counters, this.live);
  }

  /** A job just stored (`running` if a slot was free, else `queued`): launch it or queue it. */
  async start(record: JobRecord): Promise<LiveJob> {
    const job = new LiveJob(record);
    this.live.set(record.id, job);
    this.counters.jobsStarted++;
    if (record.state === "running") await this.launch(job);
    else this.admission.enqueue(job);
    return job;
  }

  /** Run the job now if a slot is free, else queue it (FIFO). */
  async admit(job: LiveJob): Promise<void> {
    if (this.admission.hasFreeSlot()) await this.launch(job);
    else {
      if (job.record.state !== "queued") this.update(job, { state: "queued" });
      this.admission.enqueue(job);
      for (const l of this.listeners) l(job.id, "queued");
    }
  }

  /** Start a queued job from the beginning. */
  private async launch(job: LiveJob): Promise<void> {
    const record = job.record;
    try {
      const owner = this.engines.clientOf(record.owner);
      const engine = this.engines.engineOf(record.owner);
      const compiled = await this.engines.compiled(engine, record.codeHash);
      job.instance = await engine.instantiate(compiled, this.instanceOptions(job, record.sandbox, this.store.jobs.input(record), owner));
      if (job.record.state !== "running") this.update(job, { state: "running" });
      // Stored as running (a free slot at once): no state change, but the feed must see it start.
      else for (const l of this.listeners) l(job.id, "running");
      job.scheduled = this.scheduler.start(job.instance, record.entry, wasmArgs(record.args), { fuelLimit: record.fuelLimit ?? undefined });
      this.watch(job);
    } catch (e) {
      this.fail(job, e);
    }
  }

  /** Restore `job`'s instance from `snapshot` (not yet running), as its owner's, in `sandbox`. */
  async restore(job: LiveJob, snapshot: Snapshot, sandbox: JobRecord["sandbox"], input: Uint8Array | undefined): Promise<void> {
    const owner = this.engines.clientOf(job.record.owner);
    // A WASI job's scratch trees come back by value; the runtime restores the rest.
    const taken = takeScratch(snapshot, job.record.wasi);
    job.scratch = taken.scratch;
    const engine = this.engines.engineOf(job.record.owner);
    // Its code by hash, compiled again from the store if the engine has let it go (it keeps the most recently used).
    const module = await this.engines.compiled(engine, taken.snapshot.codeHash);
    job.instance = await engine.restore(taken.snapshot, { ...this.instanceOptions(job, sandbox, input, owner), module });
  }

  /**
   * A paused job leaves the VM: its instance (a Wasm memory and V8's address-space reservation for
   * it) is let go, and its checkpoint — written when it paused — holds its state. Its output is
   * stored like a finished job's, so views, pages and streams need no instance. `wake` brings it
   * back. Call under the job's lock.
   */
  hibernate(job: LiveJob): boolean {
    if (job.record.state !== "paused" || !job.instance || job.hibernated) return false;
    if (!this.store.checkpoints.latest(job.id)) return false; // nothing to wake it from
    const output = job.instance.output();
    if (output.byteLength !== this.store.jobs.outputSize(job.record)) this.update(job, { output: output.slice() });
    job.instance.dispose();
    job.instance = undefined;
    job.scheduled = undefined;
    job.scratch = new Map();
    job.checkpointBase = undefined;
    job.hibernated = true;
    this.counters.jobsHibernated++;
    return true;
  }

  /** Hibernate every job paused for at least hibernateAfterMs by `now`, each under its lock. */
  async hibernateIdle(now: number): Promise<{ hibernated: number }> {
    const due = [...this.live.values()].filter(
      (j) => j.record.state === "paused" && !j.hibernated && now - j.record.updatedAt >= this.limits.hibernateAfterMs,
    );
    const gone = await Promise.all(due.map((j) => j.exclusive(async () => this.live.get(j.id) === j && this.hibernate(j))));
    return { hibernated: gone.filter(Boolean).length };
  }

  /** A hibernated job's instance again, from its checkpoint (still paused). Call under the job's lock. */
  async wake(job: LiveJob): Promise<void> {
    if (!job.hibernated) return;
    const limits = snapshotDecodeLimits(this.engines.memoryPagesOf(job.record.owner));
    const snapshot = checkpointSnapshot(this.store, job.id, limits);
    if (!snapshot) throw new ServerError("store_corrupt", `hibernated job ${job.id} has no checkpoint`);
    await this.restore(
      job,
      withJobBudget(snapshot, this.engines.budgetOf(job.record)),
      job.record.sandbox,
      this.store.jobs.input(job.record),
    );
    job.hibernated = false;
    job.outputSeen = job.instance!.output().byteLength;
    this.counters.jobsWoken++;
  }

  /** Let a paused job's instance run (on) under the scheduler. */
  run(job: LiveJob): void {
    job.scheduled = this.scheduler.continue(job.instance!);
    this.watch(job);
  }

  /** The instance options of `job` (placement.ts), for its owner `owner` (null: anonymous). */
  instanceOptions(job: LiveJob, sandbox: JobRecord["sandbox"], input: Uint8Array | undefined, owner: Caller) {
    return instanceOptions(job, sandbox, input, owner, {
      limits: this.limits,
      dataDir: this.store.dataDir,
      nodeId: this.nodeId,
      reference: (ref) => this.pins.reference(ref),
    });
  }

  /** When the current run settles: record the end, or leave a paused job to whoever paused it. */
  private watch(job: LiveJob): void {
    const scheduled = job.scheduled!;
    scheduled.result.then(
      (r) => {
        if (job.scheduled !== scheduled || !this.live.has(job.id)) return;
        job.flushOutput();
        if (r.status !== "paused") void job.exclusive(async () => this.finish(job, r));
      },
      (e: unknown) => void job.exclusive(async () => this.fail(job, e)),
    );
  }

  private finish(job: LiveJob, r: RunResult): void {
    if (!this.live.has(job.id)) return;
    const output = job.instance?.output();
    this.update(job, {
      state: r.status === "done" ? "done" : "trapped",
      result: resultJson(r),
      fuelUsed: r.fuelUsed,
      ...(output?.byteLength ? { output } : {}),
    });
    this.drop(job);
    this.counters.jobsFinished++;
    if (r.status === "trapped") this.counters.jobsTrapped++;
  }

  fail(job: LiveJob, e: unknown): void {
    if (!this.live.has(job.id)) return;
    this.update(job, { state: "failed", result: { status: "failed", message: e instanceof Error ? e.message : String(e) } });
    this.drop(job);
  }

  /** The job is no longer this node's to run: drop its instance, forget it, and give its slot to the next. */
  drop(job: LiveJob): void {
    job.instance?.dispose();
    this.live.delete(job.id);
    this.admission.pump();
  }

  /** Every state change of a live job goes through here, and is announced to its listeners. */
  update(job: LiveJob, patch: JobPatch): void {
    const before = job.record.state;
    job.record = this.store.jobs.update(job.id, patch, { expectEpoch: job.record.epoch });
    this.live.noteState(job);
    job.stateChanged();
    if (job.record.state !== before) job.emit(this.stateEvent(job.record));
    for (const l of this.listeners) l(job.id, job.record.state);
    if (job.record.owner === null && patch.state !== undefined && FINISHED_JOB_STATES.includes(patch.state))
      this.retention.evictResults(job.id);
    // Ended here (not moved on): the directories it reached at other nodes are let go.
    if (job.record.state !== before && job.record.state !== "migrated" && FINISHED_JOB_STATES.includes(job.record.state))
      releaseReferences(job.record, this.pins, this.nodeId);
  }

  /** Call `listener` after every job state change here, and when a new job joins the queue (the balancer's load feed). */
  onJobState(listener: JobStateListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  view(job: LiveJob | JobRecord): JobView {
    if (job instanceof LiveJob) {
      const outputBytes = job.instance ? job.instance.output().byteLength : this.store.jobs.outputSize(job.record);
      const fuelUsed = job.instance?.fuelUsed ?? job.record.fuelUsed;
      return jobView(job.record, outputBytes, this.lastCheckpoint(job.record), fuelUsed, this.peerUrl(job.record));
    }
    return jobView(job, this.store.jobs.outputSize(job), this.lastCheckpoint(job), job.fuelUsed, this.peerUrl(job));
  }

  /** This node's address for the peer a migrated job went to. */
  peerUrl(record: JobRecord): string | undefined {
    return record.state === "migrated" ? this.store.peers.get(record.node)?.url : undefined;
  }

  /** A state event as listeners get it: the outcome (null until there is one), and where a migrated job went. */
  stateEvent(record: JobRecord): Extract<JobEvent, { type: "state" }> {
    const moved = movedTo(record, this.peerUrl(record));
    return { type: "state", state: record.state, result: publicResult(record), ...(moved ? { movedTo: moved } : {}) };
  }

  /** Where a restart would resume from; a finished job has no use for one (and skips the query). */
  lastCheckpoint(record: JobRecord) {
    return FINISHED_JOB_STATES.includes(record.state) ? undefined : this.store.checkpoints.latest(record.id);
  }

  /** What the load-sharing policies and /load report. */
  load(): { node: string; running: number; paused: number; queued: number; inProcessQueue: number } {
    // Jobs taken from the queue whose launch is still under way count as running already.
    const running = this.admission.running();
    let paused = 0;
    for (const j of this.live.values()) if (j.record.state === "paused") paused++;
    return { node: this.nodeId, running, paused, queued: this.admission.queued().length, inProcessQueue: this.scheduler.queued };
  }

  /** Running jobs stay `running` in the store: a restart resumes them from their last checkpoint. */
  close(): void {
    for (const job of this.live.values()) job.instance?.dispose();
    this.live.clear();
  }
}

/** Stored arguments back to Wasm values: i64 travels as a decimal string. */
export function wasmArgs(args: Json[]): WasmValue[] {
  return args.map((a) => {
    if (typeof a === "string") return BigInt(a);
    if (typeof a === "number") return a;
    throw new ServerError("bad_request", `argument ${JSON.stringify(a)} is not a number`);
  });
}
