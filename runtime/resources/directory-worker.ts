// The resource worker's directories (resource-worker.ts runs these; off-thread-directory.ts asks):
// HostDirectory calls served in the worker thread, so a guest's disk I/O through a preopened
// directory never runs on the host's event loop. A tree is named in every call by its spec (a base
// the host owns and a normalized path under it), so the worker keeps no per-tree state a restart
// would lose except a cache; open files are kept by handle id, per worker.

import { lstatSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import type { Directory, FileHandle } from "./directory.js";
import { FsError } from "./directory.js";
import { segmentsOf } from "./directory-checks.js";
import { HostDirectory } from "./host-directory.js";

/** A HostDirectory as the host names it: `path` (normalized, may be "") under `base`. */
export interface DirectorySpec {
  /** A directory the host owns (made when missing): the tree can never be above it. */
  base: string;
  /** The tree's root, relative to `base`, in normalized segments; made when missing and `create`. */
  path: string;
  readOnly: boolean;
  create: boolean;
  maxFileBytes?: number;
}

export type DirectoryMethod = "stat" | "list" | "mkdir" | "rmdir" | "unlink" | "rename" | "readlink" | "setTimes" | "openFile";
export type FileMethod = "read" | "write" | "stat" | "setSize" | "setTimes" | "sync" | "close";

/** Bounded: a node has few trees open at once; past this the cache starts over (a HostDirectory is cheap to make again). */
const MAX_CACHED_TREES = 256;

const trees = new Map<string, Directory>();
const files = new Map<number, FileHandle>();
let nextFile = 1;

/** Open files in this worker (the host keeps the worker alive while any is open). */
export function openDirectoryFiles(): number {
  return files.size;
}

/** `spec`'s tree, made (component by component, never through a symlink) when missing and asked to. */
function treeOf(spec: DirectorySpec): Directory {
  const key = JSON.stringify([spec.base, spec.path, spec.readOnly, spec.maxFileBytes ?? null]);
  const known = trees.get(key);
  if (known) return known;
  const segments = segmentsOf(spec.path);
  mkdirSync(spec.base, { recursive: true });
  let at = spec.base;
  for (const s of segments) {
    at = join(at, s);
    const st = lstatSync(at, { throwIfNoEntry: false });
    if (st === undefined && spec.create) mkdirSync(at);
    else if (st === undefined) throw new FsError("ENOENT", `directory "${spec.path}" does not exist`);
    else if (!st.isDirectory()) throw new FsError("ENOTDIR", `"${spec.path}" is not a directory (a symlink is never followed)`);
  }
  const tree = new HostDirectory(at, {
    readOnly: spec.readOnly,
    ...(spec.maxFileBytes === undefined ? {} : { maxFileBytes: spec.maxFileBytes }),
  });
  if (trees.size >= MAX_CACHED_TREES) trees.clear();
  trees.set(key, tree);
  return tree;
}

/** One call on a tree; an openFile answers the new handle's id. */
export function serveDirectory(spec: DirectorySpec, method: DirectoryMethod, args: unknown[]): unknown {
  const tree = treeOf(spec);
  const path = args[0] as string;
  switch (method) {
    case "stat":
      return tree.stat(path);
    case "list":
      return tree.list(path);
    case "mkdir":
      return tree.mkdir(path);
    case "rmdir":
      return tree.rmdir(path);
    case "unlink":
      return tree.unlink(path);
    case "rename":
      return tree.rename(path, args[1] as string);
    case "readlink":
      return tree.readlink(path);
    case "setTimes":
      return tree.setTimes(path, args[1] as bigint | undefined, args[2] as bigint | undefined);
    case "openFile": {
      const handle = tree.openFile(path, args[1] as Parameters<Directory["openFile"]>[1]);
      const id = nextFile++;
      files.set(id, handle);
      return id;
    }
  }
}

/** One call on an open file: a read answers the bytes read (a copy the host owns), a write how many it wrote. */
export function serveFile(id: number, method: FileMethod, args: unknown[], bytes: Uint8Array | undefined): unknown {
  const file = files.get(id);
  if (!file) throw new FsError("EBADF", `file handle ${id} is not open (the resource worker may have restarted)`);
  switch (method) {
    case "read": {
      const into = new Uint8Array(args[0] as number);
      return into.subarray(0, file.read(into, args[1] as number)).slice();
    }
    case "write":
      return file.write(bytes ?? new Uint8Array(0), args[0] as number);
    case "stat":
      return file.stat();
    case "setSize":
      return file.setSize(args[0] as number);
    case "setTimes":
      return file.setTimes(args[0] as bigint | undefined, args[1] as bigint | undefined);
    case "sync":
      return file.sync();
    case "close":
      files.delete(id);
      return file.close();
  }
}
