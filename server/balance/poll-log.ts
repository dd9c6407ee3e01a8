// What a balancer remembers of its own polling since it was configured, for tests and reports: the
// last polls sent (when, to whom, which kind, in which round) and the back-offs that end rounds.

import type { ProbeKind } from "../../runtime/balance/index.js";

const POLL_LOG_SIZE = 1_000;

export interface PollEntry {
  at: number;
  to: number;
  probe: ProbeKind;
  round: number;
}

export class PollLog {
  /** The most recent polls sent, oldest first (tests check MAX and D with it). */
  readonly polls: PollEntry[] = [];
  /** Back-offs the policy asked for: when, and how long (ms). */
  readonly backoffs: Array<{ at: number; delayMs: number }> = [];
  /** Rounds end at a back-off: polls sent before the first are round 0, and so on. */
  private round = 0;

  clear(): void {
    this.polls.length = 0;
    this.backoffs.length = 0;
    this.round = 0;
  }

  poll(at: number, to: number, probe: ProbeKind): void {
    this.polls.push({ at, to, probe, round: this.round });
    if (this.polls.length > POLL_LOG_SIZE) this.polls.splice(0, this.polls.length - POLL_LOG_SIZE);
  }

  /** A back-off: the round ends. */
  backoff(at: number, delayMs: number): void {
    this.backoffs.push({ at, delayMs });
    if (this.backoffs.length > POLL_LOG_SIZE) this.backoffs.splice(0, this.backoffs.length - POLL_LOG_SIZE);
    this.round++;
  }
}
