// Awaited host calls (runtime/exec/awaited-calls.ts, Pausing.settle), with a hand-written WASI guest
// whose one call (path_filestat_get) reaches an AsyncDirectory the test answers by hand: the answer
// comes back through the rewind; a call that never answers fails at its deadline as EIO and a
// rejected one as EIO (an FsError as its own errno), and the instance goes on; a pause request or a
// snapshot while the call is pending, a restore that asks again; an await asked for outside a
// pausing import is refused.
import { afterAll, describe, expect, it } from "vitest";
import { ERRNO } from "../../../runtime/host/wasi/abi.js";
import { AwaitedCalls } from "../../../runtime/exec/awaited-calls.js";
import { settledOrUnreachable } from "../../../runtime/host/guest-call.js";
import { GuestTrap } from "../../../runtime/traps.js";
import { AwaitTimeout, type Pausing } from "../../../runtime/host/index.js";
import {
  decodeSnapshot,
  Engine,
  encodeSnapshot,
  FsError,
  type Instance,
  MemoryDirectory,
  Scheduler,
  type SandboxKind,
} from "../../../runtime/index.js";
import { GatedDirectory } from "../../helpers/gated-directory.js";
import { codeOf } from "../../helpers/errors.js";
import { until } from "../../helpers/until.js";
import { wat } from "../../helpers/wat.js";

// stat(): path_filestat_get(fd 3, "f.txt") → errno; size(): the size it wrote.
const GUEST = wat(`(module
  (import "wasi_snapshot_preview1" "path_filestat_get" (func $stat (param i32 i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "f.txt")
  (func (export "stat") (result i32)
    (call $stat (i32.const 3) (i32.const 0) (i32.const 0) (i32.const 5) (i32.const 64)))
  (func (export "size") (result i64) (i64.load (i32.const 96))))`);

const engine = new Engine();
afterAll(() => engine.close());

function tree(): MemoryDirectory {
  return new MemoryDirectory({ files: { "f.txt": "hello" }, now: () => 0n });
}

async function instance(sandbox: SandboxKind, gate: GatedDirectory, awaitDeadlineMs?: number): Promise<Instance> {
  const module = await engine.compile(GUEST);
  return engine.instantiate(module, { sandbox, trust: "authenticated", awaitDeadlineMs, wasi: { dirs: { "/d": gate } } });
}

describe.each(["in-process", "isolated"] as const)("an awaited call, %s", (sandbox) => {
  it("unwinds, waits for the answer the test gives, and rewinds with it", async () => {
    const gate = new GatedDirectory(tree());
    const guest = await instance(sandbox, gate);
    const paused = await guest.run("stat");
    expect(paused).toMatchObject({ status: "paused", reason: "await" });
    await until(() => gate.waiting.length === 1, "the call to reach the directory");
    expect(gate.waiting[0]!.what).toBe("stat f.txt");
    gate.releaseAll();
    await guest.settled();
    expect(await guest.resume()).toMatchObject({ status: "done", value: ERRNO.SUCCESS });
    expect(await guest.run("size")).toMatchObject({ status: "done", value: 5n });
    // Started once: the rewind was answered, not asked again.
    expect(gate.started).toEqual(["stat f.txt"]);
    guest.dispose();
  });

  it("a call that never answers fails at its deadline as EIO, and the instance goes on", async () => {
    const gate = new GatedDirectory(tree());
    // The first call expires; the second must not before the test releases it, which on a busy
    // machine (an isolated child's round trip included) can take far more than a few ms.
    const guest = await instance(sandbox, gate, 500);
    expect(await guest.run("stat")).toMatchObject({ status: "paused", reason: "await" });
    // Nobody answers: the promise never settles.
    expect(await guest.resume()).toMatchObject({ status: "done", value: ERRNO.IO });
    expect(await guest.run("stat")).toMatchObject({ status: "paused", reason: "await" });
    await until(() => gate.waiting.length === 2, "the second call to reach the directory");
    gate.releaseAll();
    expect(await guest.resume()).toMatchObject({ status: "done", value: ERRNO.SUCCESS });
    guest.dispose();
  });

  it("a rejected call is EIO; a rejection that is an FsError is its errno", async () => {
    const gate = new GatedDirectory(tree());
    const guest = await instance(sandbox, gate);
    expect(await guest.run("stat")).toMatchObject({ status: "paused", reason: "await" });
    await until(() => gate.waiting.length === 1, "the call to reach the directory");
    gate.failAll(new Error("the link to the far node broke"));
    expect(await guest.resume()).toMatchObject({ status: "done", value: ERRNO.IO });
    expect(await guest.run("stat")).toMatchObject({ status: "paused", reason: "await" });
    await until(() => gate.waiting.length === 1, "the call to reach the directory");
    gate.failAll(new FsError("ENOENT", "gone"));
    expect(await guest.resume()).toMatchObject({ status: "done", value: ERRNO.NOENT });
    guest.dispose();
  });

  it("snapshotted while the call is pending, restored elsewhere, asks again and finishes alike", async () => {
    const gate = new GatedDirectory(tree());
    const guest = await instance(sandbox, gate);
    expect(await guest.run("stat")).toMatchObject({ status: "paused", reason: "await" });
    const bytes = encodeSnapshot(await guest.snapshot({ move: true }));
    const other: SandboxKind = sandbox === "isolated" ? "in-process" : "isolated";
    const gate2 = new GatedDirectory(tree());
    const restored = await engine.restore(decodeSnapshot(bytes), {
      sandbox: other,
      trust: "authenticated",
      wasi: { dirs: { "/d": gate2 } },
    });
    // The rewind starts the call again at the new directory.
    expect(await restored.resume()).toMatchObject({ status: "paused", reason: "await" });
    await until(() => gate2.waiting.length === 1, "the restored instance to ask again");
    gate2.releaseAll();
    expect(await restored.resume()).toMatchObject({ status: "done", value: ERRNO.SUCCESS });
    restored.dispose();
  });
});

describe("while a call is pending", () => {
  it("a restore onto a synchronous directory under the same name answers at once; without that name it is refused", async () => {
    const gate = new GatedDirectory(tree());
    const guest = await instance("in-process", gate);
    expect(await guest.run("stat")).toMatchObject({ status: "paused", reason: "await" });
    const snapshot = await guest.snapshot();
    const sync = await engine.restore(snapshot, { sandbox: "in-process", trust: "authenticated", wasi: { dirs: { "/d": tree() } } });
    expect(await sync.resume()).toMatchObject({ status: "done", value: ERRNO.SUCCESS });
    expect(
      await codeOf(engine.restore(snapshot, { sandbox: "in-process", trust: "authenticated", wasi: { dirs: { "/x": tree() } } })),
    ).toBe("snapshot_resources");
    guest.dispose();
  });

  it("the scheduler holds no slice for it, and a pause request ends the wait: paused, reason await", async () => {
    const gate = new GatedDirectory(tree());
    const scheduler = new Scheduler();
    const guest = await instance("in-process", gate);
    const job = scheduler.start(guest, "stat");
    await until(() => gate.waiting.length === 1, "the call to reach the directory");
    expect(scheduler.queued).toBe(0);
    const paused = await job.pause();
    expect(paused).toMatchObject({ status: "paused", reason: "await" });
    const bytes = encodeSnapshot(await guest.snapshot({ move: true }));
    const gate2 = new GatedDirectory(tree());
    const restored = await engine.restore(decodeSnapshot(bytes), {
      sandbox: "isolated",
      trust: "authenticated",
      wasi: { dirs: { "/d": gate2 } },
    });
    const moved = scheduler.continue(restored);
    await until(() => gate2.waiting.length === 1, "the moved job to ask again");
    gate2.releaseAll();
    expect(await moved.result).toMatchObject({ status: "done", value: ERRNO.SUCCESS });
    restored.dispose();
  });

  it("an isolated job too: paused while its child awaits, snapshotted, and finished in this process", async () => {
    const gate = new GatedDirectory(tree());
    const scheduler = new Scheduler();
    const guest = await instance("isolated", gate);
    const job = scheduler.start(guest, "stat");
    await until(() => gate.waiting.length === 1, "the child's call to reach the parent's directory");
    expect(await job.pause()).toMatchObject({ status: "paused", reason: "await" });
    const snapshot = await guest.snapshot({ move: true });
    const restored = await engine.restore(snapshot, { sandbox: "in-process", trust: "authenticated", wasi: { dirs: { "/d": tree() } } });
    expect(await scheduler.continue(restored).result).toMatchObject({ status: "done", value: ERRNO.SUCCESS });
  });

  it("dispose ends a resume that waits: trapped disposed; a second resume meanwhile is refused", async () => {
    const gate = new GatedDirectory(tree());
    const guest = await instance("in-process", gate);
    expect(await guest.run("stat")).toMatchObject({ status: "paused", reason: "await" });
    const waiting = guest.resume();
    expect(await codeOf(guest.resume())).toBe("instance_busy");
    guest.dispose();
    expect(await waiting).toMatchObject({ status: "trapped", code: "disposed" });
  });

  it("the deadline is an option, checked", async () => {
    const module = await engine.compile(GUEST);
    expect(await codeOf(engine.instantiate(module, { awaitDeadlineMs: 0 }))).toBe("invalid_option");
    expect(await codeOf(engine.instantiate(module, { awaitDeadlineMs: Number.NaN }))).toBe("invalid_option");
  });
});

describe("an await asked for outside a pausing import", () => {
  it("is refused (host_error), and so is one from code that cannot unwind", () => {
    const stack = { rewinding: false, unwinding: false, startUnwind: () => {} } as never;
    const fuel = { global: undefined } as never;
    const hooks = { canUnwind: true, assertRunning: () => {}, endRewind: () => {} };
    const calls = new AwaitedCalls(stack, fuel, hooks, 1_000);
    expect(() => calls.settle("k", async () => 1)).toThrow(expect.objectContaining({ trap: "host_error" }));
    const frozen = new AwaitedCalls(stack, fuel, { ...hooks, canUnwind: false }, 1_000);
    frozen.enter("fd_read");
    expect(() => frozen.settle("k", async () => 1)).toThrow(expect.objectContaining({ trap: "host_error" }));
    frozen.leave(true);
  });
});

describe("Ferry's own imports", () => {
  it("turn a rejected or timed-out await into the trap resource_unreachable, and keep a trap's own code", () => {
    const failing = (error: unknown): Pausing => ({
      yield: () => {},
      checkpoint: () => 0,
      sleep: () => false,
      settle: () => {
        throw error;
      },
    });
    expect(() => settledOrUnreachable(failing(new AwaitTimeout(5)), "k", async () => 1)).toThrow(
      expect.objectContaining({ trap: "resource_unreachable" }),
    );
    expect(() => settledOrUnreachable(failing(new Error("link down")), "k", async () => 1)).toThrow(
      expect.objectContaining({ trap: "resource_unreachable" }),
    );
    expect(() => settledOrUnreachable(failing(new GuestTrap("disposed")), "k", async () => 1)).toThrow(
      expect.objectContaining({ trap: "disposed" }),
    );
  });
});
