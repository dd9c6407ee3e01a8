// The durable store on real SQLite files and real blob files in temp directories: schema migrations,
// blob integrity, crash-safety ordering and recovery, and every table's contract.
import { spawn, spawnSync } from "node:child_process";
import { createHash, generateKeyPairSync, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { findRepoRoot } from "../../guest/catalog.js";
import { isServerError, type ServerErrorCode } from "../../server/errors.js";
import { DEFAULT_QUOTAS } from "../../server/formats/grants.js";
import { MIGRATIONS, SCHEMA_VERSION, sha256Hex, Store, type Migration, type StoreOptions } from "../../server/store/index.js";

const open: Store[] = [];
afterEach(() => {
  for (const s of open.splice(0)) s.close();
});

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), "ferry-store-"));
}

function openStore(dir: string, options: StoreOptions = {}): Store {
  const store = Store.open(dir, options);
  open.push(store);
  return store;
}

function expectCode(fn: () => unknown, code: ServerErrorCode): void {
  try {
    fn();
  } catch (e) {
    expect(isServerError(e) ? e.code : e).toBe(code);
    return;
  }
  expect.fail(`expected a ServerError ${code}`);
}

function ed25519Public() {
  return generateKeyPairSync("ed25519").publicKey;
}

/** Arbitrary bytes stand in for modules and snapshots: the store never interprets them. */
function bytes(n: number): Uint8Array {
  return new Uint8Array(randomBytes(n));
}

function withModule(store: Store): string {
  return store.modules.put(bytes(100), { owner: null, public: true }).module.codeHash;
}

function deadPid(): number {
  return spawnSync(process.execPath, ["-e", ""]).pid!;
}

describe("schema migrations", () => {
  it("creates the schema in an empty directory and re-opens it without migrating again", () => {
    const dir = tempDir();
    const first = openStore(dir);
    expect(first.schemaVersion).toBe(SCHEMA_VERSION);
    const client = first.clients.add({ publicKey: ed25519Public() });
    first.close();
    const again = openStore(dir);
    expect(again.schemaVersion).toBe(SCHEMA_VERSION);
    expect(again.clients.get(client.id)).toEqual(client);
  });

  it("applies later migrations in order on re-open, and rolls back a failing one entirely", () => {
    const dir = tempDir();
    openStore(dir).close();
    const v2: Migration = {
      version: SCHEMA_VERSION + 1,
      description: "notes",
      up: (db) => db.exec("CREATE TABLE notes (id INTEGER PRIMARY KEY) STRICT"),
    };
    const v3: Migration = {
      version: SCHEMA_VERSION + 2,
      description: "fails halfway",
      up: (db) => {
        db.exec("CREATE TABLE half (id INTEGER) STRICT");
        throw new Error("boom");
      },
    };
    expect(() => Store.open(dir, { migrations: [...MIGRATIONS, v2, v3] })).toThrow("boom");
    const raw = new Database(join(dir, "ferry.db"));
    const tables = raw.prepare("SELECT name FROM sqlite_schema WHERE type = 'table'").pluck().all();
    expect(raw.pragma("user_version", { simple: true })).toBe(SCHEMA_VERSION + 1);
    expect(tables).toContain("notes");
    expect(tables).not.toContain("half");
    raw.close();
  });

  it("refuses a database written by a newer schema with store_version", () => {
    const dir = tempDir();
    openStore(dir).close();
    const raw = new Database(join(dir, "ferry.db"));
    raw.pragma(`user_version = ${SCHEMA_VERSION + 1}`);
    raw.close();
    expectCode(() => Store.open(dir), "store_version");
  });

  it("refuses a SQLite database that Ferry did not create, and a file that is not a database", () => {
    const foreign = tempDir();
    const raw = new Database(join(foreign, "ferry.db"));
    raw.exec("CREATE TABLE other (x)");
    raw.close();
    expectCode(() => Store.open(foreign), "store_version");

    const garbage = tempDir();
    writeFileSync(join(garbage, "ferry.db"), randomBytes(8192));
    expectCode(() => Store.open(garbage), "store_corrupt");
  });

  it("runs in WAL mode with foreign keys enforced", () => {
    const dir = tempDir();
    const store = openStore(dir);
    const raw = new Database(join(dir, "ferry.db"), { readonly: true });
    expect(raw.pragma("journal_mode", { simple: true })).toBe("wal");
    raw.close();
    expectCode(
      () => store.jobs.create({ codeHash: "0".repeat(64), owner: null, trust: "anonymous", entry: "main", node: "n1" }),
      "conflict",
    );
  });
});

describe("blobs", () => {
  it("stores bytes under <sha256[0:2]>/<sha256>, idempotently", () => {
    const store = openStore(tempDir());
    const data = bytes(1000);
    const first = store.blobs.put(data);
    const second = store.blobs.put(data);
    expect(first).toEqual({ hash: sha256Hex(data), size: 1000, created: true });
    expect(second.created).toBe(false);
    expect(store.blobs.pathOf(first.hash)).toBe(join(store.dataDir, "blobs", first.hash.slice(0, 2), first.hash));
    expect(Buffer.from(store.blobs.read(first.hash)).equals(Buffer.from(data))).toBe(true);
  });

  it("reports a damaged or missing module file as store_corrupt", () => {
    const store = openStore(tempDir());
    const hash = withModule(store);
    const path = store.blobs.pathOf(hash);
    const damaged = readFileSync(path);
    damaged[7] = damaged[7]! ^ 0xff;
    writeFileSync(path, damaged);
    expectCode(() => store.modules.read(hash), "store_corrupt");
    store.blobs.delete(hash);
    expectCode(() => store.modules.read(hash), "store_corrupt");
  });

  it("rejects names that are not sha256 hex (no path traversal)", () => {
    const store = openStore(tempDir());
    expectCode(() => store.blobs.read("../ferry.db"), "bad_request");
    expectCode(() => store.modules.read(`${"a".repeat(63)}/`), "not_found");
  });
});

describe("crash safety", () => {
  it("leaves no row when the transaction after a blob write fails; the orphan blob is collected at the next open", () => {
    const dir = tempDir();
    const store = openStore(dir);
    const input = bytes(300);
    // The module does not exist: the insert fails on its foreign key after the input blob is durable.
    expectCode(
      () => store.jobs.create({ id: "j1", codeHash: "f".repeat(64), owner: null, trust: "anonymous", entry: "main", input, node: "n1" }),
      "conflict",
    );
    expect(store.jobs.get("j1")).toBeUndefined();
    expect(store.blobs.has(sha256Hex(input))).toBe(true);
    store.close();

    const kept = openStore(dir); // default grace: a young orphan may be another writer's, so it stays
    expect(kept.openReport.blobsCollected).toBe(0);
    kept.close();
    const reopened = openStore(dir, { garbageGraceMs: 0 });
    expect(reopened.openReport.blobsCollected).toBe(1);
    expect(reopened.blobs.has(sha256Hex(input))).toBe(false);
  });

  it("sweeps temp files of writers that died mid-write, and keeps a live writer's", () => {
    const dir = tempDir();
    const store = openStore(dir);
    const shard = join(dir, "blobs", "ab");
    mkdirSync(shard, { recursive: true });
    const dead = `.${"ab".padEnd(64, "0")}.${deadPid()}.${Date.now()}.tmp`;
    const live = `.${"ab".padEnd(64, "1")}.${process.ppid}.${Date.now()}.tmp`;
    writeFileSync(join(shard, dead), "half a blob");
    writeFileSync(join(shard, live), "being written");
    store.close();
    const reopened = openStore(dir);
    expect(reopened.openReport.tempFilesRemoved).toBe(1);
    expect(readdirSync(shard)).toEqual([live]);
  });

  it("keeps every referenced blob through a collection with no grace period", () => {
    const dir = tempDir();
    const store = openStore(dir);
    const codeHash = withModule(store);
    const job = store.jobs.create({ codeHash, owner: null, trust: "anonymous", entry: "main", input: bytes(10), node: "n1" });
    store.checkpoints.add(job.id, bytes(500), { fuel: 1 });
    store.jobs.update(job.id, { output: bytes(20) });
    expect(store.collectGarbage(0)).toEqual([]);
    expect(store.blobs.list()).toHaveLength(4);
  });
});

describe("kill -9", () => {
  it("leaves every row pointing at an intact blob, and no orphans after recovery", async () => {
    const root = findRepoRoot();
    expect(existsSync(join(root, "dist", "server", "store", "index.js")), "run `npm run build` first (npm test does)").toBe(true);
    const dir = tempDir();
    const child = spawn(process.execPath, [join(root, "tests", "helpers", "store-writer-child.mjs"), dir], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on("exit", (_code, signal) => resolve(signal)));
    // Kill it mid-stream, at a moment that differs from run to run, once it has done some work.
    const target = 20 + Math.floor(Math.random() * 20);
    let lines = 0;
    child.stdout.on("data", (chunk: Buffer) => {
      lines += chunk.toString().split("\n").length - 1;
      if (lines >= target) child.kill("SIGKILL");
    });
    expect(await exited).toBe("SIGKILL");

    const store = openStore(dir, { garbageGraceMs: 0, checkpointsKept: 3 });
    const job = store.jobs.require("j");
    const checkpoints = store.checkpoints.list("j");
    expect(checkpoints.length).toBeGreaterThanOrEqual(1);
    expect(checkpoints.length).toBeLessThanOrEqual(3);
    for (const c of checkpoints) expect(store.checkpoints.read(c).byteLength).toBe(c.size);
    // The job row is updated right after each checkpoint: it is at most one step behind.
    expect(checkpoints.at(-1)!.fuel - job.fuelUsed).toBeGreaterThanOrEqual(0);
    expect(checkpoints.at(-1)!.fuel - job.fuelUsed).toBeLessThanOrEqual(1);
    if (job.outputHash) expect(store.jobs.output(job)!.byteLength).toBe(100);
    store.modules.read(job.codeHash);
    const referenced = new Set([job.codeHash, job.outputHash, ...checkpoints.map((c) => c.snapshotHash)]);
    expect(store.blobs.list().every((b) => referenced.has(b.hash))).toBe(true);
    expect(readdirSync(join(dir, "blobs"), { recursive: true }).filter((f) => String(f).endsWith(".tmp"))).toEqual([]);
  });
});

describe("clients", () => {
  it("round-trips capabilities and quotas, filling missing quotas with the defaults", () => {
    const dir = tempDir();
    const store = openStore(dir, { clock: () => 1234 });
    const client = store.clients.add({
      id: "alice",
      publicKey: ed25519Public(),
      capabilities: ["reports/*:rw", "config.json:r"],
      quotas: { maxConcurrentJobs: 2, maxMemoryPages: 256 },
    });
    expect(client).toMatchObject({
      id: "alice",
      capabilities: ["config.json:r", "reports/*:rw"],
      quotas: { ...DEFAULT_QUOTAS, maxConcurrentJobs: 2, maxMemoryPages: 256 },
      createdAt: 1234,
      disabled: false,
    });
    expect(client.publicKey).toMatch(/^-----BEGIN PUBLIC KEY-----/);
    store.close();
    const reopened = openStore(dir);
    expect(reopened.clients.require("alice")).toEqual(client);
    expect(reopened.clients.setDisabled("alice", true).disabled).toBe(true);
    expect(reopened.clients.updateGrants("alice", { quotas: { maxFuelPerJob: 5 } }).quotas).toEqual({
      ...DEFAULT_QUOTAS,
      maxFuelPerJob: 5,
    });
  });

  it("rejects duplicate ids and keys, bad grants and non-Ed25519 keys", () => {
    const store = openStore(tempDir());
    const key = ed25519Public();
    store.clients.add({ id: "a", publicKey: key });
    expectCode(() => store.clients.add({ id: "a", publicKey: ed25519Public() }), "conflict");
    expectCode(() => store.clients.add({ id: "b", publicKey: key }), "conflict");
    expectCode(() => store.clients.add({ publicKey: ed25519Public(), capabilities: ["no-mode"] }), "bad_request");
    expectCode(() => store.clients.add({ publicKey: ed25519Public(), quotas: { maxCpu: 1 } as never }), "bad_request");
    expectCode(() => store.clients.add({ publicKey: ed25519Public(), quotas: { maxConcurrentJobs: 0 } }), "bad_request");
    expectCode(() => store.clients.add({ publicKey: generateKeyPairSync("ec", { namedCurve: "P-256" }).publicKey }), "bad_request");
    expectCode(() => store.clients.add({ id: "../x", publicKey: ed25519Public() }), "bad_request");
    // An id names the client's resource root (resources/<id>): ".." would be the data directory itself.
    for (const id of [".", ".."]) expectCode(() => store.clients.add({ id, publicKey: ed25519Public() }), "bad_request");
    store.clients.add({ id: "..a", publicKey: ed25519Public() }); // dots inside a name are fine
    expectCode(() => store.clients.require("nobody"), "not_found");
    expect(
      store.clients
        .list()
        .map((c) => c.id)
        .sort(),
    ).toEqual(["..a", "a"]);
  });
});

describe("modules", () => {
  it("puts idempotently, lists by owner and visibility, and refuses to delete a module a job uses", () => {
    const store = openStore(tempDir());
    const code = bytes(64);
    const first = store.modules.put(code, { owner: "alice", public: false });
    const again = store.modules.put(code, { owner: "bob", public: false });
    expect(first.created).toBe(true);
    expect(again).toEqual({ module: first.module, created: false });
    expect(store.modules.list({ owner: "alice" })).toEqual([first.module]);
    expect(store.modules.list({ public: true })).toEqual([]);
    // Both uploaders own the bytes; nobody else sees a private module.
    const hash = first.module.codeHash;
    expect(["alice", "bob", "carol", null].map((c) => store.modules.visibleTo(hash, c))).toEqual([true, true, false, false]);
    // An upload marked public publishes it; uploading again never unpublishes.
    expect(store.modules.put(code, { owner: "carol", public: true }).module.public).toBe(true);
    expect(store.modules.put(code, { owner: "alice", public: false }).module.public).toBe(true);
    expect(store.modules.visibleTo(hash, null)).toBe(true);
    expect(store.modules.setPublic(first.module.codeHash, true).public).toBe(true);
    store.jobs.create({ codeHash: first.module.codeHash, owner: "alice", trust: "authenticated", entry: "main", node: "n1" });
    expectCode(() => store.modules.delete(first.module.codeHash), "conflict");
    const other = store.modules.put(bytes(32), { owner: null, public: true }).module.codeHash;
    store.modules.delete(other);
    expect(store.blobs.has(other)).toBe(false);
    expectCode(() => store.modules.require(other), "not_found");
  });
});

describe("schema 2: module owners", () => {
  it("gives every module stored under schema 1 its uploader as owner", () => {
    const dir = tempDir();
    Store.open(dir, { migrations: MIGRATIONS.slice(0, 1) }).close();
    const hash = "ab".repeat(32);
    const raw = new Database(join(dir, "ferry.db"));
    raw.prepare("INSERT INTO modules (code_hash, owner, public, size, created_at) VALUES (?, 'alice', 0, 1, 0)").run(hash);
    raw.close();
    const store = Store.open(dir);
    expect(store.schemaVersion).toBe(SCHEMA_VERSION);
    expect(["alice", "bob"].map((c) => store.modules.visibleTo(hash, c))).toEqual([true, false]);
    store.close();
  });
});

describe("jobs", () => {
  it("lists newest first in pages, jobs of the same millisecond in the order they were stored", () => {
    const store = openStore(tempDir(), { clock: () => 42 });
    const codeHash = withModule(store);
    const ids = [1, 2, 3, 4, 5].map(
      () => store.jobs.create({ codeHash, owner: "alice", trust: "authenticated", entry: "main", node: "n1" }).id,
    );
    store.jobs.create({ codeHash, owner: "bob", trust: "authenticated", entry: "main", node: "n1" });
    const page1 = store.jobs.list({ owner: "alice", newestFirst: true, limit: 3 }).map((j) => j.id);
    expect(page1).toEqual([ids[4], ids[3], ids[2]]);
    const page2 = store.jobs
      .list({ owner: "alice", newestFirst: true, limit: 3, before: store.jobs.position(page1[2]!)! })
      .map((j) => j.id);
    expect(page2).toEqual([ids[1], ids[0]]);
    expect(store.jobs.position("nope")).toBeUndefined();
  });

  it("creates with defaults, updates, and guards every write with the epoch", () => {
    let now = 10;
    const store = openStore(tempDir(), { clock: () => now });
    const codeHash = withModule(store);
    const job = store.jobs.create({ codeHash, owner: "alice", trust: "authenticated", entry: "main", args: [1, "2"], node: "n1" });
    expect(job).toMatchObject({ sandbox: "isolated", state: "queued", epoch: 0, fuelUsed: 0, result: null, createdAt: 10 });
    now = 20;
    const running = store.jobs.update(job.id, { state: "running", fuelUsed: 500 }, { expectEpoch: 0 });
    expect(running).toMatchObject({ state: "running", fuelUsed: 500, updatedAt: 20 });
    expect(store.jobs.require(job.id)).toEqual(running);

    const moved = store.jobs.update(job.id, { state: "migrating", epoch: 1 }, { expectEpoch: 0 });
    expect(moved.epoch).toBe(1);
    expectCode(() => store.jobs.update(job.id, { state: "running" }, { expectEpoch: 0 }), "conflict");
    expectCode(() => store.checkpoints.add(job.id, bytes(10), { fuel: 1, expectEpoch: 0 }), "conflict");
    expectCode(() => store.jobs.delete(job.id, { expectEpoch: 0 }), "conflict");
    expectCode(() => store.jobs.update("missing", { state: "running" }), "not_found");
    expectCode(() => store.jobs.update(job.id, { state: "exploded" as never }), "bad_request");
  });

  it("counts unfinished jobs per owner and filters lists", () => {
    const store = openStore(tempDir());
    const codeHash = withModule(store);
    const make = (owner: string | null, state: "queued" | "running" | "done") =>
      store.jobs.create({ codeHash, owner, trust: owner ? "authenticated" : "anonymous", entry: "main", state, node: "n1" });
    make("alice", "queued");
    make("alice", "running");
    make("alice", "done");
    make(null, "running");
    expect(store.jobs.countUnfinished("alice")).toBe(2);
    expect(store.jobs.list({ owner: null })).toHaveLength(1);
    expect(store.jobs.list({ state: ["running", "done"] })).toHaveLength(3);
    expect(store.jobs.list({ owner: "alice", state: "done" })[0]?.state).toBe("done");
    expect(store.jobs.list({ node: "n2" })).toEqual([]);
  });

  it("keeps each owner's unfinished count through creates, state changes, epochs and deletes", () => {
    const store = openStore(tempDir());
    const codeHash = withModule(store);
    const make = (owner: string | null, state: "queued" | "running" | "paused") =>
      store.jobs.create({ codeHash, owner, trust: owner ? "authenticated" : "anonymous", entry: "main", state, node: "n1" });
    const a = make("alice", "running");
    const b = make("alice", "paused");
    make("bob", "queued");
    make(null, "running");
    expect([store.jobs.countUnfinished("alice"), store.jobs.countUnfinished("bob"), store.jobs.countUnfinished("carol")]).toEqual([
      2, 1, 0,
    ]);
    store.jobs.update(a.id, { fuelUsed: 5 }); // no state change
    store.jobs.update(a.id, { state: "paused" });
    expect(store.jobs.countUnfinished("alice")).toBe(2);
    store.jobs.update(a.id, { state: "done" });
    expect(store.jobs.countUnfinished("alice")).toBe(1);
    // A failed transaction leaves the count as it was.
    expectCode(() => store.jobs.update(b.id, { state: "cancelled" }, { expectEpoch: 7 }), "conflict");
    expect(store.jobs.countUnfinished("alice")).toBe(1);
    store.jobs.delete(b.id);
    store.jobs.delete(a.id);
    expect(store.jobs.countUnfinished("alice")).toBe(0);
    expect(store.jobs.countUnfinished("bob")).toBe(1);
  });

  it("counts the unfinished jobs a database had before schema 8", () => {
    const dir = tempDir();
    const old = Store.open(dir, { migrations: MIGRATIONS.slice(0, 7) });
    const codeHash = withModule(old);
    for (const state of ["running", "paused", "done", "migrated"] as const)
      old.jobs.create({ codeHash, owner: "alice", trust: "authenticated", entry: "main", state, node: "n1" });
    old.close();
    const store = Store.open(dir);
    expect(store.schemaVersion).toBe(SCHEMA_VERSION);
    expect(store.jobs.countUnfinished("alice")).toBe(2);
    store.jobs.create({ codeHash, owner: "alice", trust: "authenticated", entry: "main", state: "queued", node: "n1" });
    expect(store.jobs.countUnfinished("alice")).toBe(3);
    store.close();
  });

  it("stores input and output as verified blobs and removes them with the job", () => {
    const store = openStore(tempDir());
    const codeHash = withModule(store);
    const input = bytes(50);
    const job = store.jobs.create({ codeHash, owner: null, trust: "anonymous", entry: "main", input, node: "n1" });
    expect(Buffer.from(store.jobs.input(job)!).equals(Buffer.from(input))).toBe(true);
    const first = store.jobs.update(job.id, { output: bytes(5) });
    const second = store.jobs.update(job.id, { output: bytes(6), state: "done", result: { value: 42 } });
    expect(store.blobs.has(first.outputHash!)).toBe(false); // replaced output removed
    expect(store.jobs.require(job.id).result).toEqual({ value: 42 });
    store.checkpoints.add(job.id, bytes(70), { fuel: 9 });
    store.jobs.delete(job.id);
    expect(store.blobs.list().map((b) => b.hash)).toEqual([codeHash]);
    expect(store.checkpoints.list(job.id)).toEqual([]);
    expect(second.outputHash).not.toBeNull();
  });
});

describe("checkpoints", () => {
  it("keeps the last N per job and deletes the snapshot blobs it prunes", () => {
    const store = openStore(tempDir(), { checkpointsKept: 2 });
    const codeHash = withModule(store);
    const job = store.jobs.create({ codeHash, owner: null, trust: "anonymous", entry: "main", node: "n1" });
    const snaps = [bytes(100), bytes(200), bytes(300)];
    const records = snaps.map((s, i) => store.checkpoints.add(job.id, s, { fuel: (i + 1) * 1000 }));
    expect(records.map((r) => r.seq)).toEqual([1, 2, 3]);
    expect(store.checkpoints.list(job.id).map((r) => r.seq)).toEqual([2, 3]);
    expect(store.blobs.has(records[0]!.snapshotHash)).toBe(false);
    const latest = store.checkpoints.latest(job.id)!;
    expect(latest).toEqual(records[2]);
    expect(Buffer.from(store.checkpoints.read(latest)).equals(Buffer.from(snaps[2]!))).toBe(true);
    expectCode(() => store.checkpoints.add("missing", bytes(1), { fuel: 0 }), "not_found");
  });

  it("keeps what a snapshot held with its row, and nothing for a row written without it", () => {
    const store = openStore(tempDir());
    const job = store.jobs.create({ codeHash: withModule(store), owner: null, trust: "anonymous", entry: "main", node: "n1" });
    const segment = { memoryPages: 17, touchedPages: 3, savedFrameBytes: 412 };
    const plain = store.checkpoints.add(job.id, bytes(150), { fuel: 1 });
    expect(plain.segment).toBeUndefined();
    expect(store.checkpoints.latest(job.id)).not.toHaveProperty("segment");
    const counted = store.checkpoints.add(job.id, bytes(200), { fuel: 2, segment });
    expect(counted.segment).toEqual(segment);
    expect(store.checkpoints.latest(job.id)).toEqual(counted);
  });

  it("keeps a snapshot blob that a newer checkpoint shares", () => {
    const store = openStore(tempDir(), { checkpointsKept: 1 });
    const codeHash = withModule(store);
    const job = store.jobs.create({ codeHash, owner: null, trust: "anonymous", entry: "main", node: "n1" });
    const same = bytes(128); // a paused job checkpointed twice produces identical bytes
    store.checkpoints.add(job.id, same, { fuel: 1 });
    const second = store.checkpoints.add(job.id, same, { fuel: 1 });
    expect(store.checkpoints.list(job.id)).toEqual([second]);
    expect(store.blobs.has(second.snapshotHash)).toBe(true);
  });
});

describe("deleting many jobs at once", () => {
  it("deletes those still at their epoch in one go, skips the rest, and removes a shared blob once nothing refers to it", () => {
    const store = openStore(tempDir());
    const codeHash = withModule(store);
    const shared = bytes(64); // the same input, one blob
    const jobs = [0, 1, 2].map(() =>
      store.jobs.create({ codeHash, owner: null, trust: "anonymous", entry: "main", node: "n1", input: shared }),
    );
    const moved = store.jobs.update(jobs[1]!.id, { state: "running", epoch: 1 });
    expect(moved.epoch).toBe(1);
    const inputHash = jobs[0]!.inputHash!;
    expect(store.jobs.deleteMany([jobs[0]!, jobs[1]!, { id: "gone", epoch: 0 }])).toEqual([jobs[0]!.id]);
    expect(store.jobs.get(jobs[1]!.id)).toBeDefined();
    expect(store.blobs.has(inputHash)).toBe(true); // jobs 1 and 2 still use it
    expect(store.jobs.deleteMany([moved, jobs[2]!])).toEqual([moved.id, jobs[2]!.id]);
    expect(store.blobs.has(inputHash)).toBe(false);
  });
});

describe("incremental checkpoints", () => {
  it("keeps the full checkpoint the kept deltas build on, and lets it go once no kept delta names it", () => {
    const store = openStore(tempDir(), { checkpointsKept: 2 });
    const codeHash = withModule(store);
    const job = store.jobs.create({ codeHash, owner: null, trust: "anonymous", entry: "main", node: "n1" });
    const full = store.checkpoints.add(job.id, bytes(400), { fuel: 1 });
    const deltas = [bytes(10), bytes(11), bytes(12)].map((d, i) =>
      store.checkpoints.add(job.id, d, { fuel: 2 + i, baseHash: full.snapshotHash }),
    );
    // The last two, and the base they name, although it is older than they are.
    expect(store.checkpoints.list(job.id).map((r) => r.seq)).toEqual([1, 3, 4]);
    expect(store.checkpoints.latest(job.id)).toEqual({ ...deltas[2], baseHash: full.snapshotHash });
    expect(store.blobs.has(full.snapshotHash)).toBe(true);
    expect(store.blobs.has(deltas[0]!.snapshotHash)).toBe(false);
    // A new full one (a rebase) and a delta on it: the old base has no kept delta left.
    const rebase = store.checkpoints.add(job.id, bytes(500), { fuel: 9 });
    store.checkpoints.add(job.id, bytes(13), { fuel: 10, baseHash: rebase.snapshotHash });
    expect(store.checkpoints.list(job.id).map((r) => r.seq)).toEqual([5, 6]);
    expect(store.blobs.has(full.snapshotHash)).toBe(false);
  });

  it("refuses a delta whose base is not one of the job's checkpoints, and stores nothing for it", () => {
    const store = openStore(tempDir(), { checkpointsKept: 2 });
    const codeHash = withModule(store);
    const job = store.jobs.create({ codeHash, owner: null, trust: "anonymous", entry: "main", node: "n1" });
    const other = store.jobs.create({ codeHash, owner: null, trust: "anonymous", entry: "main", node: "n1" });
    const othersFull = store.checkpoints.add(other.id, bytes(300), { fuel: 1 });
    expectCode(() => store.checkpoints.add(job.id, bytes(10), { fuel: 2, baseHash: othersFull.snapshotHash }), "conflict");
    expectCode(() => store.checkpoints.add(job.id, bytes(10), { fuel: 2, baseHash: "0".repeat(64) }), "conflict");
    expect(store.checkpoints.list(job.id)).toEqual([]);
  });

  it("adopts a complete temp file from the incoming directory as a blob, once", async () => {
    const store = openStore(tempDir(), { checkpointsKept: 2 });
    const codeHash = withModule(store);
    const job = store.jobs.create({ codeHash, owner: null, trust: "anonymous", entry: "main", node: "n1" });
    const content = bytes(1000);
    const hash = createHash("sha256").update(content).digest("hex");
    const temp = (n: number) => {
      const path = join(store.blobs.incoming, `.snapshot-${n}.${process.pid}.${Date.now()}.tmp`);
      writeFileSync(path, content);
      return path;
    };
    const first = await store.checkpoints.addFile(job.id, { temp: temp(1), sha256: hash, size: content.byteLength }, { fuel: 1 });
    expect(Buffer.from(store.checkpoints.read(first)).equals(Buffer.from(content))).toBe(true);
    // The same bytes again: the blob is already there, the temp file goes.
    await store.checkpoints.addFile(job.id, { temp: temp(2), sha256: hash, size: content.byteLength }, { fuel: 1 });
    expect(readdirSync(store.blobs.incoming)).toEqual([]);
    // Only files of the incoming directory.
    const outside = join(tempDir(), "x.tmp");
    writeFileSync(outside, content);
    await expect(store.blobs.adopt(outside, hash, content.byteLength)).rejects.toMatchObject({ code: "bad_request" });
  });
});

describe("nonces and peers", () => {
  it("claims a nonce once until it expires, and purges expired ones", () => {
    const store = openStore(tempDir());
    expect(store.nonces.claim("c", "n-0000000000000000", 1000, 0)).toBe(true);
    expect(store.nonces.claim("c", "n-0000000000000000", 1000, 500)).toBe(false);
    expect(store.nonces.claim("d", "n-0000000000000000", 1000, 500)).toBe(true);
    expect(store.nonces.claim("c", "n-0000000000000000", 3000, 1000)).toBe(true); // the old row had expired
    expect(store.nonces.purgeExpired(1000)).toBe(1);
    expect(store.nonces.count()).toBe(1);
  });

  it("upserts peers with their URL and key", () => {
    const store = openStore(tempDir());
    const first = store.peers.upsert({ nodeId: "node-b", url: "http://127.0.0.1:4000", publicKey: ed25519Public() });
    const second = store.peers.upsert({ nodeId: "node-b", url: "http://127.0.0.1:5000/", publicKey: ed25519Public() });
    expect(store.peers.list()).toEqual([second]);
    expect(second.publicKey).not.toBe(first.publicKey);
    expectCode(() => store.peers.upsert({ nodeId: "x", url: "ftp://h", publicKey: ed25519Public() }), "bad_request");
    expect(store.peers.remove("node-b")).toBe(true);
    expect(existsSync(join(store.dataDir, "ferry.db"))).toBe(true);
  });
});
