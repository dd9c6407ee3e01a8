// WASI preview 1: real programs under Ferry against the same uninstrumented .wasm under Node's own
// WASI (node:wasi, guest/programs/node-wasi.ts's yardstick). Two kinds of rows, one table:
//  - compute-bound: c-lz over COMPUTE_INPUT_BYTES of word text (LZ compression through a hash
//    table, the result written, read back, decompressed and compared). It reads and writes in 4 KiB
//    pieces, so it makes a few thousand WASI calls and spends nearly all its time in the compressor:
//    what Ferry's instrumented code costs against V8 running the module bare. The target
//    (Ferry ÷ node:wasi ≤ TARGET_WASI_COMPUTE_RATIO on a compute-bound program) is this program's
//    in-process row. Also run isolated (every file call crosses to the parent).
//  - I/O-bound: rust-wasi-wordfreq over 1 MiB writes its ~20,000-line report with `writeln!` on an
//    unbuffered File — tens of thousands of small fd_write calls (counted once, below), so its time
//    is per-call file-write cost (Ferry: Node's fs.writeSync binding per call; node:wasi: C), in-process
//    and isolated; and a tiny WAT program making FD_WRITES fd_write calls of 16 bytes to stdout
//    (Ferry's stdout is the job's output buffer, node:wasi's a temp file), in writes per second.
// Whole-program wall time: Ferry driven by a default Scheduler (in-process slices sized to its
// wall-clock budget, as a node runs a job) ÷ node:wasi's `start`. Every module is compiled once,
// before and outside the timed region (Ferry: engine.compile, which instruments; node:wasi: new
// WebAssembly.Module). A sample times instantiation + the run to its exit; the variants are
// interleaved, each sample's exit status, stdout and output file checked against node:wasi's.
// The WASI calls each program makes are counted once, under node:wasi with a wrapped import object,
// outside every timed region.
// node:wasi in Node 20 can take the process down, so every node:wasi sample gets a stdout fd (it
// aborts, SIGABRT, when several instances start in one process without one) and a full GC runs
// before every sample (interleave's default): a GC that uvwasi's own allocation triggers inside an
// fd_write, with an earlier instance's garbage pending, runs that instance's destructor there and
// aborts (uv_mutex_destroy) or crashes — seen in ad hoc loops without the GC, never with it.

import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { WASI } from "node:wasi";
import { programWasmPath, wordText } from "../guest/programs/catalog.js";
import { Engine, type GuestModule, HostDirectory, type SandboxKind, Scheduler } from "../runtime/index.js";
import { check, fmtInt, fmtMs, fmtRatio, interleave, medians, nowMs, printTable, type TargetCheck, watToWasm } from "./harness.js";

export interface WasiBenchOptions {
  /** Kept rounds (default 5). */
  runs?: number;
  /** Discarded rounds before them (default 1). */
  warmup?: number;
}

/** FERRY_BENCH_ONLY name. */
export const WASI_PARTS = ["wasi"] as const;

/** The target: a compute-bound WASI program in-process within this factor of node:wasi. */
export const TARGET_WASI_COMPUTE_RATIO = 1.3;
const LZ = "c-lz";
const WORDFREQ = "rust-wasi-wordfreq";
/** c-lz's input: enough that compression, not start-up or the 4 KiB reads, is the run. */
const COMPUTE_INPUT_BYTES = 4 << 20;
const FILE_WRITES_INPUT_BYTES = 1 << 20;
const FD_WRITES = 100_000;
const WRITE_BYTES = 16;

/** FD_WRITES calls of fd_write(1, one iovec of WRITE_BYTES); a failed call traps. */
const FD_WRITE_WAT = `(module
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 64) "0123456789abcde\\n")
  (func (export "_start") (local $i i32)
    (i32.store (i32.const 0) (i32.const 64))
    (i32.store (i32.const 4) (i32.const ${WRITE_BYTES}))
    (loop $l
      (if (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)) (then unreachable))
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (br_if $l (i32.lt_u (local.get $i) (i32.const ${FD_WRITES}))))))`;

interface Program {
  name: string;
  args: string[];
  /** Guest path of its one preopened directory, if it has one. */
  guestDir?: string;
  /** The file it writes in that directory, whose bytes every run must reproduce. */
  outFile?: string;
}

const lz: Program = { name: LZ, args: ["/d/in.txt", "/d/out.lz"], guestDir: "/d", outFile: "out.lz" };
const wordfreq: Program = { name: WORDFREQ, args: ["/d/in.txt", "/d/out.txt", "10"], guestDir: "/d", outFile: "out.txt" };
const fdWrite: Program = { name: "fd-write", args: [] };

/** WASI calls of one run under node:wasi, by import name. */
export type WasiCallCounts = Record<string, number>;

/** One program run in-process and isolated under Ferry, and under node:wasi. */
export interface ProgramRows {
  program: string;
  inputBytes: number;
  /** Its WASI calls in one run (counted once under node:wasi), in all and by name. */
  wasiCalls: number;
  wasiCallsByName: WasiCallCounts;
  inProcessMs: number;
  isolatedMs: number;
  nodeWasiMs: number;
  /** Ferry ÷ node:wasi (time) for each sandbox, and isolated ÷ in-process. */
  ratios: { inProcess: number; isolated: number; isolatedVsInProcess: number };
  /** Process CPU per run (median ms), in-process and node:wasi, and their ratio. */
  cpu: { inProcessMs: number; nodeWasiMs: number; ratio: number };
}

export interface WasiBenchResult {
  /** c-lz: the compute-bound program; `ratios.inProcess` is the target's value. */
  compute: ProgramRows;
  /** rust-wasi-wordfreq: many small file writes. */
  fileWrites: ProgramRows;
  /** FD_WRITES × WRITE_BYTES fd_write to stdout, in-process. */
  stdoutWrites: {
    writes: number;
    bytesPerWrite: number;
    ferryMs: number;
    nodeWasiMs: number;
    perSecond: { ferry: number; nodeWasi: number };
    /** Ferry's writes/s ÷ node:wasi's (below 1: Ferry slower). */
    ratio: number;
  };
  runs: number;
  warmup: number;
  targets: TargetCheck[];
  durationMs: number;
}

/**
 * The process CPU (user + system, ms) of each sample, by variant name, beside the wall-clock times
 * interleave() keeps. On a shared machine a run's wall time includes whatever the other tenants
 * took; CPU time is the work the run itself did (both sides run on this one thread: node:wasi in C,
 * Ferry in-process in JS and Wasm), so its ratio is the steadier of the two under load.
 */
const cpuSamples = new Map<string, number[]>();

async function withCpu(name: string, sample: () => number | Promise<number>): Promise<number> {
  const before = process.cpuUsage();
  const ms = await sample();
  const used = process.cpuUsage(before);
  const list = cpuSamples.get(name) ?? [];
  list.push((used.user + used.system) / 1000);
  cpuSamples.set(name, list);
  return ms;
}

/** One fresh directory per variant (so no run reads another's output), the input written once. */
function directoryFor(scratch: string, variant: string, input: Uint8Array | undefined): string {
  const dir = join(scratch, variant);
  mkdirSync(dir, { recursive: true });
  if (input) writeFileSync(join(dir, "in.txt"), input);
  return dir;
}

/** node:wasi's import object with every function wrapped to count its calls into `counts`. */
function countingImports(wasi: WASI, counts: WasiCallCounts): WebAssembly.Imports {
  const imports = wasi.getImportObject() as Record<string, Record<string, unknown>>;
  const counted: Record<string, Record<string, unknown>> = {};
  for (const [moduleName, fields] of Object.entries(imports)) {
    counted[moduleName] = {};
    for (const [name, value] of Object.entries(fields)) {
      if (typeof value !== "function") {
        counted[moduleName][name] = value;
        continue;
      }
      const f = value as (...args: unknown[]) => unknown;
      counted[moduleName][name] = (...args: unknown[]) => {
        counts[name] = (counts[name] ?? 0) + 1;
        return f(...args);
      };
    }
  }
  return counted as WebAssembly.Imports;
}

/**
 * node:wasi: instantiate + start, stdout into a temp file (truncated per run). Returns ms; checks
 * exit and stdout. With `counts`, the imports are wrapped to count calls (not for timed samples).
 */
function nodeWasiSample(
  module: WebAssembly.Module,
  p: Program,
  dir: string | undefined,
  expect: (stdout: Buffer) => void,
  counts?: WasiCallCounts,
): number {
  const stdoutPath = join(dir ?? tmpdir(), `stdout-${p.name}`);
  const out = openSync(stdoutPath, "w");
  let exitCode: number;
  let ms: number;
  try {
    const t0 = nowMs();
    const wasi = new WASI({
      version: "preview1",
      args: [p.name, ...p.args],
      env: {},
      preopens: p.guestDir && dir ? { [p.guestDir]: dir } : {},
      stdout: out,
      returnOnExit: true,
    });
    const imports = counts ? countingImports(wasi, counts) : (wasi.getImportObject() as WebAssembly.Imports);
    const instance = new WebAssembly.Instance(module, imports);
    exitCode = wasi.start(instance);
    ms = nowMs() - t0;
  } finally {
    closeSync(out);
  }
  if (exitCode !== 0) throw new Error(`wasi bench: ${p.name} under node:wasi exited ${exitCode}`);
  expect(readFileSync(stdoutPath));
  return ms;
}

/** Ferry: instantiate + a default Scheduler's slices to the end. Returns ms; checks exit and stdout. */
async function ferrySample(
  engine: Engine,
  scheduler: Scheduler,
  module: GuestModule,
  p: Program,
  sandbox: SandboxKind,
  dir: string | undefined,
  expect: (stdout: Buffer) => void,
): Promise<number> {
  const t0 = nowMs();
  const instance = await engine.instantiate(module, {
    sandbox,
    trust: "authenticated",
    wasi: { program: p.name, args: p.args, dirs: p.guestDir && dir ? { [p.guestDir]: new HostDirectory(dir) } : {} },
  });
  const r = await scheduler.start(instance, "_start").result;
  const ms = nowMs() - t0;
  const output = Buffer.from(instance.output());
  instance.dispose();
  if (r.status !== "done" || (r.exitCode ?? 0) !== 0)
    throw new Error(`wasi bench: ${p.name} under Ferry (${sandbox}): ${JSON.stringify(r)}`);
  expect(output);
  return ms;
}

/** A file-using program made ready: compiled both ways, its reference run (counted) and its directories. */
interface Prepared {
  p: Program;
  input: Uint8Array;
  ferry: GuestModule;
  node: WebAssembly.Module;
  counts: WasiCallCounts;
  dirs: { nodeWasi: string; inProcess: string; isolated: string };
  /** Checks a run's stdout and output file against node:wasi's reference run. */
  same: (dir: string) => (stdout: Buffer) => void;
}

async function prepare(engine: Engine, scratch: string, p: Program, input: Uint8Array): Promise<Prepared> {
  const bytes = readFileSync(programWasmPath(p.name));
  // Compiled once, outside every timed region.
  const ferry = await engine.compile(bytes);
  const node = new WebAssembly.Module(bytes);
  // node:wasi's stdout and output file are the reference every sample must reproduce; that one
  // untimed run also counts the program's WASI calls.
  const refDir = directoryFor(scratch, `${p.name}-reference`, input);
  const counts: WasiCallCounts = {};
  let refStdout: Buffer | undefined;
  nodeWasiSample(node, p, refDir, (s) => (refStdout = s), counts);
  const refFile = readFileSync(join(refDir, p.outFile!));
  const same = (dir: string) => (stdout: Buffer) => {
    if (!stdout.equals(refStdout!) || !readFileSync(join(dir, p.outFile!)).equals(refFile))
      throw new Error(`wasi bench: ${p.name} in ${dir} differs from the reference`);
  };
  const dirs = {
    nodeWasi: directoryFor(scratch, `${p.name}-node-wasi`, input),
    inProcess: directoryFor(scratch, `${p.name}-in-process`, input),
    isolated: directoryFor(scratch, `${p.name}-isolated`, input),
  };
  return { p, input, ferry, node, counts, dirs, same };
}

/** The three variants of a prepared program, named `${label} …`. */
function variantsOf(engine: Engine, scheduler: Scheduler, label: string, x: Prepared) {
  return [
    {
      name: `${label} node:wasi`,
      sample: () => withCpu(`${label} node:wasi`, () => nodeWasiSample(x.node, x.p, x.dirs.nodeWasi, x.same(x.dirs.nodeWasi))),
    },
    {
      name: `${label} in-process`,
      sample: () =>
        withCpu(`${label} in-process`, () =>
          ferrySample(engine, scheduler, x.ferry, x.p, "in-process", x.dirs.inProcess, x.same(x.dirs.inProcess)),
        ),
    },
    {
      name: `${label} isolated`,
      sample: () => ferrySample(engine, scheduler, x.ferry, x.p, "isolated", x.dirs.isolated, x.same(x.dirs.isolated)),
    },
  ];
}

function rowsOf(label: string, x: Prepared, m: Record<string, number>, warmup: number): ProgramRows {
  const nodeWasiMs = m[`${label} node:wasi`]!;
  const inProcessMs = m[`${label} in-process`]!;
  const isolatedMs = m[`${label} isolated`]!;
  // The warm-up rounds' samples are dropped here as interleave() drops them from the wall times.
  const cpu = medians(new Map([...cpuSamples].map(([name, xs]) => [name, xs.slice(warmup)])));
  const cpuInProcess = cpu[`${label} in-process`]!;
  const cpuNodeWasi = cpu[`${label} node:wasi`]!;
  return {
    program: x.p.name,
    inputBytes: x.input.byteLength,
    wasiCalls: Object.values(x.counts).reduce((a, b) => a + b, 0),
    wasiCallsByName: x.counts,
    inProcessMs,
    isolatedMs,
    nodeWasiMs,
    ratios: { inProcess: inProcessMs / nodeWasiMs, isolated: isolatedMs / nodeWasiMs, isolatedVsInProcess: isolatedMs / inProcessMs },
    cpu: { inProcessMs: cpuInProcess, nodeWasiMs: cpuNodeWasi, ratio: cpuInProcess / cpuNodeWasi },
  };
}

const mib = (bytes: number): string => `${(bytes / (1 << 20)).toFixed(0)} MiB`;

/** "fd_read 1,030, fd_write 300, …", largest first. */
const callList = (counts: WasiCallCounts): string =>
  Object.entries(counts)
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .map(([name, n]) => `${name} ${fmtInt(n)}`)
    .join(", ");

function printWasiTable(
  compute: ProgramRows,
  fileWrites: ProgramRows,
  stdoutWrites: WasiBenchResult["stdoutWrites"],
  runs: number,
  warmup: number,
) {
  const programRows = (kind: string, r: ProgramRows, what: string): string[][] => [
    [
      `${kind}: ${r.program}, ${mib(r.inputBytes)} file${what}, in-process (ms)`,
      fmtMs(r.inProcessMs),
      fmtMs(r.nodeWasiMs),
      fmtRatio(r.ratios.inProcess),
      "",
    ],
    [
      `${kind}: ${r.program}, ${mib(r.inputBytes)} file${what}, in-process, process CPU (ms)`,
      fmtMs(r.cpu.inProcessMs),
      fmtMs(r.cpu.nodeWasiMs),
      fmtRatio(r.cpu.ratio),
      "",
    ],
    [
      `${kind}: ${r.program}, ${mib(r.inputBytes)} file${what}, isolated (ms; file calls cross to the parent)`,
      fmtMs(r.isolatedMs),
      fmtMs(r.nodeWasiMs),
      fmtRatio(r.ratios.isolated),
      fmtRatio(r.ratios.isolatedVsInProcess),
    ],
  ];
  const fdWrites = fileWrites.wasiCallsByName.fd_write ?? 0;
  printTable({
    title: "WASI programs: Ferry vs node:wasi (same .wasm, uninstrumented under node:wasi)",
    headers: ["row", "Ferry", "node:wasi", "Ferry ÷ node:wasi", "Ferry ÷ in-process"],
    rows: [
      ...programRows("compute-bound", compute, ` (${fmtInt(compute.wasiCalls)} WASI calls)`),
      ...programRows("I/O-bound", fileWrites, `, many small file writes (${fmtInt(fdWrites)} fd_write calls)`),
      [
        `I/O-bound: ${fmtInt(stdoutWrites.writes)} × ${stdoutWrites.bytesPerWrite} B fd_write to stdout, in-process (writes/s; Ferry: job output buffer, node:wasi: temp file)`,
        fmtInt(stdoutWrites.perSecond.ferry),
        fmtInt(stdoutWrites.perSecond.nodeWasi),
        fmtRatio(stdoutWrites.ratio),
        "",
      ],
    ],
    notes: [
      `bench/wasi.ts: medians of ${runs} interleaved rounds (${warmup} discarded). Modules compiled once outside the timed region; a sample is instantiate + run to exit, its exit status, stdout and output file checked byte for byte against node:wasi's. Ferry: \`new Engine()\` defaults, driven by a default \`Scheduler\` (in-process slices sized to its wall-clock budget; isolated ${fmtInt(50_000_000)} fuel per slice), trust authenticated, the directory a \`HostDirectory\`. node:wasi: \`wasi.start\`, stdout to a temp file. "Process CPU": user + system time of this process over the same samples (the run's own work; wall time also holds what other tenants of a shared machine took).`,
      `Compute-bound: ${LZ} compresses its input (greedy LZ77, a 16 Ki-entry hash table, 64 KiB window), writes the result, reads it back, decompresses and compares; it reads and writes in 4 KiB pieces, so one run makes only ${fmtInt(compute.wasiCalls)} WASI calls (${callList(compute.wasiCallsByName)}) and nearly all its time is in the compressor. Target (issue): this row in-process ≤ ${TARGET_WASI_COMPUTE_RATIO}× node:wasi.`,
      `I/O-bound: ${WORDFREQ} writes its report with \`writeln!\` on an unbuffered File, so one run makes ${fmtInt(fileWrites.wasiCalls)} WASI calls (${callList(fileWrites.wasiCallsByName)}): its time is the cost per file write (Ferry: a Node fs.writeSync per call; node:wasi: a C call), not compute — earlier versions of this table called it "compute", wrongly. Calls counted once under node:wasi with a wrapped import object, outside the timed region. The stdout row's ratio is Ferry's writes/s ÷ node:wasi's (below 1: Ferry slower).`,
    ],
  });
}

export async function runWasiBench(options: WasiBenchOptions = {}): Promise<WasiBenchResult> {
  const started = nowMs();
  const runs = options.runs ?? 7;
  const warmup = options.warmup ?? 1;
  const scratch = mkdtempSync(join(tmpdir(), "ferry-bench-wasi-"));
  cpuSamples.clear();
  const engine = new Engine();
  const scheduler = new Scheduler();
  try {
    const lzCase = await prepare(engine, scratch, lz, wordText(COMPUTE_INPUT_BYTES));
    const wordfreqCase = await prepare(engine, scratch, wordfreq, wordText(FILE_WRITES_INPUT_BYTES));
    const fdWriteBytes = watToWasm(FD_WRITE_WAT);
    const ferryFdWrite = await engine.compile(fdWriteBytes);
    const nodeFdWrite = new WebAssembly.Module(new Uint8Array(fdWriteBytes));
    const fdWriteDir = directoryFor(scratch, "fd-write", undefined);
    const writes = (stdout: Buffer) => {
      if (stdout.length !== FD_WRITES * WRITE_BYTES) throw new Error(`wasi bench: fd-write wrote ${stdout.length} bytes`);
    };

    const samples = await interleave(
      [
        ...variantsOf(engine, scheduler, "lz", lzCase),
        ...variantsOf(engine, scheduler, "wordfreq", wordfreqCase),
        { name: "fd_write node:wasi", sample: () => nodeWasiSample(nodeFdWrite, fdWrite, fdWriteDir, writes) },
        {
          name: "fd_write in-process",
          sample: () => ferrySample(engine, scheduler, ferryFdWrite, fdWrite, "in-process", undefined, writes),
        },
      ],
      { warmup, runs },
    );
    const m = medians(samples);
    const compute = rowsOf("lz", lzCase, m, warmup);
    const fileWrites = rowsOf("wordfreq", wordfreqCase, m, warmup);
    const perSecond = (ms: number) => FD_WRITES / (ms / 1000);
    const ferryMs = m["fd_write in-process"]!;
    const nodeWasiMs = m["fd_write node:wasi"]!;
    const stdoutWrites = {
      writes: FD_WRITES,
      bytesPerWrite: WRITE_BYTES,
      ferryMs,
      nodeWasiMs,
      perSecond: { ferry: perSecond(ferryMs), nodeWasi: perSecond(nodeWasiMs) },
      ratio: perSecond(ferryMs) / perSecond(nodeWasiMs),
    };
    printWasiTable(compute, fileWrites, stdoutWrites, runs, warmup);
    return {
      compute,
      fileWrites,
      stdoutWrites,
      runs,
      warmup,
      targets: [
        check(`WASI compute-bound program (${LZ}) in-process vs node:wasi`, compute.ratios.inProcess, "<=", TARGET_WASI_COMPUTE_RATIO, "×"),
      ],
      durationMs: nowMs() - started,
    };
  } finally {
    await engine.close();
    rmSync(scratch, { recursive: true, force: true });
  }
}
