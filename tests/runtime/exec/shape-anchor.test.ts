// Hidden classes kept across jobs (runtime/shape-anchor.ts): once V8 has optimised the host-call
// path, a later job's host calls run that code instead of throwing it away. Before the kept
// samples, every object of a job died with it, the GC collected their hidden classes, and V8
// deoptimised every method that checked for one ("weak objects") — each job paid the warm-up again.
// The check reads V8's own trace of a real child process running several jobs one after another,
// a full GC before each: at least one host-call function must have been optimised (or the test
// would prove nothing), and none of them may be deoptimised for a dead object after the first jobs.
// Two paths: WASI's fd_write and Ferry's own output_write.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { wat } from "../../helpers/wat.js";

const dir = mkdtempSync(join(tmpdir(), "ferry-shape-anchor-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const WRITES = 20_000;

/** WRITES one-byte writes to stdout: enough calls for V8 to optimise the path they take. */
const WASI_WRITER = wat(`(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "x")
  (func (export "_start") (local $i i32)
    (i32.store (i32.const 0) (i32.const 16))
    (i32.store (i32.const 4) (i32.const 1))
    (loop $l
      (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const ${WRITES}))))))`);

/** The same through Ferry's own import. */
const FERRY_WRITER = wat(`(module
  (import "ferry" "output_write" (func $write (param i32 i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "x")
  (func (export "main") (result i32) (local $i i32)
    (loop $l
      (call $write (i32.const 16) (i32.const 1))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const ${WRITES}))))
    (i32.const 0)))`);

const JOBS = 6;
/** Jobs whose deoptimisations are the warm-up's (the classes' first objects, the first optimisations). */
const WARM_UP = 2;

interface Case {
  wasm: string;
  entry: string;
  /** The instance's WASI setup, as JavaScript source ("" for none). */
  wasi: string;
}

/** A child that runs JOBS jobs of the case's module one after another, a full GC before each. */
function script(c: Case): string {
  return `
import { readFileSync } from "node:fs";
const R = await import(${JSON.stringify(resolve("dist/runtime/index.js"))});
const engine = new R.Engine();
const module = await engine.compile(readFileSync(${JSON.stringify(c.wasm)}));
async function job() {
  const instance = await engine.instantiate(module, { sandbox: "in-process", trust: "anonymous"${c.wasi} });
  const r = await new R.Scheduler().start(instance, ${JSON.stringify(c.entry)}).result;
  const bytes = instance.output().byteLength;
  instance.dispose();
  if (r.status !== "done" || bytes !== ${WRITES}) throw new Error("job ended " + JSON.stringify(r) + " with " + bytes + " bytes");
}
for (let i = 0; i < ${JOBS}; i++) {
  globalThis.gc();
  console.log("@@job " + i);
  await job();
}
console.log("@@end");
await engine.close();
`;
}

/** The functions every write goes through (runtime/host, runtime/exec). */
const HOST_CALL_PATH = new Set([
  "answer",
  "transfer",
  "writeTo",
  "outputWriteCall",
  "read",
  "view",
  "u32",
  "at",
  "setU32",
  "iovecs",
  "get",
  "fd",
  "charge",
  "afterCall",
  "memory",
  "settle",
  "pastDeadline",
  "forceCheck",
  "writeOutput",
  "append",
]);

/** Run the case in a traced child: the host-call functions V8 optimised, and those it threw away after the warm-up. */
function traced(name: string, bytes: Uint8Array, c: Omit<Case, "wasm">): { optimised: string[]; thrownAway: string[] } {
  const wasm = join(dir, `${name}.wasm`);
  writeFileSync(wasm, bytes);
  writeFileSync(join(dir, `${name}.mjs`), script({ ...c, wasm }));
  const run = spawnSync(process.execPath, ["--expose-gc", "--trace-opt", "--trace-deopt", join(dir, `${name}.mjs`)], {
    encoding: "utf8",
    maxBuffer: 64 << 20,
  });
  expect(run.status, run.stderr).toBe(0);
  const lines = run.stdout.split("\n");
  expect(lines).toContain("@@end");
  const onPath = (line: string): string[] => {
    const name = /<(?:JSFunction|SharedFunctionInfo) ([\w$]+)/.exec(line)?.[1];
    return name !== undefined && HOST_CALL_PATH.has(name) ? [name] : [];
  };
  const after = lines.slice(lines.indexOf(`@@job ${WARM_UP}`));
  return {
    optimised: lines.filter((l) => l.startsWith("[completed optimizing")).flatMap(onPath),
    thrownAway: after.filter((l) => l.includes("reason: weak objects")).flatMap(onPath),
  };
}

describe("hidden classes kept across jobs", () => {
  it("a later job's WASI calls are not deoptimised for objects an earlier job left behind", () => {
    const { optimised, thrownAway } = traced("wasi-writer", WASI_WRITER, {
      entry: "_start",
      wasi: ', wasi: { program: "writer", args: [] }',
    });
    expect(optimised.length).toBeGreaterThan(0);
    expect(thrownAway).toEqual([]);
  });

  it("nor are its ferry.output_write calls", () => {
    const { optimised, thrownAway } = traced("ferry-writer", FERRY_WRITER, { entry: "main", wasi: "" });
    expect(optimised.length).toBeGreaterThan(0);
    expect(thrownAway).toEqual([]);
  });
});
