// Entry arguments are checked against the entry's real signature before anything is stored or run:
// over HTTP (POST /jobs: 400 invalid_arguments naming the argument, no job stored), and on the
// command line (`ferry run`, `ferry submit`: negative numbers just work, bad values exit 3).
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { HttpError } from "../../server/client.js";
import { ferry } from "../helpers/cli.js";
import { removeDir, startTestNode, type TestNode } from "../helpers/node.js";
import { wat } from "../helpers/wat.js";

/** One identity entry per value type: each returns its argument. */
const TYPED = wat(`(module
  (func (export "i32") (param i32) (result i32) (local.get 0))
  (func (export "i64") (param i64) (result i64) (local.get 0))
  (func (export "f32") (param f32) (result f32) (local.get 0))
  (func (export "f64") (param f64) (result f64) (local.get 0))
  (func (export "two") (param i32 i64) (result i64) (i64.add (i64.extend_i32_s (local.get 0)) (local.get 1))))`);

let n: TestNode;
let hash: string;
const dir = mkdtempSync(join(tmpdir(), "ferry-args-"));
const typedWasm = join(dir, "typed.wasm");

beforeAll(async () => {
  writeFileSync(typedWasm, TYPED);
  n = await startTestNode({ quotas: { maxConcurrentJobs: 64 }, sharedModuleCache: true });
  hash = (await n.client.uploadModule(TYPED, { public: true })).codeHash;
});

afterAll(async () => {
  await n?.close();
  if (n) removeDir(n.dataDir);
  removeDir(dir);
});

const jobsStored = (): number => n.running.store.jobs.list().length;

async function refusal(entry: string, args: unknown[]): Promise<{ status: number; code: string; message: string }> {
  try {
    await n.anonymous.request("POST", "/jobs", JSON.stringify({ codeHash: hash, entry, args }), "application/json");
  } catch (e) {
    if (e instanceof HttpError) return { status: e.status, code: e.code, message: e.message };
    throw e;
  }
  throw new Error(`${entry}(${JSON.stringify(args)}) was accepted`);
}

describe("POST /jobs checks arguments against the entry's signature", () => {
  it.each([
    ["i32", [2.5]],
    ["i32", [5_000_000_000]],
    ["i32", [1e308]],
    ["i32", [-2_147_483_649]],
    ["i32", ["5000000000"]],
    ["i64", [5e18]],
    ["i64", [1.5]],
    ["i64", ["18446744073709551616"]],
    ["f32", [1e39]],
    ["two", [1]],
    ["two", [2.5, 1]],
  ])("%s(%j): 400 invalid_arguments naming the argument, nothing stored", async (entry, args) => {
    const before = jobsStored();
    const r = await refusal(entry, args);
    expect(r).toMatchObject({ status: 400, code: "invalid_arguments" });
    expect(r.message).toMatch(args.length === 1 && entry === "two" ? /takes 2 argument/ : /argument 0 of "\w+" is (i32|i64|f32)/);
    expect(jobsStored()).toBe(before);
  });

  it.each([
    ["i32", [-5], -5],
    ["i32", [4_294_967_295], -1],
    ["i32", [-2_147_483_648], -2_147_483_648],
    ["i64", ["-9223372036854775808"], "-9223372036854775808"],
    ["i64", [-5], "-5"],
    ["f32", [-2.5], -2.5],
    ["f64", [1e308], 1e308],
    ["two", [-1, "9007199254740993"], "9007199254740992"],
  ])("%s(%j) runs: %j", async (entry, args, value) => {
    const job = await n.anonymous.startJob({
      codeHash: hash,
      entry,
      args: args as (number | string)[],
      sandbox: "in-process",
      waitMs: 30_000,
    });
    expect(job).toMatchObject({ state: "done", result: { value } });
  });
});

describe("the command line", () => {
  it("ferry run --args -5 (and -5,3 and --args=-5): negative numbers are values, not options", async () => {
    expect(await ferry(["run", typedWasm, "--entry", "i32", "--args", "-5"])).toMatchObject({ code: 0, stdout: "-5\n" });
    expect(await ferry(["run", typedWasm, "--entry", "two", "--args", "-5,-3"])).toMatchObject({ code: 0, stdout: "-8\n" });
    expect(await ferry(["run", typedWasm, "--entry", "f64", "--args=-2.5"])).toMatchObject({ code: 0, stdout: "-2.5\n" });
    expect(await ferry(["run", typedWasm, "--entry", "i64", "--args", "-9223372036854775808"])).toMatchObject({
      code: 0,
      stdout: "-9223372036854775808\n",
    });
  });

  it.each([["2.5"], ["5000000000"], ["1e308"], ["0x10"], ["five"]])(
    "ferry run --entry i32 --args %s: exit 3, one line naming argument 0",
    async (text) => {
      const r = await ferry(["run", typedWasm, "--entry", "i32", "--args", text]);
      expect(r.code).toBe(3);
      expect(r.stdout).toBe("");
      expect(r.stderr).toMatch(/^ferry: .*argument 0\b.*\n$/);
    },
  );

  it("ferry submit --args -5 runs; --args 2.5 for an i32 is refused (exit 3) and stores nothing", async () => {
    const ok = await ferry(["submit", hash, "--node", n.running.url, "--entry", "i32", "--args", "-5", "--wait", "30000"]);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toMatchObject({ state: "done", result: { value: -5 } });
    const before = jobsStored();
    const bad = await ferry(["submit", hash, "--node", n.running.url, "--entry", "i32", "--args", "2.5"]);
    expect(bad.code).toBe(3);
    expect(bad.stderr).toMatch(/invalid_arguments.*argument 0 of "i32"/);
    expect(jobsStored()).toBe(before);
  });
});
