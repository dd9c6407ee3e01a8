// Attacks on a node's WASI jobs over real HTTP: directories outside the client's capabilities,
// resource names that climb out of its root (or are absolute, or hold NUL), anonymous callers
// asking for the node's disk, resource directories in-process (their I/O would run on the node's
// event loop), and an anonymous job's scratch tree that must show nothing of the node's files.
// Every refusal is the documented status and code, names the problem, and stores no job.
import { mkdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { programWasmPath, wordText } from "../../guest/programs/catalog.js";
import { HttpError, type StartJob } from "../../server/client.js";
import { MAX_SCRATCH_BYTES } from "../../server/node/wasi-dirs.js";
import { ANSWER } from "./fixtures.js";
import { removeDir, startTestNode, type TestNode } from "../helpers/node.js";

let n: TestNode;
let lz: string;
let walk: string;
let answer: string;

beforeAll(async () => {
  n = await startTestNode({ capabilities: ["data/*:rw", "ro/*:r", "one.txt:rw"], sharedModuleCache: true });
  lz = (await n.client.uploadModule(readFileSync(programWasmPath("c-lz")), { public: true })).codeHash;
  walk = (await n.client.uploadModule(readFileSync(programWasmPath("c-walk")), { public: true })).codeHash;
  answer = (await n.client.uploadModule(ANSWER, { public: true })).codeHash;
  // Something of the node's and of another client's that no job may see.
  mkdirSync(join(n.dataDir, "resources", "other-client", "data"), { recursive: true });
  writeFileSync(join(n.dataDir, "resources", "other-client", "data", "secret.txt"), "secret");
});
afterAll(async () => {
  await n.close();
  removeDir(n.dataDir);
});

async function refused(p: Promise<unknown>): Promise<{ status: number; code: string; message: string }> {
  try {
    await p;
  } catch (e) {
    if (e instanceof HttpError) return { status: e.status, code: e.code, message: e.message };
    throw e;
  }
  throw new Error("expected the node to refuse");
}

const job = (wasi: unknown, extra: Partial<StartJob> = {}): StartJob => ({ codeHash: lz, wasi: wasi as StartJob["wasi"], ...extra });
const dir = (resource: unknown, access = "rw") => ({ args: [], env: {}, dirs: [{ guest: "/d", resource, access }] });

describe("WASI job directories", () => {
  it("refuses a directory the client's capabilities do not grant, naming the capability (403)", async () => {
    const jobsBefore = n.running.store.jobs.list().length;
    for (const [resource, access, missing] of [
      ["secrets", "rw", "secrets/*:rw"],
      ["ro", "rw", "ro/*:rw"], // read granted, write not
      ["one.txt", "rw", "one.txt/*:rw"], // an exact grant names one resource, not a tree
      ["datafiles", "r", "datafiles/*:r"], // "data/*" covers "data/…", not "datafiles"
    ] as const) {
      const r = await refused(n.client.startJob(job(dir(resource, access))));
      expect(r).toMatchObject({ status: 403, code: "forbidden" });
      expect(r.message).toContain(missing);
    }
    expect(n.running.store.jobs.list().length).toBe(jobsBefore);
  });

  it("refuses resource names that leave the client's root, absolute ones and NUL (400)", async () => {
    for (const [resource, names] of [
      ["../other-client", ".."],
      ["data/../../other-client/data", ".."],
      ["/etc", "absolute"],
      [`data${"\0"}x`, "NUL"],
      ["", "resource"],
      ["data//x", "normalized"],
      ["./data", "normalized"],
      [42, "string"],
    ] as const) {
      const r = await refused(n.client.startJob(job(dir(resource))));
      expect(r).toMatchObject({ status: 400, code: "bad_request" });
      expect(r.message).toContain(names);
    }
    for (const [wasi, names] of [
      [{ dirs: [{ guest: "/d", resource: "data", access: "x" }] }, "access"],
      [{ dirs: [{ guest: "", scratch: true }] }, "guest"],
      [
        {
          dirs: [
            { guest: "/d", scratch: true },
            { guest: "/d", scratch: true },
          ],
        },
        "twice",
      ],
      [{ dirs: [{ guest: "/d", scratch: false }] }, "scratch"],
      [{ args: ["a\0b"] }, "NUL"],
      [{ env: { "A=B": "c" } }, "environment name"],
      [{ args: ["x".repeat(300 * 1024)] }, "limit"],
      [{ dirs: Array.from({ length: 40 }, (_, i) => ({ guest: `/s${i}`, scratch: true })) }, "at most"],
      [{ files: [] }, "unknown field"],
    ] as const) {
      const r = await refused(n.client.startJob(job(wasi)));
      expect(r).toMatchObject({ status: 400, code: "bad_request" });
      expect(r.message).toContain(names);
    }
  });

  it("refuses wasi for a module that does not import WASI (400)", async () => {
    const r = await refused(n.client.startJob({ codeHash: answer, wasi: { args: [], env: {}, dirs: [] } }));
    expect(r).toMatchObject({ status: 400, code: "bad_request" });
    expect(r.message).toContain("wasi_snapshot_preview1");
  });

  it("refuses an anonymous caller a resource directory (403), even one another client holds", async () => {
    const r = await refused(n.anonymous.startJob(job(dir("data"))));
    expect(r).toMatchObject({ status: 403, code: "forbidden" });
    expect(r.message).toContain("scratch");
  });

  it("refuses a resource directory in-process: its I/O would run on the node's event loop (sandbox_not_allowed)", async () => {
    const r = await refused(n.client.startJob(job(dir("data"), { sandbox: "in-process" })));
    expect(r).toMatchObject({ status: 400, code: "sandbox_not_allowed" });
    expect(r.message).toContain("isolated");
  });

  it("bounds a job's scratch trees: writing past their bytes fails in the guest (ENOSPC), the node holds no more", async () => {
    const data = join(n.dataDir, "resources", n.key.clientId, "data");
    mkdirSync(data, { recursive: true });
    writeFileSync(join(data, "big.txt"), wordText(600_000, 3)); // compresses to more than MAX_SCRATCH_BYTES
    const v = await n.client.startJob({
      codeHash: lz,
      waitMs: 30_000,
      wasi: {
        args: ["/data/big.txt", "/tmp/big.lz"],
        env: {},
        dirs: [
          { guest: "/data", resource: "data", access: "r" },
          { guest: "/tmp", scratch: true },
        ],
      },
    });
    // c-lz: 2 when a write is refused at once, 1 when the refusal is deferred to fclose (isolated
    // write-behind) and its read-back differs — either way its result did not fit.
    expect(v.result).toMatchObject({ status: "done" });
    expect([1, 2]).toContain((v.result as { exitCode?: number }).exitCode);
    expect(MAX_SCRATCH_BYTES).toBeLessThan(600_000);
  });

  it("holds each file in a resource directory to the client's disk quota (EFBIG past it)", async () => {
    const small = await startTestNode({ capabilities: ["data/*:rw"], sharedModuleCache: true, quotas: { maxResourceBytes: 10_000 } });
    try {
      const data = join(small.dataDir, "resources", small.key.clientId, "data");
      mkdirSync(data, { recursive: true });
      writeFileSync(join(data, "in.txt"), wordText(60_000, 1)); // put there by the operator; compresses to far more than 10,000 bytes
      const { codeHash } = await small.client.uploadModule(readFileSync(programWasmPath("c-lz")));
      const v = await small.client.startJob({
        codeHash,
        waitMs: 30_000,
        wasi: { args: ["/data/in.txt", "/data/out.lz"], env: {}, dirs: [{ guest: "/data", resource: "data", access: "rw" }] },
      });
      expect([1, 2]).toContain((v.result as { exitCode?: number }).exitCode);
      const { size } = statSync(join(data, "out.lz"), { throwIfNoEntry: false }) ?? { size: 0 };
      expect(size).toBeLessThanOrEqual(10_000);
    } finally {
      await small.close();
      removeDir(small.dataDir);
    }
  });

  it("gives an anonymous in-process job a scratch tree that shows nothing of the node's files", async () => {
    const seen: string[] = [];
    for (const target of ["/t", "/t/..", "/", "/t/../resources", n.dataDir]) {
      const v = await n.anonymous.startJob({
        codeHash: walk,
        waitMs: 30_000,
        wasi: { args: [target], env: {}, dirs: [{ guest: "/t", scratch: true }] },
      });
      expect(v.sandbox).toBe("in-process");
      expect(v.state).toBe("done");
      seen.push(Buffer.from((await n.anonymous.outputPage(v.id)).bytes).toString("utf8"));
    }
    const all = seen.join("\n");
    for (const name of ["secret", "other-client", "resources", "node.db", "module-cache"]) expect(all).not.toContain(name);
  });
});
