// Compile bombs (issue 8 §2): modules whose instrumentation is super-linear are refused by the
// per-function caps before Binaryen sees them; whatever passes is compiled in a worker thread with a
// wall-clock and a memory limit, behind a bounded queue; refusals are remembered by code hash.
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { validateModule } from "../../runtime/code/validate.js";
import { CompilePool } from "../../runtime/code/compile-pool.js";
import { Engine, FerryError, type ErrorCode } from "../../runtime/index.js";
import { SHAPES, shape } from "../../bench/compile-shapes.js";
import { ANSWER } from "./fixtures.js";
import { until } from "../helpers/until.js";
import { refusal } from "../helpers/errors.js";

const limits = new Engine().config.limits;
/** Starting a worker loads and warms Binaryen: seconds of CPU, longer on a busy machine. */
const SLOW_MS = 5 * 60_000;

/** The largest N of a shape the default caps accept (doubling, then bisecting). */
function largestAccepted(name: string): number {
  const accepts = (n: number): boolean => {
    try {
      validateModule(shape(name).build(n), limits);
      return true;
    } catch (e) {
      if (e instanceof FerryError && e.code === "module_limit") return false;
      throw e;
    }
  };
  let lo = 1;
  let hi = 2;
  while (accepts(hi)) {
    lo = hi;
    hi *= 2;
    if (hi > 1 << 22) throw new Error(`${name}: no cap refuses it`);
  }
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (accepts(mid)) lo = mid;
    else hi = mid;
  }
  return lo;
}

async function codeOf(p: Promise<unknown>): Promise<ErrorCode | "ok"> {
  try {
    await p;
    return "ok";
  } catch (e) {
    if (e instanceof FerryError) return e.code;
    throw e;
  }
}

const pools: CompilePool[] = [];
function pool(options: ConstructorParameters<typeof CompilePool>[0]): CompilePool {
  const p = new CompilePool(options);
  pools.push(p);
  return p;
}
afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close()));
});

describe("per-function caps", () => {
  // One worker for all shapes (each new worker loads and warms Binaryen).
  const shared = new CompilePool({});
  const engine = new Engine({ compilePool: shared });
  afterAll(() => shared.close());

  it.each(SHAPES.map((s) => s.name))(
    "refuses the %s shape one step past its cap with module_limit, before instrumenting",
    async (name) => {
      const n = largestAccepted(name);
      expect(await codeOf(engine.compile(shape(name).build(n + 1)))).toBe("module_limit");
      expect(shared.stats.compiled).toBe(0);
      expect(shared.stats.refusedFromMemory).toBe(0);
    },
    SLOW_MS,
  );

  it("names the limit and the value found", async () => {
    const loops = shape("loops-with-calls").build(limits.maxFunctionLoops + 1);
    const { code, message } = await refusal(() => validateModule(loops, limits));
    expect(code).toBe("module_limit");
    expect(message).toContain("maxFunctionLoops");
    expect(message).toContain(`${limits.maxFunctionLoops + 1} loops`);
  });
});

describe("the compile worker", () => {
  it(
    "refuses a compile over the time limit with module_limit, terminates its worker, and remembers the refusal",
    async () => {
      // 1 ms cannot hold a real compile (a message each way and Binaryen's passes), so this is the time
      // limit's path, whatever the machine's speed.
      const p = pool({ timeoutMs: 1, timeoutMsPerKiB: 0 });
      const engine = new Engine({ compilePool: p });
      const bytes = shape("loops-with-calls").build(200);
      expect(await codeOf(engine.compile(bytes))).toBe("module_limit");
      expect(p.stats.timedOut).toBe(1);
      await until(() => p.stats.workersAlive === 0, "the killed worker to be gone, not left running", 30_000);
      expect(await codeOf(engine.compile(bytes))).toBe("module_limit");
      expect(p.stats.refusedFromMemory).toBe(1);
      expect(p.stats.workersStarted).toBe(1); // the second refusal started no worker
    },
    SLOW_MS,
  );

  it(
    "refuses a compile over the Binaryen heap limit with module_limit and replaces the worker",
    async () => {
      const p = pool({ maxBinaryenHeapMb: 16 });
      // 1,500 locals live across a call (the locals cap lifted): Binaryen asks for ~26 MiB.
      const engine = new Engine({ compilePool: p, limits: { maxFunctionLocals: 2_000 } });
      expect(await codeOf(engine.compile(shape("i64-locals-across-calls").build(1500)))).toBe("module_limit");
      expect(p.stats.outOfMemory).toBe(1);
      await until(() => p.stats.workersAlive === 0, "the workers to be gone", 30_000);
      // The next compile gets a fresh worker and works.
      expect(await codeOf(engine.compile(ANSWER))).toBe("ok");
      expect(p.stats.workersStarted).toBe(2);
    },
    SLOW_MS,
  );

  it(
    "runs at most maxConcurrent workers however many compiles wait, and refuses past the queue bound",
    async () => {
      const p = pool({ maxConcurrent: 1, maxQueued: 3 });
      const engine = new Engine({ compilePool: p });
      let most = 0;
      const sample = setInterval(() => (most = Math.max(most, p.stats.workersAlive)), 5);
      try {
        const distinct = [1, 2, 3, 4].map((n) => shape("loops-with-calls").build(n));
        const results = distinct.map((b) => codeOf(engine.compile(b)));
        const fifth = codeOf(engine.compile(shape("loops-with-calls").build(5)));
        const sixth = codeOf(engine.compile(shape("loops-with-calls").build(6)));
        const outcomes = await Promise.all([...results, fifth, sixth]);
        // All six arrive before the worker has started: three wait, the rest are turned away at once.
        expect(outcomes).toEqual(["ok", "ok", "ok", "compiler_busy", "compiler_busy", "compiler_busy"]);
        expect(most).toBeLessThanOrEqual(1);
        expect(p.stats.workersStarted).toBe(1);
      } finally {
        clearInterval(sample);
      }
    },
    SLOW_MS,
  );

  it(
    "remembers a cap refusal by code hash: the same bytes are refused again without a worker",
    async () => {
      const p = pool({});
      const engine = new Engine({ compilePool: p });
      const bomb = shape("loops-with-calls").build(limits.maxFunctionLoops + 1);
      expect(await codeOf(engine.compile(bomb))).toBe("module_limit");
      const started = p.stats.workersStarted;
      expect(await codeOf(new Engine({ compilePool: p, maxMemoryPages: 16 }).compile(bomb))).toBe("module_limit");
      expect(p.stats.refusedFromMemory).toBe(1);
      expect(p.stats.workersStarted).toBe(started);
    },
    SLOW_MS,
  );
});
