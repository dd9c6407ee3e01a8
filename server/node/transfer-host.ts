// The node's side of a transfer (server/migration/host.ts declares what migration needs): take a
// live job out of the scheduler, put one back, stage and adopt one that arrived. A class over the
// runner, so these stay off the node's public surface and migration never sees its internals.

import { snapshotDecodeLimits, type GuestModule, type Snapshot, type TreeLimits } from "../../runtime/index.js";
import { checkpointSnapshot } from "../migration/checkpoint-format.js";
import type { OutgoingResources, TransferHost } from "../migration/host.js";
import { withJobBudget } from "../migration/job-limits.js";
import { preparedPaused } from "../migration/target.js";
import type { TransferHeader } from "../migration/transfer-header.js";
import type { JobPatch } from "../store/jobs.js";
import type { JobRecord } from "../store/records.js";
import type { Store } from "../store/store.js";
import type { JobRunner } from "./job-runner.js";
import { LiveJob } from "./live-job.js";
import { checkResourceGrants } from "./wasi-dirs.js";
import { DirMigration } from "./dir-migration.js";

export class NodeTransferHost implements TransferHost<LiveJob> {
  readonly nodeId: string;
  readonly store: Store;

  private readonly dirs: DirMigration;

  constructor(private readonly runner: JobRunner) {
    this.nodeId = runner.nodeId;
    this.store = runner.store;
    this.dirs = new DirMigration({
      store: runner.store,
      pins: runner.pins,
      nodeId: runner.nodeId,
      dataDir: runner.store.dataDir,
      quotasOf: (owner) => runner.engines.quotasOf(owner),
    });
  }

  async stop(job: LiveJob): Promise<boolean> {
    if (job.record.state === "queued") {
      this.runner.admission.remove(job);
      return true;
    }
    if (job.record.state === "paused") {
      await this.runner.wake(job); // the transfer snapshots its instance
      return true;
    }
    if (job.record.state !== "running") return true;
    const r = await job.scheduled!.pause();
    return r.status === "paused" && job.instance?.state === "paused";
  }

  update(job: LiveJob, patch: JobPatch): void {
    this.runner.update(job, patch);
  }

  forget(job: LiveJob): void {
    this.runner.counters.migrationsOut++;
    this.runner.drop(job);
  }

  goOn(job: LiveJob): void {
    this.runner.run(job);
  }

  async reinstate(job: LiveJob, snapshot: Snapshot | undefined, previous: "queued" | "running" | "paused"): Promise<void> {
    if (previous === "queued") {
      this.runner.update(job, { state: "queued", result: null });
      this.runner.admission.requeueFront(job);
      this.runner.admission.pump();
      return;
    }
    if (snapshot) await this.runner.restore(job, snapshot, job.record.sandbox, undefined);
    this.runner.update(job, { state: previous, result: null });
    if (previous === "running") this.runner.run(job);
  }

  maxMemoryPages(owner: string | null): number {
    return this.runner.engines.memoryPagesOf(owner);
  }

  maxFuelPerJob(owner: string | null): number {
    return this.runner.engines.fuelCapOf(owner);
  }

  async stage(header: TransferHeader, snapshot: Snapshot, module: Uint8Array): Promise<LiveJob> {
    const job = new LiveJob(provisionalRecord(header, this.nodeId));
    await this.runner.engines.engineOf(header.owner).compile(module);
    await this.runner.restore(job, withJobBudget(snapshot, this.runner.engines.budgetOf(job.record)), header.sandbox, undefined);
    return job;
  }

  discard(staged: LiveJob): void {
    staged.instance?.dispose();
  }

  /** A committed incoming job: run it here — restored (strong) or from its start (weak). */
  async adopt(record: JobRecord, staged?: LiveJob): Promise<void> {
    const job = staged ?? new LiveJob(record);
    try {
      // What it brought, laid down before it runs; a reference to this node turned back into the directory.
      record = await this.dirs.arrived(record);
      job.record = record;
      if (!staged && !(await this.restoreAdopted(job))) return;
    } catch (e) {
      // Committed to us but it cannot run here: it ends, once, as failed (never silently lost).
      // A tree it brought and could not lay down stays in the store with it (trees_hash), named here.
      const kept = record.treesHash !== null ? ` (the directories it brought are kept in this node's store, blob ${record.treesHash})` : "";
      const message = `cannot resume the migrated job: ${e instanceof Error ? e.message : String(e)}${kept}`;
      this.store.jobs.update(
        record.id,
        { state: "failed", node: this.nodeId, result: { status: "failed", message } },
        { expectEpoch: record.epoch },
      );
      return;
    }
    job.outputSeen = job.instance!.output().byteLength;
    this.runner.live.set(record.id, job);
    this.runner.counters.migrationsIn++;
    // Paused at the source, paused here: it waits for its owner's resume (its checkpoint is the PREPARE's snapshot).
    if (preparedPaused(record)) {
      this.runner.update(job, { state: "paused", result: null });
      return;
    }
    this.runner.update(job, { state: "running" });
    this.runner.run(job);
  }

  /**
   * A committed job no longer staged (after a restart, or a decision query): from its checkpoint, or,
   * with none (weak), a fresh start through admission like any new job — then false (nothing left to do).
   */
  private async restoreAdopted(job: LiveJob): Promise<boolean> {
    const record = job.record;
    const engine = this.runner.engines.engineOf(record.owner);
    const checkpoint = this.store.checkpoints.latest(record.id);
    // After a restart nothing is compiled yet: the code first, then its snapshot.
    await this.runner.engines.compiled(engine, record.codeHash);
    if (!checkpoint) {
      this.runner.live.set(record.id, job);
      this.runner.update(job, { state: "queued" });
      this.runner.counters.migrationsIn++;
      await this.runner.admit(job);
      return false;
    }
    const limits = snapshotDecodeLimits(this.runner.engines.memoryPagesOf(record.owner));
    const snapshot = withJobBudget(checkpointSnapshot(this.store, record.id, limits)!, this.runner.engines.budgetOf(record));
    await this.runner.restore(job, snapshot, record.sandbox, this.store.jobs.input(record));
    return true;
  }

  /** Check an arriving module the way an upload is checked, before storing it. */
  compile(bytes: Uint8Array, owner: string | null): Promise<GuestModule> {
    return this.runner.engines.engineOf(owner).compile(bytes);
  }

  checkDirectories(header: TransferHeader): void {
    checkResourceGrants(this.runner.engines.clientOf(header.owner), header.wasi ?? null, header.jobId, this.nodeId);
  }

  treeLimits(owner: string | null): Required<TreeLimits> {
    return this.dirs.treeLimits(owner);
  }

  async resourcesFor(job: LiveJob, peer: string): Promise<OutgoingResources> {
    return this.dirs.outgoing(job.record, peer);
  }

  isLive(id: string): boolean {
    return this.runner.live.has(id);
  }
}

/** A LiveJob needs a record before the prepared one is stored; this stands in until COMMIT sets the real one. */
function provisionalRecord(h: TransferHeader, node: string): JobRecord {
  return {
    id: h.jobId,
    codeHash: h.codeHash,
    owner: h.owner,
    trust: h.trust,
    sandbox: h.sandbox,
    entry: h.entry,
    args: h.args,
    inputHash: null,
    fuelLimit: h.fuelLimit,
    state: "prepared",
    fuelUsed: h.fuelUsed,
    result: null,
    outputHash: null,
    epoch: h.epoch,
    node,
    wasi: h.wasi ?? null,
    treesHash: null,
    createdAt: 0,
    updatedAt: 0,
  };
}
