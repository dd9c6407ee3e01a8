// A job's monotonic clock, virtualised: it runs with the host's while the job is on a node, and a
// restore continues it from the value the snapshot carried, so it never goes backwards across a
// migration (another machine's monotonic clock has an unrelated origin) and time spent in transit
// is not seen as time the job waited.

export type NanoClock = () => bigint;

export const hostMonotonicNs: NanoClock = () => process.hrtime.bigint();
export const hostRealtimeNs: NanoClock = () => BigInt(Date.now()) * 1_000_000n;

export class VirtualClock {
  private base: bigint;
  private anchor: bigint;

  constructor(private readonly host: NanoClock = hostMonotonicNs) {
    this.anchor = host();
    this.base = this.anchor;
  }

  /** Nanoseconds on the job's monotonic clock. */
  now(): bigint {
    return this.base + (this.host() - this.anchor);
  }

  /** Continue from `ns` (a snapshot's reading), whatever this host's clock says. */
  continueFrom(ns: bigint): void {
    this.anchor = this.host();
    this.base = ns;
  }
}
