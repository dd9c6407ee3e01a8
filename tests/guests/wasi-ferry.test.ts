// Real WASI programs (C with wasi-libc, Rust with std) under Ferry, each compared with the same
// uninstrumented module under node:wasi: stdout, stderr, exit status and the files it leaves must be
// identical — run straight through, paused hundreds of times with a snapshot taken, encoded, decoded
// and restored into a fresh instance at every pause (files open mid-read and mid-write), and moved
// between the two sandboxes (in-process ↔ a child process) at every pause.
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { programWasmPath, wordText } from "../../guest/programs/catalog.js";
import { runUnderNodeWasi } from "../../guest/programs/node-wasi.js";
import {
  decodeSnapshot,
  Engine,
  encodeSnapshot,
  HostDirectory,
  type Instance,
  type RunResult,
  type SandboxKind,
} from "../../runtime/index.js";

const scratch = mkdtempSync(join(tmpdir(), "ferry-wasi-ferry-"));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));
let runs = 0;

interface Program {
  name: string;
  args: string[];
  env?: Record<string, string>;
  /** Guest path → a function that fills a fresh host directory for it. */
  dirs?: Record<string, (dir: string) => void>;
}

const PROGRAMS: Program[] = [
  { name: "c-hello", args: ["one", "two"], env: { GREETING: "hi" } },
  {
    name: "c-lz",
    args: ["/data/words.txt", "/data/words.lz"],
    dirs: { "/data": (d) => writeFileSync(join(d, "words.txt"), wordText(60_000, 7)) },
  },
  {
    name: "c-walk",
    args: ["/t"],
    dirs: {
      "/t": (d) => {
        mkdirSync(join(d, "a", "b"), { recursive: true });
        writeFileSync(join(d, "a", "one.txt"), "1");
        writeFileSync(join(d, "a", "b", "two.txt"), "22");
        writeFileSync(join(d, "three.txt"), "333");
      },
    },
  },
  { name: "c-sleep", args: ["3", "2"] },
  {
    name: "rust-wasi-wordfreq",
    args: ["/d/in.txt", "/d/out.txt", "5"],
    dirs: { "/d": (d) => writeFileSync(join(d, "in.txt"), wordText(20_000, 3)) },
  },
];

/** Fresh host directories for one run, filled alike. */
function freshDirs(p: Program): Record<string, string> {
  const out: Record<string, string> = {};
  const run = join(scratch, `run-${++runs}`);
  for (const [guest, fill] of Object.entries(p.dirs ?? {})) {
    const d = join(run, guest.replaceAll("/", "_"));
    mkdirSync(d, { recursive: true });
    fill(d);
    out[guest] = d;
  }
  return out;
}

/** Every file under `dir`, by relative path → contents. */
function filesOf(dir: string, prefix = ""): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) Object.assign(out, filesOf(path, `${prefix}${name}/`));
    else out[`${prefix}${name}`] = readFileSync(path).toString("base64");
  }
  return out;
}

interface Outcome {
  exitCode: number;
  stdout: string;
  stderr: string;
  files: Record<string, Record<string, string>>;
  pauses: number;
}

function reference(p: Program): Outcome {
  const dirs = freshDirs(p);
  const r = runUnderNodeWasi(programWasmPath(p.name), p.name, { args: p.args, env: p.env, preopens: dirs });
  return { ...r, files: Object.fromEntries(Object.entries(dirs).map(([g, d]) => [g, filesOf(d)])), pauses: 0 };
}

interface Schedule {
  /** Fuel per slice (undefined: one slice). */
  fuel?: number;
  /** At every pause (but sleeps), snapshot → bytes → restore into a fresh instance, in this sandbox order. */
  moves?: SandboxKind[];
}

async function underFerry(engine: Engine, p: Program, how: Schedule): Promise<Outcome> {
  const dirs = freshDirs(p);
  const module = await engine.compile(readFileSync(programWasmPath(p.name)));
  const logs: string[] = [];
  const options = (sandbox: SandboxKind) => ({
    sandbox,
    trust: "authenticated" as const,
    onLog: (line: string) => logs.push(line),
    wasi: {
      program: p.name,
      args: p.args,
      env: p.env,
      dirs: Object.fromEntries(Object.entries(dirs).map(([g, d]) => [g, new HostDirectory(d)])),
    },
  });
  let instance: Instance = await engine.instantiate(module, options(how.moves?.[0] ?? "in-process"));
  let r: RunResult = await instance.run("_start", [], { fuel: how.fuel });
  let pauses = 0;
  while (r.status === "paused") {
    pauses++;
    if (r.reason === "sleep") await new Promise((resolve) => setTimeout(resolve, r.status === "paused" ? r.sleepMs : 0));
    if (how.moves) {
      const bytes = encodeSnapshot(await instance.snapshot({ move: true }));
      instance.dispose();
      instance = await engine.restore(decodeSnapshot(bytes), options(how.moves[pauses % how.moves.length]!));
    }
    r = await instance.resume({ fuel: how.fuel });
  }
  const output = new TextDecoder().decode(instance.output());
  instance.dispose();
  if (r.status === "trapped") throw new Error(`${p.name} trapped: ${r.code}: ${r.message}`);
  return {
    exitCode: r.exitCode ?? 0,
    stdout: output,
    stderr: logs.map((l) => `${l}\n`).join(""),
    files: Object.fromEntries(Object.entries(dirs).map(([g, d]) => [g, filesOf(d)])),
    pauses,
  };
}

/** The fuel a straight run of `p` takes, so a slice can be a fraction of it. */
async function totalFuel(engine: Engine, p: Program): Promise<number> {
  const module = await engine.compile(readFileSync(programWasmPath(p.name)));
  const dirs = freshDirs(p);
  const instance = await engine.instantiate(module, {
    trust: "authenticated",
    sandbox: "in-process",
    wasi: {
      program: p.name,
      args: p.args,
      env: p.env,
      dirs: Object.fromEntries(Object.entries(dirs).map(([g, d]) => [g, new HostDirectory(d)])),
    },
  });
  let r = await instance.run("_start");
  while (r.status === "paused") r = await instance.resume();
  instance.dispose();
  return r.fuelUsed;
}

describe.each(PROGRAMS)("$name under Ferry, against node:wasi", (p) => {
  const engine = new Engine();
  afterAll(() => engine.close());
  const expected = reference(p);
  const same = (o: Outcome) => expect({ ...o, pauses: 0 }).toEqual(expected);

  it("run straight through, in-process", async () => {
    same(await underFerry(engine, p, { moves: undefined }));
  });

  it("paused hundreds of times, snapshot → bytes → fresh instance at every pause", async () => {
    const fuel = Math.max(20, Math.ceil((await totalFuel(engine, p)) / 600));
    const o = await underFerry(engine, p, { fuel, moves: ["in-process"] });
    same(o);
    expect(o.pauses).toBeGreaterThanOrEqual(100);
  });

  it("moved between the sandboxes (in-process ↔ a child process) at every pause", async () => {
    const fuel = Math.max(1_000, Math.ceil((await totalFuel(engine, p)) / 12));
    const o = await underFerry(engine, p, { fuel, moves: ["isolated", "in-process"] });
    same(o);
    expect(o.pauses).toBeGreaterThanOrEqual(8);
  });
});
