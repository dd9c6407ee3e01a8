// Catalog of the example guests (build/guests/<name>.wasm) with their entry points, arguments and
// expected results, computed by guest/reference.ts. Used by tests and benchmarks alike.

import { existsSync, readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import * as reference from "./reference.js";

export const GUEST_NAMES = ["sieve", "nbody", "matmul", "recursion", "wordfreq", "mandelbrot"] as const;
export type GuestName = (typeof GUEST_NAMES)[number];

export interface ExampleCase {
  /** Unique label, e.g. "sieve(100)" or "recursion.ackermann(2, 3)". */
  name: string;
  guest: GuestName;
  wasmPath: string;
  /** Exported function to call; every argument is an i32. */
  entry: string;
  args: number[];
  /** The instance's input (wordfreq only). Shared between calls: treat as read-only. */
  input?: Uint8Array;
  /** transparent: pauses only at ferry.yield; explicit: returns at ferry.checkpoint and is re-called. */
  style: "transparent" | "explicit";
  /** value: the entry's result (i32 or f64, compare with Object.is); output: all bytes written (often empty). */
  expected: { value: number; output: Uint8Array };
}

const NO_OUTPUT = new Uint8Array(0);

let repoRoot: string | undefined;

/** The directory of the package.json named "ferry": works from guest/ and from dist/guest/. */
export function findRepoRoot(): string {
  if (repoRoot !== undefined) return repoRoot;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const manifest = join(dir, "package.json");
    if (existsSync(manifest)) {
      const parsed = JSON.parse(readFileSync(manifest, "utf8")) as { name?: unknown };
      if (parsed.name === "ferry") return (repoRoot = dir);
    }
    const parent = dirname(dir);
    if (parent === dir) throw new Error(`no package.json named "ferry" above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
}

/** Absolute path of build/guests/<name>.wasm (built by `npm run build:guests`). */
export function guestWasmPath(name: GuestName): string {
  return join(findRepoRoot(), "build", "guests", `${name}.wasm`);
}

function transparent(guest: GuestName, entry: string, args: number[], value: number): ExampleCase {
  return {
    name: `${guest}${entry === "main" ? "" : `.${entry}`}(${args.join(", ")})`,
    guest,
    wasmPath: guestWasmPath(guest),
    entry,
    args,
    style: "transparent",
    expected: { value, output: NO_OUTPUT },
  };
}

function wordfreqCase(words: number, top: number): ExampleCase {
  const input = new TextEncoder().encode(reference.wordfreqText(words));
  const { value, output } = reference.wordfreq(input, top);
  return {
    name: `wordfreq(${top}) over ${words} words`,
    guest: "wordfreq",
    wasmPath: guestWasmPath("wordfreq"),
    entry: "main",
    args: [top],
    input,
    style: "transparent",
    expected: { value, output },
  };
}

function mandelbrotCase(width: number, height: number): ExampleCase {
  const { value, output } = reference.mandelbrot(width, height);
  return {
    name: `mandelbrot(${width}, ${height})`,
    guest: "mandelbrot",
    wasmPath: guestWasmPath("mandelbrot"),
    entry: "main",
    args: [width, height],
    style: "explicit",
    expected: { value, output },
  };
}

/**
 * Tiny runs (a few thousand loop iterations or calls at most, including the AssemblyScript
 * runtime's own setup), meant for fuel slices as small as 1.
 */
export function smallCases(): ExampleCase[] {
  return [
    transparent("sieve", "main", [100], reference.sieve(100)),
    transparent("nbody", "main", [10], reference.nbody(10)),
    transparent("matmul", "main", [6], reference.matmul(6)),
    transparent("recursion", "main", [10], reference.fib(10)),
    transparent("recursion", "ackermann", [2, 3], reference.ackermann(2, 3)),
    wordfreqCase(30, 5),
    mandelbrotCase(12, 4),
  ];
}

let benchCache: ExampleCase[] | undefined;

/**
 * Benchmark sizes: roughly 50-400 ms of uninstrumented Wasm each on a 2-core Xeon, except
 * ackermann(3, 8) (~7 ms), whose size is capped by stack depth, not time: its deepest call
 * stack (about 2,047 frames) has to fit the SDK's 64 KiB Asyncify buffer when paused.
 * Computed once per process (the references take about a second).
 */
export function benchCases(): ExampleCase[] {
  benchCache ??= [
    transparent("sieve", "main", [10_000_000], reference.sieve(10_000_000)),
    transparent("nbody", "main", [1_000_000], reference.nbody(1_000_000)),
    transparent("matmul", "main", [400], reference.matmul(400)),
    transparent("recursion", "main", [36], reference.fib(36)),
    transparent("recursion", "ackermann", [3, 8], reference.ackermann(3, 8)),
    wordfreqCase(300_000, 20),
    mandelbrotCase(1200, 600),
  ];
  return benchCache;
}
