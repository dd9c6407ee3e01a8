// Files a command will write, checked before it does any work: a run that checkpoints into a
// missing directory must fail at once, not after its first K slices (or never, if it is short).

import { accessSync, constants, statSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { UsageError } from "./usage.js";

/** Throws a UsageError naming `flag` and the problem unless a file can be written at `path`. */
export function checkWritableFile(flag: string, path: string): void {
  const problem = writeProblem(path);
  if (problem) throw new UsageError(`${flag} ${path}: ${problem}`);
}

function writeProblem(path: string): string | undefined {
  const target = statOrUndefined(path);
  if (target?.isDirectory()) return "is a directory; name a file";
  if (target) return accessible(path, constants.W_OK) ? undefined : "is not writable by this user";
  const dir = dirname(resolve(path));
  const parent = statOrUndefined(dir);
  if (!parent) return `directory ${dir} does not exist; create it first or choose another path`;
  if (!parent.isDirectory()) return `${dir} is not a directory`;
  return accessible(dir, constants.W_OK | constants.X_OK) ? undefined : `directory ${dir} is not writable by this user`;
}

function statOrUndefined(path: string) {
  try {
    return statSync(path);
  } catch {
    return undefined;
  }
}

function accessible(path: string, mode: number): boolean {
  try {
    accessSync(path, mode);
    return true;
  } catch {
    return false;
  }
}
