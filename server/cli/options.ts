// Command-line helpers every command shares. Kept apart from run.ts so that commands which never
// run a guest (status, submit, admin, …) do not import the runtime to parse their options.

import { readFileSync } from "node:fs";
import type { Writable } from "node:stream";
import { parseArgText, type ArgValue } from "../entry-args.js";
import { UsageError } from "./usage.js";

export interface Io {
  stdout: Writable;
  stderr: Writable;
}

/** `--args a,b --args c`: every value, in order, as a number (or a bigint past 2^53). */
export function argsOption(texts: readonly string[] | undefined): ArgValue[] {
  return (texts ?? [])
    .flatMap((a) => a.split(","))
    .filter((a) => a !== "")
    .map((a, i) => parseArgText(a, i));
}

export function optionalInt(name: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text.replaceAll("_", ""));
  if (!Number.isSafeInteger(n) || n < 1) throw new UsageError(`${name} must be a positive integer, got "${text}"`);
  return n;
}

export function readInput(path: string, what: string): Uint8Array {
  try {
    return new Uint8Array(readFileSync(path));
  } catch (e) {
    throw new UsageError(`cannot read ${what} ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}
