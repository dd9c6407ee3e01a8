// WASI preview 1: a real program under Ferry against the same uninstrumented .wasm under Node's own
// WASI (node:wasi, guest/programs/node-wasi.ts's yardstick). Three questions, one table:
//  - compute-bound: rust-wasi-wordfreq over a 1 MiB word file (read through fd_read, the report
//    written to a file), whole-program wall time — Ferry in-process driven by a default Scheduler
//    (slices sized to its wall-clock budget, as a node runs a job) ÷ node:wasi's `start`;
//  - I/O-bound: a tiny WAT program making FD_WRITES fd_write calls of 16 bytes to stdout — Ferry's
//    stdout is the job's output buffer, node:wasi's a temp file — fd_writes per second;
//  - the compute-bound run in the isolated sandbox (a child process; every file-system call crosses
//    to the parent, which holds the directory), ÷ node:wasi and ÷ Ferry in-process.
// Every module is compiled once, before and outside the timed region (Ferry: engine.compile, which
// instruments; node:wasi: new WebAssembly.Module). A sample times instantiation + the run to its
// exit; the variants are interleaved, each sample's stdout and exit status checked.

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
const WORDFREQ = "rust-wasi-wordfreq";
const INPUT_BYTES = 1 << 20;
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
}

const wordfreq: Program = { name: WORDFREQ, args: ["/d/in.txt", "/d/out.txt", "10"], guestDir: "/d" };
const fdWrite: Program = { name: "fd-write", args: [] };

export interface WasiRow {
  row: string;
  ferryMs: number;
  nodeWasiMs: number;
  /** Ferry ÷ node:wasi (time), or node:wasi ÷ Ferry (rate) for the fd_write row: how many times slower Ferry is. */
  ratio: number;
}

export interface WasiBenchResult {
  computeInProcessMs: number;
  computeIsolatedMs: number;
  computeNodeWasiMs: number;
  fdWriteFerryMs: number;
  fdWriteNodeWasiMs: number;
  fdWritesPerSecond: { ferry: number; nodeWasi: number };
  ratios: { computeInProcess: number; computeIsolated: number; isolatedVsInProcess: number; fdWrite: number };
  runs: number;
  inputBytes: number;
  fdWrites: number;
  targets: TargetCheck[];
  durationMs: number;
}

/** One fresh directory per variant (so no run reads another's output), the input written once. */
function directoryFor(scratch: string, variant: string, input: Uint8Array | undefined): string {
  const dir = join(scratch, variant);
  mkdirSync(dir, { recursive: true });
  if (input) writeFileSync(join(dir, "in.txt"), input);
  return dir;
}

/** node:wasi: instantiate + start, stdout into a temp file (truncated per run). Returns ms; checks exit and stdout. */
function nodeWasiSample(module: WebAssembly.Module, p: Program, dir: string | undefined, expect: (stdout: Buffer) => void): number {
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
    const instance = new WebAssembly.Instance(module, wasi.getImportObject() as WebAssembly.Imports);
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

export async function runWasiBench(options: WasiBenchOptions = {}): Promise<WasiBenchResult> {
  const started = nowMs();
  const runs = options.runs ?? 5;
  const warmup = options.warmup ?? 1;
  const scratch = mkdtempSync(join(tmpdir(), "ferry-bench-wasi-"));
  const engine = new Engine();
  const scheduler = new Scheduler();
  try {
    const input = wordText(INPUT_BYTES);
    const wordfreqBytes = readFileSync(programWasmPath(WORDFREQ));
    const fdWriteBytes = watToWasm(FD_WRITE_WAT);
    // Compiled once, outside every timed region.
    const ferryWordfreq = await engine.compile(wordfreqBytes);
    const ferryFdWrite = await engine.compile(fdWriteBytes);
    const nodeWordfreq = new WebAssembly.Module(wordfreqBytes);
    const nodeFdWrite = new WebAssembly.Module(new Uint8Array(fdWriteBytes));

    // node:wasi's stdout and report are the reference every Ferry sample must reproduce.
    const refDir = directoryFor(scratch, "reference", input);
    let refStdout: Buffer | undefined;
    nodeWasiSample(nodeWordfreq, wordfreq, refDir, (s) => (refStdout = s));
    const refReport = readFileSync(join(refDir, "out.txt"));
    const sameWordfreq = (dir: string) => (stdout: Buffer) => {
      if (!stdout.equals(refStdout!) || !readFileSync(join(dir, "out.txt")).equals(refReport))
        throw new Error(`wasi bench: ${WORDFREQ} in ${dir} differs from the reference`);
    };
    const writes = (stdout: Buffer) => {
      if (stdout.length !== FD_WRITES * WRITE_BYTES) throw new Error(`wasi bench: fd-write wrote ${stdout.length} bytes`);
    };
    const dirs = {
      nodeWasi: directoryFor(scratch, "node-wasi", input),
      inProcess: directoryFor(scratch, "in-process", input),
      isolated: directoryFor(scratch, "isolated", input),
      fdWrite: directoryFor(scratch, "fd-write", undefined),
    };

    const samples = await interleave(
      [
        { name: "compute node:wasi", sample: () => nodeWasiSample(nodeWordfreq, wordfreq, dirs.nodeWasi, sameWordfreq(dirs.nodeWasi)) },
        {
          name: "compute in-process",
          sample: () => ferrySample(engine, scheduler, ferryWordfreq, wordfreq, "in-process", dirs.inProcess, sameWordfreq(dirs.inProcess)),
        },
        {
          name: "compute isolated",
          sample: () => ferrySample(engine, scheduler, ferryWordfreq, wordfreq, "isolated", dirs.isolated, sameWordfreq(dirs.isolated)),
        },
        { name: "fd_write node:wasi", sample: () => nodeWasiSample(nodeFdWrite, fdWrite, dirs.fdWrite, writes) },
        {
          name: "fd_write in-process",
          sample: () => ferrySample(engine, scheduler, ferryFdWrite, fdWrite, "in-process", undefined, writes),
        },
      ],
      { warmup, runs },
    );
    const m = medians(samples);
    const computeNodeWasiMs = m["compute node:wasi"]!;
    const computeInProcessMs = m["compute in-process"]!;
    const computeIsolatedMs = m["compute isolated"]!;
    const fdWriteNodeWasiMs = m["fd_write node:wasi"]!;
    const fdWriteFerryMs = m["fd_write in-process"]!;
    const perSecond = (ms: number) => FD_WRITES / (ms / 1000);
    const ratios = {
      computeInProcess: computeInProcessMs / computeNodeWasiMs,
      computeIsolated: computeIsolatedMs / computeNodeWasiMs,
      isolatedVsInProcess: computeIsolatedMs / computeInProcessMs,
      fdWrite: perSecond(fdWriteFerryMs) / perSecond(fdWriteNodeWasiMs),
    };
    const mib = (INPUT_BYTES / (1 << 20)).toFixed(0);
    printTable({
      title: "WASI programs: Ferry vs node:wasi (same .wasm, uninstrumented under node:wasi)",
      headers: ["row", "Ferry", "node:wasi", "Ferry ÷ node:wasi", "Ferry ÷ in-process"],
      rows: [
        [
          `compute: ${WORDFREQ}, ${mib} MiB file, in-process (ms)`,
          fmtMs(computeInProcessMs),
          fmtMs(computeNodeWasiMs),
          fmtRatio(ratios.computeInProcess),
          "",
        ],
        [
          `I/O: ${fmtInt(FD_WRITES)} × ${WRITE_BYTES} B fd_write to stdout, in-process (writes/s; Ferry: job output buffer, node:wasi: temp file)`,
          fmtInt(perSecond(fdWriteFerryMs)),
          fmtInt(perSecond(fdWriteNodeWasiMs)),
          fmtRatio(ratios.fdWrite),
          "",
        ],
        [
          `compute: ${WORDFREQ}, ${mib} MiB file, isolated (ms; file calls cross to the parent)`,
          fmtMs(computeIsolatedMs),
          fmtMs(computeNodeWasiMs),
          fmtRatio(ratios.computeIsolated),
          fmtRatio(ratios.isolatedVsInProcess),
        ],
      ],
      notes: [
        `bench/wasi.ts: medians of ${runs} interleaved rounds (${warmup} discarded). Modules compiled once outside the timed region; a sample is instantiate + run to exit. Ferry: \`new Engine()\` defaults, driven by a default \`Scheduler\` (in-process slices sized to its wall-clock budget; isolated ${fmtInt(50_000_000)} fuel per slice), trust authenticated, the directory a \`HostDirectory\`. The fd_write ratio is Ferry's writes/s ÷ node:wasi's (below 1: Ferry slower). Target (issue): compute in-process ≤ ${TARGET_WASI_COMPUTE_RATIO}× node:wasi.`,
      ],
    });
    return {
      computeInProcessMs,
      computeIsolatedMs,
      computeNodeWasiMs,
      fdWriteFerryMs,
      fdWriteNodeWasiMs,
      fdWritesPerSecond: { ferry: perSecond(fdWriteFerryMs), nodeWasi: perSecond(fdWriteNodeWasiMs) },
      ratios,
      runs,
      inputBytes: INPUT_BYTES,
      fdWrites: FD_WRITES,
      targets: [check("WASI compute-bound program in-process vs node:wasi", ratios.computeInProcess, "<=", TARGET_WASI_COMPUTE_RATIO, "×")],
      durationMs: nowMs() - started,
    };
  } finally {
    await engine.close();
    rmSync(scratch, { recursive: true, force: true });
  }
}
