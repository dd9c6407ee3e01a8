// CLI start-up: how long a `ferry` command takes from spawn to exit, next to a bare `node -e 0` in
// the same rounds (interleaved, so the machine's load hits every row alike). Rows: `ferry --help`,
// `ferry status <job>` against a live node on loopback, `ferry run` of a module already in the module
// cache, and the same run with --no-cache (it loads Binaryen and instruments) for scale.

import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { findRepoRoot, guestWasmPath } from "../guest/catalog.js";
import { check, fmtMs, fmtRatio, interleave, medians, nowMs, printTable, type TargetCheck } from "./harness.js";

export interface CliStartBenchOptions {
  /** Kept rounds (default 7). */
  runs?: number;
  /** Discarded rounds before them (default 1). */
  warmup?: number;
}

/** The FERRY_BENCH_ONLY name. */
export const CLI_START_PARTS = ["cli-start"] as const;

/** `ferry --help` and `ferry status` within this many times a bare node start. */
export const TARGET_CLI_START_RATIO = 3;

export interface CliStartBenchResult {
  config: { runs: number; warmup: number };
  /** Median wall time from spawn to exit, ms, by row. */
  medianMs: Record<string, number>;
  /** Each row's median ÷ the bare node row's. */
  ratio: Record<string, number>;
  samples: Record<string, number[]>;
  targets: TargetCheck[];
  durationMs: number;
}

const BARE = "node -e 0";
const SIEVE_ARG = "1000";
const SIEVE_PRIMES = "168";

export async function runCliStartBench(options: CliStartBenchOptions = {}): Promise<CliStartBenchResult> {
  const started = nowMs();
  const runs = options.runs ?? 7;
  const warmup = options.warmup ?? 1;
  const root = findRepoRoot();
  const bin = join(root, "bin", "ferry.js");
  const dir = mkdtempSync(join(tmpdir(), "ferry-bench-cli-"));
  const cacheDir = join(dir, "cache");
  // The installed command's own flags (the bin/ferry.js shebang), as a user's shell runs it.
  const ferry = (args: readonly string[], env: NodeJS.ProcessEnv = {}) =>
    spawnSync(process.execPath, ["--single-threaded-gc", bin, ...args], { cwd: dir, encoding: "utf8", env: { ...process.env, ...env } });
  const must = (args: readonly string[]): string => {
    const r = ferry(args);
    if (r.status !== 0) throw new Error(`ferry ${args.join(" ")} exited ${r.status}: ${r.stderr}`);
    return r.stdout;
  };
  const node = await startServe(bin, join(dir, "data"), must, join(dir, "me.json"));
  try {
    const codeHash = must(["upload", guestWasmPath("sieve"), "--key", join(dir, "me.json"), "--node", node.url, "--public"]).trim();
    const job = JSON.parse(must(["submit", codeHash, "--args", SIEVE_ARG, "--wait", "60000", "--node", node.url])) as {
      id: string;
      state: string;
    };
    if (job.state !== "done") throw new Error(`the bench job ended ${job.state}`);
    must(["run", guestWasmPath("sieve"), "--args", SIEVE_ARG, "--cache-dir", cacheDir]); // fills the cache

    const timed = (name: string, args: readonly string[], expect: string | undefined) => ({
      name,
      sample: () => {
        const t = nowMs();
        const r = name === BARE ? spawnSync(process.execPath, ["-e", "0"]) : ferry(args);
        const ms = nowMs() - t;
        if (r.status !== 0 || (expect !== undefined && !String(r.stdout).includes(expect)))
          throw new Error(`${name}: exit ${r.status}, ${String(r.stderr)}`);
        return ms;
      },
    });
    const rows = [
      timed(BARE, [], undefined),
      timed("ferry --help", ["--help"], "Usage: ferry"),
      timed("ferry status <job> (live node)", ["status", job.id, "--node", node.url], `"${job.id}"`),
      timed("ferry run, module cached", ["run", guestWasmPath("sieve"), "--args", SIEVE_ARG, "--cache-dir", cacheDir], SIEVE_PRIMES),
      timed("ferry run --no-cache (instruments)", ["run", guestWasmPath("sieve"), "--args", SIEVE_ARG, "--no-cache"], SIEVE_PRIMES),
    ];
    const samples = await interleave(rows, { warmup, runs, gcBetween: false });
    const medianMs = medians(samples);
    const bare = medianMs[BARE]!;
    const ratio = Object.fromEntries(Object.entries(medianMs).map(([k, v]) => [k, v / bare]));
    const targets = [
      check("CLI: ferry --help ×bare node start", ratio["ferry --help"]!, "<=", TARGET_CLI_START_RATIO, "×"),
      check("CLI: ferry status ×bare node start", ratio["ferry status <job> (live node)"]!, "<=", TARGET_CLI_START_RATIO, "×"),
    ];
    printTable({
      title: `CLI start-up (spawn to exit, median of ${runs})`,
      headers: ["command", "ms", "× node -e 0", "target"],
      rows: rows.map(({ name }) => {
        const target =
          name === "ferry --help" || name.startsWith("ferry status")
            ? `≤ ${TARGET_CLI_START_RATIO}× ${ratio[name]! <= TARGET_CLI_START_RATIO ? "✓" : "✗"}`
            : "";
        return [name, fmtMs(medianMs[name]!), fmtRatio(ratio[name]!), target];
      }),
      align: ["left", "right", "right", "left"],
      notes: [
        "Each row is a fresh process (`node --single-threaded-gc bin/ferry.js …`, as the installed command runs), interleaved with the others round by round.",
        "status: an anonymous sieve job's JSON from a `ferry serve` child on 127.0.0.1. run: sieve(1000) in-process; cached = instrumented module read from the module cache (no Binaryen); --no-cache loads Binaryen and instruments in a worker.",
      ],
    });
    return { config: { runs, warmup }, medianMs, ratio, samples: Object.fromEntries(samples), targets, durationMs: nowMs() - started };
  } finally {
    await node.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** A `ferry serve` child on port 0 with one registered client (key file `keyPath`). */
async function startServe(
  bin: string,
  dataDir: string,
  must: (args: readonly string[]) => string,
  keyPath: string,
): Promise<{ url: string; stop(): Promise<void> }> {
  must(["keygen", "--out", keyPath]);
  must(["admin", "add-client", "--data-dir", dataDir, "--create", "--public-key", keyPath]);
  const child = spawn(
    process.execPath,
    ["--single-threaded-gc", bin, "serve", "--port", "0", "--host", "127.0.0.1", "--data-dir", dataDir, "--json"],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const line = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).once("line", resolve);
    child.once("exit", (code) => reject(new Error(`ferry serve exited ${code} before listening: ${stderr}`)));
  });
  const { url } = JSON.parse(line) as { url: string };
  return {
    url,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      await exited;
    },
  };
}
