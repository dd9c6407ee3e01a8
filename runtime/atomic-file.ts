// Nothing is written half: a file is replaced by renaming a complete, fsynced temp file in the same
// directory over it and then fsyncing the directory, so a reader (or a restart after a crash) sees
// the old content or the new, never a mix. The one implementation: the node's state files and
// checkpoints (writeFileAtomic) and FileResources' commit (commitTempFile, which keeps its own temp
// names and byte ledger) both go through here. A leaf: it imports nothing but node:fs and node:path.

import { closeSync, constants, fsyncSync, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { basename, dirname, join } from "node:path";

/** Temp names writeFileAtomic uses: `.<name>.<pid>.<ms>.tmp`, so a sweep can tell a dead writer's leftovers from a live one's. */
export const TEMP_FILE_PATTERN = /^\.(.+)\.(\d+)\.(\d+)\.tmp$/;

/** Write `bytes` to `path` atomically. `mode` applies from the first byte (0o600 for private keys: never readable by others, even briefly). */
export function writeFileAtomic(path: string, bytes: Uint8Array, options: { mode?: number } = {}): void {
  const temp = join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now()}.tmp`);
  const fd = openSync(temp, "w", options.mode ?? 0o644);
  try {
    let at = 0;
    while (at < bytes.byteLength) at += writeSync(fd, bytes, at, bytes.byteLength - at);
  } catch (e) {
    closeSync(fd);
    rmSync(temp, { force: true });
    throw e;
  }
  closeSync(fd);
  try {
    commitTempFile(temp, path);
  } catch (e) {
    rmSync(temp, { force: true });
    throw e;
  }
}

/**
 * Make the complete file `temp` the content of `target` (same directory or at least same file
 * system): fsync it, rename it over `target`, fsync `target`'s directory. `afterRename` runs between
 * the rename and the directory's fsync (the caller's bookkeeping: the temp file is the target now).
 * On failure `temp` is left where it is, for the caller to remove or account for.
 */
export function commitTempFile(temp: string, target: string, afterRename?: () => void): void {
  const fd = openSync(temp, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(temp, target);
  afterRename?.();
  const dirFd = openSync(dirname(target), constants.O_RDONLY);
  try {
    fsyncSync(dirFd);
  } finally {
    closeSync(dirFd);
  }
}
