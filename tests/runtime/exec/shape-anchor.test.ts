// Hidden classes kept across jobs (runtime/shape-anchor.ts): once V8 has optimised the host-call
// path, a later job's WASI calls run that code instead of throwing it away. Before the kept
// samples, every object of a job died with it, the GC collected their hidden classes, and V8
// deoptimised every method that checked for one ("weak objects") — each job paid the warm-up again.
// The check reads V8's own trace of a real child process running several jobs one after another,
// a full GC between them: at least one host-call function must have been optimised (or the test
// would prove nothing), and none of them may be deoptimised for a dead object after the first jobs.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { wat } from "../../helpers/wat.js";

const dir = mkdtempSync(join(tmpdir(), "ferry-shape-anchor-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** 20,000 one-byte writes to stdout: enough calls for V8 to optimise the path they take. */
const WRITER = wat(`(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 16) "x")
  (func (export "_start") (local $i i32)
    (i32.store (i32.const 0) (i32.const 16))
    (i32.store (i32.const 4) (i32.const 1))
    (loop $l
      (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const 20000))))))`);

const JOBS = 6;
/** Jobs whose deoptimisations are the warm-up's (the classes' first objects, the first optimisations). */
const WARM_UP = 2;

const SCRIPT = `
import { readFileSync } from "node:fs";
const R = await import(${JSON.stringify(resolve("dist/runtime/index.js"))});
const engine = new R.Engine();
const module = await engine.compile(readFileSync(${JSON.stringify(join(dir, "writer.wasm"))}));
async function job() {
  const instance = await engine.instantiate(module, { sandbox: "in-process", trust: "anonymous", wasi: { program: "writer", args: [] } });
  const r = await new R.Scheduler().start(instance, "_start").result;
  const bytes = instance.output().byteLength;
  instance.dispose();
  if (r.status !== "done" || bytes !== 20000) throw new Error("job ended " + JSON.stringify(r) + " with " + bytes + " bytes");
}
for (let i = 0; i < ${JOBS}; i++) {
  globalThis.gc();
  console.log("@@job " + i);
  await job();
}
console.log("@@end");
engine.close?.();
`;

/** The functions every WASI write goes through (runtime/host/wasi, runtime/exec). */
const HOST_CALL_PATH = new Set([
  "answer",
  "transfer",
  "writeTo",
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

describe("hidden classes kept across jobs", () => {
  it("a later job's WASI calls are not deoptimised for objects an earlier job left behind", () => {
    writeFileSync(join(dir, "writer.wasm"), WRITER);
    writeFileSync(join(dir, "jobs.mjs"), SCRIPT);
    const run = spawnSync(process.execPath, ["--expose-gc", "--trace-opt", "--trace-deopt", join(dir, "jobs.mjs")], {
      encoding: "utf8",
      maxBuffer: 64 << 20,
    });
    expect(run.status, run.stderr).toBe(0);
    const lines = run.stdout.split("\n");
    expect(lines).toContain("@@end");
    const nameOf = (line: string): string | undefined => /<(?:JSFunction|SharedFunctionInfo) ([\w$]+)/.exec(line)?.[1];
    const optimised = lines.filter((l) => l.startsWith("[completed optimizing")).map(nameOf);
    expect(optimised.filter((n) => n !== undefined && HOST_CALL_PATH.has(n)).length).toBeGreaterThan(0);
    const after = lines.slice(lines.indexOf(`@@job ${WARM_UP}`));
    const thrownAway = after.filter((l) => l.includes("reason: weak objects")).map(nameOf);
    expect(thrownAway.filter((n) => n !== undefined && HOST_CALL_PATH.has(n))).toEqual([]);
  });
});
