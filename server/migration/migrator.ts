// Node-to-node migration with exactly-once hand-over (docs/migration-protocol.md): a two-step
// PREPARE / COMMIT driven by the source, with the decision recorded durably at the source between
// the two. A job is `prepared` at the target (stored, never run) until COMMIT; the source's record
// decides, so after any failure the job continues at exactly one node.

import { createHash } from "node:crypto";
import {
  applyDelta,
  decodeSnapshot,
  diffSnapshot,
  DEFAULT_MAX_MODULE_BYTES,
  encodeSnapshot,
  snapshotDecodeLimits,
  type GuestModule,
  type Snapshot,
  importedResourceCall,
} from "../../runtime/index.js";
import { encodeDeltaCheckpoint } from "./checkpoint-format.js";
import { checkGrant, type NodeIdentity, type SignedGrant } from "../auth/index.js";
import { HttpError } from "../http-fetch.js";
import { ServerError } from "../errors.js";
import type { LiveJob } from "../node/live-job.js";
import type { JobPatch } from "../store/jobs.js";
import type { JobRecord, PeerRecord } from "../store/records.js";
import type { Store } from "../store/store.js";
import { checkTransferBody, encodeTransferHeader, snapshotDigest, TRANSFER_VERSION, type TransferHeader } from "./transfer-header.js";
import type { FaultHook, TransferStep } from "./faults.js";
import { PrecopyBases, PrecopySender, type PrecopyOptions, type StoredBase } from "./precopy.js";
import { peerRequest } from "../peers/peer-link.js";

export interface TransferHost {
  nodeId(): string;
  store: Store;
  stop(job: LiveJob): Promise<boolean>;
  update(job: LiveJob, patch: JobPatch): void;
  forget(job: LiveJob): void;
  reinstate(job: LiveJob, snapshot: Snapshot | undefined, previous: "queued" | "running" | "paused"): Promise<void>;
  /** Let a job stopped for a moment (a pre-copy) run on. */
  goOn(job: LiveJob): void;
  /** The memory cap (pages) a job of `owner` runs with here. */
  maxMemoryPages(owner: string | null): number;
  /** The most fuel one job of `owner` may use here (its quota). */
  maxFuelPerJob(owner: string | null): number;
  /**
   * Restore a prepared strong transfer, paused, without registering it; throws if it cannot run here.
   * `header` is the target's own view of the job (owner by grant, limits capped); `module` its code.
   */
  stage(header: TransferHeader, snapshot: Snapshot, module: Uint8Array): Promise<LiveJob>;
  /** Drop a staged job that will not be committed. */
  discard(staged: LiveJob): void;
  /** Run a committed job here: `staged` if it is still held, else from its checkpoint (strong) or its start (weak). */
  adopt(record: JobRecord, staged?: LiveJob): Promise<void>;
  /** Check arriving code the way an upload is checked (validate, instrument) for a job of `owner`. */
  compile(bytes: Uint8Array, owner: string | null): Promise<GuestModule>;
  live(id: string): LiveJob | undefined;
}

/** Commit retries and decision queries back off from this to MAX_RETRY_MS. */
const FIRST_RETRY_MS = 200;
const MAX_RETRY_MS = 5_000;
/** A prepared job whose COMMIT has not come after this long asks its source for the decision. */
export const PREPARED_QUERY_AFTER_MS = 2_000;

export type Decision = "commit" | "abort" | "unknown";

const MAX_STAGED_KEPT = 2;

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
  | "target:prepare"
  | "target:decoded"
  | "target:stored"
  | "target:commit"
  | "target:running";

export type TransferProbe = (mark: TransferMark, jobId: string, nodeId: string) => void;

let transferProbe: TransferProbe | undefined;

/** Benchmarks only: called at each TransferMark of every transfer in this process (one test when unset). */
export function setTransferProbe(probe: TransferProbe | undefined): void {
  transferProbe = probe;
}

export class Migrator {
  private readonly timers = new Set<NodeJS.Timeout>();
  private closed = false;

  private readonly precopySender: PrecopySender;
  /** Owners' grants for load sharing, per live job and peer (gone with the job). */
  private readonly sharing = new WeakMap<LiveJob, Map<string, { grant: SignedGrant; expiresAt: number }>>();
  /** Transfers this node is sending now, by job id. */
  private readonly outgoing = new Map<string, { peer: string; codeHash: string }>();
  private readonly bases: PrecopyBases;

  constructor(
    private readonly host: TransferHost,
    private readonly identity: NodeIdentity,
    private readonly faults: FaultHook | undefined,
    precopy: PrecopyOptions = {},
  ) {
    this.precopySender = new PrecopySender(precopy);
    this.bases = new PrecopyBases(host.store);
  }

  close(): void {
    this.closed = true;
    for (const job of this.staged.values()) this.host.discard(job);
    this.staged.clear();
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
  }

  // ---- source side ----

  /**
   * Hand `job` to `peerId`. `grant` is the owner's permission to run it there as the owner
   * (migration-grant.ts); without one the target runs it as anonymous, or refuses it if it needs
   * capabilities.
   */
  async send(job: LiveJob, peerId: string, mode: "strong" | "weak", grant: SignedGrant | null = null): Promise<void> {
    if (peerId === this.host.nodeId()) throw new ServerError("bad_request", "a job cannot migrate to the node it is on");
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
  allowSharing(job: LiveJob, grants: readonly SignedGrant[], targets: readonly string[]): void {
    if (job.record.owner === null) return;
    let held = this.sharing.get(job);
    if (!held) this.sharing.set(job, (held = new Map()));
    for (const [i, grant] of grants.entries()) {
      const check = checkGrant(this.host.store.clients, grant, {
        client: job.record.owner,
        job: job.id,
        source: this.host.nodeId(),
        target: targets[i]!,
      });
      if (!check.ok) throw new ServerError("bad_request", `grant ${i}: ${check.reason}`);
      held.set(targets[i]!, { grant, expiresAt: check.grant.expiresAt });
    }
  }

  /** Whether the node may move `job` to `peer` on its own: it has no owner, or its owner's sharing grant for that peer is valid. */
  mayShare(job: LiveJob, peer: string): boolean {
    return job.record.owner === null || this.sharingGrant(job, peer) !== null;
  }

  /** The owner's sharing grant of `job` for `peer` while it has not expired (checked in full when it was given), or null. */
  private sharingGrant(job: LiveJob, peer: string): SignedGrant | null {
    const held = this.sharing.get(job)?.get(peer);
    return held && job.record.owner !== null && Date.now() <= held.expiresAt ? held.grant : null;
  }

  /** Whether `peer` may download module `codeHash` from us now: it is the code of a job we are sending it. */
  sending(peer: string, codeHash: string): boolean {
    for (const t of this.outgoing.values()) if (t.peer === peer && t.codeHash === codeHash) return true;
    return false;
  }

  private async transfer(job: LiveJob, peer: PeerRecord, mode: "strong" | "weak", grant: SignedGrant | null): Promise<void> {
    const before = job.record;
    if (before.state !== "running" && before.state !== "paused" && before.state !== "queued") {
      throw new ServerError("conflict", `job ${job.id} is ${before.state}; only queued, running or paused jobs migrate`);
    }
    const previous = before.state;
    // A queued job has no execution state yet: it always moves weakly.
    if (previous === "queued") mode = "weak";
    const epoch = before.epoch + 1;
    // Pre-copy: while the job still runs here, ship a copy of its state; after the stop only the pages
    // it changed since then travel. A failed pre-copy only costs the optimisation.
    const base =
      mode === "strong" && previous === "running" ? await this.precopy(job, peer, epoch, grant).catch(() => undefined) : undefined;
    if (!(await this.host.stop(job))) throw new ServerError("conflict", `job ${job.id} finished before it could move`);
    this.mark("source:stopped", job.id);
    // Durable before anything leaves: a crash from here on is resolved by recover() (abort).
    this.host.update(job, { state: "migrating", result: { migratingTo: peer.nodeId, epoch } });
    let snapshot: Snapshot | undefined;
    let body: Uint8Array | undefined;
    let header = this.header(before, peer, epoch, mode, grant);
    if (mode === "strong" && previous === "paused") header = { ...header, paused: true };
    if (mode === "strong") {
      // Move, not copy: the memory goes straight into the encoder; on abort it comes back from `snapshot`.
      snapshot = await job.instance!.snapshot({ move: true });
      this.mark("source:snapshotted", job.id);
      body = encodeSnapshot(base ? diffSnapshot(base.snapshot, snapshot) : snapshot);
      header = { ...header, snapshotSha256: snapshotDigest(body), baseHash: base?.hash ?? null };
    } else {
      const input = this.host.store.jobs.input(before);
      header = { ...header, input: input ? Buffer.from(input).toString("base64") : null };
    }
    this.mark("source:encoded", job.id);
    try {
      await this.fault("source:before-prepare", job.id);
      const transfer = encodeTransferHeader(header);
      await peerRequest(this.identity, peer, "POST", "/peer/migrations/prepare", body, { transfer: transfer.text });
      this.mark("source:prepared", job.id);
      await this.fault("source:after-prepare", job.id);
    } catch (e) {
      // Undecided: the job stays here. Tell the target to drop what it may have stored; if that is
      // lost too, its decision query will hear "abort".
      void this.tell(peer, "abort", job.id, epoch).catch(() => undefined);
      await this.host.reinstate(job, snapshot, previous);
      throw new ServerError(
        "conflict",
        `migration to ${peer.nodeId} failed, the job goes on here: ${e instanceof Error ? e.message : String(e)}`,
      );
    }
    // The decision: from this write on, the job belongs to the target. Fsynced whatever the store's
    // setting: COMMIT must never be sent for a decision a power cut could undo.
    this.host.store.durableTransaction(() =>
      this.host.update(job, { state: "migrated", node: peer.nodeId, epoch, result: { migratedTo: peer.nodeId, committed: false } }),
    );
    this.host.forget(job);
    this.mark("source:decided", job.id);
    try {
      await this.fault("source:after-decision", job.id);
      await this.commit(job.record, peer);
      this.mark("source:committed", job.id);
    } catch {
      // Decided but not (yet) acknowledged: retried until the target answers; the target may also ask.
      this.retryCommit(job.id, peer.nodeId, epoch, FIRST_RETRY_MS);
    }
  }

  /** Pre-copy rounds while the job runs on (precopy.ts), over signed PRE-COPY requests. */
  private precopy(job: LiveJob, peer: PeerRecord, epoch: number, grant: SignedGrant | null): Promise<{ snapshot: Snapshot; hash: string }> {
    return this.precopySender.run(job, {
      stop: (j) => this.host.stop(j),
      goOn: (j) => this.host.goOn(j),
      mark: (m) => this.mark(m, job.id),
      send: async (body, baseHash) => {
        const header: TransferHeader = {
          ...this.header(job.record, peer, epoch, "strong", grant),
          kind: "base",
          snapshotSha256: snapshotDigest(body),
          baseHash,
        };
        const transfer = encodeTransferHeader(header);
        const r = await peerRequest(this.identity, peer, "POST", "/peer/migrations/precopy", body, { transfer: transfer.text });
        const { baseHash: stored } = (await r.json()) as { baseHash: string };
        this.mark("source:precopied", job.id);
        return stored;
      },
    });
  }

  /** After a restart: undecided transfers abort (the job runs here again), decided ones get committed. */
  async recover(): Promise<void> {
    const store = this.host.store;
    const self = this.host.nodeId();
    for (const record of store.jobs.list({ node: self, state: "migrating" })) {
      const to = (record.result as { migratingTo?: string; epoch?: number } | null) ?? {};
      const peer = to.migratingTo ? store.peers.get(to.migratingTo) : undefined;
      if (peer && to.epoch) void this.tell(peer, "abort", record.id, to.epoch).catch(() => undefined);
      store.jobs.update(record.id, { state: "running", result: null }, { expectEpoch: record.epoch });
    }
    for (const record of store.jobs.list({ state: "migrated" })) {
      const r = record.result as { migratedTo?: string; committed?: boolean } | null;
      if (r?.committed === false && r.migratedTo) this.retryCommit(record.id, r.migratedTo, record.epoch, 0);
    }
    for (const record of store.jobs.list({ node: self, state: "prepared" })) this.queryDecision(record.id, record.epoch, 0);
  }

  private header(record: JobRecord, peer: PeerRecord, epoch: number, mode: "strong" | "weak", grant: SignedGrant | null): TransferHeader {
    return {
      v: TRANSFER_VERSION,
      kind: mode,
      jobId: record.id,
      epoch,
      source: this.host.nodeId(),
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
    this.later(delayMs, async () => {
      const record = this.host.store.jobs.get(jobId);
      const peer = this.host.store.peers.get(peerId);
      if (!record || !peer || record.state !== "migrated" || record.epoch !== epoch) return;
      try {
        await this.commit(record, peer);
      } catch (e) {
        // A definite refusal means the target moved on (it asked us and aborted, or already has a newer
        // epoch); anything else (network) is retried.
        if (e instanceof HttpError && e.status === 409) return;
        this.retryCommit(jobId, peerId, epoch, Math.min(MAX_RETRY_MS, Math.max(FIRST_RETRY_MS, delayMs * 2)));
      }
    });
  }

  private async tell(peer: PeerRecord, what: "commit" | "abort", jobId: string, epoch: number): Promise<void> {
    const body = new TextEncoder().encode(JSON.stringify({ jobId, epoch }));
    await peerRequest(this.identity, peer, "POST", `/peer/migrations/${what}`, body, { timeoutMs: 10_000 });
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

  // ---- target side ----

  /**
   * What a transfer from `peer` may be, judged from its signed header before its body is read: from
   * the node that signed it, for this node, and for a job this node holds no other claim to. Throws
   * 403 when another peer's transfer of the job is pending here, 409 when the job is ours otherwise.
   */
  checkOffer(peer: PeerRecord, header: TransferHeader, kind: "prepare" | "precopy"): void {
    if (kind === "precopy" && header.kind !== "base") throw new ServerError("bad_request", "transfer: a pre-copy is of kind base");
    if (kind === "prepare" && header.kind === "base") throw new ServerError("bad_request", "transfer: a PREPARE is strong or weak");
    if (header.source !== peer.nodeId)
      throw new ServerError("forbidden", `transfer says it comes from ${header.source}, signed by ${peer.nodeId}`);
    if (header.target !== this.host.nodeId())
      throw new ServerError("bad_request", `transfer is for node ${header.target}, this is ${this.host.nodeId()}`);
    this.replaceable(peer, header);
  }

  /**
   * The record of job `header.jobId` this node holds that a transfer from `peer` may replace, or
   * undefined if it holds none. Only the same source may retry (or renew) a pending PREPARE; a job
   * that left here may come back at a later epoch; any other record is this node's to keep.
   */
  private replaceable(peer: PeerRecord, header: TransferHeader): JobRecord | undefined {
    const existing = this.host.store.jobs.get(header.jobId);
    if (!existing) return undefined;
    if (this.host.live(header.jobId)) throw new ServerError("conflict", `job ${header.jobId} is live here`);
    if (existing.state === "prepared") {
      const from = preparedFrom(existing);
      if (from !== peer.nodeId) throw new ServerError("forbidden", `job ${header.jobId} is being transferred here by another node`);
      if (existing.epoch > header.epoch)
        throw new ServerError("conflict", `job ${header.jobId} is already at epoch ${existing.epoch} here`);
      return existing;
    }
    if (existing.state === "migrated" && existing.epoch < header.epoch) return existing;
    throw new ServerError("conflict", `job ${header.jobId} is ${existing.state} at epoch ${existing.epoch} here`);
  }

  /**
   * The job as this node will run it: as its owner only under the owner's valid grant for exactly
   * this move, otherwise as anonymous code (no owner, in-process, anonymous quotas); its fuel limit
   * the one asked for, capped by the quota it runs under here. A grant that is present but invalid
   * is refused (403): the job stays at its source rather than silently lose its owner.
   */
  private asRunHere(peer: PeerRecord, header: TransferHeader): TransferHeader {
    let owner: string | null = null;
    if (header.owner !== null && header.grant !== null) {
      const check = checkGrant(this.host.store.clients, header.grant, {
        client: header.owner,
        job: header.jobId,
        source: peer.nodeId,
        target: this.host.nodeId(),
      });
      if (!check.ok) throw new ServerError("forbidden", `job ${header.jobId}: ${check.reason}`);
      owner = check.client.id;
    }
    const cap = this.host.maxFuelPerJob(owner);
    const fuelLimit = Math.min(header.fuelLimit ?? cap, cap);
    if (owner !== null) return { ...header, owner, trust: "authenticated", fuelLimit };
    return { ...header, owner: null, trust: "anonymous", sandbox: "in-process", fuelLimit, grant: null };
  }

  /**
   * The job's code, checked for a job of `header.owner`: the bytes to store with the PREPARE when
   * this node must take them from the source (it lacks them, or holds them privately for others —
   * the source proves it has the code by sending it), else undefined. Code that needs capabilities
   * is refused for a job without an owner here (403): anonymous code binds no resources.
   */
  private async obtainModule(
    peer: PeerRecord,
    header: TransferHeader,
    fetched?: Uint8Array,
  ): Promise<{ bytes: Uint8Array; store: boolean; usesResources: boolean }> {
    const modules = this.host.store.modules;
    const record = modules.get(header.codeHash);
    let bytes: Uint8Array;
    let store = false;
    if (record && modules.visibleTo(header.codeHash, header.owner, record)) {
      bytes = modules.read(header.codeHash);
    } else {
      bytes = fetched ?? (await this.download(peer, header.codeHash));
      store = true;
    }
    const module = await this.host.compile(bytes, header.owner);
    const resourceCall = importedResourceCall(module.wasm);
    if (header.owner === null && resourceCall) {
      throw new ServerError(
        "forbidden",
        `job ${header.jobId} imports ${resourceCall}: it needs its owner's capabilities, and the transfer carries no grant of its owner`,
      );
    }
    return { bytes, store, usesResources: resourceCall !== undefined };
  }

  /** Receiver-initiated download of the code segment from the source; any failure is the peer's (502). */
  private async download(peer: PeerRecord, codeHash: string): Promise<Uint8Array> {
    let bytes: Uint8Array;
    try {
      const r = await peerRequest(this.identity, peer, "GET", `/peer/modules/${codeHash}`, undefined, {
        maxResponseBytes: DEFAULT_MAX_MODULE_BYTES,
      });
      bytes = new Uint8Array(await r.arrayBuffer());
    } catch (e) {
      const why = e instanceof HttpError ? `HTTP ${e.status} ${e.code}: ${e.message}` : e instanceof Error ? e.message : String(e);
      throw new ServerError("peer_error", `downloading module ${codeHash} from ${peer.nodeId} failed: ${why}`, { cause: e });
    }
    if (createHash("sha256").update(bytes).digest("hex") !== codeHash)
      throw new ServerError("peer_error", `the module ${peer.nodeId} sent is not ${codeHash}`);
    return bytes;
  }

  /** PREPARE from `peer`, whose signature over `header` and `body` the intake has checked. */
  async prepare(peer: PeerRecord, offered: TransferHeader, body: Uint8Array): Promise<{ prepared: true; epoch: number }> {
    this.checkOffer(peer, offered, "prepare");
    const snapshot = checkTransferBody(offered, body);
    this.mark("target:prepare", offered.jobId);
    let header = this.asRunHere(peer, offered);
    const base = header.baseHash ? this.bases.take(header.jobId, header.epoch, header.baseHash, peer.nodeId) : undefined;
    // What is in hand first (format, the trailing sha256 against the contents, and the job's memory
    // cap before inflating), then the code, which may have to come from the source.
    let decoded = snapshot ? decodeSnapshot(snapshot, snapshotDecodeLimits(this.host.maxMemoryPages(header.owner))) : undefined;
    if (decoded && decoded.codeHash !== header.codeHash)
      throw new ServerError("bad_request", "snapshot and transfer name different modules");
    const module = await this.obtainModule(peer, header, base?.module);
    // Resource calls are served off this node's event loop, which only an isolated guest can wait
    // for: a client's job that uses them runs isolated here, whatever it ran in at the source.
    if (module.usesResources && header.sandbox === "in-process") header = { ...header, sandbox: "isolated" };
    let staged: LiveJob | undefined;
    if (decoded) {
      if (base) decoded = applyDelta(base.snapshot, decoded);
      this.mark("target:decoded", header.jobId);
      // Restored now, paused: a snapshot that cannot run here is refused before anything is stored,
      // and COMMIT only has to let it go on.
      staged = await this.host.stage(header, decoded, module.bytes);
    }
    // Durable before the answer: the source decides on the strength of it.
    try {
      const existing = this.replaceable(peer, header);
      this.storePrepared(peer, header, snapshot, existing, base, module.store ? module.bytes : undefined);
    } catch (e) {
      if (staged) this.host.discard(staged);
      throw e;
    }
    this.mark("target:stored", header.jobId);
    if (staged) this.keepStaged(header.jobId, header.epoch, staged);
    await this.fault("target:after-prepare", header.jobId);
    this.queryDecision(header.jobId, header.epoch, PREPARED_QUERY_AFTER_MS);
    return { prepared: true, epoch: header.epoch };
  }

  private storePrepared(
    peer: PeerRecord,
    header: TransferHeader,
    snapshot: Uint8Array | undefined,
    existing: JobRecord | undefined,
    base: StoredBase | undefined,
    module: Uint8Array | undefined,
  ): void {
    const store = this.host.store;
    store.durableTransaction(() => {
      // The code first, with the job: a refused PREPARE stores neither. The owner (by grant) ran this
      // code at the source, so it may run it here too.
      if (module) store.modules.put(module, { owner: header.owner, public: false });
      else if (header.owner !== null) store.modules.addOwner(header.codeHash, header.owner);
      if (existing) store.jobs.delete(header.jobId, { expectEpoch: existing.epoch });
      store.jobs.create({
        id: header.jobId,
        codeHash: header.codeHash,
        owner: header.owner,
        trust: header.trust,
        sandbox: header.sandbox,
        entry: header.entry,
        args: header.args,
        ...(header.input ? { input: Buffer.from(header.input, "base64") } : {}),
        fuelLimit: header.fuelLimit,
        state: "prepared",
        fuelUsed: header.fuelUsed,
        epoch: header.epoch,
        node: this.host.nodeId(),
      });
      // Remembered for the decision query, should COMMIT never come, and to take COMMIT and ABORT from this peer only.
      // A job that was paused at the source stays paused here once committed (adopt reads `paused`).
      store.jobs.update(
        header.jobId,
        { result: { preparedFrom: peer.nodeId, ...(header.paused === true ? { paused: true } : {}) } },
        { expectEpoch: header.epoch },
      );
      // Retained: COMMIT restores from these bytes without reading back and rehashing the file.
      if (snapshot && base) {
        // The base (already durable since the pre-copy) and the delta on top of it: two checkpoints,
        // the newer of which names the older (checkpoint-format.ts).
        store.checkpoints.addStored(header.jobId, base.hash, base.size, { fuel: header.fuelUsed, expectEpoch: header.epoch });
        store.checkpoints.add(header.jobId, encodeDeltaCheckpoint(base.hash, snapshot), {
          fuel: header.fuelUsed,
          expectEpoch: header.epoch,
        });
      } else if (snapshot) {
        store.checkpoints.add(header.jobId, snapshot, { fuel: header.fuelUsed, expectEpoch: header.epoch });
      }
    });
  }

  /** A pre-copied base: verified, stored durably (not yet referenced by any row), kept decoded. */
  async storeBase(peer: PeerRecord, offered: TransferHeader, body: Uint8Array): Promise<{ baseHash: string }> {
    this.checkOffer(peer, offered, "precopy");
    if (body.byteLength === 0 || snapshotDigest(body) !== offered.snapshotSha256)
      throw new ServerError("bad_request", "transfer: the snapshot is not the one the signed header names");
    const header = this.asRunHere(peer, offered);
    const snapshot = decodeSnapshot(body, snapshotDecodeLimits(this.host.maxMemoryPages(header.owner)));
    if (snapshot.codeHash !== header.codeHash) throw new ServerError("bad_request", "snapshot and transfer name different modules");
    // The code now, while the job still runs at the source, so the PREPARE need not wait for it; stored
    // only with the PREPARE, which checks it again (and reports a failure to get it).
    const previous = this.bases.module(header.jobId, header.epoch, peer.nodeId);
    const module = await this.obtainModule(peer, header, previous).catch(() => undefined);
    const hash = this.bases.accept(
      header.jobId,
      header.epoch,
      peer.nodeId,
      snapshot,
      body,
      header.baseHash,
      module?.store ? module.bytes : previous,
    );
    return { baseHash: hash };
  }

  /** COMMIT from `peer`: only the node that prepared the transfer may commit it (403 for any other). */
  async applyCommit(peer: PeerRecord, jobId: string, epoch: number): Promise<{ committed: true }> {
    const record = this.host.store.jobs.get(jobId);
    if (!record) throw new ServerError("conflict", `job ${jobId} was never prepared here`);
    const from = preparedFrom(record);
    if (from !== undefined && from !== peer.nodeId)
      throw new ServerError("forbidden", `job ${jobId} was not offered here by ${peer.nodeId}`);
    if (record.epoch === epoch && record.state !== "prepared" && record.node === this.host.nodeId()) return { committed: true }; // a retry
    if (record.state !== "prepared" || record.epoch !== epoch)
      throw new ServerError("conflict", `job ${jobId} is ${record.state} at epoch ${record.epoch}, not prepared at ${epoch}`);
    this.mark("target:commit", jobId);
    await this.fault("target:before-commit", jobId);
    await this.host.adopt(record, this.takeStaged(jobId, epoch));
    this.mark("target:running", jobId);
    await this.fault("target:after-commit", jobId);
    return { committed: true };
  }

  /** ABORT from `peer`: only the node that prepared the transfer may abort it (403 for any other). */
  abortFrom(peer: PeerRecord, jobId: string, epoch: number): { aborted: boolean } {
    const record = this.host.store.jobs.get(jobId);
    if (record?.state === "prepared") {
      const from = preparedFrom(record);
      if (from !== peer.nodeId) throw new ServerError("forbidden", `job ${jobId} was not offered here by ${peer.nodeId}`);
    }
    return this.applyAbort(jobId, epoch);
  }

  private applyAbort(jobId: string, epoch: number): { aborted: boolean } {
    const staged = this.takeStaged(jobId, epoch);
    if (staged) this.host.discard(staged);
    const record = this.host.store.jobs.get(jobId);
    if (record?.state !== "prepared" || record.epoch !== epoch) return { aborted: false };
    this.host.store.jobs.delete(jobId, { expectEpoch: epoch });
    return { aborted: true };
  }

  /** A prepared job waits for COMMIT; if it does not come, ask the source what it decided. */
  private queryDecision(jobId: string, epoch: number, delayMs: number): void {
    this.later(delayMs, async () => {
      const record = this.host.store.jobs.get(jobId);
      if (record?.state !== "prepared" || record.epoch !== epoch) return; // committed or aborted meanwhile
      const source = this.sourceOf(record);
      let decision: Decision = "unknown";
      try {
        if (source) {
          const r = await peerRequest(
            this.identity,
            source,
            "GET",
            `/peer/migrations/${encodeURIComponent(jobId)}/decision?epoch=${epoch}`,
            undefined,
            { timeoutMs: 10_000 },
          );
          decision = ((await r.json()) as { decision: Decision }).decision;
        }
      } catch {
        decision = "unknown";
      }
      if (decision === "commit") {
        const again = this.host.store.jobs.get(jobId);
        if (again?.state === "prepared" && again.epoch === epoch) await this.host.adopt(again).catch(() => undefined);
      } else if (decision === "abort") {
        this.applyAbort(jobId, epoch);
      } else {
        this.queryDecision(jobId, epoch, Math.min(MAX_RETRY_MS, Math.max(FIRST_RETRY_MS, delayMs * 2)));
      }
    });
  }

  /** The peer that offered a prepared job. */
  private sourceOf(record: JobRecord): PeerRecord | undefined {
    const from = preparedFrom(record);
    return from ? this.host.store.peers.get(from) : undefined;
  }

  /**
   * Prepared jobs already restored (paused), so COMMIT only has to let them go on; a few at most
   * (COMMIT normally follows within milliseconds), and the store has them all anyway.
   */
  private readonly staged = new Map<string, LiveJob>();

  private keepStaged(jobId: string, epoch: number, job: LiveJob): void {
    this.staged.set(`${jobId}@${epoch}`, job);
    while (this.staged.size > MAX_STAGED_KEPT) {
      const [key, oldest] = this.staged.entries().next().value!;
      this.staged.delete(key);
      this.host.discard(oldest);
    }
  }

  private takeStaged(jobId: string, epoch: number): LiveJob | undefined {
    const key = `${jobId}@${epoch}`;
    const job = this.staged.get(key);
    this.staged.delete(key);
    return job;
  }

  private later(delayMs: number, fn: () => Promise<void>): void {
    if (this.closed) return;
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (!this.closed) void fn().catch(() => undefined);
    }, delayMs);
    t.unref();
    this.timers.add(t);
  }

  private mark(mark: TransferMark, jobId: string): void {
    transferProbe?.(mark, jobId, this.host.nodeId());
  }

  private async fault(step: TransferStep, jobId: string): Promise<void> {
    await this.faults?.(step, jobId);
  }
}

/** Whether a prepared job was paused at its source (then it arrives paused). */
export function preparedPaused(record: JobRecord): boolean {
  const r = record.result as { paused?: unknown } | null;
  return r !== null && typeof r === "object" && !Array.isArray(r) && r.paused === true;
}

/** The peer a prepared job came from (kept in its result until the job runs). */
function preparedFrom(record: JobRecord): string | undefined {
  const r = record.result as { preparedFrom?: unknown } | null;
  return r !== null && typeof r === "object" && !Array.isArray(r) && typeof r.preparedFrom === "string" ? r.preparedFrom : undefined;
}
