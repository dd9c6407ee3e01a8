// One converted script, command by command, the way the spec harness runs it — every module
// instantiated raw in V8 and (when Ferry accepts it) in Ferry straight, sliced and, for a sample of
// modules, snapshotted at every pause — judging each assertion in every way of running.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { isFerryError, type Engine, type GuestModule, type Instance, type TrapCode, type WasmValue } from "../runtime/index.js";
import { REFUSAL_COMMANDS, RUN_COMMANDS, type Command } from "./commands.js";
import type { Converted } from "./convert.js";
import { FerrySide, PAUSE_CAP, type Mode, type SideOptions } from "./ferry-side.js";
import { errorOutcome, showOutcome, type Outcome } from "./outcome.js";
import { callRaw, type RawHost } from "./raw.js";
import { addThunks, thunkResultTypes, type ThunkRequest } from "./thunks.js";
import { expectedTrapCode } from "./trap-codes.js";
import { bump, emptyTally, type Tally } from "./tally.js";
import { NUMERIC, fromJs, holdsNan, matches, sameResult, showBits, showValue, toJs, type Bits, type SpecValue } from "./values.js";

export interface ScriptOptions extends SideOptions {
  /** Modules whose assertions also run snapshotted: one in this many (0: none), picked by `seed`. */
  snapshotEvery: number;
  seed: number;
}

export interface ScriptContext {
  engine: Engine;
  raw: RawHost;
  options: ScriptOptions;
}

/** Refusals that are documented limits of Ferry (README, docs/sandboxes.md), not disagreements. */
export const DOCUMENTED_REFUSALS = new Set(["unsupported_feature", "import_not_allowed", "module_limit", "memory_limit"]);

/** How one action is called: an export through the JS API, a thunk, or not at all. */
type Plan = { kind: "direct" | "thunk"; entry: string; args: WasmValue[]; types: string[] } | { kind: "skip"; reason: string };

interface LoadedModule {
  /** Every engine skips its assertions, for this reason. */
  skip?: string;
  raw?: WebAssembly.Instance;
  /** Raw V8 could not instantiate it (so nothing is judged against raw). */
  rawProblem?: string;
  sides?: Map<Mode, FerrySide>;
  /** Ferry is not judged on its assertions, for this reason. */
  ferryProblem?: string;
  /**
   * A later module imported from it (through `register`): raw V8 shares its table, memory or
   * functions with that module, which Ferry refuses, so from here on the two instances' states part.
   */
  shared?: number;
  plans: Map<number, Plan>;
}

type Expectation = { values: SpecValue[] } | { trap: TrapCode } | { like: Outcome };

const resultTypes = (c: Command): string[] =>
  (c.expected ?? []).map((e) => (e.type === "either" ? (e.values?.[0]?.type ?? "either") : e.type));

/** Through the JS API when every argument and expected result survives it bit for bit; otherwise a thunk. */
function planCall(c: Command): { direct: Plan } | { thunk: ThunkRequest } {
  const action = c.action!;
  const args = action.args ?? [];
  const results = resultTypes(c);
  const direct =
    action.type === "invoke" &&
    args.every((a) => NUMERIC.has(a.type) && !holdsNan(a)) &&
    results.every((t) => NUMERIC.has(t)) &&
    !(c.expected ?? []).some(holdsNan);
  if (direct) return { direct: { kind: "direct", entry: action.field, args: args.map(toJs), types: results } };
  return { thunk: { kind: action.type, field: action.field, args, results } };
}

/** The result values as bits, or what was wrong with them. */
function resultBits(plan: Plan & { kind: "direct" | "thunk" }, value: unknown): Bits[] | string {
  const outTypes = plan.kind === "thunk" ? thunkResultTypes(plan.types) : plan.types;
  const values = outTypes.length === 0 ? [] : outTypes.length === 1 ? [value] : Array.isArray(value) ? (value as unknown[]) : undefined;
  if (!values || values.length !== outTypes.length) return `returned ${String(value)} for ${outTypes.length} results`;
  const bits: Bits[] = [];
  let k = 0;
  const next = (t: string): bigint | undefined => fromJs(t, values[k++])?.bits;
  for (const t of plan.types) {
    let b: bigint | undefined;
    if (plan.kind === "direct" || t === "i32" || t === "i64") b = next(t);
    else if (t === "f32") b = next("i32");
    else if (t === "f64") b = next("i64");
    else if (t === "v128") {
      const lo = next("i64");
      const hi = next("i64");
      b = lo === undefined || hi === undefined ? undefined : lo | (hi << 64n);
    } else b = next("i32");
    if (b === undefined) return `returned ${String(value)}, not ${plan.types.join(" ")}`;
    bits.push({ type: t, bits: b });
  }
  return bits;
}

/** What differed, or undefined when the outcome is what was expected. */
function judge(o: Outcome, e: Expectation, plan: Plan & { kind: "direct" | "thunk" }): string | undefined {
  if ("values" in e) {
    const want = e.values.map(showValue).join(" ") || "()";
    if (o.kind !== "values") return `expected ${want}, got ${showOutcome(o)}`;
    const bits = resultBits(plan, o.value);
    if (typeof bits === "string") return `expected ${want}, ${bits}`;
    if (bits.length !== e.values.length || !e.values.every((v, k) => matches(v, bits[k]!)))
      return `expected ${want}, got ${bits.map(showBits).join(" ") || "()"}`;
    return undefined;
  }
  if ("trap" in e) return o.kind === "trap" && o.code === e.trap ? undefined : `expected trap ${e.trap}, got ${showOutcome(o)}`;
  const r = e.like;
  if (r.kind === "trap")
    return o.kind === "trap" && o.code === r.code ? undefined : `raw trapped ${r.code ?? r.message}, got ${showOutcome(o)}`;
  if (r.kind !== "values") return undefined;
  if (o.kind !== "values") return `raw returned, got ${showOutcome(o)}`;
  const want = resultBits(plan, r.value);
  const got = resultBits(plan, o.value);
  if (typeof got === "string" || typeof want === "string") return typeof got === "string" ? got : undefined;
  return want.length === got.length && want.every((w, k) => sameResult(w, got[k]!))
    ? undefined
    : `raw returned ${want.map(showBits).join(" ")}, got ${got.map(showBits).join(" ")}`;
}

/** FNV-1a: the seeded choice of snapshotted modules, stable across runs and machines. */
function sampled(file: string, line: number, options: ScriptOptions): boolean {
  if (options.snapshotEvery <= 0) return false;
  let h = 0x811c9dc5;
  for (const ch of `${options.seed}:${file}:${line}`) h = Math.imul(h ^ ch.charCodeAt(0), 0x01000193) >>> 0;
  return h % options.snapshotEvery === 0;
}

async function compile(engine: Engine, bytes: Uint8Array): Promise<{ module: GuestModule } | { code: string; message: string }> {
  try {
    return { module: await engine.compile(bytes) };
  } catch (e) {
    const o = errorOutcome(e, "compile");
    return o.kind === "error" ? { code: o.code, message: o.message } : { code: "?", message: "?" };
  }
}

export async function runScript(converted: Converted, file: string, ctx: ScriptContext): Promise<Tally> {
  const t = emptyTally();
  t.files = 1;
  t.formsDropped = converted.dropped.length;
  t.fieldsDropped = converted.droppedFields.length;
  const { engine, raw, options } = ctx;
  const commands = converted.script.commands;
  const bytesOf = (c: Command): Uint8Array => new Uint8Array(readFileSync(join(converted.dir, c.filename!)));
  const disagree = (c: Command, where: Tally["disagreements"][number]["where"], detail: string) =>
    t.disagreements.push({ file, line: c.line, command: c.type, where, detail });

  // Which module each action and register names.
  const target: Array<number | undefined> = [];
  const named = new Map<string, number>();
  let current: number | undefined;
  commands.forEach((c, i) => {
    if (c.type === "module") {
      current = i;
      if (c.name) named.set(c.name, i);
    } else if (c.action) target[i] = c.action.module ? named.get(c.action.module) : current;
    else if (c.type === "register") target[i] = c.name ? named.get(c.name) : current;
  });

  const loaded = new Map<number, LoadedModule>();
  /** Which module each registered name stands for. */
  const registered = new Map<string, number>();

  /** Mark the modules `bytes` imports from: their state may now change in ways Ferry's copy cannot see. */
  function share(bytes: Uint8Array, line: number): void {
    let imports: WebAssembly.ModuleImportDescriptor[];
    try {
      imports = WebAssembly.Module.imports(new WebAssembly.Module(bytes as BufferSource));
    } catch {
      return;
    }
    for (const imp of imports) {
      const m = loaded.get(registered.get(imp.module) ?? -1);
      if (m) m.shared ??= line;
    }
  }

  async function loadModule(index: number, c: Command): Promise<LoadedModule> {
    t.modules++;
    const bytes = bytesOf(c);
    if (!WebAssembly.validate(bytes as BufferSource)) {
      t.v8Rejected++;
      return { skip: "V8 rejects the module", plans: new Map() };
    }
    // The calls made on this module, and the thunks they need.
    const planned = new Map<number, { direct: Plan } | { thunk: ThunkRequest }>();
    const requests: ThunkRequest[] = [];
    const requestOf = new Map<string, number>();
    commands.forEach((cmd, i) => {
      if (target[i] !== index || !cmd.action) return;
      const p = planCall(cmd);
      planned.set(i, p);
      if ("thunk" in p) {
        const key = JSON.stringify(p.thunk);
        if (!requestOf.has(key)) requestOf.set(key, requests.push(p.thunk) - 1);
      }
    });
    const augmented = requests.length > 0 ? addThunks(bytes, requests) : undefined;
    let thunkProblem: string | undefined;
    let runBytes: Uint8Array = bytes;
    let ferry: GuestModule | undefined;
    let refusal: { code: string; message: string } | undefined;
    if (augmented && augmented.exportNames.size > 0) {
      const r = await compile(engine, augmented.bytes);
      if ("module" in r) ferry = r.module;
      else thunkProblem = `the module with thunks is refused: ${r.code}`;
      runBytes = augmented.bytes;
    }
    if (!ferry) {
      const r = await compile(engine, bytes);
      if ("module" in r) {
        ferry = r.module;
        runBytes = bytes;
      } else refusal = r;
    }
    const m: LoadedModule = { plans: new Map() };
    if (ferry) t.accepted++;
    else {
      bump(t.refused, refusal!.code);
      m.ferryProblem = `module refused: ${refusal!.code}`;
      if (!DOCUMENTED_REFUSALS.has(refusal!.code)) disagree(c, "module", `refused a module V8 accepts: ${refusal!.message}`);
      thunkProblem = undefined;
    }
    for (const [i, p] of planned) {
      if ("direct" in p) m.plans.set(i, p.direct);
      else {
        const r = requestOf.get(JSON.stringify(p.thunk))!;
        const entry = runBytes === augmented?.bytes ? augmented.exportNames.get(r) : undefined;
        if (entry) m.plans.set(i, { kind: "thunk", entry, args: [], types: [...p.thunk.results] });
        else m.plans.set(i, { kind: "skip", reason: augmented?.refused.get(r) ?? thunkProblem ?? "no thunk" });
      }
    }
    const r = raw.instantiate(runBytes);
    if ("instance" in r) m.raw = r.instance;
    else {
      m.rawProblem = `raw ${r.stage} failed`;
      t.rawMismatches.push({ file, line: c.line, detail: `module: raw ${r.stage} failed: ${showOutcome(r.outcome)}` });
    }
    if (ferry) {
      try {
        (await engine.instantiate(ferry)).dispose();
        const modes: Mode[] = sampled(file, c.line, options) ? ["straight", "sliced", "snapshot"] : ["straight", "sliced"];
        m.sides = new Map(modes.map((mode) => [mode, new FerrySide(engine, ferry!, mode, options)]));
      } catch (e) {
        const o = errorOutcome(e, "instantiate");
        if (o.kind === "error") {
          m.ferryProblem = `instantiate failed: ${o.code}`;
          disagree(c, "module", o.message);
        }
      }
    }
    return m;
  }

  function skip(reason: string): void {
    bump(t.skipped, reason);
  }

  async function runAssertion(i: number, c: Command): Promise<void> {
    t.assertions++;
    const m = target[i] === undefined ? undefined : loaded.get(target[i]!);
    if (!m) return skip("its module was not converted");
    if (m.skip) return skip(m.skip);
    const plan = m.plans.get(i)!;
    if (plan.kind === "skip") return skip(plan.reason);
    if (m.shared !== undefined) return skip("a module that imports it has changed its state (Ferry refuses such imports)");
    const rawOutcome = m.raw ? callRaw(m.raw, plan.entry, plan.args) : undefined;
    // Ferry runs every call, judged or not, so its instances stay in step with the raw one.
    const outcomes = new Map<Mode, Outcome>();
    for (const [mode, side] of m.sides ?? []) {
      const straight = outcomes.get("straight");
      outcomes.set(mode, await side.call({ entry: plan.entry, args: plan.args }, straight?.kind === "error" ? undefined : straight?.fuel));
    }

    let expectation: Expectation;
    if (c.type === "assert_return") expectation = { values: c.expected ?? [] };
    else if (c.type === "assert_exhaustion") expectation = { trap: "stack_overflow" };
    else if (c.type === "assert_trap") {
      const rawCode = rawOutcome?.kind === "trap" ? rawOutcome.code : undefined;
      const code = expectedTrapCode(c.text ?? "", rawCode) ?? rawCode;
      if (!code) return skip(`the trap "${c.text}" has no Ferry code`);
      expectation = { trap: code };
    } else {
      if (!rawOutcome || rawOutcome.kind === "error") return skip("action: no raw run to compare with");
      expectation = { like: rawOutcome };
    }
    if (m.rawProblem) return skip(m.rawProblem);
    if (!("like" in expectation)) {
      const rawDiffers = rawOutcome ? judge(rawOutcome, expectation, plan) : "no raw run";
      if (rawDiffers) {
        t.rawMismatches.push({ file, line: c.line, detail: rawDiffers });
        return skip("raw V8 differs from the spec");
      }
    }
    if (m.ferryProblem) return skip(m.ferryProblem);
    const straight = outcomes.get("straight");
    for (const [mode, o] of outcomes) {
      let detail = o.kind === "error" && o.code === PAUSE_CAP ? o.message : judge(o, expectation, plan);
      if (!detail && mode !== "straight" && o.kind !== "error" && straight?.kind !== "error" && o.fuel !== straight?.fuel) {
        detail = `fuel ${o.fuel}, straight ${straight?.fuel}`;
      }
      if (mode === "snapshot") t.snapshotted++;
      if (o.kind !== "error") t.pauses[mode] += o.pauses ?? 0;
      if (detail) {
        t.disagreed[mode]++;
        disagree(c, mode, `${c.action!.type} ${JSON.stringify(c.action!.field)}: ${detail}`);
      } else t.agreed[mode]++;
    }
  }

  /** assert_invalid, assert_malformed, assert_unlinkable, assert_uninstantiable: Ferry must refuse (or trap) as V8 does. */
  async function runRefusal(c: Command): Promise<void> {
    t.refusals++;
    const skipRefusal = (reason: string): void => bump(t.refusalsSkipped, reason);
    const agree = (): void => {
      t.refusalsAgreed++;
    };
    const differ = (detail: string): void => {
      t.refusalsDisagreed++;
      disagree(c, "refusal", detail);
    };
    if (c.module_type === "text") return skipRefusal("a text-format module (wast2json's business)");
    const bytes = bytesOf(c);
    if (c.type === "assert_invalid" || c.type === "assert_malformed") {
      let v8Accepts = false;
      try {
        v8Accepts = WebAssembly.validate(bytes as BufferSource);
      } catch {
        v8Accepts = false;
      }
      const r = await compile(engine, bytes);
      if ("code" in r && r.code.startsWith("non-FerryError")) return differ(r.message);
      if (v8Accepts) return skipRefusal("V8 accepts it (an older rule)");
      if ("module" in r) return differ(`Ferry accepted a module V8 rejects (spec: ${c.text})`);
      return agree();
    }
    const rawResult = raw.instantiate(bytes);
    if ("stage" in rawResult && rawResult.stage === "compile") return skipRefusal("V8 rejects the module");
    if (c.type === "assert_uninstantiable") share(bytes, c.line);
    const rawTrap = "stage" in rawResult && rawResult.outcome.kind === "trap" ? rawResult.outcome.code : undefined;
    const expected = c.type === "assert_unlinkable" ? "link" : expectedTrapCode(c.text ?? "", rawTrap);
    const rawOk =
      "stage" in rawResult &&
      (c.type === "assert_unlinkable"
        ? rawResult.stage === "link"
        : rawResult.stage === "start" && rawResult.outcome.kind === "trap" && rawResult.outcome.code === expected);
    if (!rawOk) {
      t.rawMismatches.push({
        file,
        line: c.line,
        detail: `${c.type} "${c.text}": raw ${"instance" in rawResult ? "instantiated" : showOutcome(rawResult.outcome)}`,
      });
      return skipRefusal("raw V8 differs from the spec");
    }
    const r = await compile(engine, bytes);
    if (!("module" in r)) {
      if (r.code.startsWith("non-FerryError")) return differ(r.message);
      if (c.type === "assert_unlinkable") return agree();
      return skipRefusal(`module refused: ${r.code}`);
    }
    let instance: Instance;
    try {
      instance = await engine.instantiate(r.module);
    } catch (e) {
      // A module that cannot be instantiated, refused with a typed error: Ferry's way of not running it.
      return isFerryError(e) ? agree() : differ(showOutcome(errorOutcome(e, "instantiate")));
    }
    try {
      if (c.type === "assert_unlinkable") return differ("Ferry instantiated a module that cannot link");
      // Ferry runs the start function at the first run: run a zero-argument export to see it trap.
      const entry = r.module.segment.entries.find((e) => e.params.length === 0);
      if (!entry) return skipRefusal("start trap: no zero-argument export to run it");
      const run = await instance.run(entry.name, [], { fuelLimit: options.fuelLimit });
      if (run.status === "trapped" && run.code === expected) return agree();
      return differ(`expected trap ${expected} at the first run, got ${run.status === "trapped" ? `trap ${run.code}` : run.status}`);
    } finally {
      instance.dispose();
    }
  }

  try {
    for (let i = 0; i < commands.length; i++) {
      const c = commands[i]!;
      if (c.type === "module") {
        const m = await loadModule(i, c);
        if (!m.skip) share(bytesOf(c), c.line);
        loaded.set(i, m);
      } else if (c.type === "register") {
        const m = target[i] === undefined ? undefined : loaded.get(target[i]!);
        if (m?.raw && c.as) {
          raw.register(c.as, m.raw.exports);
          registered.set(c.as, target[i]!);
        }
      } else if (RUN_COMMANDS.has(c.type)) await runAssertion(i, c);
      else if (REFUSAL_COMMANDS.has(c.type)) await runRefusal(c);
      else {
        t.assertions++;
        skip(`${c.type}: not run by this runner`);
      }
    }
  } finally {
    for (const m of loaded.values()) {
      for (const side of m.sides?.values() ?? []) {
        t.replays += side.replays;
        side.dispose();
      }
    }
  }
  return t;
}
