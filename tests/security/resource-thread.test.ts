// Guests' file I/O never runs on the host's event loop (issue 8 §4/§5): an isolated guest's resource
// calls are served by the resource worker, whose disk work (writes, the copy a read-write open makes,
// the fsyncs of a commit) blocks that thread, not the host's. Judged without a clock: which thread
// answered each call, and that the host's loop turns while a call is held in the worker.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { threadId } from "node:worker_threads";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Engine, type GuestModule } from "../../runtime/index.js";
import { GuestTrap } from "../../runtime/traps.js";
import { MAX_HOST_IO_BYTES } from "../../runtime/limits.js";
import { OffThreadFileResources } from "../../runtime/resources/off-thread-resources.js";
import { ResourceThread } from "../../runtime/resources/resource-thread.js";
import { wat } from "../helpers/wat.js";
import { until } from "../helpers/until.js";

const MiB = 1024 * 1024;

// main(n): n times, write "big" afresh (4 × 1 MiB, then commit), then open it read-write (a copy
// of 4 MiB) and commit that unchanged. Returns n.
const BIG_FILES = wat(`(module
  (import "ferry" "resource_open" (func $open (param i32 i32 i32) (result i32)))
  (import "ferry" "resource_write" (func $write (param i32 i32 i32) (result i32)))
  (import "ferry" "resource_close" (func $close (param i32)))
  (memory (export "memory") 17)
  (data (i32.const 0) "big")
  (func (export "main") (param $n i32) (result i32)
    (local $i i32) (local $k i32) (local $h i32)
    (block $done (loop $next
      (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
      (local.set $h (call $open (i32.const 0) (i32.const 3) (i32.const 2)))
      (local.set $k (i32.const 0))
      (loop $piece
        (drop (call $write (local.get $h) (i32.const 65536) (i32.const 1048576)))
        (local.set $k (i32.add (local.get $k) (i32.const 1)))
        (br_if $piece (i32.lt_u (local.get $k) (i32.const 4))))
      (call $close (local.get $h))
      (local.set $h (call $open (i32.const 0) (i32.const 3) (i32.const 3)))
      (call $close (local.get $h))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br $next)))
    (local.get $n)))`);

let base: string;
let engine: Engine;
let module: GuestModule;
beforeAll(async () => {
  base = mkdtempSync(join(tmpdir(), "ferry-resource-thread-"));
  engine = new Engine({ isolated: { size: 0 } });
  module = await engine.compile(BIG_FILES);
});
afterAll(async () => {
  await engine.close();
  rmSync(base, { recursive: true, force: true });
});

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));
const temps = (dir: string): string[] => readdirSync(dir).filter((n) => n.startsWith(".ferry-tmp-"));

async function guest(resources: OffThreadFileResources) {
  return engine.instantiate(module, { trust: "authenticated", sandbox: "isolated", capabilities: ["*:rw"], resources });
}

describe("the resource worker", () => {
  it("serves every disk call of an isolated guest on its own thread, and the host's loop turns while one is held", async () => {
    const thread = new ResourceThread();
    const dir = mkdtempSync(join(base, "loop-"));
    const i = await guest(new OffThreadFileResources(dir, {}, thread));
    try {
      // The worker blocks as on a slow disk; the guest's next call waits behind it.
      const gate = thread.hold();
      const run = i.run("main", [3]);
      await until(() => thread.stats.pending >= 2, "the guest's call to reach the worker", 30_000);
      let turns = 0;
      while (turns < 200) {
        await turn();
        turns++;
      }
      expect(thread.stats.pending).toBeGreaterThanOrEqual(2); // still held: the loop turned meanwhile
      gate.release();
      expect(await run).toMatchObject({ status: "done", value: 3 });
      // 3 × (open, 4 writes, close, open read-write, close) = 24 calls, plus the hold.
      expect(thread.stats.served).toBeGreaterThanOrEqual(25);
      expect(thread.stats.servedOn).toHaveLength(1);
      expect(thread.stats.servedOn).not.toContain(threadId);
      expect(readdirSync(dir)).toEqual(["big"]);
    } finally {
      i.dispose();
      await thread.close();
    }
  });

  it("answers calls in flight with host_error when it dies, starts again, and removes what the dead one left", async () => {
    const thread = new ResourceThread();
    const dir = mkdtempSync(join(base, "crash-"));
    const resources = new OffThreadFileResources(dir, {}, thread);
    const i = await guest(resources);
    try {
      const writer = (await resources.open("half", ["write"]))!;
      await writer.write(new Uint8Array(1000));
      expect(temps(dir)).toHaveLength(1);
      const gate = thread.hold();
      const held = gate.held.then(
        () => "answered",
        (e: unknown) => e,
      );
      const run = i.run("main", [1]);
      await until(() => thread.stats.pending >= 2, "the guest's call to reach the worker", 30_000);
      await thread.kill();
      expect(await run).toMatchObject({ status: "trapped", code: "host_error" });
      expect(await held).toBeInstanceOf(GuestTrap);
      // A handle of the dead worker is gone, and says so.
      await expect(Promise.resolve().then(() => writer.write(new Uint8Array(1)))).rejects.toMatchObject({ trap: "host_error" });
      // The next call starts a new worker, which first removes the dead one's temp files.
      expect(await resources.usage()).toEqual({ bytes: 0, entries: 0 });
      expect(temps(dir)).toEqual([]);
      const again = await guest(resources);
      expect(await again.run("main", [1])).toMatchObject({ status: "done", value: 1 });
      again.dispose();
      expect(thread.stats).toMatchObject({ workersStarted: 2, workersLost: 1 });
    } finally {
      i.dispose();
      await thread.close();
    }
  });

  it("discards a handle whose open answers after the instance ended (temp file removed, nothing left open)", async () => {
    const thread = new ResourceThread();
    const dir = mkdtempSync(join(base, "abandon-"));
    const i = await guest(new OffThreadFileResources(dir, {}, thread));
    try {
      const gate = thread.hold();
      const run = i.run("main", [1]);
      await until(() => thread.stats.pending >= 2, "the guest's open to reach the worker", 30_000);
      i.dispose(); // kills the child blocked in its host call
      expect(await run).toMatchObject({ status: "trapped", code: "disposed" });
      gate.release();
      await until(() => thread.stats.pending === 0 && thread.stats.served >= 3, "the late handle to be discarded", 30_000);
      expect(thread.stats.openHandles).toBe(0);
      expect(temps(dir)).toEqual([]);
    } finally {
      await thread.close();
    }
  });

  it("moves at most one host call's worth per read or write", async () => {
    const thread = new ResourceThread();
    const dir = mkdtempSync(join(base, "bounds-"));
    const resources = new OffThreadFileResources(dir, {}, thread);
    try {
      const w = (await resources.open("f", ["write"]))!;
      expect(await w.write(new Uint8Array(3 * MiB))).toBe(MAX_HOST_IO_BYTES);
      // A view into a larger buffer sends only its own bytes.
      expect(await w.write(new Uint8Array(3 * MiB).subarray(5, 10))).toBe(5);
      await w.close();
      const r = (await resources.open("f", ["read"]))!;
      expect(await r.read(new Uint8Array(3 * MiB))).toBe(MAX_HOST_IO_BYTES);
      expect(await r.read(new Uint8Array(3 * MiB))).toBe(5);
      await r.close();
    } finally {
      await thread.close();
    }
  });

  it("exits when idle and starts again on the next call", async () => {
    const thread = new ResourceThread({ idleMs: 0 });
    const resources = new OffThreadFileResources(mkdtempSync(join(base, "idle-")), {}, thread);
    try {
      const h = (await resources.open("x", ["write"]))!;
      await h.write(new Uint8Array([1]));
      // An open handle keeps it: its temp file and the root's ledger live there.
      for (let k = 0; k < 20; k++) await turn();
      expect(thread.stats.alive).toBe(true);
      await h.close();
      await until(() => !thread.stats.alive, "the idle worker to exit", 30_000);
      expect(await resources.usage()).toEqual({ bytes: 1, entries: 1 });
      expect(thread.stats).toMatchObject({ workersStarted: 2, workersLost: 0 });
    } finally {
      await thread.close();
    }
  });

  it("never keeps the host process alive", () => {
    const index = pathToFileURL(join(process.cwd(), "dist", "runtime", "index.js")).href;
    const dir = mkdtempSync(join(base, "exit-"));
    // A long idle time: the process must end on its own long before the worker would idle out.
    const script = `
      import { OffThreadFileResources, ResourceThread } from ${JSON.stringify(index)};
      const files = new OffThreadFileResources(${JSON.stringify(dir)}, {}, new ResourceThread({ idleMs: 600000 }));
      const h = await files.open("x", ["write"]);
      await h.write(new Uint8Array([7]));
      await h.close();
      console.log(JSON.stringify(await files.usage()));`;
    const out = execFileSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8", timeout: 120_000 });
    expect(JSON.parse(out)).toEqual({ bytes: 1, entries: 1 });
  });

  it("is refused in-process: an in-process guest needs a synchronous provider", async () => {
    const resources = new OffThreadFileResources(mkdtempSync(join(base, "in-process-")));
    await expect(
      engine.instantiate(module, { trust: "authenticated", sandbox: "in-process", capabilities: ["*:rw"], resources }),
    ).rejects.toMatchObject({ code: "invalid_option" });
  });
});
