// Reads and writes of several buffers at a position in one system call (preadv, pwritev), with the
// same outcome as going buffer by buffer: every buffer is filled in turn unless the file ends, every
// byte is written. A short preadv or pwritev (the end of the file, a signal) is finished buffer by
// buffer, which then answers exactly as the one-by-one path would.

import { readvSync, writeSync, writevSync } from "node:fs";
import { readFully } from "./temp-file-io.js";

// `total`: the buffers' length, when the caller has it (byteLength of a view of a wasm memory is not
// a cheap read, and these run on every WASI read and write).

/** Read into `buffers` in turn from `position` until they are full or the file ends; returns how many bytes. */
export function readvFully(fd: number, buffers: Uint8Array[], position: number, total = byteLength(buffers)): number {
  if (total === 0) return 0;
  let done = readvSync(fd, buffers, position);
  if (done === total) return done;
  // Short: finish in the buffer it stopped in, then the next ones, until one comes back short.
  let start = 0;
  for (const b of buffers) {
    const end = start + b.byteLength;
    if (done < end) {
      const from = done - start;
      const n = readFully(fd, b.subarray(from), position + done);
      done += n;
      if (n < b.byteLength - from) break;
    }
    start = end;
  }
  return done;
}

/** Write all of `buffers` in turn at `position`; returns how many bytes (all of them, or it throws). */
export function writevFully(fd: number, buffers: Uint8Array[], position: number, total = byteLength(buffers)): number {
  if (total === 0) return 0;
  let done = writevSync(fd, buffers, position);
  if (done === total) return done;
  let start = 0;
  for (const b of buffers) {
    const end = start + b.byteLength;
    while (done < end) done += writeSync(fd, b, done - start, end - done, position + done);
    start = end;
  }
  return done;
}

export function byteLength(buffers: readonly Uint8Array[]): number {
  let n = 0;
  for (const b of buffers) n += b.byteLength;
  return n;
}
