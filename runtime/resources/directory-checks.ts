// What every Directory checks before it acts (host-directory.ts, memory-directory.ts): that a path
// is what `normalizeTreePath` makes, that positions and sizes are byte offsets a file can have, and
// the refusals both trees make the same way, so the two answer every situation with the same error.

import { FsError, MAX_TREE_NAME_BYTES, MAX_TREE_PATH_BYTES, type OpenFileOptions } from "./directory.js";

/**
 * The segments of a normalized tree path ("" is the root: no segment). The WASI layer normalizes
 * every path first; this re-checks it cheaply, because a Directory is the last line of defence and
 * a path that slipped through un-normalized ("..", "/", NUL) must not reach the disk.
 */
export function segmentsOf(path: string): string[] {
  if (typeof path !== "string") throw new FsError("ENOTCAPABLE", "a path that is not a string");
  if (path === "") return [];
  if (path.includes("\0")) throw new FsError("ENOTCAPABLE", "a path with a NUL byte");
  // UTF-8 takes at most 3 bytes per UTF-16 unit: only a long string needs counting.
  if (path.length * 3 > MAX_TREE_PATH_BYTES && Buffer.byteLength(path) > MAX_TREE_PATH_BYTES) {
    throw new FsError("ENAMETOOLONG", `a path longer than ${MAX_TREE_PATH_BYTES} bytes`);
  }
  const segments = path.split("/");
  for (const s of segments) {
    if (s === "" || s === "." || s === "..") throw new FsError("ENOTCAPABLE", `${JSON.stringify(path)} is not a normalized tree path`);
    if (s.length * 3 > MAX_TREE_NAME_BYTES && Buffer.byteLength(s) > MAX_TREE_NAME_BYTES) {
      throw new FsError("ENAMETOOLONG", `a name longer than ${MAX_TREE_NAME_BYTES} bytes`);
    }
  }
  return segments;
}

/** Directory listings are in this order (UTF-16 code units), the same in every implementation. */
export function byName(a: { name: string }, b: { name: string }): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}

/** A byte offset or length a file may have: a non-negative safe integer, else EINVAL. */
export function checkOffset(value: number, what: string): number {
  if (!Number.isSafeInteger(value) || value < 0) throw new FsError("EINVAL", `${what} ${String(value)} is not a byte offset`);
  return value;
}

/** `bytes` written at `position` must end at a safe offset too (the sum is what the file becomes). */
export function checkWriteEnd(position: number, length: number): number {
  checkOffset(position, "position");
  return checkOffset(position + length, "the end of the write");
}

/** The refusals of `openFile` that come before the tree is looked at, the same in every implementation. */
export function checkOpenOptions(options: OpenFileOptions, readOnly: boolean, path: string): void {
  if (readOnly && (options.write || options.create || options.truncate)) {
    throw new FsError("EROFS", `${quoted(path)}: the directory is read-only`);
  }
  // POSIX leaves O_TRUNC on a read-only descriptor undefined (Linux truncates anyway): refuse it.
  if (options.truncate && !options.write) throw new FsError("EINVAL", `${quoted(path)}: truncate needs write`);
}

export function refuseIfReadOnly(readOnly: boolean, path: string): void {
  if (readOnly) throw new FsError("EROFS", `${quoted(path)}: the directory is read-only`);
}

/** The root itself can be looked at and listed, but not removed, renamed or replaced. */
export function refuseRoot(segments: string[], errno: "EEXIST" | "EINVAL" | "EISDIR", what: string): void {
  if (segments.length === 0) throw new FsError(errno, `the root of the directory ${what}`);
}

/** rename(2)'s first checks, alike in every tree: writable, and neither end the root. Returns both ends' segments. */
export function renameEnds(readOnly: boolean, from: string, to: string): [string[], string[]] {
  const fromSegments = segmentsOf(from);
  const toSegments = segmentsOf(to);
  refuseIfReadOnly(readOnly, from);
  refuseRoot(fromSegments, "EINVAL", "cannot be renamed");
  refuseRoot(toSegments, "EINVAL", "cannot be replaced");
  return [fromSegments, toSegments];
}

/** A tree path as it appears in messages: "" is shown as the root, never the host's path. */
export function quoted(path: string): string {
  return path === "" ? "the root" : JSON.stringify(path);
}

/** The first `i + 1` segments, quoted: which directory on the way a refusal is about. */
export function prefixOf(segments: string[], i: number): string {
  return quoted(segments.slice(0, i + 1).join("/"));
}

/**
 * Where a rename would put a directory inside itself (EINVAL) or replace one of its own ancestors
 * (ENOTEMPTY: the ancestor holds it), as rename(2) answers. Exact on tree paths, because no
 * Directory follows symlinks and none has hard-linked directories.
 */
export function checkRenameAncestry(from: string, to: string): void {
  if (to.startsWith(`${from}/`)) throw new FsError("EINVAL", `${quoted(from)} cannot move inside itself (${quoted(to)})`);
  if (from.startsWith(`${to}/`)) throw new FsError("ENOTEMPTY", `${quoted(to)} holds ${quoted(from)}`);
}
