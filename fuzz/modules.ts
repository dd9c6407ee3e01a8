// Target "modules": random valid modules (wasm-opt --translate-to-fuzz, plus the adversarial shapes
// of fuzz/hostile-shapes.ts when present), each run raw in V8 and through Ferry — straight, sliced
// into tiny fuel slices, and moved through encoded snapshots at random pauses — with every run
// required to agree (results, traps by kind, memory, logs, fuel) and to stop within the meter bound.

import {
  type Engine,
  FerryError,
  decodeSnapshot,
  encodeSnapshot,
  type GuestModule,
  type InstantiateOptions,
  type Instance,
  type RunResult,
  type SnapshotCompression,
} from "../runtime/index.js";
import { CaseFailure, count, describeError, fromBase64, progress, toBase64, type CaseOutcome } from "./case.js";
import { FUZZ_MAX_MEMORY_PAGES, engineFor, memoryPagesFor, newEngineFor } from "./engines.js";
import { checkHostileOutput, checkHostileSlice, drawHostileSpec, hostileOptions, hostileOutcome, type HostileSpec } from "./hostile.js";
import { overBound, stopBoundOf, type StopBound } from "./meter-bound.js";
import { caseRng, type Rng } from "./rng.js";
import binaryen from "binaryen";
import {
  HANG_LIMIT_INIT,
  LOG_HASH_EXPORT,
  MEMORY_HASH_EXPORT,
  SUPPORTED_FEATURES,
  exportSigs,
  rewriteTtf,
  type ExportSig,
} from "./ttf-rewrite.js";
import { rawTrapCode } from "./v8-traps.js";
import { randomVal, showResult, toJs, type Val } from "./values.js";
import { FUZZ_FEATURES, findWasmOpt, translateToFuzz, type TtfJob } from "./wasm-opt.js";

/** Refusals a valid module may get: it is outside what Ferry accepts, not broken. */
const REFUSAL_CODES = new Set(["unsupported_feature", "module_limit", "memory_limit", "import_not_allowed"]);
// Entries of any arity are callable (runtime/limits.ts MAX_ENTRY_ARGS); the fuzzer keeps its calls short.
const MAX_ENTRY_ARGS = 8;

export interface ModuleCall {
  name: string;
  args: Val[];
}

/** One case, complete: replaying it needs nothing but this (the module travels as bytes). */
export interface ModuleCase {
  target: "modules";
  seed: number;
  index: number;
  /** How the module was made, for the report. */
  origin: string;
  /** The module both runs get, base64. */
  wasm: string;
  exports: ExportSig[];
  /** Calls on one instance, in order (state carries over); a trap ends the sequence. */
  calls: ModuleCall[];
  /** Raw and Ferry results must agree bit for bit (NaNs were removed by --denan); otherwise a difference is only counted. */
  exact: boolean;
  /** Fuel per slice for the sliced run, used in turn. */
  slices: number[];
  /** After this many pauses the sliced run goes on unsliced (keeps slice-1 runs of long cases bounded). */
  maxPauses: number;
  /** Pause ordinals (1-based, counted over the whole sequence) where the instance is snapshotted and replaced by its restored copy. */
  snapshots: number[];
  /** Of those, the ones restored into a brand-new engine from a snapshot that embeds the module. */
  freshEngine: number[];
  compression: SnapshotCompression;
  /**
   * Wall-clock budget of each slice of the sliced run, ms (RunOptions.sliceMs): a slice past it ends
   * at the next check after a host call, bulk chunk or grow, with its fuel accounting unchanged, so
   * results and fuel must still equal the straight run's. Tiny values end nearly every such slice.
   */
  sliceMs?: number;
  /**
   * The module has SIMD float arithmetic, whose NaN bits Binaryen 108's --denan leaves alone: a raw
   * vs Ferry difference is still a failure, of its own kind (raw-vs-ferry-simd-nan), since NaN bits
   * that flow into an integer (an address, a branch) can make one without a bug.
   */
  simdFloatNaNs?: boolean;
  /** Runs of call `call` with fuelLimit = fraction × its straight fuel: must stop within the meter bound. */
  fuelLimits: Array<{ call: number; fraction: number }>;
  /** Set for an adversarial shape of fuzz/hostile-shapes.ts: its host needs and known result. */
  hostile?: HostileSpec;
}

export interface GenerateOptions {
  /** Share of cases drawn from fuzz/hostile-shapes.ts instead of translate-to-fuzz (default 0.25). */
  hostileShare?: number;
  /** Pauses after which the sliced run goes on unsliced (default 2,000; the test suite uses fewer). */
  maxPauses?: number;
  /** Most random bytes translate-to-fuzz gets (default 12,000): fewer make smaller modules. */
  maxInputBytes?: number;
}

export type Generated = { case: ModuleCase } | { skipped: string };

/**
 * The first half of case (seed, index): a hostile shape's module, or what translate-to-fuzz is to be
 * given. `finishModuleCase` makes the case from it (and the module wasm-opt made), drawing on the
 * same generator, so the case is the same however the module was made (one at a time or in a batch).
 */
export interface ModulePlan {
  seed: number;
  index: number;
  options: GenerateOptions;
  rng: Rng;
  ttf?: TtfJob & { hangLimit: number };
  hostile?: { wasm: string; hostile: HostileSpec };
}

export function planModuleCase(seed: number, index: number, options: GenerateOptions = {}): ModulePlan {
  const rng = caseRng(seed, "modules", index);
  if (rng.chance(options.hostileShare ?? 0.25)) return { seed, index, options, rng, hostile: drawHostileSpec(rng.fork("hostile")) };
  // Input sizes spread over orders of magnitude: most modules are small (a 1 KB module instruments
  // ~8× faster than a 4 KB one), large ones stay common enough to find what needs size.
  const input = rng.bytes(Math.max(16, rng.logInt(options.maxInputBytes ?? 12_000)));
  const features = FUZZ_FEATURES.filter((f) => rng.chance(f === "simd" ? 0.25 : 0.5));
  const denan = rng.chance(0.8);
  const hangLimit = rng.pick([50, 500, 5_000, 20_000]);
  return { seed, index, options, rng, ttf: { input, options: { features, denan }, hangLimit } };
}

/** The case for (seed, index): a module from translate-to-fuzz (or a hostile shape) and a plan to run it. */
export function generateModuleCase(seed: number, index: number, options: GenerateOptions = {}): Generated {
  const plan = planModuleCase(seed, index, options);
  return finishModuleCase(plan, plan.ttf ? translateToFuzz(plan.ttf.input, plan.ttf.options) : undefined);
}

/** The case from its plan and, for a translate-to-fuzz case, the module wasm-opt made (or its failure, thrown). */
export function finishModuleCase(p: ModulePlan, made: Uint8Array | Error | undefined): Generated {
  const { seed, index, options, rng } = p;
  let origin: string;
  let bytes: Uint8Array;
  let exports: ExportSig[];
  let exact = true;
  let hostile: HostileSpec | undefined;
  let simdFloatNaNs = false;
  if (p.hostile) {
    const h = p.hostile;
    hostile = h.hostile;
    origin = `hostile-shapes: ${h.hostile.name}`;
    bytes = fromBase64(h.wasm);
    exports = exportSigs(bytes);
  } else {
    const { input, options: ttf, hangLimit } = p.ttf!;
    if (made === undefined) throw new Error(`case ${index}: no module for its translate-to-fuzz input`);
    if (made instanceof Error) throw made;
    const rewritten = rewriteTtf(made, { maxMemoryPages: FUZZ_MAX_MEMORY_PAGES, hangLimit });
    if (rewritten.unusable) return { skipped: rewritten.unusable };
    origin = `wasm-opt ${findWasmOpt().version} -ttf (${input.length} bytes) +${ttf.features.join(",") || "mvp"}${ttf.denan ? " --denan" : ""}${rewritten.simdFloatNaNs ? " +SIMD float arithmetic" : ""} hang ${hangLimit}`;
    bytes = rewritten.bytes;
    exports = rewritten.exports;
    exact = ttf.denan;
    simdFloatNaNs = rewritten.simdFloatNaNs === true;
  }
  const plan = rng.fork("plan");
  const callable = exports.filter(
    (e) => isCallable(e) && e.name !== LOG_HASH_EXPORT && e.name !== MEMORY_HASH_EXPORT && e.name !== HANG_LIMIT_INIT,
  );
  const hasInit = exports.some((e) => e.name === HANG_LIMIT_INIT);
  const calls: ModuleCall[] = [];
  if (hostile) {
    const entry = hostile;
    calls.push({ name: entry.entry, args: entry.args.map((a) => ({ t: "i32" as const, v: String(a) })) });
  }
  const init = (): void => {
    if (hasInit) calls.push({ name: HANG_LIMIT_INIT, args: [] });
  };
  const picks = callable.length === 0 || hostile ? 0 : plan.range(1, 6);
  for (let k = 0; k < picks; k++) {
    const e = plan.pick(callable);
    init();
    calls.push({ name: e.name, args: e.params.map((t) => randomVal(plan, t)) });
  }
  if (exports.some((e) => e.name === MEMORY_HASH_EXPORT)) calls.push({ name: MEMORY_HASH_EXPORT, args: [] });
  if (exports.some((e) => e.name === LOG_HASH_EXPORT)) calls.push({ name: LOG_HASH_EXPORT, args: [] });

  const slices = Array.from({ length: plan.range(1, 3) }, () => plan.pick([1, 1, 2, 3, 5, 16, 100, 1000, plan.logInt(100_000) + 1]));
  // Open resource handles are host state a snapshot does not carry (the resource segment does not migrate yet).
  const snapshots =
    hostile?.host.trust === "authenticated"
      ? []
      : [...new Set(Array.from({ length: plan.int(4) }, () => plan.logInt(300) + 1))].sort((a, b) => a - b);
  const freshEngine = snapshots.filter(() => plan.chance(0.15));
  const fuelLimits = Array.from({ length: plan.int(3) + (hostile ? 1 : 0) }, () => ({
    call: plan.int(Math.max(1, calls.length)),
    fraction: plan.float(),
  }));
  const compression = plan.pick(["auto", "none", "deflate"] as const);
  // Drawn last, so the draws before it (and so older cases of a seed) are unchanged.
  const sliceMs = plan.chance(0.3) ? plan.pick([0.001, 0.05, 1]) : undefined;
  return {
    case: {
      target: "modules",
      seed,
      index,
      origin,
      wasm: toBase64(bytes),
      exports,
      calls,
      exact,
      slices,
      maxPauses: options.maxPauses ?? 2_000,
      snapshots,
      freshEngine,
      compression,
      fuelLimits,
      ...(sliceMs !== undefined ? { sliceMs } : {}),
      ...(simdFloatNaNs ? { simdFloatNaNs } : {}),
      ...(hostile ? { hostile } : {}),
    },
  };
}

function isCallable(e: ExportSig): boolean {
  const ok = (t: string): boolean => t === "i32" || t === "i64" || t === "f32" || t === "f64";
  return e.params.length <= MAX_ENTRY_ARGS && e.params.every(ok) && e.results.every(ok);
}

interface SequenceResult {
  /** One entry per call made: the comparable result text, or "trap:<code>". */
  outcomes: string[];
  /** fuelUsed of each call's final result (Ferry runs only). */
  fuel: number[];
  /** A documented limitation cut the run short (continuation buffer, stack depth). */
  limitation?: string;
}

/** Run one case and check every property; failures are reported, never thrown. */
export async function runModuleCase(spec: ModuleCase): Promise<CaseOutcome> {
  const counters: Record<string, number> = {};
  try {
    return await check(spec, counters);
  } catch (e) {
    if (e instanceof CaseFailure) return { status: "failed", failure: { kind: e.kind, detail: e.detail }, counters };
    return { status: "failed", failure: { kind: "exception", detail: describeError(e) }, counters };
  }
}

async function check(spec: ModuleCase, counters: Record<string, number>): Promise<CaseOutcome> {
  const bytes = fromBase64(spec.wasm);
  const sigs = new Map(spec.exports.map((e) => [e.name, e]));
  let rawModule: WebAssembly.Module;
  try {
    rawModule = new WebAssembly.Module(bytes as BufferSource);
  } catch (_e) {
    count(counters, "skipped: V8 rejects the generated module");
    return { status: "skipped", counters };
  }
  const h = spec.hostile;
  // The shared engine (fuzz/engines.ts): the module may already be compiled there, ahead of the case.
  const engine = engineFor(spec);
  const makeEngine = (): Engine => newEngineFor(spec);
  let module: GuestModule;
  progress(`modules ${spec.index}: compile`);
  try {
    module = await engine.compile(bytes);
  } catch (e) {
    return refusal(e, counters);
  }
  const largestFile = Math.max(0, ...(h?.host.files.map((f) => f.bytes) ?? []));
  const env: RunEnv = {
    makeEngine,
    options: () => (h ? hostileOptions(h) : {}),
    bound: stopBoundOf(module, bytes, memoryPagesFor(spec), largestFile),
  };
  // A hostile shape's value is known (its generator computes it; its own tests check it raw).
  const raw = h ? { outcomes: [hostileOutcome(h)], fuel: [] } : runRaw(rawModule, spec, sigs);
  if (raw.outcomes[0]?.startsWith("instantiate:")) {
    // The module traps while instantiating (an active segment out of bounds): Ferry must say so with a typed error.
    try {
      await engine.instantiate(module, env.options());
    } catch (e) {
      if (e instanceof FerryError) {
        count(counters, `instantiate refused: ${e.code}`);
        return { status: "ok", counters };
      }
      throw new CaseFailure("untyped-instantiate", `raw V8 ${raw.outcomes[0]}; Ferry's instantiate threw ${describeError(e)}`);
    }
    throw new CaseFailure("raw-vs-ferry", `raw V8 ${raw.outcomes[0]}, but Ferry instantiated the module`);
  }
  const straight = await runFerry(engine, env, module, spec, sigs, { sliced: false }, counters);
  compareRaw(spec, raw, straight, counters);

  const sliced = await runFerry(engine, env, module, spec, sigs, { sliced: true, original: bytes }, counters);
  // A limitation (stack depth, continuation buffer) in either run ends that run early: nothing to compare.
  if (sliced.limitation || straight.limitation) count(counters, `limitation: ${sliced.limitation ?? straight.limitation}`);
  else compareRuns("straight-vs-sliced", straight, sliced);

  await checkFuelLimits(engine, env, module, spec, sigs, straight, counters);
  if (h && !straight.limitation) {
    for (const { fraction } of spec.fuelLimits) {
      await checkHostileSlice(engine, module, h, Math.max(1, Math.floor(fraction * straight.fuel[0]!)), env.bound, counters);
    }
  }
  return { status: "ok", counters };
}

function refusal(e: unknown, counters: Record<string, number>): CaseOutcome {
  if (!(e instanceof FerryError)) throw new CaseFailure("untyped-refusal", `compile threw ${describeError(e)}`);
  if (/\[object \w+\]/.test(e.message) || e.message.trim() === "")
    throw new CaseFailure("bad-refusal-message", `${e.code}: ${JSON.stringify(e.message)}`);
  if (!REFUSAL_CODES.has(e.code))
    throw new CaseFailure("refused-valid-module", `V8 accepts the module; Ferry refused it: ${e.code}: ${e.message}`);
  count(counters, `refused: ${e.code}`);
  return { status: "refused", counters };
}

function runRaw(module: WebAssembly.Module, spec: ModuleCase, sigs: Map<string, ExportSig>): SequenceResult {
  const outcomes: string[] = [];
  let instance: WebAssembly.Instance;
  try {
    instance = new WebAssembly.Instance(module, {});
  } catch (e) {
    const code = rawTrapCode(e);
    if (!code) throw new CaseFailure("harness", `raw instantiate threw ${describeError(e)}`);
    return { outcomes: [`instantiate:${code}`], fuel: [] };
  }
  for (const call of spec.calls) {
    const fn = instance.exports[call.name] as (...args: Array<number | bigint>) => unknown;
    try {
      outcomes.push(showResult(sigs.get(call.name)!.results, fn(...call.args.map(toJs))));
    } catch (e) {
      const code = rawTrapCode(e);
      if (!code) throw new CaseFailure("harness", `raw call ${call.name} threw ${describeError(e)}`);
      outcomes.push(`trap:${code}`);
      break;
    }
  }
  return { outcomes, fuel: [] };
}

function show(sig: ExportSig, r: RunResult): string {
  if (r.status === "done") return showResult(sig.results, r.value);
  if (r.status === "trapped") return `trap:${r.code}`;
  return `paused:${r.reason}`;
}

/** How a case makes engines and instance options (hostile shapes need input, files, capabilities). */
interface RunEnv {
  makeEngine(): Engine;
  options(): InstantiateOptions;
  /** How far past its fuel a stop may go (undefined: the module reports no meterBound). */
  bound: StopBound | undefined;
}

async function runFerry(
  engine: Engine,
  env: RunEnv,
  module: GuestModule,
  spec: ModuleCase,
  sigs: Map<string, ExportSig>,
  mode: { sliced: false } | { sliced: true; original: Uint8Array },
  counters: Record<string, number>,
): Promise<SequenceResult> {
  const bound = env.bound;
  let instance: Instance = await engine.instantiate(module, env.options());
  const outcomes: string[] = [];
  const fuel: number[] = [];
  let pauses = 0;
  let turn = 0;
  const nextSlice = (): number | undefined =>
    !mode.sliced || pauses >= spec.maxPauses ? undefined : spec.slices[turn++ % spec.slices.length];
  for (const [k, call] of spec.calls.entries()) {
    const sig = sigs.get(call.name)!;
    // The hash exports observe (memory, logs). Hashing 16 pages in 1-fuel slices would be thousands of
    // pauses, so they get slices of at least 20,000 fuel: still a long loop paused a hundred times.
    const observer = call.name === MEMORY_HASH_EXPORT || call.name === LOG_HASH_EXPORT;
    const sliceFor = (): number | undefined => {
      const s = nextSlice();
      return observer && s !== undefined ? Math.max(s, 20_000) : s;
    };
    progress(`modules ${spec.index}: ${mode.sliced ? "sliced" : "straight"} call ${k} (${call.name})`);
    let slice = sliceFor();
    const sliceOptions = (fuel: number | undefined): { fuel?: number; sliceMs?: number } =>
      fuel === undefined ? {} : spec.sliceMs === undefined ? { fuel } : { fuel, sliceMs: spec.sliceMs };
    let r = await instance.run(call.name, call.args.map(toJs), sliceOptions(slice));
    let before = 0;
    for (;;) {
      const over =
        bound !== undefined && slice !== undefined && r.status !== "trapped" ? overBound(bound, slice, r.fuelUsed - before) : undefined;
      if (over) throw new CaseFailure("meter-bound", `call ${k} (${call.name}): a slice of ${slice} fuel used ${over}`);
      if (r.status !== "paused") break;
      if (r.reason !== "fuel") throw new CaseFailure("straight-vs-sliced", `call ${k} paused for ${r.reason}`);
      if (!mode.sliced) throw new CaseFailure("straight-vs-sliced", `call ${k} paused without a slice`);
      before = r.fuelUsed;
      pauses++;
      count(counters, "pauses");
      if (pauses % 100 === 0) progress(`modules ${spec.index}: sliced call ${k} (${call.name}), pause ${pauses}`);
      if (spec.snapshots.includes(pauses)) instance = await throughSnapshot(engine, env, instance, spec, pauses, mode.original, counters);
      slice = sliceFor();
      r = await instance.resume(sliceOptions(slice));
    }
    if (r.status === "trapped" && (r.code === "continuation_overflow" || r.code === "stack_overflow")) {
      instance.dispose();
      return { outcomes, fuel, limitation: r.code };
    }
    if (spec.hostile && r.status === "trapped" && r.code === "output_limit")
      checkHostileOutput(spec.hostile, instance, `${mode.sliced ? "sliced" : "straight"} call ${k}`);
    outcomes.push(show(sig, r));
    fuel.push(r.fuelUsed);
    if (r.status === "trapped") break;
  }
  if (bound === undefined) count(counters, "meter-bound checks skipped (no meterBound)");
  instance.dispose();
  return { outcomes, fuel };
}

/** Snapshot the paused instance, encode, decode, restore: the copy goes on in its place. */
async function throughSnapshot(
  engine: Engine,
  env: RunEnv,
  instance: Instance,
  spec: ModuleCase,
  ordinal: number,
  original: Uint8Array,
  counters: Record<string, number>,
): Promise<Instance> {
  const move = ordinal % 2 === 0;
  const fresh = spec.freshEngine.includes(ordinal);
  try {
    const snapshot = await instance.snapshot({ move });
    const bytes = encodeSnapshot(fresh ? { ...snapshot, code: original } : snapshot, { compression: spec.compression });
    const decoded = decodeSnapshot(bytes);
    const canonical = (s: typeof snapshot): Buffer => Buffer.from(encodeSnapshot({ ...s, code: undefined }, { compression: "none" }));
    if (!canonical(decoded).equals(canonical(snapshot))) throw new CaseFailure("snapshot", `pause ${ordinal}: decode(encode(s)) is not s`);
    const target = fresh ? env.makeEngine() : engine;
    const { input: _input, ...options } = env.options();
    const restored = await target.restore(ordinal % 3 === 0 ? bytes : decoded, options);
    if (!move) instance.dispose();
    count(counters, fresh ? "snapshots into a fresh engine" : "snapshots");
    return restored;
  } catch (e) {
    if (e instanceof CaseFailure) throw e;
    throw new CaseFailure("snapshot", `pause ${ordinal}: ${describeError(e)}`);
  }
}

function compareRaw(spec: ModuleCase, raw: SequenceResult, ferry: SequenceResult, counters: Record<string, number>): void {
  if (ferry.limitation || raw.outcomes.includes("trap:stack_overflow")) {
    count(counters, `limitation: ${ferry.limitation ?? "stack_overflow"}`);
    return;
  }
  const k = firstDifference(raw.outcomes, ferry.outcomes);
  if (k < 0) return;
  const detail = `call ${k} (${spec.calls[k]?.name}): raw ${raw.outcomes[k] ?? "(not made)"}, Ferry ${ferry.outcomes[k] ?? "(not made)"}`;
  if (!spec.exact) {
    count(counters, "NaN-tolerant differences (no --denan)");
    return;
  }
  throw new CaseFailure(spec.simdFloatNaNs ? "raw-vs-ferry-simd-nan" : "raw-vs-ferry", detail);
}

function compareRuns(kind: string, a: SequenceResult, b: SequenceResult): void {
  const k = firstDifference(a.outcomes, b.outcomes);
  if (k >= 0) throw new CaseFailure(kind, `call ${k}: straight ${a.outcomes[k] ?? "(not made)"}, sliced ${b.outcomes[k] ?? "(not made)"}`);
  for (let i = 0; i < a.outcomes.length; i++) {
    // A trapped run's fuel is documented as inexact (README, Limits); completed runs must match.
    if (!a.outcomes[i]!.startsWith("trap:") && a.fuel[i] !== b.fuel[i]) {
      throw new CaseFailure("fuel-mismatch", `call ${i}: straight used ${a.fuel[i]} fuel, sliced ${b.fuel[i]}`);
    }
  }
}

function firstDifference(a: string[], b: string[]): number {
  const n = Math.max(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return -1;
}

async function checkFuelLimits(
  engine: Engine,
  env: RunEnv,
  module: GuestModule,
  spec: ModuleCase,
  sigs: Map<string, ExportSig>,
  straight: SequenceResult,
  counters: Record<string, number>,
): Promise<void> {
  const bound = env.bound;
  for (const { call, fraction } of spec.fuelLimits) {
    if (call >= straight.outcomes.length || straight.limitation) continue;
    const full = straight.fuel[call]!;
    const limit = Math.max(1, Math.floor(fraction * full));
    progress(`modules ${spec.index}: fuel limit ${limit} on call ${call}`);
    const instance = await engine.instantiate(module, env.options());
    // The calls before it again, unlimited: they must end as in the straight run. V8's stack depth
    // depends on the host's own stack at the call, so a stack_overflow here that the straight run
    // escaped is the documented limitation, not a difference.
    let prefix: string | undefined;
    for (let k = 0; k < call && prefix === undefined; k++) {
      const r = await instance.run(spec.calls[k]!.name, spec.calls[k]!.args.map(toJs));
      const got = show(sigs.get(spec.calls[k]!.name)!, r);
      if (r.status === "trapped" && (r.code === "stack_overflow" || r.code === "continuation_overflow")) prefix = r.code;
      else if (got !== straight.outcomes[k])
        throw new CaseFailure("fuel-limit", `call ${k} before the fuel-limited call ${call}: ${got}, straight ${straight.outcomes[k]}`);
    }
    if (prefix !== undefined) {
      instance.dispose();
      count(counters, `limitation: ${prefix}`);
      continue;
    }
    const c = spec.calls[call]!;
    const r = await instance.run(c.name, c.args.map(toJs), { fuelLimit: limit });
    instance.dispose();
    count(counters, "fuel-limited runs");
    const expected = straight.outcomes[call]!;
    const got = show(sigs.get(c.name)!, r);
    if (r.status === "trapped" && r.code === "out_of_fuel") {
      if (full < limit) throw new CaseFailure("fuel-limit", `call ${call}: out_of_fuel at limit ${limit}, but the run needs only ${full}`);
    } else if (got !== expected) {
      throw new CaseFailure("fuel-limit", `call ${call} with fuelLimit ${limit}: ${got}, unlimited ${expected}`);
    }
    const over = bound === undefined ? undefined : overBound(bound, limit, r.fuelUsed);
    if (over) throw new CaseFailure("meter-bound", `call ${call}: fuelLimit ${limit} stopped at ${over}`);
  }
}

/** Smaller variants of a failing case: fewer calls and checks, plainer slicing, a smaller module. */
export function shrinkModuleCase(spec: ModuleCase): ModuleCase[] {
  const out: ModuleCase[] = [];
  for (let i = 0; i < spec.calls.length && spec.calls.length > 1; i++) {
    out.push({
      ...spec,
      calls: spec.calls.filter((_, k) => k !== i),
      fuelLimits: spec.fuelLimits.filter((f) => f.call !== i).map((f) => ({ ...f, call: f.call > i ? f.call - 1 : f.call })),
    });
  }
  if (spec.snapshots.length > 0)
    out.push({ ...spec, snapshots: spec.snapshots.slice(0, -1), freshEngine: spec.freshEngine.filter((s) => s !== spec.snapshots.at(-1)) });
  if (spec.freshEngine.length > 0) out.push({ ...spec, freshEngine: [] });
  if (spec.fuelLimits.length > 0) out.push({ ...spec, fuelLimits: spec.fuelLimits.slice(1) });
  if (spec.slices.length > 1) out.push({ ...spec, slices: [spec.slices[0]!] });
  if (spec.compression !== "none") out.push({ ...spec, compression: "none" });
  if (spec.sliceMs !== undefined) out.push({ ...spec, sliceMs: undefined });
  const smaller = withoutUnusedExports(spec);
  if (smaller) out.push(smaller);
  return out;
}

/** The module with only the exports the calls use, and what nothing reaches removed. */
function withoutUnusedExports(spec: ModuleCase): ModuleCase | undefined {
  const used = new Set(spec.calls.map((c) => c.name));
  const m = binaryen.readBinary(fromBase64(spec.wasm));
  try {
    m.setFeatures(SUPPORTED_FEATURES);
    let removed = 0;
    for (let i = m.getNumExports() - 1; i >= 0; i--) {
      const e = binaryen.getExportInfo(m.getExportByIndex(i));
      if (e.kind === binaryen.ExternalFunction && !used.has(e.name)) {
        m.removeExport(e.name);
        removed++;
      }
    }
    m.runPasses(["remove-unused-module-elements"]);
    const bytes = m.emitBinary();
    if (removed === 0 && bytes.byteLength >= fromBase64(spec.wasm).byteLength) return undefined;
    return { ...spec, wasm: toBase64(bytes), exports: spec.exports.filter((e) => used.has(e.name)) };
  } finally {
    m.dispose();
  }
}
