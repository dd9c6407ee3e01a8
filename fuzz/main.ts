// `npm run fuzz`: the differential fuzzers (docs/fuzzing.md). Seeded and resumable: the position in
// each target's case sequence and the running totals live in .fuzz/state.json; each failure is
// shrunk and written to .fuzz/failures/ with its seed and the command that replays it.
//
//   npm run fuzz -- [--modules N] [--snapshots N] [--http N] [--seconds S] [--seed X] [--fresh]
//                   [--case-timeout S] [--no-shrink] [--state-dir DIR]
//   npm run fuzz -- --replay .fuzz/failures/<file>.json
//   npm run fuzz -- --seed X --only modules:123

import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { count, describeError, type CaseOutcome } from "./case.js";
import { CaseWorker, WorkerGone } from "./case-worker.js";
import { generateHttpCase, runHttpCase, shrinkHttpCase, startHttpNode, type HttpCase, type HttpNode } from "./http.js";
import { TARGETS, type TargetName, type WorkerCase } from "./targets.js";
import { findWasmOpt } from "./wasm-opt.js";

interface Options {
  counts: Partial<Record<TargetName, number>>;
  seconds: number | undefined;
  seed: number | undefined;
  fresh: boolean;
  caseTimeoutMs: number;
  shrink: boolean;
  stateDir: string;
  replay: string | undefined;
  only: { target: TargetName; index: number } | undefined;
}

interface Totals {
  cases: number;
  ok: number;
  refused: number;
  skipped: number;
  failed: number;
  seconds: number;
}

interface State {
  seed: number;
  /** Next case index per target, per seed. */
  next: Record<string, Record<TargetName, number>>;
  /** Everything ever run from this state directory. */
  totals: Record<TargetName, Totals>;
}

const USAGE = `usage: npm run fuzz -- [--modules N] [--snapshots N] [--http N] [--seconds S] [--seed X] [--fresh]
                     [--case-timeout S] [--no-shrink] [--state-dir DIR] | --replay FILE | --seed X --only TARGET:INDEX`;

function parseArgs(argv: string[]): Options {
  const o: Options = {
    counts: {},
    seconds: undefined,
    seed: undefined,
    fresh: false,
    caseTimeoutMs: 120_000,
    shrink: true,
    stateDir: ".fuzz",
    replay: undefined,
    only: undefined,
  };
  const num = (flag: string, v: string | undefined): number => {
    const n = Number(v);
    if (v === undefined || !Number.isFinite(n) || n < 0) throw new Error(`${flag} needs a non-negative number\n${USAGE}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const v = (): string | undefined => argv[++i];
    if (a === "--modules" || a === "--snapshots" || a === "--http") o.counts[a.slice(2) as TargetName] = Math.floor(num(a, v()));
    else if (a === "--seconds") o.seconds = num(a, v());
    else if (a === "--seed") o.seed = Math.floor(num(a, v())) >>> 0;
    else if (a === "--fresh") o.fresh = true;
    else if (a === "--case-timeout") o.caseTimeoutMs = num(a, v()) * 1000;
    else if (a === "--no-shrink") o.shrink = false;
    else if (a === "--state-dir") o.stateDir = v() ?? ".fuzz";
    else if (a === "--replay") o.replay = v();
    else if (a === "--only") {
      const [t, n] = (v() ?? "").split(":");
      if (!TARGETS.includes(t as TargetName) || !Number.isInteger(Number(n))) throw new Error(`--only needs TARGET:INDEX\n${USAGE}`);
      o.only = { target: t as TargetName, index: Number(n) };
    } else if (a === "--help" || a === "-h") {
      console.log(USAGE);
      process.exit(0);
    } else throw new Error(`unknown argument ${a}\n${USAGE}`);
  }
  return o;
}

const emptyTotals = (): Totals => ({ cases: 0, ok: 0, refused: 0, skipped: 0, failed: 0, seconds: 0 });

function loadState(dir: string): State | undefined {
  const path = join(dir, "state.json");
  if (!existsSync(path)) return undefined;
  return JSON.parse(readFileSync(path, "utf8")) as State;
}

/** Written to a temp name and renamed, so an interrupted run never leaves half a state file. */
function saveState(dir: string, state: State): void {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, "state.json");
  writeFileSync(`${path}.tmp`, JSON.stringify(state, null, 2));
  renameSync(`${path}.tmp`, path);
}

/** One case of any target, whatever happens to it: hangs and crashes become its failure. */
class Runner {
  readonly worker = new CaseWorker();
  private node: HttpNode | undefined;

  constructor(private readonly timeoutMs: number) {}

  async generate(target: TargetName, seed: number, index: number): Promise<WorkerCase | HttpCase | { skipped: string }> {
    if (target === "http") return generateHttpCase(seed, index);
    return (await this.worker.call({ op: "generate", target, seed, index }, this.timeoutMs)) as WorkerCase | { skipped: string };
  }

  async run(spec: WorkerCase | HttpCase): Promise<CaseOutcome> {
    if (spec.target === "http") {
      this.node ??= await startHttpNode();
      const outcome = await runHttpCase(this.node, spec);
      // A node that failed a case is replaced: the next case should not inherit its state.
      if (outcome.status === "failed") await this.closeNode();
      return outcome;
    }
    try {
      return (await this.worker.call({ op: "run", spec }, this.timeoutMs)) as CaseOutcome;
    } catch (e) {
      if (e instanceof WorkerGone) return { status: "failed", failure: { kind: e.kind, detail: e.message }, counters: {} };
      return { status: "failed", failure: { kind: "exception", detail: describeError(e) }, counters: {} };
    }
  }

  async shrink(spec: WorkerCase | HttpCase): Promise<Array<WorkerCase | HttpCase>> {
    if (spec.target === "http") return shrinkHttpCase(spec);
    return (await this.worker.call({ op: "shrink", spec }, this.timeoutMs)) as WorkerCase[];
  }

  async forFile(spec: WorkerCase | HttpCase): Promise<WorkerCase | HttpCase> {
    if (spec.target !== "snapshots") return spec;
    return (await this.worker.call({ op: "file", spec }, this.timeoutMs)) as WorkerCase;
  }

  async closeNode(): Promise<void> {
    const n = this.node;
    this.node = undefined;
    await n?.close();
  }

  async close(): Promise<void> {
    await this.closeNode();
    await this.worker.kill();
  }
}

/** Try smaller variants while they fail the same way; at most `budget` runs. */
async function minimize(
  runner: Runner,
  spec: WorkerCase | HttpCase,
  kind: string,
  budget = 40,
): Promise<{ spec: WorkerCase | HttpCase; outcome: CaseOutcome | undefined }> {
  let best = spec;
  let outcome: CaseOutcome | undefined;
  let runs = 0;
  for (let progress = true; progress && runs < budget; ) {
    progress = false;
    for (const candidate of await runner.shrink(best)) {
      if (runs++ >= budget) break;
      const o = await runner.run(candidate);
      if (o.status === "failed" && o.failure?.kind === kind) {
        best = candidate;
        outcome = o;
        progress = true;
        break;
      }
    }
  }
  return { spec: best, outcome };
}

/** Failure classes already shrunk in this run: later ones of the same class are written as found. */
const shrunkClasses = new Set<string>();

function failureClass(spec: WorkerCase | HttpCase, kind: string): string {
  const family = spec.target === "modules" ? (spec.hostile ? spec.hostile.name.split(" ").slice(0, 2).join(" ") : "ttf") : "";
  return `${spec.target}/${kind}/${family}`;
}

async function recordFailure(
  o: Options,
  runner: Runner,
  spec: WorkerCase | HttpCase,
  outcome: CaseOutcome,
  deadline = Infinity,
): Promise<string> {
  const kind = outcome.failure!.kind;
  // A hang or crash costs a whole case timeout per attempt, and a class already shrunk once teaches
  // little more: those are written as found.
  const cls = failureClass(spec, kind);
  const worth = o.shrink && kind !== "hang" && kind !== "crash" && !shrunkClasses.has(cls) && Date.now() < deadline;
  shrunkClasses.add(cls);
  const shrunk = worth ? await minimize(runner, spec, kind) : { spec, outcome: undefined };
  const dir = join(o.stateDir, "failures");
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `${spec.target}-s${spec.seed}-${spec.index}-${kind}.json`);
  const rel = relative(process.cwd(), file);
  const content = {
    target: spec.target,
    seed: spec.seed,
    index: spec.index,
    failure: (shrunk.outcome ?? outcome).failure,
    originalFailure: outcome.failure,
    replay: `npm run fuzz -- --replay ${rel}`,
    regenerate: `npm run fuzz -- --seed ${spec.seed} --only ${spec.target}:${spec.index}`,
    case: await runner.forFile(shrunk.spec),
  };
  writeFileSync(file, JSON.stringify(content, null, 2));
  return rel;
}

function printTable(rows: Array<{ target: string; t: Totals; counters: Record<string, number> }>, title: string): void {
  console.log(`\n${title}`);
  const header = ["target", "cases", "ok", "refused", "skipped", "failed", "cases/s"];
  const lines = rows.map(({ target, t }) =>
    [target, t.cases, t.ok, t.refused, t.skipped, t.failed, t.seconds > 0 ? (t.cases / t.seconds).toFixed(1) : "-"].map(String),
  );
  const widths = header.map((h, k) => Math.max(h.length, ...lines.map((l) => l[k]!.length)));
  const fmt = (cells: string[]): string =>
    `| ${cells.map((c, k) => (k === 0 ? c.padEnd(widths[k]!) : c.padStart(widths[k]!))).join(" | ")} |`;
  console.log(fmt(header));
  console.log(`|${widths.map((w, k) => (k === 0 ? ":" : "-") + "-".repeat(w) + (k === 0 ? "-" : ":")).join("|")}|`);
  for (const l of lines) console.log(fmt(l));
  for (const { target, counters } of rows) {
    const top = Object.entries(counters)
      .sort((a, b) => b[1] - a[1])
      .slice(0, 12);
    if (top.length > 0) console.log(`  ${target}: ${top.map(([k, v]) => `${k} ${v}`).join(" · ")}`);
  }
}

async function replay(o: Options, runner: Runner): Promise<number> {
  const file = JSON.parse(readFileSync(o.replay!, "utf8")) as { case: WorkerCase | HttpCase; failure?: { kind: string; detail: string } };
  console.log(`replaying ${o.replay} (${file.case.target}, seed ${file.case.seed}, case ${file.case.index})`);
  if (file.failure) console.log(`recorded: ${file.failure.kind}: ${file.failure.detail}`);
  const outcome = await runner.run(file.case);
  console.log(`now:      ${outcome.status}${outcome.failure ? ` — ${outcome.failure.kind}: ${outcome.failure.detail}` : ""}`);
  return outcome.status === "failed" ? 1 : 0;
}

async function main(): Promise<number> {
  const o = parseArgs(process.argv.slice(2));
  const runner = new Runner(o.caseTimeoutMs);
  try {
    if (o.replay) return await replay(o, runner);
    const previous = o.fresh ? undefined : loadState(o.stateDir);
    const seed = o.seed ?? previous?.seed ?? Date.now() >>> 0;
    const state: State = {
      seed,
      next: previous?.next ?? {},
      totals: previous?.totals ?? { modules: emptyTotals(), snapshots: emptyTotals(), http: emptyTotals() },
    };
    if (o.fresh) state.next[String(seed)] = { modules: 0, snapshots: 0, http: 0 };
    const next = (state.next[String(seed)] ??= { modules: 0, snapshots: 0, http: 0 });

    if (o.only) {
      const spec = await runner.generate(o.only.target, seed, o.only.index);
      if ("skipped" in spec) {
        console.log(`case ${o.only.target}:${o.only.index} of seed ${seed} is skipped: ${spec.skipped}`);
        return 0;
      }
      const outcome = await runner.run(spec);
      console.log(
        `${o.only.target}:${o.only.index} (seed ${seed}): ${outcome.status}${outcome.failure ? ` — ${outcome.failure.kind}: ${outcome.failure.detail}` : ""}`,
      );
      if (outcome.status === "failed") console.log(`written: ${await recordFailure(o, runner, spec, outcome)}`);
      return outcome.status === "failed" ? 1 : 0;
    }

    const anyCount = Object.keys(o.counts).length > 0;
    const goal: Record<TargetName, number> = {
      modules: o.counts.modules ?? (anyCount ? 0 : o.seconds !== undefined ? Infinity : 50),
      snapshots: o.counts.snapshots ?? (anyCount ? 0 : o.seconds !== undefined ? Infinity : 500),
      http: o.counts.http ?? (anyCount ? 0 : o.seconds !== undefined ? Infinity : 100),
    };
    const w = goal.modules > 0 ? findWasmOpt() : undefined;
    console.log(
      `ferry fuzz: seed ${seed}, starting at modules ${next.modules}, snapshots ${next.snapshots}, http ${next.http}${o.seconds !== undefined ? `, for ${o.seconds} s` : ""}${w ? ` (${w.version}, ${w.kind})` : ""}`,
    );
    const run: Record<TargetName, Totals> = { modules: emptyTotals(), snapshots: emptyTotals(), http: emptyTotals() };
    const counters: Record<TargetName, Record<string, number>> = { modules: {}, snapshots: {}, http: {} };
    const failures: string[] = [];
    const deadline = o.seconds === undefined ? Infinity : Date.now() + o.seconds * 1000;
    let stop = false;
    process.once("SIGINT", () => {
      stop = true;
      console.log("\ninterrupted: finishing the current case and saving the position");
    });
    // Each turn goes to the target that has had the least time so far, so a time bound gives every
    // target an equal share of it (module cases take seconds, snapshot mutants milliseconds).
    while (!stop && Date.now() < deadline) {
      const active = TARGETS.filter((t) => run[t].cases < goal[t]);
      if (active.length === 0) break;
      {
        const target = active.reduce((a, b) => (run[b].seconds < run[a].seconds ? b : a));
        const index = next[target];
        const started = Date.now();
        let outcome: CaseOutcome;
        let spec: WorkerCase | HttpCase | { skipped: string } | undefined;
        try {
          spec = await runner.generate(target, seed, index);
          outcome = "skipped" in spec ? { status: "skipped", counters: { [`skipped: ${spec.skipped}`]: 1 } } : await runner.run(spec);
        } catch (e) {
          outcome = {
            status: "failed",
            failure: { kind: e instanceof WorkerGone ? e.kind : "generate", detail: describeError(e) },
            counters: {},
          };
        }
        const seconds = (Date.now() - started) / 1000;
        for (const t of [run[target], state.totals[target]]) {
          t.cases++;
          t[outcome.status]++;
          t.seconds += seconds;
        }
        for (const [k, v] of Object.entries(outcome.counters)) count(counters[target], k, v);
        if (outcome.status === "failed") {
          console.log(`FAIL ${target}:${index} (seed ${seed}) ${outcome.failure!.kind}: ${outcome.failure!.detail.slice(0, 500)}`);
          if (spec && !("skipped" in spec)) {
            const file = await recordFailure(o, runner, spec, outcome, deadline).catch(
              (e: unknown) => `(could not write the reproducer: ${describeError(e)})`,
            );
            failures.push(file);
            console.log(`     reproducer: ${file}\n     replay: npm run fuzz -- --replay ${file}`);
          } else failures.push(`${target}:${index} (seed ${seed}): npm run fuzz -- --seed ${seed} --only ${target}:${index}`);
        }
        next[target] = index + 1;
        if ((run.modules.cases + run.snapshots.cases + run.http.cases) % 20 === 0) saveState(o.stateDir, state);
      }
    }
    saveState(o.stateDir, state);
    const rows = (which: Record<TargetName, Totals>): Array<{ target: string; t: Totals; counters: Record<string, number> }> =>
      TARGETS.filter((t) => which[t].cases > 0).map((t) => ({ target: t, t: which[t], counters: which === run ? counters[t] : {} }));
    printTable(rows(run), `this run (seed ${seed}):`);
    printTable(rows(state.totals), `all runs recorded in ${o.stateDir}/state.json:`);
    if (failures.length > 0) console.log(`\n${failures.length} failure(s):\n${failures.map((f) => `  ${f}`).join("\n")}`);
    else console.log("\nno failures");
    return failures.length > 0 ? 1 : 0;
  } finally {
    await runner.close();
  }
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(describeError(e));
    process.exit(2);
  },
);
