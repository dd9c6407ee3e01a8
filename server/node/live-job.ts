// A job this node is running right now: its instance, the scheduler's handle on it, the listeners
// streaming its events, and a lock so control operations (pause, checkpoint, migrate) never overlap.

import type { Instance, ScheduledJob } from "../../runtime/index.js";
import type { JobRecord, Json } from "../store/records.js";

export type JobEvent =
  | { type: "log"; line: string }
  | { type: "output"; bytes: Uint8Array }
  | { type: "state"; state: string; result: Json };

/** States in which a job is (or is about to be) making progress on this node. */
const ACTIVE_STATES = new Set(["queued", "running", "migrating"]);

export class LiveJob {
  instance: Instance | undefined;
  scheduled: ScheduledJob | undefined;
  private readonly listeners = new Set<(e: JobEvent) => void>();
  private lock: Promise<unknown> = Promise.resolve();
  /** Output bytes already announced to listeners. */
  outputSeen = 0;
  /** A periodic checkpoint attempt under way (queued for the lock, or waiting for the job to pause). */
  checkpointing: Promise<unknown> | undefined;
  private settleWaiters: Array<() => void> = [];

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
    return () => this.listeners.delete(listener);
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
