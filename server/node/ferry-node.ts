// A Ferry node: accepts modules, runs jobs in the sandbox their trust class calls for, keeps every
// job durable (periodic checkpoints, recovery after a crash), and hands jobs to peers. The HTTP
// layer (server/http) is a thin adapter over this class, which is itself a façade: job lifecycle in
// job-runner.ts, where and how a job runs in placement.ts and engines.ts, checkpoints.ts,
// recovery.ts, retention.ts (anonymous jobs), job-access.ts, and the migration side in
// transfer-host.ts.

import {
  encodeSnapshot,
  snapshotDecodeLimits,
  type CompilePool,
  type CompilePoolOptions,
  type IsolatedPoolOptions,
  type ModuleCache,
} from "../../runtime/index.js";
import type { NodeIdentity, SignedGrant } from "../auth/index.js";
import { checkEntryArgs } from "../entry-args.js";
import { ServerError } from "../errors.js";
import { checkpointSnapshot } from "../migration/checkpoint-format.js";
import type { FaultHook } from "../migration/faults.js";
import { Migrator, type TransferProbe } from "../migration/migrator.js";
import type { PrecopyOptions } from "../migration/precopy.js";
import type { JobState } from "../store/records.js";
import type { Store } from "../store/store.js";
import { Checkpoints, type CheckpointRound } from "./checkpoints.js";
import { startNodeTimers } from "./node-timers.js";
import { newCounters, type NodeCounters } from "./counters.js";
import { MigrationLog } from "./migration-log.js";
import { NodeEngines } from "./engines.js";
import { controlled, visibleRecord } from "./job-access.js";
import { JobControl } from "./job-control.js";
import { JobRunner, wasmArgs, type JobStateListener } from "./job-runner.js";
import { jobSummary, type JobSummary, type JobView, type ModuleSummary } from "./job-view.js";
import type { JobEvent, LiveJob } from "./live-job.js";
import { nodeLimits, type NodeLimits, type NodeLimitsOptions } from "./node-limits.js";
import { placeJob, refuseInProcessResources, type Caller, type StartJobRequest } from "./placement.js";
import { listModules, moduleBytes, uploadModule } from "./modules.js";
import { recoverJobs } from "./recovery.js";
import { ResourcePins } from "./resource-pins.js";
import { NodeTransferHost } from "./transfer-host.js";
import { checkWasiJob, defaultEntry } from "./wasi-dirs.js";
import { jobDetail, type JobDetail } from "./job-resources.js";

export type { Caller, StartJobRequest } from "./placement.js";
export type { CheckpointRound } from "./checkpoints.js";

export interface FerryNodeOptions {
  store: Store;
  /** This node's id, as peers and job records name it. */
  nodeId: string;
  /** Snapshot running jobs this often, in ms (0: only when paused). Default 5000. */
  checkpointIntervalMs?: number;
  /** Wall-clock budget of one in-process slice, ms. Default 4. */
  sliceBudgetMs?: number;
  /** Share of one CPU the node's in-process guests may use, in (0, 1]. Default 1. */
  cpuShare?: number;
  /** Memory cap of every guest on this node, pages; clients' quotas may lower it. Default 4096. */
  maxMemoryPages?: number;
  isolated?: IsolatedPoolOptions;
  /** This node's key: signs transfers and requests to peers. */
  identity: NodeIdentity;
  /** Test seam: failures injected at named steps of the migration protocol (server/migration/faults.ts). */
  faults?: FaultHook;
  /** Test and bench seam: called at each named instant of every transfer this node takes part in. */
  transferProbe?: TransferProbe;
  /**
   * Jobs running at once; more wait `queued` (and may be handed to a peer by weak migration).
   * Default unlimited: the scheduler shares the CPU among all of them.
   */
  maxRunningJobs?: number;
  /** Iterative pre-copy before a strong migration (server/migration/precopy.ts). */
  precopy?: PrecopyOptions;
  /** Where uploaded and arriving modules are validated and instrumented: worker threads, queued, with time and memory limits. */
  compile?: CompilePoolOptions;
  /** Isolated slice deadline, checkpoint waits, anonymous retention (node-limits.ts has the defaults). */
  limits?: NodeLimitsOptions;
}

export const DEFAULT_CHECKPOINT_INTERVAL_MS = 5_000;
/** Largest page GET /jobs/:id/output serves, bytes (also the default page). */
export const MAX_OUTPUT_PAGE_BYTES = 1024 * 1024;

export class FerryNode {
  readonly id: string;
  /** This node's public key (SPKI PEM): what its peers put in their peers files with its id. */
  readonly publicKeyPem: string;
  readonly store: Store;
  readonly migrator: Migrator<LiveJob>;
  readonly limits: NodeLimits;
  /** Counters for /metrics. */
  readonly counters: NodeCounters = newCounters();
  /** Directories kept here for jobs elsewhere, and the proxies to other nodes' (global references). */
  readonly pins: ResourcePins;
  /** The recent moves out of this node (GET /migrations). */
  readonly migrations: MigrationLog;
  private readonly engines: NodeEngines;
  private readonly runner: JobRunner;
  private readonly control: JobControl;
  private readonly checkpoints: Checkpoints;
  private readonly timers: NodeJS.Timeout[];
  private closed = false;

  constructor(options: FerryNodeOptions) {
    this.id = options.nodeId;
    this.publicKeyPem = options.identity.publicKeyPem;
    this.store = options.store;
    this.limits = nodeLimits(options.limits);
    this.pins = new ResourcePins(this.store, options.identity, { peerCallDeadlineMs: this.limits.peerCallDeadlineMs });
    const { maxMemoryPages = 4096, isolated, compile } = options;
    this.engines = new NodeEngines(this.store, { maxMemoryPages, isolated, compile, limits: this.limits });
    this.runner = new JobRunner({
      store: this.store,
      nodeId: this.id,
      engines: this.engines,
      limits: this.limits,
      counters: this.counters,
      maxRunningJobs: options.maxRunningJobs ?? Number.POSITIVE_INFINITY,
      sliceBudgetMs: options.sliceBudgetMs,
      cpuShare: options.cpuShare,
      pins: this.pins,
    });
    this.migrations = new MigrationLog(this.id, this.store);
    this.migrator = new Migrator(new NodeTransferHost(this.runner), options.identity, {
      faults: options.faults,
      probe: this.migrations.probe(options.transferProbe),
      precopy: options.precopy,
    });
    this.checkpoints = new Checkpoints(this.runner, () => this.closed);
    this.control = new JobControl(this.runner, this.checkpoints);
    this.timers = startNodeTimers(options.checkpointIntervalMs ?? DEFAULT_CHECKPOINT_INTERVAL_MS, this.limits, {
      checkpoint: () => void this.checkpointRunningJobs(),
      expire: () => this.expireAnonymousJobs(),
      collectGarbage: () => this.store.collectGarbage(),
      hibernate: () => this.hibernateIdleJobs(),
    });
  }

  /** One compile pool for all the node's engines: one queue, one bound on workers, one memory of refused modules. */
  get compilePool(): CompilePool {
    return this.engines.compilePool;
  }

  /** Instrumented modules in <data-dir>/module-cache, for all the node's engines: a restart re-instruments nothing. */
  get moduleCache(): ModuleCache {
    return this.engines.moduleCache;
  }

  // ---- modules (modules.ts) ----

  uploadModule(client: NonNullable<Caller>, bytes: Uint8Array, isPublic: boolean): Promise<{ codeHash: string; created: boolean }> {
    return uploadModule(this.engines, this.counters, client, bytes, isPublic);
  }

  listModules(caller: Caller, query: { limit: number; before?: string }): { modules: ModuleSummary[]; next: string | null } {
    return listModules(this.store, caller, query);
  }

  moduleBytes(codeHash: string, caller: Caller): Uint8Array {
    return moduleBytes(this.store, codeHash, caller);
  }

  // ---- jobs ----

  async startJob(caller: Caller, req: StartJobRequest): Promise<JobView> {
    if (this.closed) throw new ServerError("conflict", "the node is shutting down");
    const module = this.store.modules.get(req.codeHash);
    const visible = module && this.store.modules.visibleTo(req.codeHash, caller?.id ?? null, module);
    if (!module || !visible) throw new ServerError("not_found", `no module ${req.codeHash}${caller ? "" : " among the public modules"}`);
    const quotas = this.engines.quotasFor(caller);
    const unfinished = caller ? this.store.jobs.countUnfinished(caller.id) : this.runner.retention.liveJobs();
    if (unfinished >= quotas.maxConcurrentJobs) {
      const whose = caller ? "" : " for anonymous callers on this node";
      throw new ServerError("quota_exceeded", `at most ${quotas.maxConcurrentJobs} unfinished jobs${whose}`);
    }
    const placement = placeJob(caller, req, quotas, this.limits);
    // Check the entry and its arity now, so a bad request is a 4xx, not a failed job later.
    const compiled = await this.engines.compiled(this.engines.engine(quotas.maxMemoryPages), req.codeHash);
    const entry = compiled.entry(req.entry ?? defaultEntry(compiled));
    refuseInProcessResources(caller, placement.sandbox, compiled.wasm);
    checkWasiJob(caller, placement.sandbox, req.wasi, compiled.wasm);
    // Every argument against the entry's real signature, before the job is stored (400 naming it).
    checkEntryArgs(entry, wasmArgs(req.args ?? []));
    const record = this.store.jobs.create({
      codeHash: req.codeHash,
      owner: caller?.id ?? null,
      ...placement,
      entry: entry.name,
      args: req.args ?? [],
      input: req.input,
      // A free slot now means it starts now: one write instead of queued-then-running.
      state: this.runner.admission.hasFreeSlot() ? "running" : "queued",
      node: this.id,
      wasi: req.wasi ?? null,
    });
    return this.runner.view(await this.runner.start(record));
  }

  /** Queued jobs, oldest first (what weak migration may hand to a peer). */
  queuedJobs(): string[] {
    return this.runner.admission.queued().map((j) => j.id);
  }

  /** Resolves when the job is no longer running (finished, paused, migrated). */
  async settled(id: string): Promise<JobView> {
    const job = this.runner.live.get(id);
    if (job) await job.settled();
    return this.runner.view(job ?? this.store.jobs.require(id));
  }

  /**
   * The caller's jobs on this node, newest first, a page at a time (`before`: the last id of the
   * previous page). Anonymous callers have no jobs to list: theirs are reached by id.
   */
  listJobs(
    caller: Caller,
    query: { states?: readonly JobState[]; limit: number; before?: string },
  ): { jobs: JobSummary[]; next: string | null } {
    if (!caller) throw new ServerError("unauthorized", "listing jobs needs a signed request (an anonymous job is reached by its id)");
    let before: { createdAt: number; seq: number } | undefined;
    if (query.before !== undefined) {
      const from = this.store.jobs.get(query.before);
      if (!from || from.owner !== caller.id) throw new ServerError("not_found", `no job ${query.before}`);
      before = this.store.jobs.position(from.id);
    }
    const states = query.states ? { state: query.states } : {};
    const records = this.store.jobs.list({
      owner: caller.id,
      ...states,
      newestFirst: true,
      limit: query.limit,
      ...(before ? { before } : {}),
    });
    const jobs = records.map((stored) => {
      const live = this.runner.live.get(stored.id);
      const record = live?.record ?? stored;
      return jobSummary(
        record,
        this.runner.lastCheckpoint(record),
        live?.instance?.fuelUsed ?? record.fuelUsed,
        this.runner.peerUrl(record),
      );
    });
    return { jobs, next: records.length === query.limit ? records[records.length - 1]!.id : null };
  }

  /** The job; a stopped WASI job's with its resource segment (job-resources.ts). */
  getJob(id: string, caller: Caller): JobDetail {
    const record = visibleRecord(this.runner, id, caller);
    return jobDetail(this.runner.view(this.runner.live.get(id) ?? record), record, this.store, this.engines.memoryPagesOf(record.owner));
  }

  /**
   * At most `limit` bytes of the job's output from `offset` (≤ MAX_OUTPUT_PAGE_BYTES), and its size
   * so far. A finished job's stored output is read only in the range asked for.
   */
  outputPage(id: string, caller: Caller, offset: number, limit: number): { bytes: Uint8Array; size: number } {
    if (!Number.isSafeInteger(offset) || offset < 0)
      throw new ServerError("bad_request", `offset must be a non-negative integer, got ${offset}`);
    if (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_OUTPUT_PAGE_BYTES) {
      throw new ServerError("bad_request", `limit must be from 1 to ${MAX_OUTPUT_PAGE_BYTES} bytes, got ${limit}`);
    }
    const job = this.runner.live.get(id);
    const record = visibleRecord(this.runner, id, caller);
    if (job?.instance) {
      // The instance holds its output anyway; a view of it, never a copy per page.
      const all = job.instance.output();
      return { bytes: all.subarray(Math.min(offset, all.byteLength), Math.min(offset + limit, all.byteLength)), size: all.byteLength };
    }
    return this.store.jobs.outputRange(record, offset, limit);
  }

  /**
   * Calls `listener` with the job's current state at once, then with every log line, output and
   * state change. Returns how to stop listening, or null when the job is not live here (finished,
   * moved, or stored but not running here): then the current state is all there will be.
   */
  subscribe(id: string, caller: Caller, listener: (e: JobEvent) => void): (() => void) | null {
    const job = this.runner.live.get(id);
    const record = visibleRecord(this.runner, id, caller);
    // Output written so far is announced to the listeners already there, so the new one's stream
    // continues exactly from `outputBytes` (the rest comes from GET /jobs/:id/output).
    job?.flushOutput();
    const outputBytes = job ? job.outputSeen : this.store.jobs.outputSize(record);
    listener({ ...this.runner.stateEvent(record), outputBytes });
    return job ? job.subscribe(listener) : null;
  }

  pauseJob(id: string, caller: Caller): Promise<JobView> {
    return this.control.pause(id, caller);
  }

  resumeJob(id: string, caller: Caller): Promise<JobView> {
    return this.control.resume(id, caller);
  }

  cancelJob(id: string, caller: Caller): Promise<JobView> {
    return this.control.cancel(id, caller);
  }

  /** The encoded snapshot of a paused job (its latest checkpoint, which pausing wrote). */
  snapshotOf(id: string, caller: Caller): Uint8Array {
    const record = visibleRecord(this.runner, id, caller);
    if (record.state !== "paused") throw new ServerError("conflict", `job ${id} is ${record.state}; pause it first`);
    const snapshot = checkpointSnapshot(this.store, id, snapshotDecodeLimits(this.engines.memoryPagesOf(record.owner)));
    if (!snapshot) throw new ServerError("not_found", `job ${id} has no snapshot`);
    return encodeSnapshot(snapshot);
  }

  /** What the load-sharing policies and /load report. */
  load(): { node: string; running: number; paused: number; queued: number; inProcessQueue: number } {
    return this.runner.load();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.timers) clearInterval(t);
    this.migrator.close();
    this.pins.close();
    this.runner.close();
    await this.checkpoints.close();
    await this.engines.close();
  }

  /** After a restart: every job this node owned resumes from its last checkpoint (or its start). */
  recover(): Promise<{ resumed: number; restarted: number }> {
    return recoverJobs(this.runner, this.migrator);
  }

  // ---- moving jobs ----

  /** Move a job to a peer (strong: with its execution state; weak: code and arguments only). */
  async migrateJob(
    id: string,
    caller: Caller,
    peerId: string,
    mode: "strong" | "weak" = "strong",
    grant: SignedGrant | null = null,
  ): Promise<JobView> {
    const job = controlled(this.runner, id, caller);
    // The target runs an owned job as its owner only under the owner's grant; asked by the owner, it needs one.
    if (job.record.owner !== null && grant === null)
      throw new ServerError("bad_request", `job ${id} migrates with its owner's grant (see FerryClient.migrate)`);
    await this.migrator.send(job, peerId, mode, grant);
    // From the store: the COMMIT's acknowledgement is recorded there, not in the live job's record.
    return this.runner.view(this.store.jobs.require(id));
  }

  /**
   * The owner's grants (each checked by the caller: this job, this node, a configured peer) for the
   * node's own load sharing to move the job to those peers as the owner's (migration-grant.ts).
   */
  allowSharing(id: string, caller: Caller, grants: readonly SignedGrant[], targets: readonly string[]): JobView {
    const job = controlled(this.runner, id, caller);
    if (job.record.owner === null || job.record.owner !== caller?.id)
      throw new ServerError("bad_request", `job ${id} has no owner to grant it`);
    this.migrator.allowSharing(job, grants, targets);
    return this.runner.view(job);
  }

  /** Fuel a live job here has used on every node it ran on (a strong move carries it): its age. */
  fuelUsed(id: string): number | undefined {
    const job = this.runner.live.get(id);
    return job && (job.instance?.fuelUsed ?? job.record.fuelUsed);
  }

  /** Whether the node may move job `id` to `peerId` on its own: an anonymous job, or one whose owner granted it (allowSharing). */
  mayShare(id: string, peerId: string): boolean {
    const job = this.runner.live.get(id);
    return job !== undefined && this.migrator.mayShare(job, peerId);
  }

  /**
   * The node's own load balancer moving a job it holds: no caller to authorize, the node acts for
   * itself — for a client's job only under the owner's sharing grant for that peer (else 409).
   */
  async shareJob(id: string, peerId: string, mode: "strong" | "weak"): Promise<void> {
    const job = this.runner.live.get(id);
    if (!job) throw new ServerError("conflict", `job ${id} is not live on this node`);
    if (!this.migrator.mayShare(job, peerId))
      throw new ServerError("conflict", `job ${id} belongs to a client that has not granted moving it to ${peerId}`);
    await this.migrator.send(job, peerId, mode);
  }

  /** Call `listener` after every job state change here, and when a new job joins the queue (the balancer's load feed). */
  onJobState(listener: JobStateListener): () => void {
    return this.runner.onJobState(listener);
  }

  // ---- durability and retention (timers call these; tests call them directly) ----

  /** The periodic checkpoint round (checkpoints.ts). */
  checkpointRunningJobs(): Promise<CheckpointRound> {
    return this.checkpoints.runRound();
  }

  /**
   * Hibernate the jobs paused for at least hibernateAfterMs (JobRunner.hibernate), each under its
   * lock; the timer calls it, tests call it with an injected clock. Resolves with how many went.
   */
  hibernateIdleJobs(now = this.store.now()): Promise<{ hibernated: number }> {
    return this.runner.hibernateIdle(now);
  }

  /** Delete anonymous jobs past their time (retention.ts); tests call it with an injected clock. */
  expireAnonymousJobs(now = this.store.now()): { expired: number } {
    return this.runner.retention.expire(now);
  }
}
