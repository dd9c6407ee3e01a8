// What both sandboxes survive: every hostile guest of issue 3, run in-process and isolated alike. Each
// case asserts the exact trap or error code, that a job running alongside finishes with its right
// value, and that the host still answers (a timer fires, a trivial guest runs). Isolated-only
// failures (kill -9, child heap OOM, permissions) are in isolated.test.ts.
import binaryen from "binaryen";
import { afterAll, describe, expect, it } from "vitest";
import {
  Engine,
  Scheduler,
  encodeSnapshot,
  type Instance,
  type InstantiateOptions,
  type RunResult,
  type SandboxKind,
  type Snapshot,
} from "../../runtime/index.js";
import { decodeImage, encodeImage } from "../../runtime/exec/continuation.js";
import { DEEP_RECURSION, INFINITE_LOOP, INFINITE_LOOP_IN_START, LOOP_AND_RECURSION, MEMORY_BOMB } from "../helpers/fixtures.js";
import { wat } from "../helpers/wat.js";
import { codeOf } from "../helpers/errors.js";
import {
  ANSWER,
  BAD_POINTERS,
  BULK_MEMORY_SPIN,
  FORBIDDEN_IMPORTS,
  LOG_AND_RETURN,
  LOG_FLOOD_BIG,
  LOG_FLOOD_TINY,
  LOG_THEN_SPIN,
  OUTPUT_BOMB,
  RECURSE_THEN_SPIN,
  RESOURCE_OPENER,
  TABLE_AT_LIMIT,
  TABLE_MAX_PAST_LIMIT,
  TABLE_PAST_LIMIT,
  manyExports,
  manyImports,
} from "./fixtures.js";
import { until } from "../helpers/until.js";

const SLICE_BUDGET_MS = 4;
const MEMORY_CAP_PAGES = 256;
const engine = new Engine({ maxMemoryPages: MEMORY_CAP_PAGES, isolated: { size: 2 } });
// Isolated slices are small so a pause request waits little; in-process slices fit the budget.
const scheduler = new Scheduler({ sliceBudgetMs: SLICE_BUDGET_MS, isolatedSliceFuel: 2_000_000 });
const SANDBOXES: readonly SandboxKind[] = ["in-process", "isolated"];
/** Fuel for a run that must end by its limit: a fraction of a second of spinning. */
const FUEL_LIMIT = 20_000_000;

afterAll(async () => {
  await engine.close();
});

async function instance(kind: SandboxKind, bytes: Uint8Array, options: InstantiateOptions = {}): Promise<Instance> {
  return engine.instantiate(await engine.compile(bytes), { sandbox: kind, ...options });
}

const BYSTANDER_VALUE = 1000 + 200_010_000 + 144;

/**
 * Runs `attack` while an honest job runs in the same sandbox through the same scheduler; the honest
 * job must finish with its exact value, and the host must still answer afterwards.
 */
async function alongside<T>(kind: SandboxKind, attack: () => Promise<T>): Promise<T> {
  const honest = await instance(kind, LOOP_AND_RECURSION);
  const job = scheduler.start(honest, "main", [20_000]);
  const [outcome, r] = await Promise.all([attack(), job.result]);
  expect(r).toMatchObject({ status: "done", value: BYSTANDER_VALUE });
  honest.dispose();
  await hostResponsive(kind);
  return outcome;
}

/**
 * The host's loop turns (a timer fires: a frozen loop would never get here, and the test's timeout
 * says so) and the sandbox still runs guests. How long the loop may be held is the containment
 * bench's question, not a test's.
 */
async function hostResponsive(kind: SandboxKind): Promise<void> {
  await new Promise<void>((resolve) => setTimeout(resolve, 1));
  const trivial = await instance(kind, ANSWER);
  expect(await trivial.run("main")).toMatchObject({ status: "done", value: 42 });
  trivial.dispose();
}

function firstLog(): { onLog: (line: string) => void; seen: Promise<string> } {
  let resolve: (line: string) => void = () => {};
  const seen = new Promise<string>((r) => (resolve = r));
  return { onLog: (line) => resolve(line), seen };
}

// Built once: hand-encoded, so building takes milliseconds, not the seconds WAT text would.
const HUNDRED_K_IMPORTS = manyImports(100_000);
const HUNDRED_K_EXPORTS = manyExports(100_000);

describe.each(SANDBOXES)("%s sandbox against hostile guests", (kind) => {
  it("infinite loop: sliced by the scheduler, ends out_of_fuel at its limit", async () => {
    const r = await alongside(kind, async () => {
      const i = await instance(kind, INFINITE_LOOP);
      const result = await scheduler.start(i, "spin", [], { fuelLimit: FUEL_LIMIT }).result;
      expect(i.state).toBe("trapped");
      expect(await codeOf(i.resume())).toBe("instance_finished");
      i.dispose();
      return result;
    });
    expect(r).toMatchObject({ status: "trapped", code: "out_of_fuel" });
    expect(r.fuelUsed).toBeGreaterThanOrEqual(FUEL_LIMIT);
  });

  it("infinite loop inside the start function: metered like any code, out_of_fuel", async () => {
    const r = await alongside(kind, async () => {
      const i = await instance(kind, INFINITE_LOOP_IN_START);
      const result = await scheduler.start(i, "main", [], { fuelLimit: FUEL_LIMIT }).result;
      i.dispose();
      return result;
    });
    expect(r).toMatchObject({ status: "trapped", code: "out_of_fuel" });
  });

  it("loop-free deep recursion: stack_overflow, and the instance stays finished", async () => {
    const r = await alongside(kind, async () => {
      const i = await instance(kind, DEEP_RECURSION);
      const result = await i.run("down", [10_000_000]);
      expect(i.state).toBe("trapped");
      expect(await codeOf(i.run("down", [1]))).toBe("instance_finished");
      i.dispose();
      return result;
    });
    expect(r).toMatchObject({ status: "trapped", code: "stack_overflow" });
  });

  it("memory bomb: memory.grow stops at exactly the cap; a guest that then traps is memory_limit", async () => {
    const [grown, bomb] = await alongside(kind, async () => {
      const polite = await instance(kind, MEMORY_BOMB);
      const g = await scheduler.start(polite, "grow", [], { fuelLimit: FUEL_LIMIT }).result;
      polite.dispose();
      const hostile = await instance(kind, MEMORY_BOMB);
      const b = await scheduler.start(hostile, "growOrDie", [], { fuelLimit: FUEL_LIMIT }).result;
      hostile.dispose();
      return [g, b];
    });
    // One page to start with, then 16 at a time up to the 256-page cap: 240 more fit (the 16 past 256 do not).
    expect(grown).toMatchObject({ status: "done", value: 240 });
    expect(bomb).toMatchObject({ status: "trapped", code: "memory_limit" });
  });

  it("huge table: at the 100,000-element limit it runs; past it (initial or maximum) module_limit", async () => {
    await alongside(kind, async () => {
      expect(await codeOf(engine.compile(TABLE_PAST_LIMIT))).toBe("module_limit");
      expect(await codeOf(engine.compile(TABLE_MAX_PAST_LIMIT))).toBe("module_limit");
      const i = await instance(kind, TABLE_AT_LIMIT);
      expect(await i.run("call", [99_998])).toMatchObject({ status: "done", value: 42 });
      expect(await i.run("call", [99_999])).toMatchObject({ status: "trapped", code: "indirect_call_mismatch" });
      i.dispose();
      const j = await instance(kind, TABLE_AT_LIMIT);
      expect(await j.run("call", [100_000])).toMatchObject({ status: "trapped", code: "table_out_of_bounds" });
      j.dispose();
    });
  });

  it("a table that grows at run time (table.grow, reference types) stops at maxTableElements: the grow past it answers -1", async () => {
    const F = binaryen.Features;
    // A table without a maximum gets the engine's table limit (100,000) as its maximum.
    const grows = wat(
      `(module (table 1 funcref) (func (export "main") (result i32)
        (i32.add (i32.mul (table.grow (ref.null func) (i32.const 1000000)) (i32.const 1000000)) (table.grow (ref.null func) (i32.const 99999)))))`,
      F.MVP | F.MutableGlobals | F.BulkMemory | F.ReferenceTypes,
    );
    const r = await alongside(kind, async () => {
      const i = await instance(kind, grows);
      const result = await scheduler.start(i, "main", [], { fuelLimit: FUEL_LIMIT }).result;
      i.dispose();
      return result;
    });
    expect(r).toMatchObject({ status: "done", value: -1_000_000 + 1 });
  });

  it("module with 100,000 imports or 100,000 exports: module_limit", async () => {
    await alongside(kind, async () => {
      // Counted by a small binary reader before Binaryen sees a byte (bench/compile-limits.ts times it).
      expect(await codeOf(engine.compile(HUNDRED_K_IMPORTS))).toBe("module_limit");
      expect(await codeOf(engine.compile(HUNDRED_K_EXPORTS))).toBe("module_limit");
    });
  });

  it("log flood of large lines: output_limit at maxLogBytes", async () => {
    const r = await alongside(kind, async () => {
      const i = await instance(kind, LOG_FLOOD_BIG);
      const result = await scheduler.start(i, "flood", [], { fuelLimit: FUEL_LIMIT }).result;
      // 1 MiB default: 17 lines of 60,000 characters (+ newline) fit, the 18th does not.
      expect(i.logs().length).toBe(17);
      i.dispose();
      return result;
    });
    expect(r).toMatchObject({ status: "trapped", code: "output_limit" });
  });

  it("log flood of tiny lines: output_limit, and every accepted line reaches onLog before the result", async () => {
    const maxLogBytes = 64 * 1024;
    let delivered = 0;
    const r = await alongside(kind, async () => {
      const i = await instance(kind, LOG_FLOOD_TINY, { maxLogBytes, onLog: () => delivered++ });
      const result = await scheduler.start(i, "flood", [], { fuelLimit: FUEL_LIMIT }).result;
      expect(i.logs().length).toBe(maxLogBytes / 2);
      i.dispose();
      return result;
    });
    expect(r).toMatchObject({ status: "trapped", code: "output_limit" });
    expect(delivered).toBe(maxLogBytes / 2);
  });

  it("output bomb: output_limit at maxOutputBytes, holding exactly the bytes that fit", async () => {
    const maxOutputBytes = 4 * 1024 * 1024;
    const r = await alongside(kind, async () => {
      const i = await instance(kind, OUTPUT_BOMB, { maxOutputBytes });
      const result = await scheduler.start(i, "bomb", [], { fuelLimit: FUEL_LIMIT }).result;
      expect(i.output().byteLength).toBe(maxOutputBytes);
      i.dispose();
      return result;
    });
    expect(r).toMatchObject({ status: "trapped", code: "output_limit" });
  });

  it.each(["output", "outputWrap", "log", "input"])(
    "trap inside a host call (%s with an out-of-bounds pointer): memory_out_of_bounds",
    async (entry) => {
      const r = await alongside(kind, async () => {
        const i = await instance(kind, BAD_POINTERS, { input: new Uint8Array(64) });
        const result = await i.run(entry);
        expect(i.output().byteLength).toBe(0);
        expect(i.logs()).toEqual([]);
        i.dispose();
        return result;
      });
      expect(r).toMatchObject({ status: "trapped", code: "memory_out_of_bounds" });
    },
  );

  it("re-entering an instance from its own onLog (run, resume, snapshot): instance_busy, the interrupted run unharmed", async () => {
    await alongside(kind, async () => {
      const reentries: Array<Promise<string>> = [];
      let i: Instance | undefined;
      i = await instance(kind, LOG_AND_RETURN, {
        onLog: () => {
          reentries.push(codeOf(i!.run("main")), codeOf(i!.resume()), codeOf(i!.snapshot()));
        },
      });
      expect(await i.run("twice")).toMatchObject({ status: "done", value: 8 });
      expect(await Promise.all(reentries)).toEqual(Array(6).fill("instance_busy"));
      expect(i.state).toBe("done");
      expect(await i.run("main")).toMatchObject({ status: "done", value: 7 });
      expect(i.logs()).toEqual(["hi", "hi", "hi"]);
      i.dispose();
    });
  });

  it("a guest run started from inside another guest's onLog runs, pauses and finishes on its own", async () => {
    await alongside(kind, async () => {
      const inner = await instance(kind, LOOP_AND_RECURSION);
      let nested: Promise<RunResult> | undefined;
      const outer = await instance(kind, LOG_AND_RETURN, { onLog: () => (nested ??= inner.run("main", [20_000], { fuel: 5_000 })) });
      expect(await outer.run("main")).toMatchObject({ status: "done", value: 7 });
      let r = await nested!;
      expect(r).toMatchObject({ status: "paused", reason: "fuel" });
      while (r.status === "paused") r = await inner.resume({ fuel: 50_000 });
      expect(r).toMatchObject({ status: "done", value: BYSTANDER_VALUE });
      outer.dispose();
      inner.dispose();
    });
  });

  it("an onLog callback that throws ends the run with host_error instead of escaping", async () => {
    const r = await alongside(kind, async () => {
      const i = await instance(kind, LOG_AND_RETURN, {
        onLog: () => {
          throw new Error("the host's log sink failed");
        },
      });
      const result = await i.run("main");
      i.dispose();
      return result;
    });
    expect(r).toMatchObject({ status: "trapped", code: "host_error" });
  });

  it("imports outside the allow-list: import_not_allowed; the resource interface is for authenticated code only", async () => {
    await alongside(kind, async () => {
      for (const f of FORBIDDEN_IMPORTS) expect([f.name, await codeOf(engine.compile(f.bytes))]).toEqual([f.name, "import_not_allowed"]);
      const opener = await engine.compile(RESOURCE_OPENER);
      expect(await codeOf(engine.instantiate(opener, { sandbox: kind, trust: "anonymous" }))).toBe("import_not_allowed");
      const authenticated = await engine.instantiate(opener, { sandbox: kind, trust: "authenticated" });
      expect(await authenticated.run("main")).toMatchObject({ status: "trapped", code: "capability_denied" });
      authenticated.dispose();
    });
  });

  it("dispose from inside onLog while the guest runs: trapped disposed, and the instance stays disposed", async () => {
    const r = await alongside(kind, async () => {
      let i: Instance | undefined;
      i = await instance(kind, LOG_THEN_SPIN, { onLog: () => i!.dispose() });
      const result = await scheduler.start(i, "spin", [], { fuelLimit: 1e15 }).result;
      expect(i.state).toBe("disposed");
      expect(await codeOf(i.run("spin"))).toBe("instance_disposed");
      expect(await codeOf(i.resume())).toBe("instance_disposed");
      return result;
    });
    expect(r).toMatchObject({ status: "trapped", code: "disposed" });
  });

  it("dispose from outside while a scheduled job spins ends the job trapped disposed in both sandboxes", async () => {
    await alongside(kind, async () => {
      const { onLog, seen } = firstLog();
      const i = await instance(kind, LOG_THEN_SPIN, { onLog });
      const job = scheduler.start(i, "spin", [], { fuelLimit: 1e15 });
      await seen;
      if (kind === "in-process") {
        // The guest holds the thread during a slice, so dispose() lands between two slices: the
        // scheduler ends the job there, as the isolated sandbox does mid-slice.
        await until(() => i.fuelUsed > 0, "the first slice to end", { timeoutMs: 10_000, everyMs: 0 });
        i.dispose();
        expect(await job.result).toMatchObject({ status: "trapped", code: "disposed" });
      } else {
        // The call is in flight in the child, which cannot listen: it is killed.
        i.dispose();
        expect(await job.result).toMatchObject({ status: "trapped", code: "disposed" });
      }
      expect(i.state).toBe("disposed");
      expect(await codeOf(i.resume())).toBe("instance_disposed");
    });
  });

  it("memory.fill / memory.copy spinning guest: charged by length, so it pauses when asked", async () => {
    await alongside(kind, async () => {
      const i = await instance(kind, BULK_MEMORY_SPIN);
      const job = scheduler.start(i, "spin");
      await until(() => i.fuelUsed > 0, "the first slice to end", { timeoutMs: 10_000, everyMs: 0 });
      // The pause answers (a bulk op that ignored fuel would spin on and the test time out); how
      // long it takes is bench/containment.ts's question.
      expect(await job.pause()).toMatchObject({ status: "paused", reason: "fuel" });
      expect(i.state).toBe("paused");
      i.dispose();
    });
  });

  describe("snapshots tampered to point the continuation outside its buffer or memory", () => {
    async function pausedInRecursion(): Promise<Snapshot> {
      const i = await instance(kind, RECURSE_THEN_SPIN);
      expect(await i.run("down", [50], { fuel: 100_000 })).toMatchObject({ status: "paused", reason: "fuel" });
      const s = await i.snapshot();
      i.dispose();
      return s;
    }

    function withStack(s: Snapshot, bytes: number): Snapshot {
      const { header, stack } = decodeImage(s.continuation);
      const longer = new Uint8Array(bytes);
      longer.set(stack);
      // Re-encoded, so the seal is valid: well-formed bytes with lying contents.
      return { ...s, continuation: encodeImage(header, longer, bytes) };
    }

    it("rejects them with snapshot_* codes; the honest snapshot still resumes", async () => {
      await alongside(kind, async () => {
        const s = await pausedInRecursion();
        const restore = (t: Snapshot | Uint8Array) => engine.restore(t, { sandbox: kind });
        // Longer than the 256 KiB continuation buffer.
        expect(await codeOf(restore(encodeSnapshot(withStack(s, 300 * 1024))))).toBe("snapshot_limit");
        // Within the buffer, which lies in the pages reserved ahead of the guest's memory (1 page
        // here), whatever that memory's size: it restores, as it would into a guest's own struct.
        // What the zero-padded frames then compute is the guest's business, inside its sandbox.
        expect(s.memory.pageCount).toBe(1);
        const padded = await restore(encodeSnapshot(withStack(s, 200_000)));
        expect(["paused", "done", "trapped"]).toContain((await padded.resume({ fuel: 1000 })).status);
        padded.dispose();
        // Memory pages outside the memory, or not a page long (a Snapshot value skips the codec's checks).
        const page = new Uint8Array(65_536).fill(1);
        expect(await codeOf(restore({ ...s, memory: { pageCount: 1, pages: [{ index: 5, bytes: page }] } }))).toBe("snapshot_malformed");
        expect(await codeOf(restore({ ...s, memory: { pageCount: 1, pages: [{ index: 0, bytes: new Uint8Array(70_000) }] } }))).toBe(
          "snapshot_malformed",
        );
        // A flipped bit under the seal.
        const sealed = encodeSnapshot(s);
        const flipped = sealed.slice();
        flipped[Math.floor(flipped.byteLength / 2)]! ^= 1;
        expect(await codeOf(restore(flipped))).toBe("snapshot_corrupt");
        // Garbage frames in a stack that fits: the rewind traps, never a wrong result.
        const { header, stack, capacity } = decodeImage(s.continuation);
        const garbage = await restore(
          encodeSnapshot({
            ...s,
            continuation: encodeImage(
              header,
              stack.map(() => 0xab),
              capacity,
            ),
          }),
        );
        expect(await garbage.resume({ fuel: 1000 })).toMatchObject({ status: "trapped", code: "invalid_continuation" });
        garbage.dispose();
        // The honest snapshot still resumes where it stopped.
        const ok = await restore(sealed);
        expect(await ok.resume({ fuel: 1000 })).toMatchObject({ status: "paused", reason: "fuel" });
        ok.dispose();
      });
    });
  });
});

describe("in-process sandbox: the host's event loop while hostile guests spin", () => {
  it("the event loop turns between slices while hostile guests spin; honest jobs finish; pauses answer", async () => {
    const hostile = await Promise.all([INFINITE_LOOP, INFINITE_LOOP, BULK_MEMORY_SPIN].map((b) => instance("in-process", b)));
    const jobs = hostile.map((i) => scheduler.start(i, "spin"));
    // Counted, not timed (bench/containment.ts measures the gaps): the probe turns between slices.
    let turns = 0;
    let probing = true;
    const probe = (): void => {
      turns++;
      if (probing) setImmediate(probe);
    };
    setImmediate(probe);
    // The window: five honest jobs finish, and 200 one-millisecond timers fire one after another.
    let ticks = 0;
    const timers = new Promise<void>((resolve) => {
      const tick = (): void => {
        if (++ticks >= 200) resolve();
        else setTimeout(tick, 1);
      };
      setTimeout(tick, 1);
    });
    const honest = await Promise.all(
      Array.from({ length: 5 }, async () => {
        const i = await instance("in-process", LOOP_AND_RECURSION);
        const r = await scheduler.start(i, "main", [20_000]).result;
        i.dispose();
        return r;
      }),
    );
    await timers;
    probing = false;
    for (const r of honest) expect(r).toMatchObject({ status: "done", value: BYSTANDER_VALUE });
    // 200 timers fired one after another and five honest jobs finished while three guests spun
    // forever: without slices the first spinning guest would have held the loop for good. The
    // probe turned at least once per timer.
    expect(turns).toBeGreaterThanOrEqual(200);
    for (const job of jobs) expect(await job.pause()).toMatchObject({ status: "paused", reason: "fuel" });
    for (const i of hostile) i.dispose();
    await hostResponsive("in-process");
  });
});
