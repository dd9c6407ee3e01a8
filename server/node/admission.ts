// Admission control: at most `limit` jobs run at once on a node; the rest wait, first come first
// served, in state `queued` — which is also what weak migration may hand to a peer. A job taken from
// the queue counts as running from that moment, though its launch is async, so a burst of freed
// slots never starts more than the limit.

import type { LiveJob } from "./live-job.js";

export interface AdmissionHooks {
  /** How many of the node's jobs are in state `running` (launched, resumed or migrated in). */
  runningCount(): number;
  /** Whether the job is still this node's (not finished, cancelled or migrated meanwhile). */
  isLive(job: LiveJob): boolean;
  /** Start a queued job from the beginning; it handles its own failure. */
  launch(job: LiveJob): Promise<void>;
}

export class Admission {
  /** Waiting for a running slot, oldest first. */
  private readonly waiting: LiveJob[] = [];
  /** Taken from `waiting`, launch under way. */
  private readonly starting = new Set<LiveJob>();

  constructor(
    readonly limit: number,
    private readonly hooks: AdmissionHooks,
  ) {}

  /** Running jobs plus launches under way (each counted once). */
  running(): number {
    let n = this.hooks.runningCount();
    for (const j of this.starting) if (j.record.state !== "running") n++;
    return n;
  }

  hasFreeSlot(): boolean {
    // Unlimited (the default): no need to count on every job start.
    return this.limit === Number.POSITIVE_INFINITY || this.running() < this.limit;
  }

  /** Wait at the back of the queue. */
  enqueue(job: LiveJob): void {
    this.waiting.push(job);
  }

  /** Back at the front (a weak transfer that was abandoned keeps the place it had). */
  requeueFront(job: LiveJob): void {
    this.waiting.unshift(job);
  }

  /** Leave the queue (the job is moving elsewhere); false if it was not waiting. */
  remove(job: LiveJob): boolean {
    const at = this.waiting.indexOf(job);
    if (at < 0) return false;
    this.waiting.splice(at, 1);
    return true;
  }

  /** The jobs waiting, oldest first. */
  queued(): LiveJob[] {
    return this.waiting.filter((j) => this.hooks.isLive(j) && j.record.state === "queued");
  }

  /** A running slot may have come free: start the oldest waiting jobs that fit. */
  pump(): void {
    while (this.waiting.length > 0 && this.hasFreeSlot()) {
      const next = this.waiting.shift()!;
      if (!this.hooks.isLive(next) || next.record.state !== "queued") continue;
      this.starting.add(next);
      void next
        .exclusive(() => this.hooks.launch(next))
        .finally(() => {
          this.starting.delete(next);
          this.pump(); // a launch that failed freed its slot again
        });
    }
  }
}
