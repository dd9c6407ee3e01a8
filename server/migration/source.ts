// The source side of a transfer (docs/migration-protocol.md): stop the job, send PREPARE (after
// pre-copy rounds, for a running job moving strongly), record the decision durably, then COMMIT —
// retried until the target answers. Also the owners' standing sharing grants, and the answer to a
// target's decision query. Recovery after a restart: undecided transfers abort, decided ones commit.

import { diffSnapshot, encodeSnapshot, type Snapshot } from "../../runtime/index.js";
import { checkGrant, type SignedGrant } from "../auth/index.js";
import { ServerError } from "../errors.js";
import { HttpError } from "../http-fetch.js";
import type { JobRecord, JobWasi, PeerRecord } from "../store/records.js";
import { backOff, FIRST_RETRY_MS, type MigrationContext } from "./context.js";
import type { MovableJob, OutgoingResources } from "./host.js";
import { PrecopySender, type PrecopyOptions } from "./precopy.js";
import { encodeTransferHeader, snapshotDigest, TRANSFER_VERSION, type TransferHeader } from "./transfer-header.js";

export type Decision = "commit" | "abort" | "unknown";
export type MigrationMode = "strong" | "weak";
type Movable = "queued" | "running" | "paused";

/** One transfer as the source runs it. */
interface Transfer {
  peer: PeerRecord;
  epoch: number;
  mode: MigrationMode;
  grant: SignedGrant | null;
  resources: OutgoingResources;
  /** Digests of the directories' blobs the target has acknowledged (pre-copy rounds). */
  sent: Set<string>;
}

export class MigrationSource<J extends MovableJob> {
  private readonly precopySender: PrecopySender;
  /** Owners' grants for load sharing, per live job and peer (gone with the job). */
  private readonly sharing = new WeakMap<J, Map<string, { grant: SignedGrant; expiresAt: number }>>();
  /** Transfers this node is sending now, by job id. */
  private readonly outgoing = new Map<string, { peer: string; codeHash: string }>();

  constructor(
    private readonly ctx: MigrationContext<J>,
    precopy: PrecopyOptions = {},
  ) {
    this.precopySender = new PrecopySender(precopy);
  }

  private get host() {
    return this.ctx.host;
  }

  /**
   * Hand `job` to `peerId`. `grant` is the owner's permission to run it there as the owner
   * (migration-grant.ts); without one the target runs it as anonymous, or refuses it if it needs
   * capabilities.
   */
  async send(job: J, peerId: string, mode: MigrationMode, grant: SignedGrant | null = null): Promise<void> {
    if (peerId === this.host.nodeId) throw new ServerError("bad_request", "a job cannot migrate to the node it is on");
    const peer = this.host.store.peers.require(peerId);
    // Moved by the node itself (load sharing): the owner's standing permission for that peer, if any.
    grant ??= this.sharingGrant(job, peer.nodeId);
    await job.exclusive(async () => {
      // While it is under way the target may download this job's code from us, and only then.
      this.outgoing.set(job.id, { peer: peer.nodeId, codeHash: job.record.codeHash });
      try {
        await this.transfer(job, peer, mode, grant);
      } finally {
        this.outgoing.delete(job.id);
      }
    });
  }

  /**
   * The owner's grants for the node to move `job` to these peers on its own (load sharing), each for
   * one peer; a later grant for a peer replaces the earlier one. Kept with the live job only.
   */
  allowSharing(job: J, grants: readonly SignedGrant[], targets: readonly string[]): void {
    if (job.record.owner === null) return;
    let held = this.sharing.get(job);
    if (!held) this.sharing.set(job, (held = new Map()));
    for (const [i, grant] of grants.entries()) {
      const check = checkGrant(this.host.store.clients, grant, {
        client: job.record.owner,
        job: job.id,
        source: this.host.nodeId,
        target: targets[i]!,
      });
      if (!check.ok) throw new ServerError("bad_request", `grant ${i}: ${check.reason}`);
      held.set(targets[i]!, { grant, expiresAt: check.grant.expiresAt });
    }
  }

  /** Whether the node may move `job` to `peer` on its own: it has no owner, or its owner's sharing grant for that peer is valid. */
  mayShare(job: J, peer: string): boolean {
    return job.record.owner === null || this.sharingGrant(job, peer) !== null;
  }

  /** The owner's sharing grant of `job` for `peer` while it has not expired (checked in full when it was given), or null. */
  private sharingGrant(job: J, peer: string): SignedGrant | null {
    const held = this.sharing.get(job)?.get(peer);
    return held && job.record.owner !== null && Date.now() <= held.expiresAt ? held.grant : null;
  }

  /** Whether `peer` may download module `codeHash` from us now: it is the code of a job we are sending it. */
  sending(peer: string, codeHash: string): boolean {
    for (const t of this.outgoing.values()) if (t.peer === peer && t.codeHash === codeHash) return true;
    return false;
  }

  private async transfer(job: J, peer: PeerRecord, mode: MigrationMode, grant: SignedGrant | null): Promise<void> {
    const before = job.record;
    if (before.state !== "running" && before.state !== "paused" && before.state !== "queued") {
      throw new ServerError("conflict", `job ${job.id} is ${before.state}; only queued, running or paused jobs migrate`);
    }
    const previous = before.state;
    // A queued job has no execution state yet: it always moves weakly.
    if (previous === "queued") mode = "weak";
    const epoch = before.epoch + 1;
    // Its directories: pinned here for the target (global references), or travelling with it.
    const resources = await this.host.resourcesFor(job, peer.nodeId);
    const t = { peer, epoch, mode, grant, resources, sent: new Set<string>() };
    try {
      // Pre-copy: while the job still runs here, ship a copy of its state; after the stop only the pages
      // it changed since then travel. A failed pre-copy only costs the optimisation.
      const base = mode === "strong" && previous === "running" ? await this.precopy(job, t).catch(() => undefined) : undefined;
      if (!(await this.host.stop(job))) throw new ServerError("conflict", `job ${job.id} finished before it could move`);
      this.ctx.mark("source:stopped", job.id);
      const trees = await this.captureTrees(job, previous, t);
      // Durable before anything leaves: a crash from here on is resolved by recover() (abort).
      this.host.update(job, { state: "migrating", result: { migratingTo: peer.nodeId, epoch } });
      const offer = await this.offer(job, before, previous, { ...t, base, trees });
      await this.prepare(job, peer, epoch, previous, offer);
    } catch (e) {
      await resources.abandon().catch(() => undefined);
      throw e;
    }
    // The decision: from this write on, the job belongs to the target. Fsynced whatever the store's
    // setting: COMMIT must never be sent for a decision a power cut could undo.
    this.host.store.durableTransaction(() =>
      this.host.update(job, { state: "migrated", node: peer.nodeId, epoch, result: { migratedTo: peer.nodeId, committed: false } }),
    );
    this.host.forget(job);
    this.ctx.mark("source:decided", job.id);
    // Moved directories leave this node now that the job is the target's (their bytes are stored there).
    void resources.decided().catch(() => undefined);
    try {
      await this.ctx.fault("source:after-decision", job.id);
      await this.commit(job.record, peer);
      this.ctx.mark("source:committed", job.id);
    } catch {
      // Decided but not (yet) acknowledged: retried until the target answers; the target may also ask.
      this.retryCommit(job.id, peer.nodeId, epoch, FIRST_RETRY_MS);
    }
  }

  /**
   * The travelling directories as they are now the job is stopped (only the blobs pre-copy did not
   * send); a tree that cannot travel (over the limits, unreadable) ends the attempt, the job goes on.
   */
  private async captureTrees(job: J, previous: Movable, t: Transfer): Promise<Uint8Array | undefined> {
    try {
      return (await t.resources.capture(t.sent))?.bundle;
    } catch (e) {
      await this.host.reinstate(job, undefined, previous);
      throw new ServerError(
        "conflict",
        `job ${job.id} cannot move to ${t.peer.nodeId}, the job goes on here: its directories cannot travel: ${e instanceof Error ? e.message : String(e)}`,
      );
    }
  }

  /** The PREPARE's header and body: the job's snapshot (strong; a delta on the pre-copied base if any) or its input (weak), then its trees. */
  private async offer(
    job: J,
    before: JobRecord,
    previous: Movable,
    t: Transfer & { base: { snapshot: Snapshot; hash: string } | undefined; trees: Uint8Array | undefined },
  ): Promise<{ header: TransferHeader; body: Uint8Array | undefined; snapshot: Snapshot | undefined }> {
    let header = this.header(before, t.peer, t.epoch, t.mode, t.grant, t.resources.wasi);
    let snapshot: Snapshot | undefined;
    let body: Uint8Array | undefined;
    if (t.mode === "strong" && previous === "paused") header = { ...header, paused: true };
    if (t.mode === "strong") {
      // Move, not copy: the memory goes straight into the encoder; on abort it comes back from `snapshot`.
      snapshot = await job.snapshot({ move: true });
      this.ctx.mark("source:snapshotted", job.id);
      // Version 4: the pages a pre-copy base already hashed are not hashed again, identical pages travel once.
      body = encodeSnapshot(t.base ? diffSnapshot(t.base.snapshot, snapshot) : snapshot, { pageTable: true });
      header = { ...header, snapshotSha256: snapshotDigest(body), baseHash: t.base?.hash ?? null };
    } else {
      const input = this.host.store.jobs.input(before);
      header = { ...header, input: input ? Buffer.from(input).toString("base64") : null };
    }
    if (t.trees) {
      header = { ...header, trees: t.trees.byteLength };
      body = body ? Buffer.concat([body, t.trees]) : t.trees;
    }
    this.ctx.mark("source:encoded", job.id, { body: body?.byteLength ?? 0, trees: t.trees?.byteLength ?? 0 });
    return { header, body, snapshot };
  }

  /** Send PREPARE; on any failure the transfer is undecided, so the job goes on here (and the error says so). */
  private async prepare(
    job: J,
    peer: PeerRecord,
    epoch: number,
    previous: Movable,
    offer: { header: TransferHeader; body: Uint8Array | undefined; snapshot: Snapshot | undefined },
  ): Promise<void> {
    try {
      await this.ctx.fault("source:before-prepare", job.id);
      const transfer = encodeTransferHeader(offer.header);
      await this.ctx.request(peer, "POST", "/peer/migrations/prepare", offer.body, { transfer: transfer.text });
      this.ctx.mark("source:prepared", job.id);
      await this.ctx.fault("source:after-prepare", job.id);
    } catch (e) {
      // Undecided: the job stays here. Tell the target to drop what it may have stored; if that is
      // lost too, its decision query will hear "abort".
      void this.tell(peer, "abort", job.id, epoch).catch(() => undefined);
      await this.host.reinstate(job, offer.snapshot, previous);
      throw new ServerError(
        "conflict",
        `migration to ${peer.nodeId} failed, the job goes on here: ${e instanceof Error ? e.message : String(e)}`,
      );
    }
  }

  /** Pre-copy rounds while the job runs on (precopy.ts), over signed PRE-COPY requests. */
  private precopy(job: J, t: Transfer): Promise<{ snapshot: Snapshot; hash: string }> {
    const { peer, epoch, grant } = t;
    return this.precopySender.run(job, {
      stop: (j) => this.host.stop(j),
      goOn: (j) => this.host.goOn(j),
      mark: (m) => this.ctx.mark(m, job.id),
      send: async (body, baseHash) => {
        // The directories' bytes go early too: the PREPARE then carries only what changed since.
        const trees = await t.resources.capture(t.sent);
        const header: TransferHeader = {
          ...this.header(job.record, peer, epoch, "strong", grant, t.resources.wasi),
          kind: "base",
          snapshotSha256: snapshotDigest(body),
          baseHash,
          trees: trees?.bundle.byteLength ?? 0,
        };
        const transfer = encodeTransferHeader(header);
        const sent = trees ? Buffer.concat([body, trees.bundle]) : body;
        const r = await this.ctx.request(peer, "POST", "/peer/migrations/precopy", sent, { transfer: transfer.text });
        const { baseHash: stored } = (await r.json()) as { baseHash: string };
        for (const d of trees?.digests ?? []) t.sent.add(d);
        this.ctx.mark("source:precopied", job.id, { body: sent.byteLength, trees: trees?.bundle.byteLength ?? 0 });
        return stored;
      },
    });
  }

  /** After a restart: undecided transfers abort (the job runs here again), decided ones get committed. */
  recover(): void {
    const store = this.host.store;
    for (const record of store.jobs.list({ node: this.host.nodeId, state: "migrating" })) {
      const to = (record.result as { migratingTo?: string; epoch?: number } | null) ?? {};
      const peer = to.migratingTo ? store.peers.get(to.migratingTo) : undefined;
      if (peer && to.epoch) void this.tell(peer, "abort", record.id, to.epoch).catch(() => undefined);
      store.jobs.update(record.id, { state: "running", result: null }, { expectEpoch: record.epoch });
    }
    for (const record of store.jobs.list({ state: "migrated" })) {
      const r = record.result as { migratedTo?: string; committed?: boolean } | null;
      if (r?.committed === false && r.migratedTo) this.retryCommit(record.id, r.migratedTo, record.epoch, 0);
    }
  }

  private header(
    record: JobRecord,
    peer: PeerRecord,
    epoch: number,
    mode: MigrationMode,
    grant: SignedGrant | null,
    wasi: JobWasi | null,
  ): TransferHeader {
    return {
      v: TRANSFER_VERSION,
      kind: mode,
      jobId: record.id,
      epoch,
      source: this.host.nodeId,
      target: peer.nodeId,
      codeHash: record.codeHash,
      entry: record.entry,
      args: record.args,
      owner: record.owner,
      trust: record.trust,
      sandbox: record.sandbox,
      fuelLimit: record.fuelLimit,
      fuelUsed: record.fuelUsed,
      snapshotSha256: null,
      baseHash: null,
      input: null,
      wasi,
      // Only for the owner's own job: a grant names its client, and the target checks it against `owner`.
      grant: record.owner === null ? null : grant,
    };
  }

  private async commit(record: JobRecord, peer: PeerRecord): Promise<void> {
    await this.tell(peer, "commit", record.id, record.epoch);
    const current = this.host.store.jobs.get(record.id);
    if (current && current.state === "migrated" && current.epoch === record.epoch) {
      this.host.store.jobs.update(record.id, { result: { migratedTo: peer.nodeId, committed: true } }, { expectEpoch: record.epoch });
    }
  }

  private retryCommit(jobId: string, peerId: string, epoch: number, delayMs: number): void {
    this.ctx.later(delayMs, async () => {
      const record = this.host.store.jobs.get(jobId);
      const peer = this.host.store.peers.get(peerId);
      if (!record || !peer || record.state !== "migrated" || record.epoch !== epoch) return;
      try {
        await this.commit(record, peer);
      } catch (e) {
        // A definite refusal means the target moved on (it asked us and aborted, or already has a newer
        // epoch); anything else (network) is retried.
        if (e instanceof HttpError && e.status === 409) return;
        this.retryCommit(jobId, peerId, epoch, backOff(delayMs));
      }
    });
  }

  private async tell(peer: PeerRecord, what: "commit" | "abort", jobId: string, epoch: number): Promise<void> {
    const body = new TextEncoder().encode(JSON.stringify({ jobId, epoch }));
    await this.ctx.request(peer, "POST", `/peer/migrations/${what}`, body, { timeoutMs: 10_000 });
  }

  /**
   * The source's answer to "did you hand job X over to me at epoch N?": commit only for exactly that
   * recorded decision; unknown while that very transfer is still undecided; abort otherwise (any other
   * state means transfer N can never be decided for the asker).
   */
  decision(jobId: string, epoch: number, asker: string): Decision {
    const record = this.host.store.jobs.get(jobId);
    if (!record) return "abort";
    if (record.state === "migrating") {
      const to = (record.result as { migratingTo?: string; epoch?: number } | null) ?? {};
      return to.migratingTo === asker && to.epoch === epoch ? "unknown" : "abort";
    }
    if (record.state === "migrated" && record.node === asker && record.epoch === epoch) return "commit";
    return "abort";
  }
}
