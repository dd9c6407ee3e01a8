// What the isolated sandbox survives: kill -9 of a child mid-run, a guest that exhausts the child's
// heap, hostile guests — each a clean trap while the host and other jobs go on — and what Node's
// permission model denies the child (writing files, spawning processes, starting workers).
import { existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { Engine, type RunResult } from "../../runtime/index.js";
import { IsolatedPool } from "../../runtime/sandbox/isolated/pool.js";
import { probeIsolation } from "../../runtime/sandbox/isolated/probe.js";
import { exitTrap } from "../../runtime/sandbox/isolated/exit-trap.js";
import {
  DEEP_RECURSION,
  INFINITE_LOOP,
  INFINITE_LOOP_IN_START,
  IO_GUEST,
  LOOP_AND_RECURSION,
  MEMORY_BOMB,
  LOG_THEN_SPIN,
} from "../helpers/fixtures.js";
import { wat } from "../helpers/wat.js";
import { codeOf } from "../helpers/errors.js";
import { firstLog, isolatedOn, type IsolatedInstanceOptions } from "../helpers/isolated.js";

const engine = new Engine({ maxMemoryPages: 256 });
const pool = new IsolatedPool({ size: 2 });

afterAll(async () => {
  await pool.close();
});

const isolated = isolatedOn(engine, pool);

/** Logs the same 60,000-byte line forever: every line is a new string the instance keeps. */
const LOG_FLOOD = wat(`(module
  (import "ferry" "log" (func $log (param i32 i32)))
  (memory 1)
  (func (export "flood") (loop $l (call $log (i32.const 0) (i32.const 60000)) (br $l))))`);

/** Writes 64 KiB of output forever. */
const OUTPUT_BOMB = wat(`(module
  (import "ferry" "output_write" (func $out (param i32 i32)))
  (memory 1)
  (func (export "bomb") (loop $l (call $out (i32.const 0) (i32.const 65536)) (br $l))))`);

/** A job running alongside each attack that must finish exactly as it would alone. */
async function bystander(): Promise<void> {
  const m = await engine.compile(LOOP_AND_RECURSION);
  const i = await isolated(m);
  let r = await i.run("main", [20_000], { fuel: 5_000 });
  while (r.status === "paused") r = await i.resume({ fuel: 5_000 });
  expect(r).toMatchObject({ status: "done", value: 1000 + 200_010_000 + 144 });
  i.dispose();
}

/** The host's own loop keeps turning: a timer fires (a frozen loop never gets here; the test's timeout says so). */
async function hostResponsive(): Promise<void> {
  await new Promise<void>((r) => setTimeout(r, 1));
}

describe("isolated sandbox survives its child dying", () => {
  it("kill -9 of the child mid-run: trapped sandbox_killed, the pool recovers", async () => {
    const m = await engine.compile(LOG_THEN_SPIN);
    const before = pool.stats().replaced;
    const { onLog, seen } = firstLog();
    const i = await isolated(m, { onLog });
    const running = i.run("spin", [], { fuel: 1e15 });
    const other = bystander();
    await seen; // the child is in guest code now
    process.kill(i.pid!, "SIGKILL");
    const r: RunResult = await running;
    expect(r).toMatchObject({ status: "trapped", code: "sandbox_killed" });
    expect(i.state).toBe("trapped");
    expect(await codeOf(i.resume())).toBe("instance_finished");
    await other;
    await hostResponsive();
    expect(pool.stats().replaced).toBe(before + 1);
    const next = await isolated(await engine.compile(LOOP_AND_RECURSION));
    expect(next.pid).not.toBe(i.pid);
    expect(await next.run("main", [10])).toMatchObject({ status: "done", value: 1000 + 55 + 144 });
    next.dispose();
  });

  it("a child killed while its instance is paused ends the instance; the next call says why", async () => {
    const m = await engine.compile(LOOP_AND_RECURSION);
    const i = await isolated(m);
    expect((await i.run("main", [50_000], { fuel: 1000 })).status).toBe("paused");
    const gone = new Promise<void>((resolve) => {
      const deadline = Date.now() + 10_000;
      const poll = (): void => {
        if (i.state === "trapped" || Date.now() > deadline) resolve();
        else setImmediate(poll);
      };
      poll();
    });
    process.kill(i.pid!, "SIGKILL");
    await gone;
    expect(i.state).toBe("trapped");
    expect(await codeOf(i.resume())).toBe("instance_finished");
  });

  it("a guest that exhausts the child's heap: trapped sandbox_out_of_memory, the pool recovers", async () => {
    const small = new IsolatedPool({ size: 1, maxHeapMb: 32 });
    try {
      const m = await engine.compile(LOG_FLOOD);
      const i = await isolated(m, { maxLogBytes: Number.MAX_SAFE_INTEGER }, small);
      const [r] = await Promise.all([i.run("flood"), bystander()]);
      expect(r).toMatchObject({ status: "trapped", code: "sandbox_out_of_memory" });
      expect(i.state).toBe("trapped");
      await hostResponsive();
      expect(small.stats().replaced).toBe(1);
      const next = await isolated(await engine.compile(LOOP_AND_RECURSION), {}, small);
      expect(await next.run("main", [10])).toMatchObject({ status: "done" });
      next.dispose();
    } finally {
      await small.close();
    }
  });

  it("maps how a child ended to a trap code", () => {
    const base = { killedBy: undefined, signal: null, code: null, outOfMemory: false } as const;
    expect(exitTrap({ ...base, killedBy: "deadline", signal: "SIGKILL" })).toBe("deadline_exceeded");
    expect(exitTrap({ ...base, killedBy: "disposed", signal: "SIGKILL" })).toBe("disposed");
    expect(exitTrap({ ...base, signal: "SIGABRT", outOfMemory: true })).toBe("sandbox_out_of_memory");
    expect(exitTrap({ ...base, signal: "SIGKILL" })).toBe("sandbox_killed");
    expect(exitTrap({ ...base, signal: "SIGTERM" })).toBe("sandbox_killed");
    expect(exitTrap({ ...base, signal: "SIGSEGV" })).toBe("sandbox_crashed");
    expect(exitTrap({ ...base, code: 1 })).toBe("sandbox_crashed");
  });
});

describe("hostile guests in the isolated sandbox", () => {
  const cases: Array<{
    name: string;
    bytes: Uint8Array;
    entry: string;
    options?: Partial<IsolatedInstanceOptions>;
    fuel?: number;
    code: string;
  }> = [
    { name: "infinite loop, no fuel slice", bytes: INFINITE_LOOP, entry: "spin", options: { timeoutMs: 300 }, code: "deadline_exceeded" },
    {
      name: "infinite loop inside the start function",
      bytes: INFINITE_LOOP_IN_START,
      entry: "main",
      options: { timeoutMs: 300 },
      code: "deadline_exceeded",
    },
    { name: "loop-free deep recursion", bytes: DEEP_RECURSION, entry: "down", code: "stack_overflow" },
    { name: "memory bomb", bytes: MEMORY_BOMB, entry: "growOrDie", code: "memory_limit" },
    { name: "log flood against maxLogBytes", bytes: LOG_FLOOD, entry: "flood", code: "output_limit" },
    {
      name: "output bomb against maxOutputBytes",
      bytes: OUTPUT_BOMB,
      entry: "bomb",
      options: { maxOutputBytes: 4 * 1024 * 1024 },
      code: "output_limit",
    },
    { name: "trap inside a host call", bytes: IO_GUEST, entry: "badptr", code: "memory_out_of_bounds" },
  ];

  it.each(cases)("$name → $code, others unaffected", async (c) => {
    const m = await engine.compile(c.bytes);
    const i = await isolated(m, c.options);
    const args = c.entry === "down" ? [10_000_000] : [];
    const [r] = await Promise.all([i.run(c.entry, args), bystander()]);
    expect(r).toMatchObject({ status: "trapped", code: c.code });
    await hostResponsive();
    i.dispose();
  });

  it("an infinite loop with fuel slices pauses like in-process", async () => {
    const m = await engine.compile(INFINITE_LOOP);
    const i = await isolated(m);
    expect(await i.run("spin", [], { fuel: 1_000_000 })).toMatchObject({ status: "paused", reason: "fuel" });
    expect(await i.resume({ fuel: 1_000_000 })).toMatchObject({ status: "paused", reason: "fuel" });
    i.dispose();
  });
});

describe("defence in depth: the child process itself", () => {
  it("cannot write files, spawn processes, start workers or read outside the runtime", async () => {
    const i = await isolated(await engine.compile(LOOP_AND_RECURSION));
    const scratch = join(tmpdir(), `ferry-escape-${process.pid}-${Date.now()}`);
    const report = await probeIsolation(i, scratch);
    expect(report.permission).toEqual({ fsWrite: false, childProcess: false, worker: false, fsReadEtc: false });
    expect(report.attempts).toEqual({
      writeFile: "ERR_ACCESS_DENIED",
      spawn: "ERR_ACCESS_DENIED",
      worker: "ERR_ACCESS_DENIED",
      readFile: "ERR_ACCESS_DENIED",
    });
    expect(existsSync(scratch)).toBe(false);
    // Nothing of the host's environment (tokens, NODE_OPTIONS) reaches the child.
    expect(report.envKeys).toEqual([]);
    // And it still runs guests afterwards.
    expect(await i.run("main", [10])).toMatchObject({ status: "done" });
    i.dispose();
  });
});
