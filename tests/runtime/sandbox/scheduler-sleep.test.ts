// A WASI guest asleep (poll_oneoff on a clock) under the Scheduler: the run pauses with reason
// "sleep" instead of blocking the thread, the scheduler wakes it when its time has come (other
// guests' slices run meanwhile), and a pause request during the sleep settles at once, leaving an
// instance whose snapshot carries the sleep's deadline — in both sandboxes.
import { afterAll, describe, expect, it } from "vitest";
import { Engine, Scheduler } from "../../../runtime/index.js";
import { until } from "../../helpers/until.js";
import { wat } from "../../helpers/wat.js";

const engine = new Engine();
afterAll(() => engine.close());

/** Sleeps `ns` nanoseconds (a relative clock subscription), then writes "awake\n" to stdout. */
const sleeper = (ns: bigint) =>
  wat(`(module
  (import "wasi_snapshot_preview1" "poll_oneoff" (func $poll (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 200) "awake\\n")
  (func (export "_start")
    (i64.store (i32.const 0) (i64.const 7))
    (i32.store8 (i32.const 8) (i32.const 0))
    (i32.store (i32.const 16) (i32.const 1))
    (i64.store (i32.const 24) (i64.const ${ns}))
    (drop (call $poll (i32.const 0) (i32.const 64) (i32.const 1) (i32.const 100)))
    (i32.store (i32.const 300) (i32.const 200))
    (i32.store (i32.const 304) (i32.const 6))
    (drop (call $write (i32.const 1) (i32.const 300) (i32.const 1) (i32.const 310)))))`);

const SPIN = wat(`(module (func (export "spin") (param $n i32) (result i32)
  (loop $l (local.set $n (i32.sub (local.get $n) (i32.const 1))) (br_if $l (local.get $n))) (local.get $n)))`);

describe.each(["in-process", "isolated"] as const)("a sleeping WASI guest under the scheduler (%s)", (sandbox) => {
  it("pauses instead of blocking, and is woken to finish; other guests run meanwhile", async () => {
    const scheduler = new Scheduler({ sliceBudgetMs: 4 });
    const instance = await engine.instantiate(await engine.compile(sleeper(20_000_000n)), { sandbox });
    const job = scheduler.start(instance, "_start");
    const other = scheduler.start(await engine.instantiate(await engine.compile(SPIN)), "spin", [1000]);
    expect(await other.result).toMatchObject({ status: "done", value: 0 });
    expect(await job.result).toMatchObject({ status: "done" });
    expect(new TextDecoder().decode(instance.output())).toBe("awake\n");
    instance.dispose();
  });

  it("settles a pause request during the sleep at once, and the snapshot holds the deadline", async () => {
    const scheduler = new Scheduler({ sliceBudgetMs: 4 });
    const instance = await engine.instantiate(await engine.compile(sleeper(3_600_000_000_000n)), { sandbox });
    const job = scheduler.start(instance, "_start");
    // Its first slice ends in the sleep.
    await until(() => instance.state === "paused", "the guest asleep");
    const first = await job.pause();
    expect(first).toMatchObject({ status: "paused", reason: "sleep" });
    const snapshot = await instance.snapshot();
    const wasi = snapshot.resources?.wasi as { sleepDeadlineNs?: string; monotonicNs: string };
    expect(BigInt(wasi.sleepDeadlineNs!) - BigInt(wasi.monotonicNs)).toBeGreaterThan(3_000_000_000_000n);
    instance.dispose();
  });
});
