// Random valid modules from Binaryen's `wasm-opt --translate-to-fuzz`, which turns any bytes into a
// valid module. Debian's native wasm-opt takes milliseconds; the npm package's (compiled to Wasm)
// works everywhere the project installs but costs about a second a call, so it is the fallback.

import { execFile, execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { findRepoRoot } from "../guest/catalog.js";

export interface WasmOpt {
  /** The command (and leading arguments) to run. */
  command: string[];
  /** "native" (Debian's binaryen) or "npm" (node_modules/binaryen, slow). */
  kind: "native" | "npm";
  version: string;
}

const NATIVE = "/usr/bin/wasm-opt";

let found: WasmOpt | undefined;

/** The fastest wasm-opt on this machine; FERRY_WASM_OPT names another ("npm": the package's). */
export function findWasmOpt(): WasmOpt {
  if (found) return found;
  const override = process.env.FERRY_WASM_OPT;
  const native = override === "npm" ? undefined : (override ?? (existsSync(NATIVE) ? NATIVE : undefined));
  const command = native ? [native] : [process.execPath, join(findRepoRoot(), "node_modules", "binaryen", "bin", "wasm-opt")];
  const version = execFileSync(command[0]!, [...command.slice(1), "--version"], { encoding: "utf8" }).trim();
  found = { command, kind: native ? "native" : "npm", version };
  return found;
}

/**
 * The proposals Ferry instruments (SUPPORTED_FEATURES in runtime/code/instrument.ts), each one a
 * wasm-opt flag. A case enables a random subset on top of MVP, so modules that use none of them
 * stay common.
 */
export const FUZZ_FEATURES = ["sign-ext", "mutable-globals", "nontrapping-float-to-int", "bulk-memory", "simd", "multivalue"] as const;
export type FuzzFeature = (typeof FUZZ_FEATURES)[number];

export interface TtfOptions {
  features: readonly FuzzFeature[];
  /** Run Binaryen's --denan pass: every NaN a float operation makes becomes 0, so results compare exactly. */
  denan: boolean;
}

function ttfArgs(inPath: string, outPath: string, options: TtfOptions): string[] {
  const args = [inPath, "-ttf", "--mvp-features", ...options.features.map((f) => `--enable-${f}`)];
  if (options.denan) args.push("--denan");
  args.push("-o", outPath);
  return args;
}

/** The module `wasm-opt -ttf` makes from `input`. Throws when wasm-opt fails. */
export function translateToFuzz(input: Uint8Array, options: TtfOptions): Uint8Array {
  const w = findWasmOpt();
  const dir = mkdtempSync(join(tmpdir(), "ferry-ttf-"));
  try {
    const inPath = join(dir, "in.dat");
    const outPath = join(dir, "out.wasm");
    writeFileSync(inPath, input);
    execFileSync(w.command[0]!, [...w.command.slice(1), ...ttfArgs(inPath, outPath, options)], {
      stdio: ["ignore", "ignore", "pipe"],
      timeout: 120_000,
    });
    return new Uint8Array(readFileSync(outPath));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface TtfJob {
  input: Uint8Array;
  options: TtfOptions;
}

const quote = (s: string): string => `'${s.replace(/'/g, "'\\''")}'`;

/**
 * The modules `wasm-opt -ttf` makes from each job's input, in order (an Error where wasm-opt
 * failed): the same bytes translateToFuzz gives, made without blocking the caller's thread. Native
 * wasm-opt runs all jobs from one shell, so a batch costs one spawn of this (large) process instead
 * of one each — most of a small module's generation time was that spawn.
 */
export async function translateToFuzzBatch(jobs: readonly TtfJob[]): Promise<Array<Uint8Array | Error>> {
  const w = findWasmOpt();
  const dir = await mkdtemp(join(tmpdir(), "ferry-ttf-"));
  try {
    const paths = jobs.map((_, k) => ({ in: join(dir, `${k}.dat`), out: join(dir, `${k}.wasm`) }));
    await Promise.all(jobs.map((j, k) => writeFile(paths[k]!.in, j.input)));
    const run = (file: string, args: string[]): Promise<void> =>
      new Promise((resolve, reject) =>
        execFile(file, args, { timeout: 120_000 + 2_000 * jobs.length }, (e) => (e ? reject(e) : resolve())),
      );
    if (w.kind === "native") {
      // One line per job; a failing job leaves no output file and the others go on.
      const script = jobs
        .map((j, k) => `${[w.command[0]!, ...ttfArgs(paths[k]!.in, paths[k]!.out, j.options)].map(quote).join(" ")} 2>/dev/null`)
        .join("\n");
      await run("/bin/sh", ["-c", script]).catch(() => {});
    } else {
      for (const [k, j] of jobs.entries())
        await run(w.command[0]!, [...w.command.slice(1), ...ttfArgs(paths[k]!.in, paths[k]!.out, j.options)]).catch(() => {});
    }
    return await Promise.all(
      paths.map((p) =>
        readFile(p.out).then(
          (b) => new Uint8Array(b),
          (e: unknown) => new Error(`wasm-opt -ttf made no module: ${String(e)}`),
        ),
      ),
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
