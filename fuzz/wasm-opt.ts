// Random valid modules from Binaryen's `wasm-opt --translate-to-fuzz`, which turns any bytes into a
// valid module. Debian's native wasm-opt takes milliseconds; the npm package's (compiled to Wasm)
// works everywhere the project installs but costs about a second a call, so it is the fallback.

import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
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
 * (and are never refused for a v128 global) stay common.
 */
export const FUZZ_FEATURES = ["sign-ext", "mutable-globals", "nontrapping-float-to-int", "bulk-memory", "simd", "multivalue"] as const;
export type FuzzFeature = (typeof FUZZ_FEATURES)[number];

export interface TtfOptions {
  features: readonly FuzzFeature[];
  /** Run Binaryen's --denan pass: every NaN a float operation makes becomes 0, so results compare exactly. */
  denan: boolean;
}

/** The module `wasm-opt -ttf` makes from `input`. Throws when wasm-opt fails. */
export function translateToFuzz(input: Uint8Array, options: TtfOptions): Uint8Array {
  const w = findWasmOpt();
  const dir = mkdtempSync(join(tmpdir(), "ferry-ttf-"));
  try {
    const inPath = join(dir, "in.dat");
    const outPath = join(dir, "out.wasm");
    writeFileSync(inPath, input);
    const args = [...w.command.slice(1), inPath, "-ttf", "--mvp-features", ...options.features.map((f) => `--enable-${f}`)];
    if (options.denan) args.push("--denan");
    args.push("-o", outPath);
    execFileSync(w.command[0]!, args, { stdio: ["ignore", "ignore", "pipe"], timeout: 120_000 });
    return new Uint8Array(readFileSync(outPath));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
