// A directory tree moved or copied by content, the way memory is: a manifest names every directory
// and file (its path, size and the sha256 of its bytes), and the bytes travel as blobs keyed by
// their digest. A file the receiver already has — sent in an earlier pre-copy round, or identical
// to another — is not sent again, so the last round, the one the job is stopped for, carries only
// what changed since the round before.
//
// The receiver treats the manifest and the blobs as untrusted (they come from another node):
// `readManifest` checks every path (normalized, inside the tree, each one's directory listed before
// it) and the totals against limits; `applyTree` checks every blob against its digest and size
// *before* it writes anything, then writes each file under a temporary name and renames it into
// place, so a failed transfer leaves no file half-written.
//
// Both ends work over any tree — a Directory, or one whose calls answer later (a tree served off
// the event loop, or at another node): every call is awaited.

import { createHash, randomBytes } from "node:crypto";
import { FerryError } from "../errors.js";
import { type DirEntry, type EntryStat, FsError, normalizeTreePath, type OpenFileOptions } from "./directory.js";
import type { TreeDigests } from "./tree-digests.js";

/** Most entries (files and directories) a transferred tree may hold, by default. */
export const DEFAULT_TREE_MAX_ENTRIES = 10_000;
/** Most file bytes a transferred tree may hold, by default. */
export const DEFAULT_TREE_MAX_BYTES = 256 * 1024 * 1024;
/** Bytes read from a file per call while it is hashed. */
const READ_CHUNK_BYTES = 1024 * 1024;

type Maybe<T> = T | Promise<T>;

/** What reading and writing a tree needs of it: a Directory has all of it, and an asynchronous one too. */
export interface TransferFile {
  read(into: Uint8Array, position: number): Maybe<number>;
  write(bytes: Uint8Array, position: number): Maybe<number>;
  close(): Maybe<void>;
}
export interface TransferTree {
  stat(path: string): Maybe<EntryStat>;
  list(path: string): Maybe<DirEntry[]>;
  mkdir(path: string): Maybe<void>;
  unlink(path: string): Maybe<void>;
  rmdir(path: string): Maybe<void>;
  rename(from: string, to: string): Maybe<void>;
  openFile(path: string, options: OpenFileOptions): Maybe<TransferFile>;
}

export interface TreeLimits {
  maxEntries?: number;
  maxBytes?: number;
}

export interface TreeFileEntry {
  path: string;
  type: "file";
  size: number;
  sha256: string;
}
export interface TreeDirEntry {
  path: string;
  type: "directory";
}
export type TreeEntry = TreeFileEntry | TreeDirEntry;

/** Every directory before what it holds; the root itself is not listed. */
export interface TreeManifest {
  entries: TreeEntry[];
  /** Sum of the files' sizes. */
  bytes: number;
}

/** What a sender reads: the manifest, and the bytes of the files whose digest the receiver lacks. */
export interface TreeCapture {
  manifest: TreeManifest;
  blobs: Map<string, Uint8Array>;
  /** Symlinks and other entries that are neither file nor directory: never followed, not carried. */
  skipped: string[];
}

function limitsOf(l: TreeLimits): Required<TreeLimits> {
  return { maxEntries: l.maxEntries ?? DEFAULT_TREE_MAX_ENTRIES, maxBytes: l.maxBytes ?? DEFAULT_TREE_MAX_BYTES };
}

/**
 * Walk `tree` and read every file: the manifest, and the bytes of each file whose digest `has`
 * does not know (a blob the receiver lacks). Over the limits: EFBIG (bytes) or ENOSPC (entries).
 * With `digests` (kept from an earlier capture of the same tree), a file that certainly has not
 * changed since is not read again when the receiver has its bytes.
 */
export async function captureTree(
  tree: TransferTree,
  has: (sha256: string) => boolean = () => false,
  limits: TreeLimits = {},
  digests?: TreeDigests,
): Promise<TreeCapture> {
  const { maxEntries, maxBytes } = limitsOf(limits);
  digests?.begin();
  const entries: TreeEntry[] = [];
  const blobs = new Map<string, Uint8Array>();
  const skipped: string[] = [];
  let bytes = 0;
  const pending = [""];
  for (let dir = pending.pop(); dir !== undefined; dir = pending.pop()) {
    for (const e of await tree.list(dir)) {
      const path = dir === "" ? e.name : `${dir}/${e.name}`;
      if (e.type !== "file" && e.type !== "directory") {
        skipped.push(path);
        continue;
      }
      if (entries.length >= maxEntries) throw new FsError("ENOSPC", `the tree holds more than ${maxEntries} entries`);
      if (e.type === "directory") {
        entries.push({ path, type: "directory" });
        pending.push(path);
        continue;
      }
      const st = await tree.stat(path);
      if (st.size > maxBytes - bytes) throw new FsError("EFBIG", `"${path}" takes the tree past its byte limit`);
      const known = digests?.known(path, st);
      if (known !== undefined && has(known)) {
        bytes += st.size;
        entries.push({ path, type: "file", size: st.size, sha256: known });
        continue;
      }
      const content = await readWhole(tree, path, maxBytes - bytes);
      bytes += content.byteLength;
      const sha256 = digest(content);
      digests?.record(path, st, sha256);
      entries.push({ path, type: "file", size: content.byteLength, sha256 });
      if (!has(sha256)) blobs.set(sha256, content);
    }
  }
  return { manifest: { entries, bytes }, blobs, skipped };
}

async function readWhole(tree: TransferTree, path: string, room: number): Promise<Uint8Array> {
  const size = (await tree.stat(path)).size;
  if (size > room) throw new FsError("EFBIG", `"${path}" takes the tree past its byte limit`);
  const file = await tree.openFile(path, {});
  try {
    const chunks: Uint8Array[] = [];
    let at = 0;
    for (;;) {
      const chunk = new Uint8Array(READ_CHUNK_BYTES);
      const n = await file.read(chunk, at);
      if (n === 0) break;
      at += n;
      if (at > room) throw new FsError("EFBIG", `"${path}" grew past the tree's byte limit while it was read`);
      chunks.push(chunk.subarray(0, n));
    }
    return Buffer.concat(chunks);
  } finally {
    await file.close();
  }
}

export function digest(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

const SHA256 = /^[0-9a-f]{64}$/;

function malformed(detail: string): FerryError {
  return new FerryError("tree_malformed", detail);
}

/** A manifest from elsewhere, checked field by field (tree_malformed), within `limits`. */
export function readManifest(raw: unknown, limits: TreeLimits = {}): TreeManifest {
  const { maxEntries, maxBytes } = limitsOf(limits);
  if (typeof raw !== "object" || raw === null || !Array.isArray((raw as TreeManifest).entries)) throw malformed("not a tree manifest");
  const list = (raw as { entries: unknown[] }).entries;
  if (list.length > maxEntries) throw malformed(`${list.length} entries, more than ${maxEntries}`);
  const dirs = new Set<string>([""]);
  const seen = new Set<string>();
  const entries: TreeEntry[] = [];
  let bytes = 0;
  for (const [i, e] of list.entries()) {
    const { path, type, size, sha256 } = (e ?? {}) as Record<string, unknown>;
    if (typeof path !== "string" || path === "" || !isNormalized(path)) throw malformed(`entry ${i}: a path outside the tree`);
    if (seen.has(path)) throw malformed(`entry ${i}: "${path}" is listed twice`);
    const parent = path.includes("/") ? path.slice(0, path.lastIndexOf("/")) : "";
    if (!dirs.has(parent)) throw malformed(`entry ${i}: "${path}" comes before its directory`);
    seen.add(path);
    if (type === "directory") {
      dirs.add(path);
      entries.push({ path, type });
    } else if (
      type === "file" &&
      Number.isSafeInteger(size) &&
      (size as number) >= 0 &&
      typeof sha256 === "string" &&
      SHA256.test(sha256)
    ) {
      bytes += size as number;
      if (bytes > maxBytes) throw malformed(`the files hold more than ${maxBytes} bytes`);
      entries.push({ path, type, size: size as number, sha256 });
    } else throw malformed(`entry ${i}: not a directory or a file with a size and a sha256`);
  }
  return { entries, bytes };
}

function isNormalized(path: string): boolean {
  try {
    return normalizeTreePath("", path) === path;
  } catch {
    return false;
  }
}

/**
 * Make `tree` hold what `manifest` names: its directories created, its files written with the bytes
 * `blob` gives for their digests. Every blob is checked first (missing, or not matching its digest
 * or size: tree_malformed) so a bad transfer writes nothing; each file is then written under a
 * temporary name and renamed into place. Entries of `tree` the manifest does not name are left.
 */
export async function applyTree(
  tree: TransferTree,
  manifest: TreeManifest,
  blob: (sha256: string) => Uint8Array | undefined,
  options: { verified?: boolean } = {},
): Promise<void> {
  for (const e of manifest.entries) {
    if (e.type !== "file") continue;
    const bytes = blob(e.sha256);
    if (!bytes) throw malformed(`no bytes for "${e.path}"`);
    // `verified`: the caller's blobs were checked against their digests already (hashing 16 MiB again costs ~40 ms).
    if (bytes.byteLength !== e.size || (!options.verified && digest(bytes) !== e.sha256))
      throw malformed(`the bytes for "${e.path}" do not match its digest`);
  }
  for (const e of manifest.entries) {
    if (e.type === "directory") await ensureDirectory(tree, e.path);
    else await writeFileAtomically(tree, e.path, blob(e.sha256)!);
  }
}

async function ensureDirectory(tree: TransferTree, path: string): Promise<void> {
  try {
    await tree.mkdir(path);
  } catch (e) {
    if (!(e instanceof FsError && e.errno === "EEXIST")) throw e;
    if ((await tree.stat(path)).type !== "directory") throw new FsError("ENOTDIR", `"${path}" exists and is not a directory`);
  }
}

async function writeFileAtomically(tree: TransferTree, path: string, bytes: Uint8Array): Promise<void> {
  const dir = path.includes("/") ? `${path.slice(0, path.lastIndexOf("/"))}/` : "";
  const temp = `${dir}.ferry-incoming-${randomBytes(6).toString("hex")}`;
  const file = await tree.openFile(temp, { create: true, exclusive: true, write: true });
  try {
    for (let at = 0; at < bytes.byteLength; ) at += await file.write(bytes.subarray(at, at + READ_CHUNK_BYTES), at);
  } catch (e) {
    await file.close();
    await tree.unlink(temp);
    throw e;
  }
  await file.close();
  await tree.rename(temp, path);
}

/**
 * After a move: take out of `tree` what `manifest` names — its files, then its directories deepest
 * first, each only while empty (what the tree gained since the capture stays). Entries already gone
 * are not an error: a retried removal finishes the first one's work.
 */
export async function removeTree(tree: TransferTree, manifest: TreeManifest): Promise<void> {
  for (const e of manifest.entries) if (e.type === "file") await unlessGone(() => tree.unlink(e.path));
  const dirs = manifest.entries.filter((e) => e.type === "directory").reverse();
  for (const e of dirs) await unlessGone(() => tree.rmdir(e.path));
}

/** `call`, an entry already gone (or a directory still holding something) not an error; a Directory throws at once, others reject. */
async function unlessGone(call: () => Maybe<void>): Promise<void> {
  try {
    await call();
  } catch (e) {
    if (!(e instanceof FsError && (e.errno === "ENOENT" || e.errno === "ENOTEMPTY" || e.errno === "EEXIST"))) throw e;
  }
}
