// The WASI part of the resource segment as plain data: what a snapshot carries of a program's
// descriptors, clock and pending sleep, and the strict reading of it at restore. The snapshot's
// digest says the bytes arrived intact, not that they were written by an honest host, so every
// field is checked, and a descriptor naming a preopen this instance was not given is refused
// (snapshot_resources): a snapshot cannot widen what its job may reach.

import { FerryError } from "../../errors.js";
import { normalizeTreePath } from "../../resources/directory.js";
import type { FdEntry, FdKind } from "./fd-table.js";
import { MAX_WASI_FDS } from "./fd-table.js";

export const WASI_IMAGE_VERSION = 1;

export interface WasiFdImage {
  fd: number;
  kind: FdKind;
  /** Directory and file: the preopen's guest path (the tree's name travels, not its index). */
  tree?: string;
  path: string;
  offset: number;
  rights: string;
  inheriting: string;
  fdflags: number;
  write: boolean;
  preopen?: string;
}

export interface WasiImage {
  version: number;
  args: string[];
  env: string[];
  /** The job's monotonic clock when it was captured, ns (decimal). */
  monotonicNs: string;
  /** A sleep the program is paused in: its deadline on that clock, ns (decimal). */
  sleepDeadlineNs?: string;
  /** The start of a stderr line not yet ended by a newline. */
  stderrLine: string;
  fds: WasiFdImage[];
}

export function captureFd(fd: number, e: FdEntry, treeName: (index: number) => string): WasiFdImage {
  const out: WasiFdImage = {
    fd,
    kind: e.kind,
    path: e.path,
    offset: e.offset,
    rights: e.rights.toString(),
    inheriting: e.inheriting.toString(),
    fdflags: e.fdflags,
    write: e.write,
  };
  if (e.kind === "directory" || e.kind === "file") out.tree = treeName(e.tree);
  if (e.preopen !== undefined) out.preopen = e.preopen;
  return out;
}

const KINDS: readonly FdKind[] = ["stdin", "stdout", "stderr", "directory", "file"];
const U64_MAX = (1n << 64n) - 1n;

function bad(detail: string): FerryError {
  return new FerryError("snapshot_malformed", `WASI state: ${detail}`);
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const strings = (v: unknown): v is string[] => Array.isArray(v) && v.every((s) => typeof s === "string");

function u64(v: unknown, what: string): bigint {
  if (typeof v !== "string" || !/^\d{1,20}$/.test(v) || BigInt(v) > U64_MAX) throw bad(`${what} is not a u64 in decimal`);
  return BigInt(v);
}

/** Check an image's shape; the resources it names are checked against the instance by `readFd`. */
export function readImage(raw: unknown): WasiImage & { clock: bigint; sleepDeadline: bigint | undefined } {
  if (!isObject(raw)) throw bad("not an object");
  if (raw.version !== WASI_IMAGE_VERSION) throw bad(`version ${String(raw.version)}, this build reads ${WASI_IMAGE_VERSION}`);
  if (!strings(raw.args) || !strings(raw.env)) throw bad("args and env must be lists of strings");
  if (typeof raw.stderrLine !== "string" || raw.stderrLine.length > 65_536) throw bad("stderrLine");
  if (!Array.isArray(raw.fds) || raw.fds.length > MAX_WASI_FDS) throw bad(`fds must be a list of at most ${MAX_WASI_FDS}`);
  const clock = u64(raw.monotonicNs, "monotonicNs");
  const sleepDeadline = raw.sleepDeadlineNs === undefined ? undefined : u64(raw.sleepDeadlineNs, "sleepDeadlineNs");
  return { ...(raw as unknown as WasiImage), clock, sleepDeadline };
}

/** One descriptor of an image, checked, as a table entry on this instance's trees (by guest path). */
export function readFd(raw: unknown, treeIndex: (guestPath: string) => number | undefined): { fd: number; entry: FdEntry } {
  if (!isObject(raw)) throw bad("a descriptor that is not an object");
  const { fd, kind, path, offset, fdflags, write } = raw;
  if (typeof fd !== "number" || !Number.isInteger(fd) || fd < 0 || fd >= 1 << 30) throw bad(`descriptor number ${String(fd)}`);
  if (!KINDS.includes(kind as FdKind)) throw bad(`fd ${fd}: kind ${String(kind)}`);
  if (typeof path !== "string") throw bad(`fd ${fd}: path`);
  if (typeof offset !== "number" || !Number.isSafeInteger(offset) || offset < 0) throw bad(`fd ${fd}: offset`);
  if (typeof fdflags !== "number" || !Number.isInteger(fdflags) || fdflags < 0 || fdflags > 0x1f) throw bad(`fd ${fd}: fdflags`);
  if (typeof write !== "boolean") throw bad(`fd ${fd}: write`);
  const entry: FdEntry = {
    kind: kind as FdKind,
    tree: -1,
    path,
    offset,
    rights: u64(raw.rights, `fd ${fd} rights`),
    inheriting: u64(raw.inheriting, `fd ${fd} inheriting`),
    fdflags,
    write,
  };
  if (raw.preopen !== undefined) {
    if (typeof raw.preopen !== "string") throw bad(`fd ${fd}: preopen`);
    entry.preopen = raw.preopen;
  }
  if (entry.kind === "directory" || entry.kind === "file") {
    // A path that is not already normalized could only have been written to climb out of its tree.
    let normal: string;
    try {
      normal = normalizeTreePath("", path);
    } catch {
      normal = `\0${path}`;
    }
    if (normal !== path) throw new FerryError("snapshot_resources", `fd ${fd} names the path "${path}", which is not inside its directory`);
    const name = raw.tree;
    const index = typeof name === "string" ? treeIndex(name) : undefined;
    if (index === undefined) {
      throw new FerryError(
        "snapshot_resources",
        `fd ${fd} is open in the directory ${JSON.stringify(name)}, which this instance was not given`,
      );
    }
    entry.tree = index;
  }
  return { fd, entry };
}
