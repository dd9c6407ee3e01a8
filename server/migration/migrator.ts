// Node-to-node migration with exactly-once hand-over (docs/migration-protocol.md): a two-step
// PREPARE / COMMIT driven by the source, with the decision recorded durably at the source between
// the two. A job is `prepared` at the target (stored, never run) until COMMIT; the source's record
// decides, so after any failure the job continues at exactly one node.
//
// This is the façade the node holds and the /peer routes call: the source side is source.ts, the
// target side target.ts, what they need of the node host.ts (no HTTP, no node internals here).

import type { NodeIdentity, SignedGrant } from "../auth/index.js";
import type { PeerRecord } from "../store/records.js";
import { MigrationContext, type MigrationSeams } from "./context.js";
import type { MovableJob, TransferHost } from "./host.js";
import type { PrecopyOptions } from "./precopy.js";
import { MigrationSource, type Decision, type MigrationMode } from "./source.js";
import { MigrationTarget } from "./target.js";
import type { TransferHeader } from "./transfer-header.js";

export type { TransferBytes, TransferMark, TransferProbe, MigrationSeams } from "./context.js";
export type { MovableJob, TransferHost } from "./host.js";
export type { Decision, MigrationMode } from "./source.js";
export { PREPARED_QUERY_AFTER_MS, preparedFrom, preparedPaused } from "./target.js";

export interface MigratorOptions extends MigrationSeams {
  /** Iterative pre-copy before a strong migration of a running job (precopy.ts). */
  precopy?: PrecopyOptions | undefined;
}

export class Migrator<J extends MovableJob = MovableJob> {
  private readonly ctx: MigrationContext<J>;
  private readonly source: MigrationSource<J>;
  private readonly target: MigrationTarget<J>;

  constructor(host: TransferHost<J>, identity: NodeIdentity, options: MigratorOptions = {}) {
    this.ctx = new MigrationContext(host, identity, { faults: options.faults, probe: options.probe });
    this.source = new MigrationSource(this.ctx, options.precopy);
    this.target = new MigrationTarget(this.ctx);
  }

  close(): void {
    this.ctx.close();
    this.target.close();
  }

  /** After a restart: undecided transfers abort (the job runs here again), decided ones get committed, prepared ones ask. */
  async recover(): Promise<void> {
    this.source.recover();
    this.target.recover();
  }

  // ---- source side (source.ts) ----

  send(job: J, peerId: string, mode: MigrationMode, grant: SignedGrant | null = null): Promise<void> {
    return this.source.send(job, peerId, mode, grant);
  }
  allowSharing(job: J, grants: readonly SignedGrant[], targets: readonly string[]): void {
    this.source.allowSharing(job, grants, targets);
  }
  mayShare(job: J, peer: string): boolean {
    return this.source.mayShare(job, peer);
  }
  sending(peer: string, codeHash: string): boolean {
    return this.source.sending(peer, codeHash);
  }
  decision(jobId: string, epoch: number, asker: string): Decision {
    return this.source.decision(jobId, epoch, asker);
  }

  // ---- target side (target.ts) ----

  checkOffer(peer: PeerRecord, header: TransferHeader, kind: "prepare" | "precopy"): void {
    this.target.checkOffer(peer, header, kind);
  }
  prepare(peer: PeerRecord, offered: TransferHeader, body: Uint8Array): Promise<{ prepared: true; epoch: number }> {
    return this.target.prepare(peer, offered, body);
  }
  storeBase(peer: PeerRecord, offered: TransferHeader, body: Uint8Array): Promise<{ baseHash: string }> {
    return this.target.storeBase(peer, offered, body);
  }
  applyCommit(peer: PeerRecord, jobId: string, epoch: number): Promise<{ committed: true }> {
    return this.target.applyCommit(peer, jobId, epoch);
  }
  abortFrom(peer: PeerRecord, jobId: string, epoch: number): { aborted: boolean } {
    return this.target.abortFrom(peer, jobId, epoch);
  }
}
