// A job this node is running right now: its instance, the scheduler's handle on it, the listeners
// streaming its events, and a lock so control operations (pause, checkpoint, migrate) never overlap.

import type { Instance, ScheduledJob, Snapshot } from "../../runtime/index.js";
import type { MovableJob } from "../migration/host.js";
import { ServerError } from "../errors.js";
import type { JobRecord, Json } from "../store/records.js";
import type { JobResult, MovedTo } from "./job-view.js";
import { withScratch, type ScratchTrees } from "./wasi-dirs.js";

/**
 * What GET /jobs/:id/events streams. A state event's `result` is the job's outcome (null until it has
 * one), `movedTo` is set when the job migrated, and the first event of a stream carries
 * `outputBytes`, the output's size when the stream started: the output events that follow continue
 * from exactly there.
 */
export type JobEvent =
  | { type: "log"; line: string }
  | { type: "output"; bytes: Uint8Array }
  | { type: "state"; state: string; result: Json | JobResult; movedTo?: MovedTo; outputBytes?: number };

/** How often output is announced to a job's listeners while it runs (it is also announced before each log line and when a run settles), ms. */
export const OUTPUT_FLUSH_MS = 100;

/** A running job's last full checkpoint, as written: what its next checkpoints are deltas of (checkpoints.ts). */
export interface CheckpointBase {
  snapshot: Snapshot;
  /** The checkpoint's blob. */
  hash: string;
}

/** States in which a job is (or is about to be) making progress on this node. */
const ACTIVE_STATES = new Set(["queued", "running", "migrating"]);

export class LiveJob implements MovableJob {
  instance: Instance | undefined;
  scheduled: ScheduledJob | undefined;
  /** A WASI job's scratch directories (wasi-dirs.ts): they outlive an instance and travel in its snapshots. */
  scratch: ScratchTrees = new Map();
  private readonly listeners = new Set<(e: JobEvent) => void>();
  private lock: Promise<unknown> = Promise.resolve();
  /** Output bytes already announced to listeners. */
  outputSeen = 0;
  /** A periodic checkpoint attempt under way (queued for the lock, or waiting for the job to pause). */
  checkpointing: Promise<unknown> | undefined;
  /** Its last full checkpoint, which the next ones are deltas of (checkpoints.ts). */
  checkpointBase: CheckpointBase | undefined;
  /** Paused and out of the VM: no instance, its state in its checkpoint (JobRunner.hibernate / wake). */
  hibernated = false;
  /** The fuel it had used at its last checkpoint written here: the same fuel now means nothing changed. */
  checkpointFuel: number | undefined;
  private settleWaiters: Array<() => void> = [];
  /** Announces output while someone listens (a run's output is otherwise announced only when it settles). */
  private flushTimer: NodeJS.Timeout | undefined;

  constructor(public record: JobRecord) {}

  get id(): string {
    return this.record.id;
  }

  /** Run `fn` after every earlier control operation on this job has finished. */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.lock.then(fn, fn);
    this.lock = next.catch(() => undefined);
    return next;
  }

  /** The stopped job's snapshot, its scratch trees in the resource section (migration's view of it: server/migration/host.ts). */
  async snapshot(options: { since?: Snapshot; move?: boolean } = {}): Promise<Snapshot> {
    if (!this.instance) throw new ServerError("conflict", `job ${this.id} has no instance here`);
    return withScratch(await this.instance.snapshot(options), this.scratch);
  }

  /** Resolves once the job is in a state where it is not making progress here (ended, paused, moved). */
  settled(): Promise<void> {
    if (!ACTIVE_STATES.has(this.record.state)) return Promise.resolve();
    return new Promise((resolve) => this.settleWaiters.push(resolve));
  }

  /** The node calls this after every state change. */
  stateChanged(): void {
    if (ACTIVE_STATES.has(this.record.state)) return;
    const waiters = this.settleWaiters;
    this.settleWaiters = [];
    for (const w of waiters) w();
  }

  subscribe(listener: (e: JobEvent) => void): () => void {
    this.listeners.add(listener);
    if (!this.flushTimer) {
      this.flushTimer = setInterval(() => {
        try {
          this.flushOutput();
        } catch {
          // an instance disposed under the timer: its end is announced by the node
        }
      }, OUTPUT_FLUSH_MS);
      this.flushTimer.unref();
    }
    return () => {
      this.listeners.delete(listener);
      if (this.listeners.size === 0 && this.flushTimer) {
        clearInterval(this.flushTimer);
        this.flushTimer = undefined;
      }
    };
  }

  get hasListeners(): boolean {
    return this.listeners.size > 0;
  }

  emit(event: JobEvent): void {
    for (const l of this.listeners) {
      try {
        l(event);
      } catch {
        // A broken listener (a closed stream) must not break the job.
      }
    }
  }

  /** Announce output written since the last call. */
  flushOutput(): void {
    const fresh = this.instance?.outputSince(this.outputSeen);
    if (!fresh || fresh.byteLength === 0) return;
    this.outputSeen += fresh.byteLength;
    this.emit({ type: "output", bytes: fresh });
  }
}

/**
 * The node's live jobs by id, and which of them may be running: counting the running ones (what
 * admission does at every job start under maxRunningJobs) costs what runs, not the paused and
 * hibernated jobs held beside them. A job is noted when it becomes live and after every state change
 * (JobRunner.update); the count drops, as it goes, jobs no longer live or running.
 */
export class LiveJobs extends Map<string, LiveJob> {
  private readonly maybeRunning = new Set<LiveJob>();

  override set(id: string, job: LiveJob): this {
    const replaced = this.get(id);
    if (replaced && replaced !== job) this.maybeRunning.delete(replaced);
    super.set(id, job);
    this.noteState(job);
    return this;
  }

  /**
   * Forgotten with the job: the set must never hold a job the map no longer does (it held every
   * finished job, and with it the job's instance and its memory's address space, when nothing asked
   * runningCount() — a node without maxRunningJobs ran out of Wasm memory after ~12,900 jobs).
   */
  override delete(id: string): boolean {
    const job = this.get(id);
    if (job) this.maybeRunning.delete(job);
    return super.delete(id);
  }

  override clear(): void {
    this.maybeRunning.clear();
    super.clear();
  }

  /** After the job's state may have changed. */
  noteState(job: LiveJob): void {
    if (job.record.state === "running") this.maybeRunning.add(job);
    else this.maybeRunning.delete(job);
  }

  /** Jobs the running count may still have to look at (a bound on what the set holds; tests). */
  get tracked(): number {
    return this.maybeRunning.size;
  }

  /** Live jobs in state `running`. */
  runningCount(): number {
    let n = 0;
    for (const job of this.maybeRunning) {
      if (this.get(job.id) === job && job.record.state === "running") n++;
      else this.maybeRunning.delete(job);
    }
    return n;
  }
}
