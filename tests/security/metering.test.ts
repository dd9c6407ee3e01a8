// Metering against generated hostile shapes (issue 8 §1 and §4): call chains that do 2^N calls with
// no loop and no recursion (direct, through tables, from the start function, from an export),
// recursion that works after each return, memory.grow, bulk memory, host calls and resources in
// loops and straight runs. Every shape counts the work it really did in a global (in fuel floors,
// see fuzz/hostile-shapes.ts), so nothing here reads a clock:
// - a slice of L fuel pauses having done at most L + meterBound + one operation of work, and every
//   unit of that work was charged (work ≤ fuelUsed);
// - a fuel limit L ends the run out_of_fuel within the same bound;
// - a complete sliced run returns what the raw module returns in V8;
// - under the Scheduler the hostile job takes many slices, each of bounded work, and a neighbour runs
//   between them; pause and cancel of a hostile isolated job answer.
// Every run is bounded even when the metering is broken: each shape is finite, and isolated calls
// have a deadline.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  Engine,
  FileResources,
  Scheduler,
  type GuestInstance,
  type Instance,
  type InstantiateOptions,
  type RunResult,
  type SandboxKind,
} from "../../runtime/index.js";
import type { GuestModule } from "../../runtime/exec/guest-module.js";
import {
  bulkMemory,
  callChain,
  fileBytes,
  hostCalls,
  inputBytes,
  memoryGrow,
  tableOps,
  recursion,
  resourceLoop,
  runRaw,
  type HostileModule,
} from "../../fuzz/hostile-shapes.js";
import { meterBoundOf } from "../../fuzz/meter-bound.js";
import { LOOP_AND_RECURSION } from "../helpers/fixtures.js";

/** The slice of the pause checks and the fuel limit of the out_of_fuel checks. */
const L = 5_000;
/**
 * Used only while the code segment does not report `meterBound` (runtime/code/instrument.ts): the
 * bound the metering plan gives these small modules (one 256 KiB bulk-memory chunk at 1 fuel per
 * 4 bytes, plus the helpers' overhead), rounded up.
 */
const FALLBACK_METER_BOUND = 66_000;
/** Isolated calls: a broken meter must not hang the suite (a sound one needs milliseconds). */
const DEADLINE_MS = 20_000;
/** Every run is bounded by fuel as well. */
const RUN_FUEL_LIMIT = 2_000_000_000;
const SANDBOXES: readonly SandboxKind[] = ["in-process", "isolated"];
const MiB = 1024 * 1024;

const engine = new Engine({ isolated: { size: 2 } });
const roots: string[] = [];

afterAll(async () => {
  await engine.close();
  for (const root of roots) rmSync(root, { recursive: true, force: true });
});

// ---- the shapes: several sizes and layouts of each (fuzz/hostile-shapes.ts documents each one) ----

const SHAPES: HostileModule[] = [
  // (a) call chains, no loop, no recursion: Σ K^i calls
  callChain({ depth: 17, fanout: 2, style: "plain", via: "direct", from: "main" }),
  callChain({ depth: 20, fanout: 2, style: "plain", via: "direct", from: "main" }),
  callChain({ depth: 12, fanout: 3, style: "plain", via: "direct", from: "main" }),
  callChain({ depth: 17, fanout: 2, style: "spread", via: "direct", from: "main" }),
  callChain({ depth: 17, fanout: 2, style: "if-arms", via: "direct", from: "main" }),
  callChain({ depth: 17, fanout: 2, style: "br-table", via: "direct", from: "main" }),
  callChain({ depth: 17, fanout: 2, style: "results", via: "direct", from: "main" }),
  // (b) through tables
  callChain({ depth: 17, fanout: 2, style: "plain", via: "indirect", from: "main" }),
  callChain({ depth: 17, fanout: 2, style: "plain", via: "typed-indirect", from: "main" }),
  callChain({ depth: 17, fanout: 2, style: "results", via: "mixed", from: "main" }),
  callChain({ depth: 17, fanout: 2, style: "if-arms", via: "one-indirect-hop", from: "main" }),
  // (c) from the start function, and from the chain's own export called by the host
  callChain({ depth: 17, fanout: 2, style: "plain", via: "direct", from: "start" }),
  callChain({ depth: 17, fanout: 2, style: "spread", via: "typed-indirect", from: "start" }),
  callChain({ depth: 17, fanout: 2, style: "plain", via: "direct", from: "export" }),
  callChain({ depth: 17, fanout: 2, style: "results", via: "one-indirect-hop", from: "export" }),
  // (d) recursion doing its work after each return; in the first the whole descent fits in one slice,
  // so only the returns can run past it. (Recursive functions of more than ~3,000 such steps take
  // tens of seconds to instrument: kept small here.)
  recursion({ depth: 100, postWork: 4_000, cycle: 1, via: "direct", postIn: "callee" }),
  recursion({ depth: 150, postWork: 1_500, cycle: 2, via: "indirect", postIn: "frame" }),
  recursion({ depth: 400, postWork: 1_000, cycle: 1, via: "direct", postIn: "frame" }),
  recursion({ depth: 400, postWork: 1_000, cycle: 2, via: "indirect", postIn: "callee" }),
  recursion({ depth: 300, postWork: 2_000, cycle: 3, via: "direct", postIn: "frame" }),
  // (e) memory.grow
  memoryGrow({ count: 256, delta: 1, repeat: "loop" }),
  memoryGrow({ count: 256, delta: 1, repeat: "straight" }),
  memoryGrow({ count: 64, delta: 4, repeat: "helper" }),
  // (f) bulk memory
  bulkMemory({ op: "fill", bytes: 4 * MiB, count: 8, repeat: "straight" }),
  bulkMemory({ op: "copy", bytes: 4 * MiB, count: 8, repeat: "loop" }),
  bulkMemory({ op: "fill", bytes: 2 * MiB, count: 16, repeat: "helper" }),
  // (f') table operations: whole tables filled and copied, a table grown to the engine's limit
  tableOps({ op: "fill", elements: 20_000, count: 16, repeat: "loop" }),
  tableOps({ op: "copy", elements: 20_000, count: 16, repeat: "straight" }),
  tableOps({ op: "grow", elements: 1_000, count: 100, repeat: "helper" }),
  // (g) host calls
  hostCalls({ call: "output", bytes: 4 * MiB, count: 8, repeat: "straight" }),
  hostCalls({ call: "output", bytes: 4 * MiB, count: 8, repeat: "loop" }),
  hostCalls({ call: "log", bytes: 64 * 1024, count: 256, repeat: "loop" }),
  // One input_read moves at most 1 MiB (MAX_HOST_IO_BYTES), so many calls asking for 4 MiB each.
  hostCalls({ call: "input", bytes: 4 * MiB, count: 32, repeat: "helper" }),
  // (h) resources (authenticated)
  resourceLoop({ op: "reopen", fileBytes: 4 * MiB, chunkBytes: MiB, count: 256, repeat: "loop" }),
  resourceLoop({ op: "reopen", fileBytes: 64 * 1024, chunkBytes: 64 * 1024, count: 200, repeat: "straight" }),
  resourceLoop({ op: "read", fileBytes: 4 * MiB, chunkBytes: MiB, count: 4, repeat: "straight" }),
  resourceLoop({ op: "write", fileBytes: 4 * MiB, chunkBytes: MiB, count: 4, repeat: "helper" }),
];

/** One or two shapes of each family, for the scheduler and pause/cancel checks. */
const SCHEDULED = [
  "call-chain plain/direct from main, depth 17",
  "call-chain plain/typed-indirect from main",
  "call-chain spread/typed-indirect from start",
  "recursion self/direct, post-work in callee",
  "memory-grow loop",
  "bulk-memory fill straight",
  "host-output straight",
  "host-log loop",
  "host-input helper",
  "resource reopen loop",
].map((prefix) => {
  const s = SHAPES.find((x) => x.name.startsWith(prefix));
  if (!s) throw new Error(`no shape named ${prefix}…`);
  return s;
});

// ---- helpers ----

const compiled = new Map<HostileModule, Promise<GuestModule>>();
const compile = (s: HostileModule): Promise<GuestModule> => {
  let m = compiled.get(s);
  if (!m) compiled.set(s, (m = engine.compile(s.bytes)));
  return m;
};

async function boundOf(s: HostileModule): Promise<number> {
  return meterBoundOf(await compile(s)) ?? FALLBACK_METER_BOUND;
}

/** A fresh resource root holding the shape's files. */
function resourcesFor(s: HostileModule): FileResources {
  const root = mkdtempSync(join(tmpdir(), "ferry-metering-"));
  roots.push(root);
  for (const f of s.host.files) {
    const path = join(root, ...f.name.split("/"));
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, fileBytes(f.bytes));
  }
  return new FileResources(root);
}

async function instance(kind: SandboxKind, s: HostileModule, extra: InstantiateOptions = {}): Promise<Instance> {
  const options: InstantiateOptions = {
    sandbox: kind,
    trust: s.host.trust,
    input: inputBytes(s.host.inputBytes),
    maxOutputBytes: Math.max(s.host.outputBytes, 1),
    maxLogBytes: Math.max(s.host.logBytes, 1),
    ...(kind === "isolated" ? { timeoutMs: DEADLINE_MS } : {}),
    ...(s.host.trust === "authenticated" ? { capabilities: s.host.capabilities, resources: resourcesFor(s) } : {}),
    ...extra,
  };
  return engine.instantiate(await compile(s), options);
}

/** The work counter of a paused instance, from its snapshot (both sandboxes). */
async function workOfPaused(i: Instance, s: HostileModule): Promise<number> {
  const snapshot = await i.snapshot();
  const g = snapshot.globals.find((x) => x.index === s.counter.globalIndex);
  if (!g) throw new Error(`the snapshot has no global ${s.counter.globalIndex}`);
  return Number(g.value);
}

/**
 * The work counter of a finished in-process instance. A trapped instance cannot be snapshotted, so
 * this reads the export of the instance's Wasm instance directly (tests only).
 */
function workOfInProcess(i: Instance, s: HostileModule): number {
  // biome-ignore lint/complexity/useLiteralKeys: `exports` is private to GuestInstance; the test reads the counter global it exports
  const exports = (i as GuestInstance)["exports"];
  return Number((exports[s.counter.export] as WebAssembly.Global).value);
}

const describeResult = (r: RunResult): string =>
  `${r.status === "trapped" ? `trapped ${r.code} (${r.message})` : `${r.status}`}, fuelUsed ${r.fuelUsed}`;

/** Not a test that cannot fail: the shape must do far more than the bound lets through. */
function expectShapeOutgrowsBound(s: HostileModule, allowed: number): void {
  expect(s.totalWork, `${s.name}: too small to tell a broken meter from a sound one`).toBeGreaterThan(2 * allowed);
}

// ---- per shape, both sandboxes ----

describe.each(SANDBOXES)("%s sandbox: hostile shapes stay within the metering bound", (kind) => {
  describe.each(SHAPES.map((s) => [s.name, s] as const))("%s", (_name, s) => {
    it(`a slice of ${L} fuel pauses within L + meterBound + one operation, every unit of work charged`, async () => {
      const allowed = L + (await boundOf(s)) + s.maxOpWork;
      expectShapeOutgrowsBound(s, allowed);
      const i = await instance(kind, s);
      try {
        const r = await i.run(s.entry, s.args, { fuel: L, fuelLimit: RUN_FUEL_LIMIT });
        expect(r.status, `${s.name}: ${describeResult(r)}`).toBe("paused");
        const work = await workOfPaused(i, s);
        expect(work, `work done in a slice of ${L} fuel (meterBound + one op = ${allowed - L})`).toBeLessThanOrEqual(allowed);
        expect(work, "work done but not charged").toBeLessThanOrEqual(r.fuelUsed);
      } finally {
        i.dispose();
      }
    });

    it(`a fuel limit of ${L} ends the run out_of_fuel within the bound`, async () => {
      const allowed = L + (await boundOf(s)) + s.maxOpWork;
      const i = await instance(kind, s);
      try {
        const r = await i.run(s.entry, s.args, { fuelLimit: L });
        expect(r, `${s.name}: ${describeResult(r)}`).toMatchObject({ status: "trapped", code: "out_of_fuel" });
        if (kind === "in-process") {
          const work = workOfInProcess(i, s);
          expect(work, `work done under a fuel limit of ${L}`).toBeLessThanOrEqual(allowed);
          expect(work, "work done but not charged").toBeLessThanOrEqual(r.fuelUsed);
        }
      } finally {
        i.dispose();
      }
    });

    it("run to the end in slices, it returns what the raw module returns in V8", async () => {
      const raw = runRaw(s);
      expect(raw).toBe(s.expected);
      const i = await instance(kind, s);
      try {
        let r = await i.run(s.entry, s.args, { fuel: 4_000_000, fuelLimit: RUN_FUEL_LIMIT });
        while (r.status === "paused") r = await i.resume({ fuel: 4_000_000 });
        expect(r, describeResult(r)).toMatchObject({ status: "done", value: raw });
        expect(r.fuelUsed, "every unit of work charged").toBeGreaterThanOrEqual(s.totalWork);
      } finally {
        i.dispose();
      }
    });
  });
});

// ---- under the Scheduler ----

/** An Instance that records each slice the scheduler gives it (every run or resume call). */
class SliceRecorder implements Instance {
  constructor(
    private readonly inner: Instance,
    private readonly label: string,
    private readonly slices: string[],
  ) {}
  get sandbox() {
    return this.inner.sandbox;
  }
  get trust() {
    return this.inner.trust;
  }
  get codeHash() {
    return this.inner.codeHash;
  }
  settled() {
    return this.inner.settled();
  }
  get state() {
    return this.inner.state;
  }
  get fuelUsed() {
    return this.inner.fuelUsed;
  }
  get inputBytes() {
    return this.inner.inputBytes;
  }
  output() {
    return this.inner.output();
  }
  outputSince(offset: number) {
    return this.inner.outputSince(offset);
  }
  logs() {
    return this.inner.logs();
  }
  currentRun() {
    return this.inner.currentRun();
  }
  run(...a: Parameters<Instance["run"]>) {
    this.slices.push(this.label);
    return this.inner.run(...a);
  }
  resume(...a: Parameters<Instance["resume"]>) {
    this.slices.push(this.label);
    return this.inner.resume(...a);
  }
  snapshot(...a: Parameters<Instance["snapshot"]>) {
    return this.inner.snapshot(...a);
  }
  dispose() {
    this.inner.dispose();
  }
  [Symbol.dispose]() {
    this.inner.dispose();
  }
}

/** 1000 + Σ 1..20000 + fib(12): LOOP_AND_RECURSION's main(20000). */
const NEIGHBOUR_VALUE = 1000 + 200_010_000 + 144;
/** Slices of at most this much fuel, so the number of slices a job needs follows from its work. */
const MAX_SLICE_FUEL = 20_000;

describe("in-process Scheduler: a hostile job is sliced and its neighbour runs between its slices", () => {
  it.each(SCHEDULED.map((s) => [s.name, s] as const))("%s", async (_name, s) => {
    const scheduler = new Scheduler({ sliceBudgetMs: 4, maxSliceFuel: MAX_SLICE_FUEL });
    const perSlice = MAX_SLICE_FUEL + (await boundOf(s)) + s.maxOpWork;
    const needed = Math.ceil(s.totalWork / perSlice);
    expect(needed, `${s.name} must need several slices`).toBeGreaterThanOrEqual(3);
    const slices: string[] = [];
    const hostile = new SliceRecorder(await instance("in-process", s), "hostile", slices);
    const neighbour = new SliceRecorder(await engine.instantiate(await engine.compile(LOOP_AND_RECURSION)), "neighbour", slices);
    const hostileJob = scheduler.start(hostile, s.entry, s.args, { fuelLimit: RUN_FUEL_LIMIT });
    const neighbourJob = scheduler.start(neighbour, "main", [20_000], { fuelLimit: RUN_FUEL_LIMIT });
    const [h, n] = await Promise.all([hostileJob.result, neighbourJob.result]);
    expect(h, describeResult(h)).toMatchObject({ status: "done", value: s.expected });
    expect(n).toMatchObject({ status: "done", value: NEIGHBOUR_VALUE });
    const hostileSlices = slices.filter((x) => x === "hostile").length;
    // Each slice did at most perSlice work, so the whole run needed at least `needed` of them.
    expect(hostileSlices, `slices for ${s.totalWork} work at most ${perSlice} a slice`).toBeGreaterThanOrEqual(needed);
    // Round-robin: the neighbour ran while the hostile job was still unfinished.
    expect(slices.indexOf("neighbour"), `slice order ${slices.slice(0, 8).join(",")}…`).toBeLessThan(slices.lastIndexOf("hostile"));
    hostile.dispose();
    neighbour.dispose();
  });
});

describe.each(SANDBOXES)("%s sandbox: pause and cancel of a hostile scheduled job answer", (kind) => {
  const scheduler = new Scheduler({ sliceBudgetMs: 4, maxSliceFuel: MAX_SLICE_FUEL, isolatedSliceFuel: MAX_SLICE_FUEL });

  /** Starts the job and resolves once its first slice has ended (or the whole run, if it never paused). */
  async function startedHostile(s: HostileModule): Promise<{ i: Instance; job: ReturnType<Scheduler["start"]> }> {
    const i = await instance(kind, s);
    const job = scheduler.start(i, s.entry, s.args, { fuelLimit: RUN_FUEL_LIMIT });
    let settled = false;
    void job.result.then(() => (settled = true));
    const deadline = performance.now() + DEADLINE_MS;
    while (i.fuelUsed === 0 && !settled) {
      if (performance.now() > deadline) throw new Error("the first slice never ended");
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    return { i, job };
  }

  it.each(SCHEDULED.map((s) => [s.name, s] as const))("%s", async (_name, s) => {
    const allowed = (await boundOf(s)) + MAX_SLICE_FUEL + s.maxOpWork;
    expectShapeOutgrowsBound(s, allowed);
    // pause(): the job stops after its current slice, paused, within bounded work.
    const a = await startedHostile(s);
    const paused = await a.job.pause();
    expect(paused, describeResult(paused)).toMatchObject({ status: "paused", reason: "fuel" });
    const work = await workOfPaused(a.i, s);
    expect(work, "work done but not charged").toBeLessThanOrEqual(paused.fuelUsed);
    a.i.dispose();
    // cancel (dispose) mid-run: the job ends trapped disposed.
    const b = await startedHostile(s);
    b.i.dispose();
    const cancelled = await b.job.result;
    expect(cancelled, describeResult(cancelled)).toMatchObject({ status: "trapped", code: "disposed" });
  });
});
