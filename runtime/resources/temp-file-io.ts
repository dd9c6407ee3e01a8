// The bounded file operations an open FileResources handle does on its temp file: read at a
// position, append, copy the file it starts from — each one call, opened and closed again, never
// following a link, so no descriptor is held between guest calls.

import { closeSync, constants, fstatSync, ftruncateSync, openSync, readSync, rmSync, writeSync } from "node:fs";
import { GuestTrap } from "../traps.js";

/** Buffer of the one copy a read-write open makes of the existing file (host memory per copy, bytes). */
const COPY_CHUNK_BYTES = 64 * 1024;

/** Read from the open `fd` at `position` until `into` is full or the file ends; returns how many bytes. */
export function readFully(fd: number, into: Uint8Array, position: number): number {
  let total = 0;
  while (total < into.byteLength) {
    const n = readSync(fd, into, total, into.byteLength - total, position + total);
    if (n === 0) break;
    total += n;
  }
  return total;
}

/** Read from `path` at `position` into `into` (one bounded call; the file is opened and closed again). */
export function readAt(path: string, into: Uint8Array, position: number): number {
  const fd = openTemp(path, constants.O_RDONLY);
  try {
    return readFully(fd, into, position);
  } finally {
    closeSync(fd);
  }
}

/** Write `bytes` at `at` (the temp file's end); on failure the file is cut back to `at`. */
export function appendAt(path: string, bytes: Uint8Array, at: number): void {
  const fd = openTemp(path, constants.O_WRONLY);
  try {
    let done = 0;
    while (done < bytes.byteLength) done += writeSync(fd, bytes, done, bytes.byteLength - done, at + done);
  } catch (error) {
    ftruncateSync(fd, at);
    throw new GuestTrap("host_error", `the resource could not be written: ${(error as { code?: string }).code ?? String(error)}`);
  } finally {
    closeSync(fd);
  }
}

export function openTemp(path: string, flags: number): number {
  try {
    return openSync(path, flags | constants.O_NOFOLLOW);
  } catch (error) {
    if (isMissing(error)) throw new GuestTrap("host_error", "the resource's temporary file is gone");
    throw error;
  }
}

/** Copy `from` (a regular file, at most `maxBytes`) into a new file `to`, through one small buffer. */
export function copyInto(from: string, to: string, maxBytes: number, what: string): void {
  const src = openSync(from, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  let dst: number | undefined;
  try {
    if (!fstatSync(src).isFile()) throw new GuestTrap("host_error", `"${what}" is not a regular file`);
    dst = openSync(to, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
    const buf = new Uint8Array(COPY_CHUNK_BYTES);
    let total = 0;
    for (;;) {
      const n = readSync(src, buf, 0, buf.byteLength, null);
      if (n === 0) break;
      total += n;
      // Read to EOF, not to the size seen: the file may change under us; never past the limit.
      if (total > maxBytes) throw new GuestTrap("host_error", `"${what}" is larger than ${maxBytes} bytes`);
      let done = 0;
      while (done < n) done += writeSync(dst, buf, done, n - done);
    }
  } catch (error) {
    if (dst !== undefined) rmSync(to, { force: true });
    throw error;
  } finally {
    closeSync(src);
    if (dst !== undefined) closeSync(dst);
  }
}

export function isMissing(error: unknown): boolean {
  const code = (error as { code?: string }).code;
  return code === "ENOENT" || code === "ENOTDIR";
}
