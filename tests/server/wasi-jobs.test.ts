// WASI jobs on a real node over HTTP: real C programs (guest/programs) given argv, an environment
// and directories — a client's resource directory served off the node's event loop, a scratch
// tree — checked against the same program under node:wasi; a WASI job migrated mid-run between two
// real nodes, its directories rebound by name at the target.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { programWasmPath, wordText } from "../../guest/programs/catalog.js";
import { runUnderNodeWasi } from "../../guest/programs/node-wasi.js";
import { type MemoryDirectory, sharedResourceThread } from "../../runtime/index.js";
import { generateSigningKey } from "../../server/auth/index.js";
import type { JobDetail } from "../../server/node/job-resources.js";
import { exitOf, outputText, program, resourceDir } from "../helpers/lz-jobs.js";
import { closeNodes, startTestNode, type TestNode } from "../helpers/node.js";
import { untilValue } from "../helpers/until.js";

const scratch = mkdtempSync(join(tmpdir(), "nodewasi-ref-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

const nodes: TestNode[] = [];
afterEach(() => closeNodes(nodes));

async function node(capabilities: string[], key = generateSigningKey()): Promise<TestNode> {
  const n = await startTestNode({ key, capabilities, sharedModuleCache: true, quotas: { maxFuelPerJob: 1e13 } });
  nodes.push(n);
  return n;
}

/** c-lz's straight run under node:wasi on `input`: its stdout and the compressed file. */
function lzReference(input: Uint8Array): { stdout: string; lz: Buffer; exitCode: number } {
  const dir = mkdtempSync(join(scratch, "lz-"));
  writeFileSync(join(dir, "words.txt"), input);
  const run = runUnderNodeWasi(programWasmPath("c-lz"), "c-lz", {
    args: ["/data/words.txt", "/data/words.lz"],
    preopens: { "/data": dir },
  });
  return { stdout: run.stdout, lz: readFileSync(join(dir, "words.lz")), exitCode: run.exitCode };
}

/** A live job's scratch tree on node `n` (the node's own state: a test reaches in to plant and check a file). */
function scratchOf(n: TestNode, id: string): MemoryDirectory {
  const runner = (n.running.node as unknown as { runner: { live: Map<string, { scratch: Map<string, MemoryDirectory> }> } }).runner;
  const tree = runner.live.get(id)?.scratch.get("/tmp");
  if (!tree) throw new Error(`job ${id} has no scratch tree /tmp on this node`);
  return tree;
}

describe("WASI jobs on a node", () => {
  it("runs c-lz over HTTP on the client's resource directory, off the event loop, with node:wasi's bytes", async () => {
    const n = await node(["data/*:rw"]);
    const input = wordText(200_000, 11);
    mkdirSync(resourceDir(n, "data"), { recursive: true });
    writeFileSync(join(resourceDir(n, "data"), "words.txt"), input);
    const { codeHash } = await n.client.uploadModule(program("c-lz"));
    const served = sharedResourceThread().stats.served;
    const job = await n.client.startJob({
      codeHash,
      waitMs: 30_000,
      wasi: { args: ["/data/words.txt", "/data/words.lz"], env: {}, dirs: [{ guest: "/data", resource: "data", access: "rw" }] },
    });
    const ref = lzReference(input);
    expect(job.state).toBe("done");
    expect(job.sandbox).toBe("isolated");
    expect(exitOf(job)).toBe(ref.exitCode);
    expect(await outputText(n, job.id)).toBe(ref.stdout);
    expect(readFileSync(join(resourceDir(n, "data"), "words.lz")).equals(ref.lz)).toBe(true);
    // Every file-system call went through the resource worker, never the node's own thread.
    const stats = sharedResourceThread().stats;
    expect(stats.served).toBeGreaterThan(served);
    expect(stats.servedOn).not.toContain(0);
    expect((await n.client.job(job.id)) as JobDetail).toMatchObject({
      wasi: { args: ["/data/words.txt", "/data/words.lz"], dirs: [{ guest: "/data", resource: "data", access: "rw" }] },
    });
  });

  it("makes a resource directory that does not exist yet, and a read-only one refuses writes", async () => {
    const n = await node(["out/*:rw", "in/*:r"]);
    const { codeHash } = await n.client.uploadModule(program("c-lz"));
    mkdirSync(resourceDir(n, "in"), { recursive: true });
    writeFileSync(join(resourceDir(n, "in"), "words.txt"), wordText(5_000, 2));
    const ro = await n.client.startJob({
      codeHash,
      waitMs: 30_000,
      wasi: { args: ["/in/words.txt", "/in/words.lz"], env: {}, dirs: [{ guest: "/in", resource: "in", access: "r" }] },
    });
    expect(exitOf(ro)).toBe(2); // c-lz: 2 on an I/O error (the write refused)
    const fresh = await n.client.startJob({
      codeHash,
      waitMs: 30_000,
      wasi: {
        args: ["/in/words.txt", "/out/new/words.lz"],
        env: {},
        dirs: [
          { guest: "/in", resource: "in", access: "r" },
          { guest: "/out", resource: "out/2026", access: "rw" },
        ],
      },
    });
    // The directory "out/2026" was made; "new" inside it was not (c-lz does not make directories).
    expect(exitOf(fresh)).toBe(2);
    expect(readFileSync(join(resourceDir(n, "in"), "words.txt")).byteLength).toBe(5_000);
    const ok = await n.client.startJob({
      codeHash,
      waitMs: 30_000,
      wasi: {
        args: ["/in/words.txt", "/out/words.lz"],
        env: {},
        dirs: [
          { guest: "/in", resource: "in", access: "r" },
          { guest: "/out", resource: "out/2026", access: "rw" },
        ],
      },
    });
    expect(exitOf(ok)).toBe(0);
    expect(readFileSync(join(resourceDir(n, "out/2026"), "words.lz")).byteLength).toBeGreaterThan(0);
  });

  it("shows a non-zero exit code, stdout as the job's output and stderr as its log", async () => {
    const n = await node([]);
    const { codeHash } = await n.client.uploadModule(program("c-hello"));
    const job = await n.client.startJob({ codeHash, wasi: { args: ["one", "two", "three"], env: { GREETING: "hi" }, dirs: [] } });
    const logs: string[] = [];
    for await (const e of n.client.events(job.id)) if (e.type === "log") logs.push(e.line);
    const done = await n.client.job(job.id);
    const ref = runUnderNodeWasi(programWasmPath("c-hello"), "guest", { args: ["one", "two", "three"], env: { GREETING: "hi" } });
    expect(exitOf(done)).toBe(3);
    expect(ref.exitCode).toBe(3);
    expect(await outputText(n, job.id)).toBe(ref.stdout);
    expect(logs).toEqual(ref.stderr.trimEnd().split("\n"));
  });

  it("runs an anonymous in-process WASI job with a scratch directory", async () => {
    const n = await node([]);
    const { codeHash } = await n.client.uploadModule(program("c-walk"), { public: true });
    const job = await n.anonymous.startJob({
      codeHash,
      waitMs: 30_000,
      wasi: { args: ["/t"], env: {}, dirs: [{ guest: "/t", scratch: true }] },
    });
    const ref = runUnderNodeWasi(programWasmPath("c-walk"), "guest", {
      args: ["/t"],
      preopens: { "/t": mkdtempSync(join(scratch, "walk-")) },
    });
    expect(job.sandbox).toBe("in-process");
    expect(exitOf(job)).toBe(ref.exitCode);
    expect(await outputText(n, job.id)).toBe(ref.stdout);
  });
});

describe("WASI jobs between nodes", () => {
  it("migrates a paused c-lz job mid-run; it finishes at the target with the straight run's output and file", async () => {
    const key = generateSigningKey();
    const a = await node(["data/*:rw"], key);
    const b = await node(["data/*:rw"], key);
    for (const [x, y] of [
      [a, b],
      [b, a],
    ] as const)
      x.running.store.peers.upsert({ nodeId: y.running.identity.nodeId, url: y.running.url, publicKey: y.running.identity.publicKey });
    // Shared storage: the client's root at b is the one at a (what rebinding by name relies on).
    mkdirSync(resourceDir(a, "data"), { recursive: true });
    mkdirSync(join(b.dataDir, "resources"), { recursive: true });
    symlinkSync(join(a.dataDir, "resources", key.clientId), join(b.dataDir, "resources", key.clientId), "dir");
    const input = wordText(3_000_000, 5);
    writeFileSync(join(resourceDir(a, "data"), "words.txt"), input);
    const { codeHash } = await a.client.uploadModule(program("c-lz"));
    const job = await a.client.startJob({
      codeHash,
      // By type: any directory of the owner's named "data" will do (here the same one, shared): rebound at the target.
      wasi: {
        args: ["/data/words.txt", "/data/words.lz"],
        env: {},
        dirs: [{ guest: "/data", resource: "data", access: "rw", binding: "type" }],
      },
    });
    const paused = (await a.client.pause(job.id)) as JobDetail;
    expect(paused.state).toBe("paused");
    const detail = (await a.client.job(job.id)) as JobDetail;
    const segment = detail.resourceSegment;
    expect(segment?.fds.some((f) => f.kind === "directory" && f.preopen === "/data")).toBe(true);
    // What the move will do with each resource, as the binding table says and this node does.
    const action = Object.fromEntries((detail.bindings ?? []).map((b) => [b.resource, [b.binding, b.attachment, b.action].join(" ")]));
    expect(action).toEqual({
      stdin: "value unattached copy",
      stdout: "value unattached copy",
      stderr: "type unattached rebind",
      clock: "type fixed rebind",
      random: "type fixed rebind",
      "/data": "type fastened rebind",
    });
    const moved = await a.client.migrate(job.id, b.running.identity.nodeId);
    expect(moved.state).toBe("migrated");
    expect((await b.client.job(job.id)).state).toBe("paused");
    await b.client.resume(job.id);
    const end = await untilValue(
      async () => {
        const v = await b.client.job(job.id);
        return ["done", "trapped", "failed"].includes(v.state) ? v : undefined;
      },
      "the migrated job to end at the target",
      60_000,
    );
    // The straight run: the same job on one node, never paused (Ferry against node:wasi is the first
    // test's; node:wasi itself is not run on 3 MB here: in a process holding a node it has crashed).
    mkdirSync(resourceDir(a, "data/straight"));
    writeFileSync(join(resourceDir(a, "data/straight"), "words.txt"), input);
    const straight = await a.client.startJob({
      codeHash,
      waitMs: 60_000,
      wasi: { args: ["/data/words.txt", "/data/words.lz"], env: {}, dirs: [{ guest: "/data", resource: "data/straight", access: "rw" }] },
    });
    expect(exitOf(straight)).toBe(0);
    expect(exitOf(end)).toBe(0);
    expect(await outputText(b, job.id)).toBe(await outputText(a, straight.id));
    const lz = readFileSync(join(resourceDir(a, "data"), "words.lz"));
    expect(lz.byteLength).toBeGreaterThan(0);
    expect(lz.equals(readFileSync(join(resourceDir(a, "data/straight"), "words.lz")))).toBe(true);
  });

  it("carries a scratch directory by value: c-lz writing its result to scratch is paused, moved, and ends as the straight run", async () => {
    const key = generateSigningKey();
    const a = await node(["data/*:r"], key);
    const b = await node(["data/*:r"], key);
    for (const [x, y] of [
      [a, b],
      [b, a],
    ] as const)
      x.running.store.peers.upsert({ nodeId: y.running.identity.nodeId, url: y.running.url, publicKey: y.running.identity.publicKey });
    // The input is at both nodes under the same name (an operator's copy): rebound by name.
    const input = wordText(300_000, 9);
    for (const x of [a, b]) {
      mkdirSync(resourceDir(x, "data"), { recursive: true });
      writeFileSync(join(resourceDir(x, "data"), "words.txt"), input);
    }
    const { codeHash } = await a.client.uploadModule(program("c-lz"));
    const args = ["/data/words.txt", "/tmp/words.lz"];
    const wasiDirs = [
      { guest: "/data", resource: "data", access: "r" as const },
      { guest: "/tmp", scratch: true as const },
    ];
    const job = await a.client.startJob({ codeHash, wasi: { args, env: {}, dirs: wasiDirs } });
    expect((await a.client.pause(job.id)).state).toBe("paused");
    // A file put into the paused job's scratch tree at the source (the tree is the node's; no API writes into it).
    const marker = scratchOf(a, job.id).openFile("marker.txt", { create: true, write: true });
    marker.write(new TextEncoder().encode("made at the source"), 0);
    marker.close();
    await a.client.migrate(job.id, b.running.identity.nodeId);
    // At the target, from its checkpoint (the PREPARE's snapshot) and in the live job: the tree came by value.
    const there = (await b.client.job(job.id)) as JobDetail;
    expect(there.resourceSegment?.scratch["/tmp"]?.entries).toBeGreaterThanOrEqual(2);
    const moved = scratchOf(b, job.id).openFile("marker.txt", {});
    const into = new Uint8Array(64);
    expect(new TextDecoder().decode(into.subarray(0, moved.read(into, 0)))).toBe("made at the source");
    moved.close();
    await b.client.resume(job.id);
    const end = await untilValue(
      async () => {
        const v = await b.client.job(job.id);
        return ["done", "trapped", "failed"].includes(v.state) ? v : undefined;
      },
      "the migrated job to end at the target",
      60_000,
    );
    // The straight run, at the target, never paused or moved.
    const straight = await b.client.startJob({ codeHash, waitMs: 60_000, wasi: { args, env: {}, dirs: wasiDirs } });
    // c-lz reads its result back from scratch and checks it: exit 0 and the same report only if the tree travelled whole.
    expect(exitOf(end)).toBe(0);
    expect(exitOf(straight)).toBe(0);
    expect(await outputText(b, job.id)).toBe(await outputText(b, straight.id));
  });

  it("refuses a migration whose target does not grant a directory rebound there; the job stays at the source and finishes", async () => {
    const key = generateSigningKey();
    const a = await node(["data/*:rw"], key);
    const b = await node(["other/*:rw"], key);
    for (const [x, y] of [
      [a, b],
      [b, a],
    ] as const)
      x.running.store.peers.upsert({ nodeId: y.running.identity.nodeId, url: y.running.url, publicKey: y.running.identity.publicKey });
    const { codeHash } = await a.client.uploadModule(program("c-sleep"));
    const job = await a.client.startJob({
      codeHash,
      wasi: { args: ["40", "20"], env: {}, dirs: [{ guest: "/data", resource: "data", access: "rw", binding: "type" }] },
    });
    await a.client.pause(job.id);
    const refused = await a.client.migrate(job.id, b.running.identity.nodeId).then(
      () => undefined,
      (e: { code?: string; message?: string }) => e,
    );
    // The source's answer: the transfer failed and the job goes on there, with the target's reason.
    expect(refused?.code).toBe("conflict");
    expect(refused?.message).toContain("data/*:rw");
    expect(b.running.store.jobs.get(job.id)).toBeUndefined();
    expect((await a.client.job(job.id)).state).toBe("paused");
    await a.client.resume(job.id);
    const end = await untilValue(
      async () => {
        const v = await a.client.job(job.id);
        return v.state === "done" ? v : undefined;
      },
      "the job to end at its source",
      60_000,
    );
    expect(exitOf(end)).toBe(0);
    expect(await outputText(a, job.id)).toBe(runUnderNodeWasi(programWasmPath("c-sleep"), "guest", { args: ["40", "20"] }).stdout);
  });
});
