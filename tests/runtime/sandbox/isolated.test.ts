// The isolated sandbox (a pool of child processes) against the in-process one: same results, snapshots
// that cross between them, deadlines, dispose while running, and a pool that recovers from dead children.
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { Engine, type Instance, type RunResult, type WasmValue } from "../../../runtime/index.js";
import { IsolatedPool } from "../../../runtime/sandbox/isolated/pool.js";
import { isolatedPlacement } from "../../helpers/isolated.js";
import {
  EXPLICIT_COUNTER,
  INFINITE_LOOP,
  IO_GUEST,
  LOOP_AND_RECURSION,
  MEMORY_BOMB,
  TRAPS,
  DEEP_RECURSION,
  LOG_THEN_SPIN,
} from "../../helpers/fixtures.js";
import { codeOf } from "../../helpers/errors.js";
import { firstLog, isolatedOn } from "../../helpers/isolated.js";

const engine = new Engine({ maxMemoryPages: 64 });
const pool = new IsolatedPool({ size: 2 });

afterAll(async () => {
  await pool.close();
});

const isolated = isolatedOn(engine, pool);

interface Outcome {
  results: RunResult[];
  output: number[];
  logs: string[];
  state: string;
  fuelUsed: number;
  run: unknown;
}

/** Run to the end, pausing every `slice` fuel; everything observable along the way. */
async function drive(instance: Instance, entry: string, args: WasmValue[], slice?: number): Promise<Outcome> {
  const results: RunResult[] = [];
  let r = await instance.run(entry, args, slice === undefined ? {} : { fuel: slice });
  results.push(r);
  while (r.status === "paused") {
    r = await instance.resume(slice === undefined ? {} : { fuel: slice });
    results.push(r);
  }
  return {
    results,
    output: [...instance.output()],
    logs: [...instance.logs()],
    state: instance.state,
    fuelUsed: instance.fuelUsed,
    run: instance.currentRun(),
  };
}

/** A job that runs alongside a failure and must finish exactly as it would alone. */
async function bystander(): Promise<void> {
  const m = await engine.compile(LOOP_AND_RECURSION);
  const i = await isolated(m);
  const out = await drive(i, "main", [20_000], 5_000);
  expect(out.results.at(-1)).toMatchObject({ status: "done", value: 1000 + 200_010_000 + 144 });
  expect(out.results.length).toBeGreaterThan(2);
  i.dispose();
}

describe("isolated sandbox: same results as in-process", () => {
  const cases: Array<{ name: string; bytes: Uint8Array; entry: string; args: WasmValue[]; slice?: number; input?: Uint8Array }> = [
    { name: "loop + recursion, no pauses", bytes: LOOP_AND_RECURSION, entry: "main", args: [3000] },
    { name: "loop + recursion, paused every 700 fuel", bytes: LOOP_AND_RECURSION, entry: "main", args: [3000], slice: 700 },
    { name: "output and a log line, paused every 50", bytes: IO_GUEST, entry: "hello", args: [40], slice: 50 },
    { name: "input echoed to output", bytes: IO_GUEST, entry: "echo", args: [], input: new TextEncoder().encode("from the host") },
    { name: "host call with a bad pointer", bytes: IO_GUEST, entry: "badptr", args: [] },
    { name: "explicit checkpoints every 300", bytes: EXPLICIT_COUNTER, entry: "count", args: [60], slice: 300 },
    { name: "unreachable", bytes: TRAPS, entry: "unreachable", args: [] },
    { name: "memory out of bounds", bytes: TRAPS, entry: "oob", args: [] },
    { name: "divide by zero", bytes: TRAPS, entry: "div0", args: [0] },
    { name: "indirect call to null", bytes: TRAPS, entry: "badcall", args: [1] },
    { name: "memory bomb against the cap", bytes: MEMORY_BOMB, entry: "grow", args: [] },
    { name: "infinite loop against a fuel limit", bytes: INFINITE_LOOP, entry: "spin", args: [], slice: 100_000 },
  ];

  it.each(cases)("$name", async (c) => {
    const m = await engine.compile(c.bytes);
    const local = await engine.instantiate(m, c.input ? { input: c.input } : {});
    const remote = await isolated(m, c.input ? { input: c.input } : {});
    const spin = c.entry === "spin";
    const a = spin ? await limited(local) : await drive(local, c.entry, c.args, c.slice);
    const b = spin ? await limited(remote) : await drive(remote, c.entry, c.args, c.slice);
    expect(b).toEqual(a);
    expect(remote.inputBytes).toEqual(local.inputBytes);
    remote.dispose();
  });

  async function limited(i: Instance): Promise<Outcome> {
    const r = await i.run("spin", [], { fuel: 100_000, fuelLimit: 250_000 });
    const results = [r];
    while (results.at(-1)!.status === "paused") results.push(await i.resume({ fuel: 100_000 }));
    return { results, output: [...i.output()], logs: [...i.logs()], state: i.state, fuelUsed: i.fuelUsed, run: i.currentRun() };
  }

  it("traps on deep recursion with stack_overflow, as in-process", async () => {
    const m = await engine.compile(DEEP_RECURSION);
    const remote = await isolated(m);
    const local = await engine.instantiate(m);
    // Fuel at the overflow depends on the thread's stack size, so compare the trap only.
    expect((await remote.run("down", [10_000_000])) as { code?: string }).toMatchObject({ status: "trapped", code: "stack_overflow" });
    expect((await local.run("down", [10_000_000])) as { code?: string }).toMatchObject({ status: "trapped", code: "stack_overflow" });
    remote.dispose();
    const again = await isolated(m);
    expect(await again.run("down", [1000])).toEqual(await (await engine.instantiate(m)).run("down", [1000]));
    again.dispose();
  });

  it("streams log lines to onLog as the guest writes them", async () => {
    const m = await engine.compile(LOG_THEN_SPIN);
    const { onLog, seen } = firstLog();
    const i = await isolated(m, { onLog });
    const running = i.run("spin");
    // The line arrives while the guest is still spinning in the child.
    expect(await seen).toBe("spinning");
    expect(i.state).toBe("running");
    expect(i.logs()).toEqual(["spinning"]);
    i.dispose();
    expect(await running).toMatchObject({ status: "trapped", code: "disposed" });
  });
});

describe("isolated sandbox: snapshots cross sandboxes", () => {
  it("pauses in the child, snapshots, and finishes in-process with identical results", async () => {
    const m = await engine.compile(IO_GUEST);
    const whole = await drive(await engine.instantiate(m), "hello", [200], 97);
    for (const move of [false, true]) {
      const remote = await isolated(m);
      let r = await remote.run("hello", [200], { fuel: 97 });
      for (let k = 0; k < 5; k++) r = await remote.resume({ fuel: 97 });
      expect(r.status).toBe("paused");
      const snapshot = await remote.snapshot({ move });
      expect(remote.state).toBe(move ? "disposed" : "paused");
      const local = await engine.restore(snapshot);
      let end = await local.resume({ fuel: 97 });
      while (end.status === "paused") end = await local.resume({ fuel: 97 });
      expect(end).toEqual(whole.results.at(-1));
      expect([...local.output()]).toEqual(whole.output);
      if (!move) {
        // The copy left the child's instance paused and usable.
        let again = await remote.resume({ fuel: 97 });
        while (again.status === "paused") again = await remote.resume({ fuel: 97 });
        expect(again).toEqual(whole.results.at(-1));
        expect([...remote.output()]).toEqual(whole.output);
        remote.dispose();
      }
    }
  });

  it("pauses in-process, restores into a child, and finishes there with identical results", async () => {
    const m = await engine.compile(LOOP_AND_RECURSION);
    const whole = await drive(await engine.instantiate(m), "main", [5000], 1000);
    const local = await engine.instantiate(m);
    await local.run("main", [5000], { fuel: 1000 });
    await local.resume({ fuel: 1000 });
    const snapshot = await local.snapshot({ move: true });
    const remote = await pool.restore(m, engine.config, isolatedPlacement({ trust: "authenticated" }), snapshot);
    expect(remote.state).toBe("paused");
    expect(remote.currentRun()).toEqual(whole.run);
    let r = await remote.resume({ fuel: 1000 });
    while (r.status === "paused") r = await remote.resume({ fuel: 1000 });
    expect(r).toEqual(whole.results.at(-1));
    expect(remote.fuelUsed).toBe(whole.fuelUsed);
    remote.dispose();
  });

  it("carries output across a restore into a child", async () => {
    const m = await engine.compile(IO_GUEST);
    const whole = await drive(await engine.instantiate(m), "hello", [50], 60);
    const local = await engine.instantiate(m);
    await local.run("hello", [50], { fuel: 60 });
    for (let k = 0; k < 3; k++) await local.resume({ fuel: 60 });
    const remote = await pool.restore(m, engine.config, isolatedPlacement({ trust: "authenticated" }), await local.snapshot());
    expect([...remote.output()]).toEqual([...local.output()]);
    // Read as a stream does: only what is new after each slice, in both sandboxes.
    const streamed: number[] = [...remote.outputSince(0)];
    let r = await remote.resume({ fuel: 60 });
    streamed.push(...remote.outputSince(streamed.length));
    while (r.status === "paused") {
      r = await remote.resume({ fuel: 60 });
      streamed.push(...remote.outputSince(streamed.length));
    }
    expect([...remote.output()]).toEqual(whole.output);
    expect(streamed).toEqual(whole.output);
    expect(remote.outputSince(streamed.length).byteLength).toBe(0);
    remote.dispose();
  });

  it("refuses `recycle`, which only works inside one process", async () => {
    const m = await engine.compile(LOOP_AND_RECURSION);
    const remote = await isolated(m);
    await remote.run("main", [5000], { fuel: 1000 });
    const first = await remote.snapshot();
    expect(await codeOf(remote.snapshot({ recycle: first }))).toBe("invalid_option");
    remote.dispose();
  });
});

describe("isolated sandbox: ending a child", () => {
  it("kills a guest past its deadline: trapped deadline_exceeded, others unaffected, the pool replaces the child", async () => {
    const m = await engine.compile(INFINITE_LOOP);
    const before = pool.stats().replaced;
    const i = await isolated(m, { timeoutMs: 300 });
    const [r] = await Promise.all([i.run("spin"), bystander()]);
    expect(r).toMatchObject({ status: "trapped", code: "deadline_exceeded" });
    expect(i.state).toBe("trapped");
    expect(await codeOf(i.resume())).toBe("instance_finished");
    expect(await codeOf(() => i.run("spin"))).toBe("instance_finished");
    expect(pool.stats().replaced).toBe(before + 1);
    const next = await isolated(await engine.compile(LOOP_AND_RECURSION));
    expect(await next.run("main", [10])).toMatchObject({ status: "done", value: 1000 + 55 + 144 });
    next.dispose();
  });

  it("applies the deadline to each call, not to the instance's life", async () => {
    const m = await engine.compile(LOOP_AND_RECURSION);
    const i = await isolated(m, { timeoutMs: 10_000 });
    const out = await drive(i, "main", [2000], 500);
    expect(out.results.at(-1)).toMatchObject({ status: "done" });
    i.dispose();
  });

  it("dispose while a call runs: the call resolves trapped disposed, others unaffected", async () => {
    const m = await engine.compile(LOG_THEN_SPIN);
    const before = pool.stats().replaced;
    const { onLog, seen } = firstLog();
    const i = await isolated(m, { onLog });
    const running = i.run("spin");
    const other = bystander();
    await seen;
    i.dispose();
    expect(i.state).toBe("disposed");
    expect(await running).toMatchObject({ status: "trapped", code: "disposed" });
    await other;
    expect(await codeOf(i.resume())).toBe("instance_disposed");
    expect(pool.stats().replaced).toBe(before + 1);
  });

  it("keeps the host responsive while a child spins", async () => {
    const m = await engine.compile(LOG_THEN_SPIN);
    const { onLog, seen } = firstLog();
    const i = await isolated(m, { onLog });
    const running = i.run("spin");
    await seen;
    // The host's event loop turns freely: a thousand setImmediate rounds and a timer, all while
    // the guest is still running.
    let turns = 0;
    while (turns < 1000) {
      await new Promise<void>((r) => setImmediate(r));
      turns++;
    }
    await new Promise<void>((r) => setTimeout(r, 1));
    expect(i.state).toBe("running");
    i.dispose();
    await running;
  });
});

describe("isolated sandbox: instances and the pool", () => {
  it("answers state, fuel, output, logs and currentRun locally after each call", async () => {
    const m = await engine.compile(IO_GUEST);
    const i = await isolated(m);
    expect(i.state).toBe("fresh");
    expect(i.currentRun()).toBeUndefined();
    const r = await i.run("hello", [3], { fuel: 10 });
    expect(r.status).toBe("paused");
    expect(i.state).toBe("paused");
    expect(i.fuelUsed).toBe(r.fuelUsed);
    expect(i.logs()).toEqual(["logged"]);
    expect(i.currentRun()).toMatchObject({ entry: { name: "hello" }, args: [3] });
    i.dispose();
  });

  it("throws host misuse as FerryError with the child's code", async () => {
    const m = await engine.compile(LOOP_AND_RECURSION);
    const i = await isolated(m);
    expect(await codeOf(i.run("nope"))).toBe("entry_not_found");
    expect(await codeOf(i.run("main", [1, 2, 3]))).toBe("invalid_arguments");
    expect(await codeOf(i.run("main", [1], { fuel: 0 }))).toBe("invalid_option");
    expect(await codeOf(i.resume())).toBe("instance_not_paused");
    expect(await codeOf(i.snapshot())).toBe("instance_not_paused");
    expect(i.state).toBe("fresh");
    const p = i.run("main", [10]);
    expect(await codeOf(i.run("main", [10]))).toBe("instance_busy");
    expect(await p).toMatchObject({ status: "done" });
    i.dispose();
    expect(await codeOf(i.run("main", [10]))).toBe("instance_disposed");
  });

  it("validates options up front, naming the option", async () => {
    const m = await engine.compile(LOOP_AND_RECURSION);
    expect(await codeOf(isolated(m, { timeoutMs: 0 }))).toBe("invalid_option");
    expect(await codeOf(isolated(m, { trust: "nobody" as never }))).toBe("invalid_option");
    expect(await codeOf(() => new IsolatedPool({ size: 5, maxChildren: 2 }))).toBe("invalid_option");
    expect(await codeOf(() => new IsolatedPool({ transport: "thread" as never }))).toBe("invalid_option");
    expect(await codeOf(() => new IsolatedPool({ maxHeapMb: 1 }))).toBe("invalid_option");
  });

  it("hosts one instance per child, refuses past maxChildren, and reuses a child after dispose", async () => {
    const small = new IsolatedPool({ size: 1, maxChildren: 1 });
    try {
      const m = await engine.compile(LOOP_AND_RECURSION);
      const a = await isolated(m, {}, small);
      expect(await codeOf(isolated(m, {}, small))).toBe("sandbox_unavailable");
      const pid = a.pid;
      a.dispose();
      const b = await isolated(m, {}, small);
      expect(b.pid).toBe(pid);
      expect(await b.run("main", [10])).toMatchObject({ status: "done" });
      expect(small.stats()).toMatchObject({ busy: 1, started: 1, replaced: 0 });
      b.dispose();
    } finally {
      await small.close();
    }
    expect(await codeOf(isolated(await engine.compile(LOOP_AND_RECURSION), {}, small))).toBe("sandbox_unavailable");
  });

  it("keeps `size` children idle and refills after a checkout", async () => {
    const warm = new IsolatedPool({ size: 2 });
    try {
      await warm.warm();
      expect(warm.stats()).toMatchObject({ idle: 2, busy: 0, started: 2 });
      const i = await isolated(await engine.compile(LOOP_AND_RECURSION), {}, warm);
      expect(warm.stats()).toMatchObject({ idle: 2, busy: 1, started: 3 });
      i.dispose();
      // Its child goes back to the idle set (up to twice `size`): the next job starts no process.
      expect(warm.stats()).toMatchObject({ idle: 3, busy: 0, replaced: 0 });
      const j = await isolated(await engine.compile(LOOP_AND_RECURSION), {}, warm);
      expect(warm.stats()).toMatchObject({ idle: 2, busy: 1, started: 3 });
      j.dispose();
      // Past twice `size` the surplus child is retired, not counted as replaced.
      const many = await Promise.all([1, 2, 3, 4, 5].map(async () => isolated(await engine.compile(LOOP_AND_RECURSION), {}, warm)));
      for (const x of many) x.dispose();
      expect(warm.stats()).toMatchObject({ idle: 4, busy: 0, replaced: 0 });
    } finally {
      await warm.close();
    }
  });

  it("close() ends a call in flight with disposed", async () => {
    const closing = new IsolatedPool({ size: 0 });
    const i = await isolated(await engine.compile(INFINITE_LOOP), {}, closing);
    const running = i.run("spin");
    await closing.close();
    expect(await running).toMatchObject({ status: "trapped", code: "disposed" });
  });

  it("runs the same guests over worker threads", async () => {
    const workers = new IsolatedPool({ size: 1, transport: "worker" });
    try {
      const m = await engine.compile(IO_GUEST);
      const local = await drive(await engine.instantiate(m), "hello", [30], 40);
      const w = await isolated(m, {}, workers);
      expect(await drive(w, "hello", [30], 40)).toEqual(local);
      w.dispose();
      const spin = await isolated(await engine.compile(INFINITE_LOOP), { timeoutMs: 200 }, workers);
      expect(await spin.run("spin")).toMatchObject({ status: "trapped", code: "deadline_exceeded" });
      expect(workers.stats().replaced).toBe(1);
    } finally {
      await workers.close();
    }
  });

  it("idle children do not keep the host process alive", () => {
    const script = `
      import { Engine, normalizePlacement } from "./dist/runtime/index.js";
      import { IsolatedPool } from "./dist/runtime/sandbox/isolated/pool.js";
      const engine = new Engine();
      const bytes = Uint8Array.from(${JSON.stringify([...LOOP_AND_RECURSION])});
      const m = await engine.compile(bytes);
      const pool = new IsolatedPool({ size: 2 });
      const i = await pool.instantiate(m, engine.config, normalizePlacement({ sandbox: "isolated", trust: "authenticated" }));
      const r = await i.run("main", [10]);
      i.dispose();
      console.log(r.status, pool.stats().idle);
      // no pool.close(): the process must still exit on its own
    `;
    const root = fileURLToPath(new URL("../../../", import.meta.url));
    // A V8 flag on the host too: the compile worker must not inherit flags a worker refuses.
    const out = spawnSync(process.execPath, ["--max-semi-space-size=8", "--input-type=module", "-e", script], {
      cwd: root,
      encoding: "utf8",
      timeout: 20_000,
    });
    expect(out.error).toBeUndefined();
    expect(out.stderr).toBe("");
    expect(out.status).toBe(0);
    expect(out.stdout.trim()).toBe("done 3");
  });
});
