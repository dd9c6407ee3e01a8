// The target side of a transfer (docs/migration-protocol.md): judge an offer from its signed header,
// take pre-copied bases, PREPARE (restore the job paused and store it `prepared`, durably, before
// answering), then COMMIT (hand it to the node to run) or ABORT. A prepared job whose COMMIT does not
// come asks its source for the decision. The job's code is taken from the store, or from the source.

import { createHash } from "node:crypto";
import {
  applyDelta,
  decodeSnapshot,
  decodeSnapshotParallel,
  DEFAULT_MAX_MODULE_BYTES,
  importedResourceCall,
  snapshotDecodeLimits,
  snapshotStats,
  type Snapshot,
} from "../../runtime/index.js";
import { checkGrant } from "../auth/index.js";
import { ServerError } from "../errors.js";
import { HttpError } from "../http-fetch.js";
import type { JobRecord, PeerRecord } from "../store/records.js";
import { backOff, type MigrationContext } from "./context.js";
import type { MovableJob } from "./host.js";
import { PrecopyBases, type StoredBase } from "./precopy.js";
import type { Decision } from "./source.js";
import { storePrepared } from "./store-prepared.js";
import { checkTransferBody, type TransferHeader } from "./transfer-header.js";
import { incomingTrees, roundBlobs } from "./travelling-trees.js";

/** A prepared job whose COMMIT has not come after this long asks its source for the decision. */
export const PREPARED_QUERY_AFTER_MS = 2_000;
/** Prepared jobs kept restored (paused) at once; COMMIT normally follows within milliseconds. */
const MAX_STAGED_KEPT = 2;

/** The job's code as a PREPARE needs it: the bytes, whether to store them with it, and whether it binds resources. */
interface ObtainedModule {
  bytes: Uint8Array;
  store: boolean;
  usesResources: boolean;
}

export class MigrationTarget<J extends MovableJob> {
  private readonly bases: PrecopyBases;
  /**
   * Prepared jobs already restored (paused), so COMMIT only has to let them go on; a few at most
   * (COMMIT normally follows within milliseconds), and the store has them all anyway.
   */
  private readonly staged = new Map<string, J>();

  constructor(private readonly ctx: MigrationContext<J>) {
    this.bases = new PrecopyBases(ctx.host.store);
  }

  private get host() {
    return this.ctx.host;
  }

  close(): void {
    for (const job of this.staged.values()) this.host.discard(job);
    this.staged.clear();
  }

  /** After a restart: every job still prepared here asks its source what was decided. */
  recover(): void {
    for (const record of this.host.store.jobs.list({ node: this.host.nodeId, state: "prepared" }))
      this.queryDecision(record.id, record.epoch, 0);
  }

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
    if (header.target !== this.host.nodeId)
      throw new ServerError("bad_request", `transfer is for node ${header.target}, this is ${this.host.nodeId}`);
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
    if (this.host.isLive(header.jobId)) throw new ServerError("conflict", `job ${header.jobId} is live here`);
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
        target: this.host.nodeId,
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
  private async obtainModule(peer: PeerRecord, header: TransferHeader, fetched?: Uint8Array): Promise<ObtainedModule> {
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
      const r = await this.ctx.request(peer, "GET", `/peer/modules/${codeHash}`, undefined, { maxResponseBytes: DEFAULT_MAX_MODULE_BYTES });
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
    const { snapshot, trees: treeBytes } = checkTransferBody(offered, body);
    this.ctx.mark("target:prepare", offered.jobId, { body: body.byteLength, trees: treeBytes?.byteLength ?? 0 });
    let header = this.asRunHere(peer, offered);
    // The owner's directories are rebound here by name: its capabilities here must allow them.
    this.host.checkDirectories(header);
    const base = header.baseHash ? this.bases.take(header.jobId, header.epoch, header.baseHash, peer.nodeId) : undefined;
    // Directories that travel (moved or copied): whole, every file's bytes in hand, before anything is stored.
    const trees = incomingTrees(header, treeBytes, base?.blobs, this.host.treeLimits(header.owner));
    // What is in hand first (format, the trailing sha256 against the contents, and the job's memory
    // cap before inflating), then the code, which may have to come from the source.
    const decoded = snapshot ? this.decode(header, snapshot) : undefined;
    const module = await this.obtainModule(peer, header, base?.module);
    // Resource calls are served off this node's event loop, which only an isolated guest can wait
    // for: a client's job that uses them runs isolated here, whatever it ran in at the source.
    if (module.usesResources && header.sandbox === "in-process") header = { ...header, sandbox: "isolated" };
    const staged = decoded ? await this.stage(header, decoded, base, module.bytes) : undefined;
    // Durable before the answer: the source decides on the strength of it.
    try {
      const existing = this.replaceable(peer, header);
      const segment = decoded && {
        snapshot: snapshotStats(decoded, base?.snapshot),
        ...(base ? { base: snapshotStats(base.snapshot) } : {}),
      };
      storePrepared(this.host, peer, header, { snapshot, existing, base, module: module.store ? module.bytes : undefined, trees, segment });
    } catch (e) {
      if (staged) this.host.discard(staged);
      throw e;
    }
    this.ctx.mark("target:stored", header.jobId);
    if (staged) this.keepStaged(header.jobId, header.epoch, staged);
    await this.ctx.fault("target:after-prepare", header.jobId);
    this.queryDecision(header.jobId, header.epoch, PREPARED_QUERY_AFTER_MS);
    return { prepared: true, epoch: header.epoch };
  }

  private decode(header: TransferHeader, snapshot: Uint8Array): Snapshot {
    const decoded = decodeSnapshot(snapshot, snapshotDecodeLimits(this.host.maxMemoryPages(header.owner)));
    if (decoded.codeHash !== header.codeHash) throw new ServerError("bad_request", "snapshot and transfer name different modules");
    return decoded;
  }

  /**
   * A strong transfer restored now, paused (on its pre-copied base, if any): a snapshot that cannot run
   * here is refused before anything is stored, and COMMIT only has to let it go on.
   */
  private async stage(header: TransferHeader, decoded: Snapshot, base: StoredBase | undefined, module: Uint8Array): Promise<J> {
    const whole = base ? applyDelta(base.snapshot, decoded) : decoded;
    this.ctx.mark("target:decoded", header.jobId);
    return this.host.stage(header, whole, module);
  }

  /** A pre-copied base: verified, stored durably (not yet referenced by any row), kept decoded. */
  async storeBase(peer: PeerRecord, offered: TransferHeader, body: Uint8Array): Promise<{ baseHash: string }> {
    this.checkOffer(peer, offered, "precopy");
    const parts = checkTransferBody(offered, body);
    const header = this.asRunHere(peer, offered);
    // A first round carries the whole memory: its pages are checked on the hash pool, the event loop
    // free between pieces, rather than in one pass that holds it.
    const snapshot = await decodeSnapshotParallel(parts.snapshot!, snapshotDecodeLimits(this.host.maxMemoryPages(header.owner)));
    if (snapshot.codeHash !== header.codeHash) throw new ServerError("bad_request", "snapshot and transfer name different modules");
    // The code now, while the job still runs at the source, so the PREPARE need not wait for it; stored
    // only with the PREPARE, which checks it again (and reports a failure to get it).
    const previous = this.bases.module(header.jobId, header.epoch, peer.nodeId);
    const module = await this.obtainModule(peer, header, previous).catch(() => undefined);
    const blobs = roundBlobs(parts.trees, this.bases.blobs(header.jobId, header.epoch, peer.nodeId), this.host.treeLimits(header.owner));
    const hash = this.bases.accept(header.jobId, header.epoch, peer.nodeId, snapshot, parts.snapshot!, header.baseHash, {
      module: module?.store ? module.bytes : previous,
      blobs,
    });
    this.ctx.mark("target:precopied", header.jobId, { body: body.byteLength, trees: parts.trees?.byteLength ?? 0 });
    return { baseHash: hash };
  }

  /** COMMIT from `peer`: only the node that prepared the transfer may commit it (403 for any other). */
  async applyCommit(peer: PeerRecord, jobId: string, epoch: number): Promise<{ committed: true }> {
    const record = this.host.store.jobs.get(jobId);
    if (!record) throw new ServerError("conflict", `job ${jobId} was never prepared here`);
    const from = preparedFrom(record);
    if (from !== undefined && from !== peer.nodeId)
      throw new ServerError("forbidden", `job ${jobId} was not offered here by ${peer.nodeId}`);
    if (record.epoch === epoch && record.state !== "prepared" && record.node === this.host.nodeId) return { committed: true }; // a retry
    if (record.state !== "prepared" || record.epoch !== epoch)
      throw new ServerError("conflict", `job ${jobId} is ${record.state} at epoch ${record.epoch}, not prepared at ${epoch}`);
    this.ctx.mark("target:commit", jobId);
    await this.ctx.fault("target:before-commit", jobId);
    await this.host.adopt(record, this.takeStaged(jobId, epoch));
    this.ctx.mark("target:running", jobId);
    await this.ctx.fault("target:after-commit", jobId);
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
    this.ctx.later(delayMs, async () => {
      const record = this.host.store.jobs.get(jobId);
      if (record?.state !== "prepared" || record.epoch !== epoch) return; // committed or aborted meanwhile
      const decision = await this.askSource(record);
      if (decision === "commit") {
        const again = this.host.store.jobs.get(jobId);
        if (again?.state === "prepared" && again.epoch === epoch)
          await this.host.adopt(again).then(
            () => this.ctx.mark("target:running", jobId),
            () => undefined,
          );
      } else if (decision === "abort") {
        this.applyAbort(jobId, epoch);
      } else {
        this.queryDecision(jobId, epoch, backOff(delayMs));
      }
    });
  }

  /** The decision the peer that offered a prepared job recorded; unknown when it cannot be asked. */
  private async askSource(record: JobRecord): Promise<Decision> {
    const from = preparedFrom(record);
    const source = from ? this.host.store.peers.get(from) : undefined;
    if (!source) return "unknown";
    try {
      const path = `/peer/migrations/${encodeURIComponent(record.id)}/decision?epoch=${record.epoch}`;
      const r = await this.ctx.request(source, "GET", path, undefined, { timeoutMs: 10_000 });
      return ((await r.json()) as { decision: Decision }).decision;
    } catch {
      return "unknown";
    }
  }

  private keepStaged(jobId: string, epoch: number, job: J): void {
    this.staged.set(`${jobId}@${epoch}`, job);
    while (this.staged.size > MAX_STAGED_KEPT) {
      const [key, oldest] = this.staged.entries().next().value!;
      this.staged.delete(key);
      this.host.discard(oldest);
    }
  }

  private takeStaged(jobId: string, epoch: number): J | undefined {
    const key = `${jobId}@${epoch}`;
    const job = this.staged.get(key);
    this.staged.delete(key);
    return job;
  }
}

/** Whether a prepared job was paused at its source (then it arrives paused). */
export function preparedPaused(record: JobRecord): boolean {
  const r = record.result as { paused?: unknown } | null;
  return r !== null && typeof r === "object" && !Array.isArray(r) && r.paused === true;
}

/** The peer a prepared job came from (kept in its result until the job runs). */
/** The peer that offered a `prepared` job (its row keeps it until the job is adopted). */
export function preparedFrom(record: JobRecord): string | undefined {
  const r = record.result as { preparedFrom?: unknown } | null;
  return r !== null && typeof r === "object" && !Array.isArray(r) && typeof r.preparedFrom === "string" ? r.preparedFrom : undefined;
}
