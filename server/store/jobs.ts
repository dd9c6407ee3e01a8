// The jobs table: what runs where, its state and result. Every write may name the epoch it expects, so
// a node that lost a job to a migration cannot overwrite the new owner's record (exactly-once transfer).

import { randomUUID } from "node:crypto";
import type { Database } from "better-sqlite3";
import { ServerError } from "../errors.js";
import type { BlobStore } from "./blobs.js";
import { unreferenced } from "./gc.js";
import {
  JOB_SANDBOXES,
  JOB_STATES,
  JOB_TRUSTS,
  type JobRecord,
  type JobSandbox,
  type JobState,
  type JobTrust,
  type JobWasi,
  type Json,
} from "./records.js";
import { checkId, mapConstraint, parseJsonColumn } from "./sql.js";

export interface NewJob {
  /** Default: a random UUID. A migration target passes the source's id. */
  id?: string;
  codeHash: string;
  owner: string | null;
  trust: JobTrust;
  /** Default: in-process for anonymous jobs, isolated for authenticated ones. */
  sandbox?: JobSandbox;
  entry: string;
  args?: Json[];
  input?: Uint8Array;
  fuelLimit?: number | null;
  /** Default: queued. */
  state?: JobState;
  fuelUsed?: number;
  /** Default 0. A migration target passes the epoch of the transfer. */
  epoch?: number;
  node: string;
  /** A WASI job's argv, environment and directories. */
  wasi?: JobWasi | null;
  /** A migration target: the directories the job brought (a tree bundle), stored as a blob until laid down. */
  trees?: Uint8Array;
}

export interface JobPatch {
  state?: JobState;
  result?: Json;
  /** The guest's whole output so far; stored as a blob. */
  output?: Uint8Array;
  fuelUsed?: number;
  node?: string;
  epoch?: number;
  wasi?: JobWasi | null;
  /** Only null: the trees the job brought are laid down (their blob goes). */
  treesHash?: null;
}

export interface JobFilter {
  owner?: string | null;
  state?: JobState | readonly JobState[];
  node?: string;
  limit?: number;
  /** Newest first (default oldest first). */
  newestFirst?: boolean;
  /** Newest first only: the jobs after this one (a page after `before`; see `position`). */
  before?: { createdAt: number; seq: number };
}

interface JobRow {
  id: string;
  code_hash: string;
  owner: string | null;
  trust: string;
  sandbox: string;
  entry: string;
  args: string;
  input_hash: string | null;
  fuel_limit: number | null;
  state: string;
  result: string | null;
  output_hash: string | null;
  fuel_used: number;
  epoch: number;
  node: string;
  wasi: string | null;
  trees_hash: string | null;
  created_at: number;
  updated_at: number;
}

export class JobTable {
  constructor(
    private readonly db: Database,
    private readonly blobs: BlobStore,
    private readonly clock: () => number,
  ) {}

  /** The input blob is durable before the row is inserted; a rejected insert leaves only an orphan blob for GC. */
  create(input: NewJob): JobRecord {
    const id = input.id ?? randomUUID();
    checkId("job", id);
    checkOneOf("trust", input.trust, JOB_TRUSTS);
    const sandbox = input.sandbox ?? (input.trust === "anonymous" ? "in-process" : "isolated");
    checkOneOf("sandbox", sandbox, JOB_SANDBOXES);
    const state = input.state ?? "queued";
    checkOneOf("state", state, JOB_STATES);
    const inputHash = input.input ? this.blobs.put(input.input).hash : null;
    const treesHash = input.trees ? this.blobs.put(input.trees).hash : null;
    const now = this.clock();
    const record: JobRecord = {
      id,
      codeHash: input.codeHash,
      owner: input.owner,
      trust: input.trust,
      sandbox,
      entry: input.entry,
      args: input.args ?? [],
      inputHash,
      fuelLimit: input.fuelLimit ?? null,
      state,
      result: null,
      outputHash: null,
      fuelUsed: input.fuelUsed ?? 0,
      epoch: input.epoch ?? 0,
      node: input.node,
      wasi: input.wasi ?? null,
      treesHash,
      createdAt: now,
      updatedAt: now,
    };
    mapConstraint(`job ${id} (or its module ${input.codeHash})`, () =>
      this.db
        .prepare(
          `INSERT INTO jobs (id, code_hash, owner, trust, sandbox, entry, args, input_hash, fuel_limit, state, result, output_hash,
             fuel_used, epoch, node, wasi, trees_hash, created_at, updated_at)
           VALUES (@id, @codeHash, @owner, @trust, @sandbox, @entry, @args, @inputHash, @fuelLimit, @state, NULL, NULL,
             @fuelUsed, @epoch, @node, @wasi, @treesHash, @createdAt, @updatedAt)`,
        )
        .run({
          id,
          codeHash: record.codeHash,
          owner: record.owner,
          trust: record.trust,
          sandbox,
          entry: record.entry,
          args: JSON.stringify(record.args),
          inputHash,
          fuelLimit: record.fuelLimit,
          state,
          fuelUsed: record.fuelUsed,
          epoch: record.epoch,
          node: record.node,
          wasi: record.wasi === null ? null : JSON.stringify(record.wasi),
          treesHash,
          createdAt: now,
          updatedAt: now,
        }),
    );
    return record;
  }

  get(id: string): JobRecord | undefined {
    const row = this.db.prepare<[string], JobRow>("SELECT * FROM jobs WHERE id = ?").get(id);
    return row && toRecord(row);
  }

  require(id: string): JobRecord {
    const job = this.get(id);
    if (!job) throw new ServerError("not_found", `no job ${id}`);
    return job;
  }

  list(filter: JobFilter = {}): JobRecord[] {
    const where: string[] = [];
    const params: (string | number)[] = [];
    if (filter.owner === null) where.push("owner IS NULL");
    else if (filter.owner !== undefined) {
      where.push("owner = ?");
      params.push(filter.owner);
    }
    if (filter.state !== undefined) {
      const states = typeof filter.state === "string" ? [filter.state] : [...filter.state];
      where.push(`state IN (${states.map(() => "?").join(", ") || "NULL"})`);
      params.push(...states);
    }
    if (filter.node !== undefined) {
      where.push("node = ?");
      params.push(filter.node);
    }
    if (filter.before !== undefined) {
      where.push("(created_at < ? OR (created_at = ? AND rowid < ?))");
      params.push(filter.before.createdAt, filter.before.createdAt, filter.before.seq);
    }
    const limit = filter.limit === undefined ? "" : ` LIMIT ${Math.max(0, Math.floor(filter.limit))}`;
    // Jobs created in the same millisecond keep the order they were stored in (rowid).
    const order = filter.newestFirst ? "created_at DESC, rowid DESC" : "created_at, id";
    const sql = `SELECT * FROM jobs${where.length ? ` WHERE ${where.join(" AND ")}` : ""} ORDER BY ${order}${limit}`;
    return this.db
      .prepare<(string | number)[], JobRow>(sql)
      .all(...params)
      .map(toRecord);
  }

  /** Where a job sits in the newest-first order of `list`: the cursor of a page that ends with it. */
  position(id: string): { createdAt: number; seq: number } | undefined {
    const row = this.db
      .prepare<[string], { created_at: number; seq: number }>("SELECT created_at, rowid AS seq FROM jobs WHERE id = ?")
      .get(id);
    return row && { createdAt: row.created_at, seq: row.seq };
  }

  /**
   * Jobs of `owner` that are not finished: what the maxConcurrentJobs quota counts. Kept by triggers
   * (schema 8), so it is one row read however many jobs the owner has.
   */
  countUnfinished(owner: string): number {
    return Number(this.db.prepare("SELECT count FROM unfinished_jobs WHERE owner = ?").pluck().get(owner) ?? 0);
  }

  /**
   * Applies the patch; with `expectEpoch`, only if the job is still at that epoch (else `conflict`).
   * A new output is written as a blob first; the one it replaces is removed after the commit.
   */
  update(id: string, patch: JobPatch, options: { expectEpoch?: number } = {}): JobRecord {
    if (patch.state !== undefined) checkOneOf("state", patch.state, JOB_STATES);
    const outputHash = patch.output ? this.blobs.put(patch.output).hash : undefined;
    const { job, orphans } = this.db
      .transaction(() => {
        const before = this.require(id);
        if (options.expectEpoch !== undefined && before.epoch !== options.expectEpoch) {
          throw new ServerError("conflict", `job ${id} is at epoch ${before.epoch}, not ${options.expectEpoch}`);
        }
        const after: JobRecord = {
          ...before,
          state: patch.state ?? before.state,
          result: patch.result !== undefined ? patch.result : before.result,
          outputHash: outputHash ?? before.outputHash,
          fuelUsed: patch.fuelUsed ?? before.fuelUsed,
          node: patch.node ?? before.node,
          epoch: patch.epoch ?? before.epoch,
          wasi: patch.wasi !== undefined ? patch.wasi : before.wasi,
          treesHash: patch.treesHash === null ? null : before.treesHash,
          updatedAt: this.clock(),
        };
        this.db
          .prepare(
            `UPDATE jobs SET state = @state, result = @result, output_hash = @outputHash, fuel_used = @fuelUsed, node = @node,
             epoch = @epoch, wasi = @wasi, trees_hash = @treesHash, updated_at = @updatedAt WHERE id = @id`,
          )
          .run({
            id,
            state: after.state,
            result: after.result === null ? null : JSON.stringify(after.result),
            outputHash: after.outputHash,
            fuelUsed: after.fuelUsed,
            node: after.node,
            epoch: after.epoch,
            wasi: after.wasi === null ? null : JSON.stringify(after.wasi),
            treesHash: after.treesHash,
            updatedAt: after.updatedAt,
          });
        const replaced = [
          before.outputHash !== after.outputHash ? before.outputHash : null,
          before.treesHash !== after.treesHash ? before.treesHash : null,
        ];
        return { job: after, orphans: unreferenced(this.db, replaced) };
      })
      .immediate();
    for (const hash of orphans) this.blobs.delete(hash);
    return job;
  }

  /** The job's input bytes (verified), or undefined if it has none. */
  input(job: JobRecord): Uint8Array | undefined {
    return job.inputHash === null ? undefined : this.blobs.read(job.inputHash);
  }

  /** The job's stored output (verified), or undefined if none was stored. */
  output(job: JobRecord): Uint8Array | undefined {
    return job.outputHash === null ? undefined : this.blobs.read(job.outputHash);
  }

  /** Bytes of the job's stored output (0 if none was stored), without reading it. */
  outputSize(job: JobRecord): number {
    return job.outputHash === null ? 0 : this.blobs.size(job.outputHash);
  }

  /** At most `length` bytes of the stored output from `offset`, and its whole size (verified, never read whole into memory). */
  outputRange(job: JobRecord, offset: number, length: number): { bytes: Uint8Array; size: number } {
    return job.outputHash === null ? { bytes: new Uint8Array(0), size: 0 } : this.blobs.readRange(job.outputHash, offset, length);
  }

  /**
   * Anonymous jobs in `states`, least recently changed first: those last changed before
   * `changedBefore` (ms, the store's clock), at most `limit`. What a node expires and evicts.
   */
  anonymousByAge(states: readonly JobState[], options: { changedBefore?: number; limit: number }): JobRecord[] {
    const list = states.map(() => "?").join(", ") || "NULL";
    return this.db
      .prepare<(string | number)[], JobRow>(
        // By age through the partial index (the planner, without statistics, would take
        // jobs_owner_state and sort every anonymous job for each eviction).
        `SELECT * FROM jobs INDEXED BY jobs_anonymous_age
           WHERE owner IS NULL AND state IN (${list}) AND updated_at < ? ORDER BY updated_at, rowid LIMIT ?`,
      )
      .all(...states, options.changedBefore ?? Number.MAX_SAFE_INTEGER, Math.max(0, Math.floor(options.limit)))
      .map(toRecord);
  }

  /** How many anonymous jobs are in `states`. */
  countAnonymous(states: readonly JobState[]): number {
    const list = states.map(() => "?").join(", ") || "NULL";
    return Number(
      this.db
        .prepare(`SELECT count(*) FROM jobs WHERE owner IS NULL AND state IN (${list})`)
        .pluck()
        .get(...states),
    );
  }

  /** Removes the job, its checkpoints, and every blob only it referenced. */
  delete(id: string, options: { expectEpoch?: number } = {}): void {
    const orphans = this.db.transaction(() => this.removeRow(id, options.expectEpoch)).immediate();
    for (const hash of orphans) this.blobs.delete(hash);
  }

  /**
   * delete() of each job still at its epoch, in one transaction (one commit for many, as retention
   * evicts); a job gone or moved on since is skipped. Returns the ids deleted.
   */
  deleteMany(jobs: ReadonlyArray<{ id: string; epoch: number }>): string[] {
    const { deleted, orphans } = this.db
      .transaction(() => {
        const out = { deleted: [] as string[], orphans: new Set<string>() };
        for (const { id, epoch } of jobs) {
          if (this.get(id)?.epoch !== epoch) continue;
          out.deleted.push(id);
          for (const h of this.removeRow(id, epoch)) out.orphans.add(h);
        }
        // A blob two of them shared is unreferenced only once both are gone.
        out.orphans = new Set(unreferenced(this.db, out.orphans));
        return out;
      })
      .immediate();
    for (const hash of orphans) this.blobs.delete(hash);
    return deleted;
  }

  /** Inside a transaction: the row and its checkpoints; returns the blobs nothing refers to any more. */
  private removeRow(id: string, expectEpoch: number | undefined): string[] {
    const job = this.require(id);
    if (expectEpoch !== undefined && job.epoch !== expectEpoch) {
      throw new ServerError("conflict", `job ${id} is at epoch ${job.epoch}, not ${expectEpoch}`);
    }
    const snapshots = this.db.prepare<[string], string>("SELECT snapshot_hash FROM checkpoints WHERE job_id = ?").pluck().all(id);
    this.db.prepare("DELETE FROM jobs WHERE id = ?").run(id); // checkpoints cascade
    return unreferenced(this.db, [job.inputHash, job.outputHash, job.treesHash, ...snapshots]);
  }
}

function checkOneOf<T extends string>(what: string, value: string, allowed: readonly T[]): asserts value is T {
  if (!(allowed as readonly string[]).includes(value)) {
    throw new ServerError("bad_request", `job ${what} "${value}" must be one of ${allowed.join(", ")}`);
  }
}

function toRecord(row: JobRow): JobRecord {
  return {
    id: row.id,
    codeHash: row.code_hash,
    owner: row.owner,
    trust: row.trust as JobTrust,
    sandbox: row.sandbox as JobSandbox,
    entry: row.entry,
    args: parseJsonColumn<Json[]>("jobs", "args", row.args),
    inputHash: row.input_hash,
    fuelLimit: row.fuel_limit,
    state: row.state as JobState,
    result: parseJsonColumn("jobs", "result", row.result),
    outputHash: row.output_hash,
    fuelUsed: row.fuel_used,
    epoch: row.epoch,
    node: row.node,
    wasi: row.wasi === null ? null : parseJsonColumn<JobWasi>("jobs", "wasi", row.wasi),
    treesHash: row.trees_hash,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}
