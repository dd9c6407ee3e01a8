// A Ferry node: accepts modules, runs jobs in the sandbox their trust class calls for, keeps every
// job durable (periodic checkpoints, recovery after a crash), and hands jobs to peers. The HTTP
// layer (server/http) is a thin adapter over this class.

import {
  Engine,
  Scheduler,
  encodeSnapshot,
  openModuleCache,
  snapshotDecodeLimits,
  type ModuleCache,
  type RunResult,
  type WasmValue,
  type IsolatedPoolOptions,
  CompilePool,
  type CompilePoolOptions,
  OffThreadFileResources,
  GuestTrap,
  type ResourceProvider,
  importedResourceCall,
} from "../../runtime/index.js";
import { ServerError } from "../errors.js";
import type { Store } from "../store/store.js";
import { FINISHED_JOB_STATES, type ClientRecord, type JobRecord, type JobState, type Json, type ModuleRecord } from "../store/records.js";
import { jobSummary, jobView, movedTo, publicResult, resultJson, type JobSummary, type JobView, type ModuleSummary } from "./job-view.js";
import { LiveJob, type JobEvent } from "./live-job.js";
import { Admission } from "./admission.js";
import type { NodeIdentity } from "../auth/index.js";
import type { FaultHook } from "../migration/faults.js";
import { checkpointSnapshot } from "../migration/checkpoint-format.js";
import type { TransferHeader } from "../migration/transfer-header.js";
import { withJobBudget } from "../migration/job-limits.js";
import type { SignedGrant } from "../auth/index.js";
import { Migrator, preparedPaused, type TransferHost } from "../migration/migrator.js";
import type { PrecopyOptions } from "../migration/precopy.js";
import { anonymousQuotas, quotasOf } from "./quotas.js";
import type { Quotas } from "../formats/grants.js";
import { nodeLimits, type NodeLimits, type NodeLimitsOptions } from "./node-limits.js";
import { join } from "node:path";
import { checkEntryArgs } from "../entry-args.js";

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
  /** Tests only: failures injected at named steps of the migration protocol. */
  faults?: FaultHook;
  /**
   * Jobs running at once; more wait `queued` (and may be handed to a peer by weak migration).
   * Default unlimited: the scheduler shares the CPU among all of them.
   */
  maxRunningJobs?: number;
  /** Iterative pre-copy before a strong migration (server/migration/migrator.ts). */
  precopy?: PrecopyOptions;
  /** Where uploaded and arriving modules are validated and instrumented: worker threads, queued, with time and memory limits. */
  compile?: CompilePoolOptions;
  /** Isolated slice deadline, checkpoint waits, anonymous retention (node-limits.ts has the defaults). */
  limits?: NodeLimitsOptions;
}

/** What one periodic checkpoint round did. */
export interface CheckpointRound {
  /** Jobs checkpointed in this round. */
  checkpointed: string[];
  /** Running jobs it could not checkpoint (still pausing after the wait, or a previous attempt still under way): tried again next round. */
  deferred: string[];
  /** True when another round was still under way: rounds never overlap, so this one did nothing. */
  skipped: boolean;
}

export interface StartJobRequest {
  codeHash: string;
  entry?: string;
  args?: Json[];
  input?: Uint8Array;
  fuelLimit?: number;
  sandbox?: "in-process" | "isolated";
}

/** Who is asking: an authenticated client, or nobody (anonymous). */
export type Caller = ClientRecord | null;

export const DEFAULT_CHECKPOINT_INTERVAL_MS = 5_000;
/**
 * What an authenticated in-process guest opens: nothing. New jobs that import resources are refused
 * in-process (startJob); this covers jobs that got here otherwise (a restart, a migration), so no
 * guest's file I/O ever runs on the node's event loop.
 */
const IN_PROCESS_RESOURCES: ResourceProvider = {
  open: (name) => {
    throw new GuestTrap("host_error", `"${name}": resources are served to isolated jobs only on this node`);
  },
};
const GARBAGE_SWEEP_MS = 10 * 60 * 1000;
/** Largest page GET /jobs/:id/output serves, bytes (also the default page). */
export const MAX_OUTPUT_PAGE_BYTES = 1024 * 1024;

export class FerryNode {
  readonly id: string;
  /** This node's public key (SPKI PEM): what its peers put in their peers files with its id. */
  readonly publicKeyPem: string;
  readonly store: Store;
  readonly migrator: Migrator;
  private readonly engines = new Map<number, Engine>();
  /** One compile pool for all the node's engines: one queue, one bound on workers, one memory of refused modules. */
  readonly compilePool: CompilePool;
  /** Instrumented modules in <data-dir>/module-cache, for all the node's engines: a restart re-instruments nothing. */
  readonly moduleCache: ModuleCache;
  private readonly scheduler: Scheduler;
  private readonly live = new Map<string, LiveJob>();
  private readonly admission: Admission;
  private readonly maxMemoryPages: number;
  private readonly isolated: IsolatedPoolOptions | undefined;
  private readonly checkpointTimer: NodeJS.Timeout | undefined;
  /** The checkpoint round under way, if any: a round never starts while another runs. */
  private checkpointRound: Promise<CheckpointRound> | undefined;
  /** Anonymous jobs past their time are deleted this often. */
  private readonly expiryTimer: NodeJS.Timeout;
  readonly limits: NodeLimits;
  /** What every anonymous job gets here (quotas.ts, with this node's anonymous fuel limit). */
  private readonly anonymousQuotas: Readonly<Quotas>;
  /** Unreferenced blobs (pre-copied bases of abandoned transfers, say) are swept this often. */
  private readonly garbageTimer: NodeJS.Timeout;
  private closed = false;
  /** Load-balancer feed (see onJobState). */
  private readonly jobStateListeners = new Set<(id: string, state: JobRecord["state"]) => void>();
  /** Counters for /metrics. */
  readonly counters = {
    jobsStarted: 0,
    jobsFinished: 0,
    jobsTrapped: 0,
    checkpoints: 0,
    /** Running jobs a checkpoint round had to leave for the next one. */
    checkpointsDeferred: 0,
    /** Rounds that did not start because the previous one was still under way. */
    checkpointRoundsSkipped: 0,
    /** Anonymous jobs deleted for their age, or to keep the number of finished ones under the cap. */
    anonymousJobsExpired: 0,
    modulesUploaded: 0,
    migrationsOut: 0,
    migrationsIn: 0,
  };

  constructor(options: FerryNodeOptions) {
    this.id = options.nodeId;
    this.publicKeyPem = options.identity.publicKeyPem;
    this.store = options.store;
    this.maxMemoryPages = options.maxMemoryPages ?? 4096;
    this.compilePool = new CompilePool(options.compile);
    this.moduleCache = openModuleCache(join(this.store.dataDir, "module-cache"));
    this.isolated = options.isolated;
    this.limits = nodeLimits(options.limits);
    this.anonymousQuotas = anonymousQuotas(this.limits);
    const maxRunningJobs = options.maxRunningJobs ?? Number.POSITIVE_INFINITY;
    if (!(maxRunningJobs >= 1)) throw new ServerError("bad_request", `maxRunningJobs must be at least 1, got ${options.maxRunningJobs}`);
    this.admission = new Admission(maxRunningJobs, {
      runningCount: () => {
        let n = 0;
        for (const j of this.live.values()) if (j.record.state === "running") n++;
        return n;
      },
      isLive: (job) => this.live.has(job.id),
      launch: (job) => this.launch(job),
    });
    this.scheduler = new Scheduler({
      sliceBudgetMs: options.sliceBudgetMs,
      cpuShare: options.cpuShare,
      isolatedSliceFuel: this.limits.isolatedSliceFuel,
    });
    this.migrator = new Migrator(this.transferHost(), options.identity, options.faults, options.precopy);
    const interval = options.checkpointIntervalMs ?? DEFAULT_CHECKPOINT_INTERVAL_MS;
    if (!Number.isSafeInteger(interval) || interval < 0)
      throw new ServerError("bad_request", `checkpointIntervalMs must be a non-negative integer, got ${interval}`);
    if (interval > 0) {
      this.checkpointTimer = setInterval(() => void this.checkpointRunningJobs(), interval);
      this.checkpointTimer.unref();
    }
    this.expiryTimer = setInterval(
      () => {
        try {
          this.expireAnonymousJobs();
        } catch {
          // a store being closed; the next sweep catches up
        }
      },
      Math.max(1_000, Math.min(60_000, Math.floor(this.limits.anonymousTtlMs / 4))),
    );
    this.expiryTimer.unref();
    // Blobs younger than the store's grace period (10 min) are left alone: a pre-copied base waits
    // unreferenced for its PREPARE, and a blob is written before the row that refers to it.
    this.garbageTimer = setInterval(() => {
      try {
        this.store.collectGarbage();
      } catch {
        // a store being closed; the next sweep (or the next start) catches up
      }
    }, GARBAGE_SWEEP_MS);
    this.garbageTimer.unref();
  }

  // ---- modules ----

  /**
   * Validate and instrument (so bad code is refused before anything is stored), then store.
   * `created` says whether the module is new *to this client* — never whether the bytes were
   * already here as someone else's private module: that answer depends only on the caller's own
   * uploads, so an upload cannot be used to learn what others hold.
   */
  async uploadModule(client: ClientRecord, bytes: Uint8Array, isPublic: boolean): Promise<{ codeHash: string; created: boolean }> {
    const quotas = quotasOf(client);
    if (bytes.byteLength > quotas.maxModuleBytes) {
      throw new ServerError("payload_too_large", `module is ${bytes.byteLength} bytes, the client's quota is ${quotas.maxModuleBytes}`);
    }
    const module = await this.engine(quotas.maxMemoryPages).compile(bytes);
    const created = !this.store.modules.ownedBy(module.codeHash, client.id);
    this.store.modules.put(bytes, { owner: client.id, public: isPublic });
    // Counted the same way (per new owner), so /metrics does not tell either.
    if (created) this.counters.modulesUploaded++;
    return { codeHash: module.codeHash, created };
  }

  /**
   * The modules the caller may use — public ones, and its own private ones — newest first, a page at
   * a time (`before`: the last hash of the previous page). Owners are not shown: only `mine`.
   */
  listModules(caller: Caller, query: { limit: number; before?: string }): { modules: ModuleSummary[]; next: string | null } {
    const who = caller?.id ?? null;
    let before: ModuleRecord | undefined;
    if (query.before !== undefined) {
      before = this.store.modules.get(query.before);
      if (!before || !this.store.modules.visibleTo(query.before, who)) throw new ServerError("not_found", `no module ${query.before}`);
    }
    const rows = this.store.modules.visibleList(who, { limit: query.limit, ...(before ? { before } : {}) });
    const modules = rows.map((m) => ({ codeHash: m.codeHash, public: m.public, size: m.size, createdAt: m.createdAt, mine: m.mine }));
    return { modules, next: rows.length === query.limit ? rows[rows.length - 1]!.codeHash : null };
  }

  /** Module bytes for a download: public modules to anyone, private ones to their owner. */
  moduleBytes(codeHash: string, caller: Caller): Uint8Array {
    const record = this.store.modules.get(codeHash);
    if (!record || !this.store.modules.visibleTo(codeHash, caller?.id ?? null, record))
      throw new ServerError("not_found", `no module ${codeHash}`);
    return this.store.modules.read(codeHash);
  }

  // ---- jobs ----

  async startJob(caller: Caller, req: StartJobRequest): Promise<JobView> {
    this.assertOpen();
    const module = this.store.modules.get(req.codeHash);
    const visible = module && this.store.modules.visibleTo(req.codeHash, caller?.id ?? null, module);
    if (!module || !visible) throw new ServerError("not_found", `no module ${req.codeHash}${caller ? "" : " among the public modules"}`);
    const quotas = caller ? quotasOf(caller) : this.anonymousQuotas;
    const unfinished = caller ? this.store.jobs.countUnfinished(caller.id) : this.anonymousLiveJobs();
    if (unfinished >= quotas.maxConcurrentJobs) {
      throw new ServerError(
        "quota_exceeded",
        `at most ${quotas.maxConcurrentJobs} unfinished jobs${caller ? "" : " for anonymous callers on this node"}`,
      );
    }
    const trust = caller ? "authenticated" : "anonymous";
    const sandbox = req.sandbox ?? (caller ? "isolated" : "in-process");
    if (!caller && sandbox !== "in-process")
      throw new ServerError(
        "forbidden",
        "anonymous jobs run in-process only (an isolated job needs a request signed by a registered client)",
      );
    if (!caller && req.input && req.input.byteLength > this.limits.maxAnonymousInputBytes) {
      throw new ServerError(
        "payload_too_large",
        `input is ${req.input.byteLength} bytes; anonymous jobs take at most ${this.limits.maxAnonymousInputBytes}`,
      );
    }
    if (req.fuelLimit !== undefined && req.fuelLimit > quotas.maxFuelPerJob) {
      throw new ServerError("quota_exceeded", `fuelLimit ${req.fuelLimit} exceeds the quota of ${quotas.maxFuelPerJob}`);
    }
    const fuelLimit = req.fuelLimit ?? quotas.maxFuelPerJob;
    // Check the entry and its arity now, so a bad request is a 4xx, not a failed job later.
    const compiled = await this.engine(quotas.maxMemoryPages).compile(this.store.modules.read(req.codeHash));
    const entry = compiled.entry(req.entry ?? "main");
    // Resource calls do disk I/O; on this node they are served off the event loop, which only an
    // isolated guest can wait for (an in-process guest's call must answer inside its slice).
    const resourceCall = caller && sandbox === "in-process" ? importedResourceCall(compiled.wasm) : undefined;
    if (resourceCall) {
      throw new ServerError(
        "sandbox_not_allowed",
        `the module imports "${resourceCall}": jobs that use resources run isolated on this node (their file I/O is kept off the node's event loop); leave out "sandbox" or ask for "isolated"`,
      );
    }
    // Every argument against the entry's real signature, before the job is stored (400 naming it).
    checkEntryArgs(entry, wasmArgs(req.args ?? []));

    const record = this.store.jobs.create({
      codeHash: req.codeHash,
      owner: caller?.id ?? null,
      trust,
      sandbox,
      entry: entry.name,
      args: req.args ?? [],
      input: req.input,
      fuelLimit,
      // A free slot now means it starts now: one write instead of queued-then-running.
      state: this.admission.hasFreeSlot() ? "running" : "queued",
      node: this.id,
    });
    const job = new LiveJob(record);
    this.live.set(record.id, job);
    this.counters.jobsStarted++;
    if (record.state === "running") await this.launch(job);
    else this.admission.enqueue(job);
    return this.view(job);
  }

  /** Run the job now if a slot is free, else queue it (FIFO). */
  private async admit(job: LiveJob): Promise<void> {
    if (this.admission.hasFreeSlot()) await this.launch(job);
    else {
      if (job.record.state !== "queued") this.update(job, { state: "queued" });
      this.admission.enqueue(job);
      for (const l of this.jobStateListeners) l(job.id, "queued");
    }
  }

  private anonymousLiveJobs(): number {
    let n = 0;
    for (const j of this.live.values()) if (j.record.owner === null) n++;
    return n;
  }

  /** Start a queued job from the beginning. */
  private async launch(job: LiveJob): Promise<void> {
    const record = job.record;
    try {
      const owner = record.owner ? (this.store.clients.get(record.owner) ?? null) : null;
      const engine = this.engine((owner ? quotasOf(owner) : this.anonymousQuotas).maxMemoryPages);
      const compiled = await engine.compile(this.store.modules.read(record.codeHash));
      job.instance = await engine.instantiate(compiled, this.instanceOptions(job, record.sandbox, this.store.jobs.input(record), owner));
      if (job.record.state !== "running") this.update(job, { state: "running" });
      job.scheduled = this.scheduler.start(job.instance, record.entry, wasmArgs(record.args), { fuelLimit: record.fuelLimit ?? undefined });
      this.watch(job);
    } catch (e) {
      this.fail(job, e);
    }
  }

  /** Queued jobs, oldest first (what weak migration may hand to a peer). */
  queuedJobs(): string[] {
    return this.admission.queued().map((j) => j.id);
  }

  /** Resolves when the job is no longer running (finished, paused, migrated). */
  async settled(id: string): Promise<JobView> {
    const job = this.live.get(id);
    if (job) await job.settled();
    return this.view(job ?? this.store.jobs.require(id));
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
    const records = this.store.jobs.list({
      owner: caller.id,
      ...(query.states ? { state: query.states } : {}),
      newestFirst: true,
      limit: query.limit,
      ...(before ? { before } : {}),
    });
    const jobs = records.map((stored) => {
      const live = this.live.get(stored.id);
      const record = live?.record ?? stored;
      return jobSummary(record, live?.instance?.fuelUsed ?? record.fuelUsed, this.peerUrl(record));
    });
    return { jobs, next: records.length === query.limit ? records[records.length - 1]!.id : null };
  }

  getJob(id: string, caller: Caller): JobView {
    const record = this.visibleRecord(id, caller);
    return this.view(this.live.get(id) ?? record);
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
    const job = this.live.get(id);
    const record = this.visibleRecord(id, caller);
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
    const job = this.live.get(id);
    const record = this.visibleRecord(id, caller);
    // Output written so far is announced to the listeners already there, so the new one's stream
    // continues exactly from `outputBytes` (the rest comes from GET /jobs/:id/output).
    job?.flushOutput();
    const outputBytes = job ? job.outputSeen : this.store.jobs.outputSize(record);
    listener({ ...this.stateEvent(record), outputBytes });
    return job ? job.subscribe(listener) : null;
  }

  async pauseJob(id: string, caller: Caller): Promise<JobView> {
    const job = this.control(id, caller);
    return job.exclusive(async () => {
      if (job.record.state !== "running") throw new ServerError("conflict", `job ${id} is ${job.record.state}, not running`);
      // A paused job keeps its memory here until it is resumed or expires: anonymous callers share a few such places.
      if (job.record.owner === null && this.anonymousPausedJobs() >= this.limits.maxAnonymousPausedJobs) {
        throw new ServerError(
          "overloaded",
          `${this.limits.maxAnonymousPausedJobs} anonymous jobs are paused on this node already; resume or cancel one, or let it run`,
        );
      }
      const r = await job.scheduled!.pause();
      if (r.status === "paused") {
        await this.checkpoint(job);
        this.update(job, { state: "paused", fuelUsed: r.fuelUsed });
        this.admission.pump();
      }
      return this.view(job);
    });
  }

  async resumeJob(id: string, caller: Caller): Promise<JobView> {
    const job = this.control(id, caller);
    return job.exclusive(async () => {
      if (job.record.state !== "paused") throw new ServerError("conflict", `job ${id} is ${job.record.state}, not paused`);
      this.update(job, { state: "running" });
      job.scheduled = this.scheduler.continue(job.instance!);
      this.watch(job);
      return this.view(job);
    });
  }

  async cancelJob(id: string, caller: Caller): Promise<JobView> {
    const live = this.live.get(id);
    if (!live) {
      const record = this.visibleRecord(id, caller);
      if (record.state === "queued" || record.state === "paused" || record.state === "running") {
        this.store.jobs.update(id, { state: "cancelled", result: { status: "cancelled" } }, { expectEpoch: record.epoch });
        if (record.owner === null) this.evictAnonymousResults(id);
      }
      return this.view(this.store.jobs.require(id));
    }
    this.authorize(live.record, caller);
    // A running job is stopped at once, before waiting for the job's lock: whatever holds the lock
    // (a checkpoint waiting for a slice that does not end, say) is itself waiting on the instance,
    // and disposing it ends that wait too. An isolated instance busy in a slice or a host call has
    // its process killed. Anything else (a migration deciding) is waited for. The output it wrote
    // is kept, like a finished job's (disposing drops the instance's copy).
    let output: Uint8Array | undefined;
    const stop = (): void => {
      if (!live.instance || live.instance.state === "disposed") return;
      live.flushOutput(); // followers get every byte before the end
      output ??= live.instance.output().slice();
      live.instance.dispose();
    };
    if (live.record.state === "running") stop();
    return live.exclusive(async () => {
      if (this.live.get(id) !== live) return this.view(this.store.jobs.require(id)); // it ended or moved meanwhile
      stop();
      this.live.delete(id);
      this.update(live, { state: "cancelled", result: { status: "cancelled" }, ...(output?.byteLength ? { output } : {}) });
      this.admission.pump();
      return this.view(live.record);
    });
  }

  /** The encoded snapshot of a paused job (its latest checkpoint, which pausing wrote). */
  snapshotOf(id: string, caller: Caller): Uint8Array {
    const record = this.visibleRecord(id, caller);
    if (record.state !== "paused") throw new ServerError("conflict", `job ${id} is ${record.state}; pause it first`);
    const snapshot = checkpointSnapshot(this.store, id, snapshotDecodeLimits(this.memoryPagesOf(record.owner)));
    if (!snapshot) throw new ServerError("not_found", `job ${id} has no snapshot`);
    return encodeSnapshot(snapshot);
  }

  /** What the load-sharing policies and /load report. */
  load(): { node: string; running: number; paused: number; queued: number; inProcessQueue: number } {
    // Jobs taken from the queue whose launch is still under way count as running already.
    const running = this.admission.running();
    let paused = 0;
    for (const j of this.live.values()) if (j.record.state === "paused") paused++;
    return { node: this.id, running, paused, queued: this.queuedJobs().length, inProcessQueue: this.scheduler.queued };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.checkpointTimer) clearInterval(this.checkpointTimer);
    clearInterval(this.garbageTimer);
    clearInterval(this.expiryTimer);
    this.migrator.close();
    // Running jobs stay `running` in the store: a restart resumes them from their last checkpoint.
    for (const job of this.live.values()) job.instance?.dispose();
    this.live.clear();
    await Promise.all([...this.engines.values()].map((e) => e.close()));
    await this.compilePool.close();
  }

  // ---- recovery ----

  /** After a restart: every job this node owned resumes from its last checkpoint (or its start). */
  async recover(): Promise<{ resumed: number; restarted: number }> {
    let resumed = 0;
    let restarted = 0;
    // Transfers first: undecided ones are aborted (the job stays here), decided ones committed.
    await this.migrator.recover();
    for (const record of this.store.jobs.list({ node: this.id, state: ["queued", "running", "paused"] })) {
      try {
        const checkpoint = this.store.checkpoints.latest(record.id);
        const job = new LiveJob(record);
        const owner = record.owner ? (this.store.clients.get(record.owner) ?? null) : null;
        const quotas = owner ? quotasOf(owner) : this.anonymousQuotas;
        const engine = this.engine(quotas.maxMemoryPages);
        const compiled = await engine.compile(this.store.modules.read(record.codeHash)); // fails early if the code is gone
        const input = this.store.jobs.input(record);
        if (checkpoint) {
          job.instance = await engine.restore(
            withJobBudget(
              checkpointSnapshot(this.store, record.id, snapshotDecodeLimits(this.memoryPagesOf(record.owner)))!,
              this.budgetOf(record),
            ),
            this.instanceOptions(job, record.sandbox, input, owner),
          );
          job.outputSeen = job.instance.output().byteLength;
          this.live.set(record.id, job);
          if (record.state !== "paused") {
            job.scheduled = this.scheduler.continue(job.instance);
            this.watch(job);
          }
          resumed++;
        } else {
          // Never checkpointed (or still queued): start from the beginning, through admission.
          void compiled;
          this.live.set(record.id, job);
          if (record.state !== "queued") this.update(job, { state: "queued" });
          await this.admit(job);
          restarted++;
        }
      } catch (e) {
        this.store.jobs.update(record.id, {
          state: "failed",
          result: { status: "failed", message: `recovery failed: ${e instanceof Error ? e.message : String(e)}` },
        });
      }
    }
    return { resumed, restarted };
  }

  /** Move a job to a peer (strong: with its execution state; weak: code and arguments only). */
  async migrateJob(
    id: string,
    caller: Caller,
    peerId: string,
    mode: "strong" | "weak" = "strong",
    grant: SignedGrant | null = null,
  ): Promise<JobView> {
    const job = this.control(id, caller);
    // The target runs an owned job as its owner only under the owner's grant; asked by the owner, it needs one.
    if (job.record.owner !== null && grant === null)
      throw new ServerError("bad_request", `job ${id} migrates with its owner's grant (see FerryClient.migrate)`);
    await this.migrator.send(job, peerId, mode, grant);
    // From the store: the COMMIT's acknowledgement is recorded there, not in the live job's record.
    return this.view(this.store.jobs.require(id));
  }

  /**
   * The owner's grants (each checked by the caller: this job, this node, a configured peer) for the
   * node's own load sharing to move the job to those peers as the owner's (migration-grant.ts).
   */
  allowSharing(id: string, caller: Caller, grants: readonly SignedGrant[], targets: readonly string[]): JobView {
    const job = this.control(id, caller);
    if (job.record.owner === null || job.record.owner !== caller?.id)
      throw new ServerError("bad_request", `job ${id} has no owner to grant it`);
    this.migrator.allowSharing(job, grants, targets);
    return this.view(job);
  }

  /** Whether the node may move job `id` to `peerId` on its own: an anonymous job, or one whose owner granted it (allowSharing). */
  mayShare(id: string, peerId: string): boolean {
    const job = this.live.get(id);
    return job !== undefined && this.migrator.mayShare(job, peerId);
  }

  /**
   * The node's own load balancer moving a job it holds: no caller to authorize, the node acts for
   * itself — for a client's job only under the owner's sharing grant for that peer (else 409).
   */
  async shareJob(id: string, peerId: string, mode: "strong" | "weak"): Promise<void> {
    const job = this.live.get(id);
    if (!job) throw new ServerError("conflict", `job ${id} is not live on this node`);
    if (!this.migrator.mayShare(job, peerId))
      throw new ServerError("conflict", `job ${id} belongs to a client that has not granted moving it to ${peerId}`);
    await this.migrator.send(job, peerId, mode);
  }

  /** Call `listener` after every job state change here, and when a new job joins the queue (the balancer's load feed). */
  onJobState(listener: (id: string, state: JobRecord["state"]) => void): () => void {
    this.jobStateListeners.add(listener);
    return () => this.jobStateListeners.delete(listener);
  }

  /**
   * What server/migration needs of the node: take a live job out of the scheduler, put one back,
   * adopt one that arrived. Closures over the node's internals, so they stay off its public surface.
   */
  private transferHost(): TransferHost {
    return {
      nodeId: () => this.id,
      store: this.store,
      /** Stop a live job after its current slice; false if it finished meanwhile. */
      stop: async (job) => {
        if (job.record.state === "queued") {
          this.admission.remove(job);
          return true;
        }
        if (job.record.state !== "running") return true;
        const r = await job.scheduled!.pause();
        return r.status === "paused" && job.instance?.state === "paused";
      },
      update: (job, patch) => this.update(job, patch),
      forget: (job) => {
        job.instance?.dispose();
        this.live.delete(job.id);
        this.counters.migrationsOut++;
        this.admission.pump();
      },
      goOn: (job) => {
        job.scheduled = this.scheduler.continue(job.instance!);
        this.watch(job);
      },
      /** The transfer was abandoned: the job goes on here, from `snapshot` if its instance moved out. */
      reinstate: async (job, snapshot, previous) => {
        if (previous === "queued") {
          this.update(job, { state: "queued", result: null });
          this.admission.requeueFront(job);
          this.admission.pump();
          return;
        }
        if (snapshot) {
          const owner = job.record.owner ? (this.store.clients.get(job.record.owner) ?? null) : null;
          const engine = this.engine((owner ? quotasOf(owner) : this.anonymousQuotas).maxMemoryPages);
          job.instance = await engine.restore(snapshot, this.instanceOptions(job, job.record.sandbox, undefined, owner));
        }
        this.update(job, { state: previous, result: null });
        if (previous === "running") {
          job.scheduled = this.scheduler.continue(job.instance!);
          this.watch(job);
        }
      },
      /** A committed incoming job: restore it (strong) or start it (weak) and run it here. */
      maxMemoryPages: (owner) => this.memoryPagesOf(owner),
      maxFuelPerJob: (owner) => this.fuelCapOf(owner),
      stage: async (header, snapshot, module) => {
        const owner = header.owner ? (this.store.clients.get(header.owner) ?? null) : null;
        const record = provisionalRecord(header, this.id);
        const job = new LiveJob(record);
        const engine = this.engine(this.memoryPagesOf(header.owner));
        await engine.compile(module);
        job.instance = await engine.restore(
          withJobBudget(snapshot, this.budgetOf(record)),
          this.instanceOptions(job, header.sandbox, undefined, owner),
        );
        return job;
      },
      discard: (staged) => staged.instance?.dispose(),
      adopt: async (record, staged) => {
        const owner = record.owner ? (this.store.clients.get(record.owner) ?? null) : null;
        const engine = this.engine(this.memoryPagesOf(record.owner));
        const job = staged ?? new LiveJob(record);
        job.record = record;
        try {
          if (!staged) {
            const checkpoint = this.store.checkpoints.latest(record.id);
            const options = this.instanceOptions(job, record.sandbox, this.store.jobs.input(record), owner);
            if (!checkpoint) {
              // Weak: a fresh start, through admission like any new job.
              await engine.compile(this.store.modules.read(record.codeHash));
              this.live.set(record.id, job);
              this.update(job, { state: "queued" });
              this.counters.migrationsIn++;
              await this.admit(job);
              return;
            }
            // After a restart nothing is compiled yet: the code first, then its snapshot.
            await engine.compile(this.store.modules.read(record.codeHash));
            job.instance = await engine.restore(
              withJobBudget(
                checkpointSnapshot(this.store, record.id, snapshotDecodeLimits(this.memoryPagesOf(record.owner)))!,
                this.budgetOf(record),
              ),
              options,
            );
          }
        } catch (e) {
          // Committed to us but it cannot run here: it ends, once, as failed (never silently lost).
          this.store.jobs.update(
            record.id,
            {
              state: "failed",
              node: this.id,
              result: { status: "failed", message: `cannot resume the migrated job: ${e instanceof Error ? e.message : String(e)}` },
            },
            { expectEpoch: record.epoch },
          );
          return;
        }
        job.outputSeen = job.instance!.output().byteLength;
        this.live.set(record.id, job);
        this.counters.migrationsIn++;
        // Paused at the source, paused here: it waits for its owner's resume (its checkpoint is the PREPARE's snapshot).
        if (preparedPaused(record)) {
          this.update(job, { state: "paused", result: null });
          return;
        }
        this.update(job, { state: "running" });
        job.scheduled = this.scheduler.continue(job.instance!);
        this.watch(job);
      },
      /** Check an arriving module the way an upload is checked, before storing it. */
      compile: async (bytes, owner) => {
        const client = owner ? (this.store.clients.get(owner) ?? null) : null;
        return this.engine((client ? quotasOf(client) : this.anonymousQuotas).maxMemoryPages).compile(bytes);
      },
      live: (id) => this.live.get(id),
    };
  }

  // ---- internals ----

  /** The memory cap a job of `owner` (null: anonymous) gets on this node. */
  private memoryPagesOf(owner: string | null): number {
    const client = owner ? (this.store.clients.get(owner) ?? null) : null;
    return Math.min((client ? quotasOf(client) : this.anonymousQuotas).maxMemoryPages, this.maxMemoryPages);
  }

  /** The most fuel one job of `owner` (null: anonymous) may use on this node. */
  private fuelCapOf(owner: string | null): number {
    const client = owner ? (this.store.clients.get(owner) ?? null) : null;
    return (client ? quotasOf(client) : this.anonymousQuotas).maxFuelPerJob;
  }

  /** A restored job's fuel budget: its record's, capped by its owner's quota here — never its snapshot's. */
  private budgetOf(record: JobRecord): { fuelLimit: number; fuelUsed: number } {
    const cap = this.fuelCapOf(record.owner);
    return { fuelLimit: Math.min(record.fuelLimit ?? cap, cap), fuelUsed: record.fuelUsed };
  }

  private engine(maxMemoryPages: number): Engine {
    const pages = Math.min(maxMemoryPages, this.maxMemoryPages);
    let engine = this.engines.get(pages);
    if (!engine) {
      const cacheDir = this.moduleCache.dir; // the same directory, so the same (shared) cache object
      engine = new Engine({
        maxMemoryPages: pages,
        compilePool: this.compilePool,
        cacheDir,
        ...(this.isolated ? { isolated: this.isolated } : {}),
      });
      this.engines.set(pages, engine);
    }
    return engine;
  }

  private instanceOptions(job: LiveJob, sandbox: "in-process" | "isolated", input: Uint8Array | undefined, caller: Caller) {
    return {
      sandbox,
      trust: caller ? ("authenticated" as const) : ("anonymous" as const),
      input,
      onLog: (line: string) => {
        // Output written before the line is announced before it, so a follower sees them in order.
        if (job.hasListeners) job.flushOutput();
        job.emit({ type: "log", line });
      },
      // An isolated slice has a deadline: a guest that never gives control back loses its process.
      ...(sandbox === "isolated" ? { timeoutMs: this.limits.isolatedSliceTimeoutMs } : {}),
      // Anonymous output is kept (for the TTL) on the node's disk: a small cap each.
      ...(caller ? {} : { maxOutputBytes: this.limits.maxAnonymousOutputBytes }),
      // Authenticated code binds its client's files: capabilities are relative to the client's own root.
      // Only isolated guests reach them: the provider runs off the event loop and answers later.
      ...(caller
        ? { capabilities: caller.capabilities, resources: sandbox === "isolated" ? this.resourcesOf(caller) : IN_PROCESS_RESOURCES }
        : {}),
    };
  }

  /** The client's own files: a root of its own under the data dir, bounded by its disk quota, served by the resource worker. */
  private resourcesOf(client: ClientRecord): OffThreadFileResources {
    const quotas = quotasOf(client);
    return new OffThreadFileResources(join(this.store.dataDir, "resources", client.id), {
      maxTotalBytes: quotas.maxResourceBytes,
      maxEntries: quotas.maxResourceEntries,
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
    job.instance?.dispose();
    this.live.delete(job.id);
    this.counters.jobsFinished++;
    if (r.status === "trapped") this.counters.jobsTrapped++;
    this.admission.pump();
  }

  private fail(job: LiveJob, e: unknown): void {
    if (!this.live.has(job.id)) return;
    this.update(job, { state: "failed", result: { status: "failed", message: e instanceof Error ? e.message : String(e) } });
    job.instance?.dispose();
    this.live.delete(job.id);
    this.admission.pump();
  }

  /** Snapshot a paused job into the store. */
  private async checkpoint(job: LiveJob): Promise<void> {
    const snapshot = await job.instance!.snapshot();
    this.store.checkpoints.add(job.id, encodeSnapshot(snapshot), { fuel: job.instance!.fuelUsed, expectEpoch: job.record.epoch });
    this.counters.checkpoints++;
  }

  /**
   * The periodic checkpoint round: pause each running job briefly, snapshot it, let it go on. One
   * job at a time (one snapshot in memory at once), each waited for at most checkpointJobTimeoutMs:
   * a job that does not pause by then (a slice that does not end) is left to finish its attempt
   * on its own and deferred — skipped by later rounds while that attempt is under way — so one slow
   * or stuck job never holds up the others' checkpoints. Rounds never overlap: one asked for while
   * another runs does nothing (`skipped`). The timer calls this; tests call it directly.
   */
  checkpointRunningJobs(): Promise<CheckpointRound> {
    if (this.checkpointRound !== undefined) {
      this.counters.checkpointRoundsSkipped++;
      return Promise.resolve({ checkpointed: [], deferred: [], skipped: true });
    }
    const round = this.runCheckpointRound().finally(() => {
      this.checkpointRound = undefined;
    });
    this.checkpointRound = round;
    return round;
  }

  private async runCheckpointRound(): Promise<CheckpointRound> {
    const report: CheckpointRound = { checkpointed: [], deferred: [], skipped: false };
    for (const job of [...this.live.values()]) {
      if (this.closed) break;
      if (job.record.state !== "running" || !job.scheduled) continue;
      if (job.checkpointing) {
        report.deferred.push(job.id); // the previous round's attempt still waits for it to pause
        continue;
      }
      const attempt = job
        .exclusive(() => this.checkpointRunning(job))
        .catch(() => false) // a failed checkpoint leaves the previous one; the job goes on
        .finally(() => {
          job.checkpointing = undefined;
        });
      job.checkpointing = attempt;
      const done = await within(attempt, this.limits.checkpointJobTimeoutMs);
      if (done === undefined) report.deferred.push(job.id);
      else if (done) report.checkpointed.push(job.id);
    }
    this.counters.checkpointsDeferred += report.deferred.length;
    return report;
  }

  /** Under the job's lock: pause it, snapshot it, let it go on. False if it was not running to the end. */
  private async checkpointRunning(job: LiveJob): Promise<boolean> {
    if (job.record.state !== "running" || !job.scheduled || !this.live.has(job.id)) return false;
    const r = await job.scheduled.pause();
    if (r.status !== "paused" || job.instance?.state !== "paused") {
      // It finished (or was cancelled) while we asked; `watch` records the end.
      return false;
    }
    await this.checkpoint(job);
    this.update(job, { fuelUsed: r.fuelUsed });
    job.scheduled = this.scheduler.continue(job.instance);
    this.watch(job);
    return true;
  }

  // ---- anonymous retention ----

  private anonymousPausedJobs(): number {
    let n = 0;
    for (const j of this.live.values()) if (j.record.owner === null && j.record.state === "paused") n++;
    return n;
  }

  /**
   * Delete anonymous jobs nobody has touched for anonymousTtlMs (by the store's clock): paused ones
   * (their instance is dropped) and finished ones, each with its input, output and checkpoints; then
   * the oldest finished ones past maxAnonymousResults. Their ids answer 404 from then on. Running
   * and queued jobs are never expired (their fuel bounds them). A timer calls this; tests call it
   * directly with an injected clock.
   */
  expireAnonymousJobs(now = this.store.now()): { expired: number } {
    const before = now - this.limits.anonymousTtlMs;
    let expired = 0;
    for (const job of [...this.live.values()]) {
      if (job.record.owner !== null || job.record.state !== "paused" || job.record.updatedAt > before) continue;
      job.instance?.dispose();
      this.live.delete(job.id);
      if (this.forget(job.record)) expired++;
      job.emit({ type: "state", state: "cancelled", result: { status: "expired" } });
    }
    for (;;) {
      const stale = this.store.jobs.anonymousByAge(FINISHED_JOB_STATES, { changedBefore: before + 1, limit: 256 });
      for (const record of stale) if (this.forget(record)) expired++;
      if (stale.length < 256) break;
    }
    return { expired: expired + this.evictAnonymousResults() };
  }

  /**
   * Keep at most maxAnonymousResults finished anonymous jobs: the least recently changed go first
   * (never `keep`, the job that just ended). Runs whenever an anonymous job ends, so a flood of
   * short jobs never holds more than the cap between two sweeps.
   */
  private evictAnonymousResults(keep?: string): number {
    const over = this.store.jobs.countAnonymous(FINISHED_JOB_STATES) - this.limits.maxAnonymousResults;
    if (over <= 0) return 0;
    let evicted = 0;
    for (const record of this.store.jobs.anonymousByAge(FINISHED_JOB_STATES, { limit: over + 1 })) {
      if (evicted === over) break;
      if (record.id !== keep && this.forget(record)) evicted++;
    }
    return evicted;
  }

  /** Delete a job that is not live here, with every blob only it used; false if it changed meanwhile. */
  private forget(record: JobRecord): boolean {
    try {
      this.store.jobs.delete(record.id, { expectEpoch: record.epoch });
    } catch (e) {
      if (e instanceof ServerError && (e.code === "conflict" || e.code === "not_found")) return false;
      throw e;
    }
    this.counters.anonymousJobsExpired++;
    return true;
  }

  /** Every state change of a live job goes through here, and is announced to its listeners. */
  private update(job: LiveJob, patch: Parameters<Store["jobs"]["update"]>[1]): void {
    const before = job.record.state;
    job.record = this.store.jobs.update(job.id, patch, { expectEpoch: job.record.epoch });
    job.stateChanged();
    if (job.record.state !== before) job.emit(this.stateEvent(job.record));
    for (const l of this.jobStateListeners) l(job.id, job.record.state);
    if (job.record.owner === null && patch.state !== undefined && FINISHED_JOB_STATES.includes(patch.state))
      this.evictAnonymousResults(job.id);
  }

  private view(job: LiveJob | JobRecord): JobView {
    if (job instanceof LiveJob) {
      const outputBytes = job.instance ? job.instance.output().byteLength : this.store.jobs.outputSize(job.record);
      return jobView(
        job.record,
        outputBytes,
        this.lastCheckpoint(job.record),
        job.instance?.fuelUsed ?? job.record.fuelUsed,
        this.peerUrl(job.record),
      );
    }
    return jobView(job, this.store.jobs.outputSize(job), this.lastCheckpoint(job), job.fuelUsed, this.peerUrl(job));
  }

  /** This node's address for the peer a migrated job went to. */
  private peerUrl(record: JobRecord): string | undefined {
    return record.state === "migrated" ? this.store.peers.get(record.node)?.url : undefined;
  }

  /** A state event as listeners get it: the outcome (null until there is one), and where a migrated job went. */
  private stateEvent(record: JobRecord): Extract<JobEvent, { type: "state" }> {
    const moved = movedTo(record, this.peerUrl(record));
    return { type: "state", state: record.state, result: publicResult(record), ...(moved ? { movedTo: moved } : {}) };
  }

  /** Where a restart would resume from; a finished job has no use for one (and skips the query). */
  private lastCheckpoint(record: JobRecord) {
    return FINISHED_JOB_STATES.includes(record.state) ? undefined : this.store.checkpoints.latest(record.id);
  }

  private control(id: string, caller: Caller): LiveJob {
    const job = this.live.get(id);
    if (!job) {
      const record = this.visibleRecord(id, caller);
      throw new ServerError("conflict", `job ${id} is ${record.state}${record.node !== this.id ? ` on node ${record.node}` : ""}`);
    }
    this.authorize(job.record, caller);
    return job;
  }

  /** Owned jobs belong to their owner; anonymous jobs to whoever holds their (unguessable) id. */
  private authorize(record: JobRecord, caller: Caller): void {
    if (record.owner !== null && record.owner !== caller?.id) throw noJob(record.id, caller);
  }

  /** The job's record (live or stored) if the caller may see it; else the same 404 as for no job at all. */
  private visibleRecord(id: string, caller: Caller): JobRecord {
    const record = this.live.get(id)?.record ?? this.store.jobs.get(id);
    if (!record) throw noJob(id, caller);
    this.authorize(record, caller);
    return record;
  }

  private assertOpen(): void {
    if (this.closed) throw new ServerError("conflict", "the node is shutting down");
  }
}

/**
 * The one answer for a job the caller cannot see, whether it exists or not (so it tells nothing):
 * to an unsigned request it says what to do if the job is a client's (docs/http-api.md, "Errors").
 */
function noJob(id: string, caller: Caller): ServerError {
  return new ServerError(
    "not_found",
    caller
      ? `no job ${id} among yours or the anonymous ones`
      : `no job ${id} among the anonymous jobs; a client's job answers only requests signed with its owner's key`,
  );
}

/** A LiveJob needs a record before the prepared one is stored; this stands in until COMMIT sets the real one. */
function provisionalRecord(h: TransferHeader, node: string): JobRecord {
  return {
    id: h.jobId,
    codeHash: h.codeHash,
    owner: h.owner,
    trust: h.trust,
    sandbox: h.sandbox,
    entry: h.entry,
    args: h.args,
    inputHash: null,
    fuelLimit: h.fuelLimit,
    state: "prepared",
    result: null,
    outputHash: null,
    fuelUsed: h.fuelUsed,
    epoch: h.epoch,
    node,
    createdAt: 0,
    updatedAt: 0,
  };
}

/** True when `p` settles true within `ms`, false when it settles false, undefined if the time runs out first. */
async function within(p: Promise<boolean>, ms: number): Promise<boolean | undefined> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
  });
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Stored arguments back to Wasm values: i64 travels as a decimal string. */
function wasmArgs(args: Json[]): WasmValue[] {
  return args.map((a) => {
    if (typeof a === "string") return BigInt(a);
    if (typeof a === "number") return a;
    throw new ServerError("bad_request", `argument ${JSON.stringify(a)} is not a number`);
  });
}
