// Real programs (guest/programs/): code written the way its language's programmers write it, not
// for Ferry, compiled by its own toolchain (scripts/build-programs.mjs; the .wasm is checked in).
// Each comes with its input and a reference computed here, so tests and the bench can check every
// run's value and output exactly.

import { join } from "node:path";
import { findRepoRoot } from "../catalog.js";

export interface ProgramCase {
  /** Label, e.g. "rust-wordfreq(1 MiB)". */
  name: string;
  wasmPath: string;
  entry: string;
  args: number[];
  input: Uint8Array;
  expected: { value: number; output: Uint8Array };
}

export function programWasmPath(name: string): string {
  return join(findRepoRoot(), "guest", "programs", `${name}.wasm`);
}

const LETTERS = "etaoinshrdlucmfwypvbgkqjxz";

/**
 * `bytes` of English-like text: words drawn from a vocabulary of 20,000 with a skewed (Zipf-like)
 * frequency, one in ten capitalised, sentences ending in ".\n". Deterministic for a seed.
 */
export function wordText(bytes: number, seed = 12345): Uint8Array {
  let s = seed >>> 0;
  const next = (): number => (s = (Math.imul(s, 1103515245) + 12345) >>> 0) / 2 ** 32;
  const parts: string[] = [];
  let n = 0;
  while (n < bytes) {
    const id = Math.floor(20_000 * next() ** 3);
    let word = "";
    for (let x = id + 1; x > 0; x = Math.floor(x / 26)) word += LETTERS[x % 26];
    if (next() < 0.1) word = word[0]!.toUpperCase() + word.slice(1);
    const sep = next() < 0.08 ? ".\n" : " ";
    parts.push(word + sep);
    n += word.length + sep.length;
  }
  return new Uint8Array(Buffer.from(parts.join("")).subarray(0, bytes));
}

/** What guest/programs/rust-wordfreq/main.rs computes, for ASCII text. */
export function wordFrequency(text: Uint8Array, top: number): { value: number; output: Uint8Array } {
  const counts = new Map<string, number>();
  for (const raw of Buffer.from(text)
    .toString("latin1")
    .split(/[ \t\n\v\f\r]+/)) {
    const word = raw.replace(/^[^A-Za-z0-9]+|[^A-Za-z0-9]+$/g, "").toLowerCase();
    if (word !== "") counts.set(word, (counts.get(word) ?? 0) + 1);
  }
  const table = [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  const report = table
    .slice(0, Math.max(0, top))
    .map(([word, count]) => `${String(count).padStart(8)} ${word}\n`)
    .join("");
  let checksum = 0;
  table.forEach(([word, count], rank) => {
    for (let i = 0; i < word.length; i++) checksum = (Math.imul(checksum, 31) + word.charCodeAt(i)) >>> 0;
    checksum = (Math.imul(checksum, 17) + ((count ^ rank) >>> 0)) >>> 0;
  });
  return { value: checksum & 0x7fff_ffff, output: new Uint8Array(Buffer.from(report)) };
}

/** rust-wordfreq over `bytes` of wordText, printing the top 10. */
export function rustWordfreq(bytes: number): ProgramCase {
  const input = wordText(bytes);
  const label = bytes % (1 << 20) === 0 ? `${bytes >> 20} MiB` : `${bytes >> 10} KiB`;
  return {
    name: `rust-wordfreq(${label})`,
    wasmPath: programWasmPath("rust-wordfreq"),
    entry: "main",
    args: [10],
    input,
    expected: wordFrequency(input, 10),
  };
}
