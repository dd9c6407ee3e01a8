// Caps on large request bodies in flight at once — all together, and per sender — so that however
// many uploads arrive, the memory they can pin is bounded. A request over a cap is refused before
// its body is read: 429 when its sender already has its share, 503 when the node has no slot left.

import { ServerError } from "../errors.js";

export interface UploadGateOptions {
  /** Large bodies being received at once, all senders together. */
  max: number;
  /** Large bodies one sender may have in flight at once. */
  perSender: number;
}

export class UploadGate {
  private readonly bySender = new Map<string, number>();
  private total = 0;

  constructor(
    /** What the gate guards, for messages ("peer transfers", "client uploads"). */
    private readonly what: string,
    private readonly options: UploadGateOptions,
  ) {
    for (const k of ["max", "perSender"] as const) {
      if (!Number.isSafeInteger(options[k]) || options[k] < 1)
        throw new ServerError("bad_request", `${what}: ${k} must be a positive integer, got ${String(options[k])}`);
    }
  }

  /** A slot for one body from `sender`; call the returned function once the request is done with it. */
  acquire(sender: string): () => void {
    const mine = this.bySender.get(sender) ?? 0;
    if (mine >= this.options.perSender) {
      throw new ServerError(
        "too_many_requests",
        `${sender} already has ${mine} ${this.what} in flight (at most ${this.options.perSender} at once)`,
      );
    }
    if (this.total >= this.options.max)
      throw new ServerError("overloaded", `${this.total} ${this.what} in flight, the most this node takes at once`);
    this.total++;
    this.bySender.set(sender, mine + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.total--;
      const left = (this.bySender.get(sender) ?? 1) - 1;
      if (left === 0) this.bySender.delete(sender);
      else this.bySender.set(sender, left);
    };
  }

  /** Bodies in flight now. */
  get active(): number {
    return this.total;
  }
}
