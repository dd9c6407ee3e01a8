// Writes a file so that readers see either the old content or the new, never half: write to a
// temp name in the same directory, fsync it, rename over the target, fsync the directory.

import { closeSync, fsyncSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";

/** Temp names are `.<name>.<pid>.<ms>.tmp`, so a sweep can tell a dead writer's leftovers from a live one's. */
export const TEMP_FILE_PATTERN = /^\.(.+)\.(\d+)\.(\d+)\.tmp$/;

/** `mode` applies from the first byte (0o600 for private keys: never readable by others, even briefly). */
export function writeFileAtomic(path: string, bytes: Uint8Array, options: { mode?: number } = {}): void {
  const dir = dirname(path);
  const temp = join(dir, `.${basename(path)}.${process.pid}.${Date.now()}.tmp`);
  const fd = openSync(temp, "w", options.mode ?? 0o644);
  try {
    let at = 0;
    while (at < bytes.byteLength) at += writeSync(fd, bytes, at, bytes.byteLength - at);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    rmSync(temp, { force: true });
    throw e;
  }
  closeSync(fd);
  try {
    renameSync(temp, path);
  } catch (e) {
    rmSync(temp, { force: true });
    throw e;
  }
  const dirFd = openSync(dir, "r");
  try {
    fsyncSync(dirFd);
  } finally {
    closeSync(dirFd);
  }
}
