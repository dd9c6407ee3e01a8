// What the two sides of a transfer share: the node's signing identity, the host, the timers of
// retries and decision queries (cancelled together on close), and the test seams — the fault hook
// and the transfer probe, passed in by whoever makes the node (never module globals).

import type { NodeIdentity } from "../auth/index.js";
import type { PeerRecord } from "../store/records.js";
import { peerRequest, type PeerRequestOptions } from "../peers/peer-link.js";
import type { FaultHook, TransferStep } from "./faults.js";
import type { MovableJob, TransferHost } from "./host.js";

/** Commit retries and decision queries back off from this to MAX_RETRY_MS. */
export const FIRST_RETRY_MS = 200;
export const MAX_RETRY_MS = 5_000;

/** The next back-off delay after `delayMs`. */
export function backOff(delayMs: number): number {
  return Math.min(MAX_RETRY_MS, Math.max(FIRST_RETRY_MS, delayMs * 2));
}

/** Named instants of a transfer, on the source and on the target (bench/node.ts times downtime with them). */
export type TransferMark =
  | "source:precopy-stopped"
  | "source:precopy-resumed"
  | "source:precopied"
  | "source:stopped"
  | "source:snapshotted"
  | "source:encoded"
  | "source:prepared"
  | "source:decided"
  | "source:committed"
  | "target:precopied"
  | "target:prepare"
  | "target:decoded"
  | "target:stored"
  | "target:commit"
  | "target:running";

/** What a request the mark follows carried: its body, and how much of it was the directories' tree bundle. */
export interface TransferBytes {
  body: number;
  trees: number;
}

/**
 * `bytes`: on "source:precopied" and "target:precopied" (that round's PRE-COPY), "source:encoded" (the
 * PREPARE's body as sent) and "target:prepare" (as received).
 */
export type TransferProbe = (mark: TransferMark, jobId: string, nodeId: string, bytes?: TransferBytes) => void;

/** Test and bench seams of a node's migration; a production node sets neither. */
export interface MigrationSeams {
  /** Tests: failures injected at named steps of the protocol (faults.ts). */
  faults?: FaultHook | undefined;
  /** Tests and benches: called at each TransferMark of every transfer this node takes part in. */
  probe?: TransferProbe | undefined;
}

export class MigrationContext<J extends MovableJob> {
  private readonly timers = new Set<NodeJS.Timeout>();
  closed = false;

  constructor(
    readonly host: TransferHost<J>,
    private readonly identity: NodeIdentity,
    private readonly seams: MigrationSeams = {},
  ) {}

  /** A signed request to `peer` (non-2xx answers throw HttpError). */
  request(peer: PeerRecord, method: string, path: string, body?: Uint8Array, options?: PeerRequestOptions): Promise<Response> {
    return peerRequest(this.identity, peer, method, path, body, options);
  }

  /** Run `fn` after `delayMs` unless the node closes first; its failure is dropped (callers retry). */
  later(delayMs: number, fn: () => Promise<void>): void {
    if (this.closed) return;
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (!this.closed) void fn().catch(() => undefined);
    }, delayMs);
    t.unref();
    this.timers.add(t);
  }

  mark(mark: TransferMark, jobId: string, bytes?: TransferBytes): void {
    this.seams.probe?.(mark, jobId, this.host.nodeId, bytes);
  }

  async fault(step: TransferStep, jobId: string): Promise<void> {
    await this.seams.faults?.(step, jobId);
  }

  close(): void {
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }
}
