// A MemoryDirectory's tree as a plain JSON-able object, so a job's scratch directory can travel with
// the job: names, kinds, inode numbers and times (bigints as decimal strings, which JSON can carry),
// files' bytes in base64. Reading one back treats it as untrusted input — it may come from another
// node — so every field is checked, and the quotas of the directory it fills hold while it is read.
// Flat, each entry naming its directory's index: renames can nest directories deeper than any path
// names, deeper than JSON.stringify (which recurses) could carry a nested object.

import { FerryError } from "../errors.js";
import { FsError } from "./directory.js";
import { segmentsOf } from "./directory-checks.js";
import type { MemoryDir, MemoryFile, MemoryNode, MemoryTree } from "./memory-tree.js";

export const TREE_SNAPSHOT_FORMAT = "ferry-memory-tree";

/** One file or directory; entry 0 is the root, and every other entry comes after its directory. */
export interface TreeSnapshotEntry {
  /** Index of the directory holding it, always an earlier entry; -1 for the root. */
  parent: number;
  /** "" for the root. */
  name: string;
  type: "file" | "directory";
  /** Decimal strings: bigints as JSON carries them. */
  ino: string;
  atimeNs: string;
  mtimeNs: string;
  ctimeNs: string;
  /** A file's bytes, base64. */
  data?: string;
}

/** Flat, not nested: JSON.stringify recurses, and a tree may be nested thousands of levels deep. */
export interface TreeSnapshot {
  format: typeof TREE_SNAPSHOT_FORMAT;
  version: 1;
  entries: TreeSnapshotEntry[];
}

export function encodeTree(tree: MemoryTree): TreeSnapshot {
  const entries = [encodeNode(-1, "", tree.root)];
  const pending: Array<[MemoryDir, number]> = [[tree.root, 0]];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const [dir, index] = next;
    const names = [...dir.entries.keys()].sort();
    for (const name of names) {
      const node = dir.entries.get(name)!;
      if (node.kind === "directory") pending.push([node, entries.length]);
      entries.push(encodeNode(index, name, node));
    }
  }
  return { format: TREE_SNAPSHOT_FORMAT, version: 1, entries };
}

function encodeNode(parent: number, name: string, node: MemoryNode): TreeSnapshotEntry {
  const ino = String(node.ino);
  const times = { atimeNs: String(node.atimeNs), mtimeNs: String(node.mtimeNs), ctimeNs: String(node.ctimeNs) };
  if (node.kind === "directory") return { parent, name, type: "directory", ino, ...times };
  const data = Buffer.from(node.bytes.buffer, node.bytes.byteOffset, node.size).toString("base64");
  return { parent, name, type: "file", ino, ...times, data };
}

const INO = /^[0-9]{1,20}$/;
/** Inode numbers stay well inside WASI's u64, with room for the counter to go on. */
const MAX_INO = 2n ** 63n;
const TIME = /^-?[0-9]{1,30}$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function malformed(why: string): FerryError {
  return new FerryError("snapshot_malformed", `memory tree: ${why}`);
}

/** Fill `tree` (fresh and empty) with `snapshot`'s tree, within the tree's quotas. */
export function decodeTree(snapshot: unknown, tree: MemoryTree): void {
  if (!isRecord(snapshot) || snapshot.format !== TREE_SNAPSHOT_FORMAT || snapshot.version !== 1 || !Array.isArray(snapshot.entries)) {
    throw malformed(`not a ${TREE_SNAPSHOT_FORMAT} of version 1`);
  }
  const entries = snapshot.entries as unknown[];
  if (entries.length - 1 > tree.limits.maxEntries)
    throw new FerryError("snapshot_limit", `memory tree: more than ${tree.limits.maxEntries} entries`);
  const inos = new Set<bigint>();
  const rootEntry = entries[0];
  if (!isRecord(rootEntry) || rootEntry.parent !== -1 || rootEntry.name !== "" || rootEntry.type !== "directory") {
    throw malformed('entry 0 is not the root (a directory named "", parent -1)');
  }
  const nodes: MemoryNode[] = [decodeNode(rootEntry, tree, inos)];
  for (let i = 1; i < entries.length; i++) {
    const entry = entries[i];
    if (!isRecord(entry)) throw malformed(`entry ${i} is not an object`);
    const parent = entry.parent;
    if (typeof parent !== "number" || !Number.isInteger(parent) || parent < 0 || parent >= i)
      throw malformed(`entry ${i}'s parent is not an earlier entry`);
    const dir = nodes[parent]!;
    if (dir.kind !== "directory") throw malformed(`entry ${i}'s parent is not a directory`);
    const name = nameOf(entry.name);
    if (dir.entries.has(name)) throw malformed(`two entries named ${JSON.stringify(name)} in one directory`);
    const node = decodeNode(entry, tree, inos);
    dir.entries.set(name, node);
    nodes.push(node);
  }
  tree.root = nodes[0] as MemoryDir;
  tree.usedEntries = entries.length - 1;
  let last = 0n;
  for (const ino of inos) if (ino > last) last = ino;
  tree.nextIno = last + 1n;
}

function nameOf(name: unknown): string {
  if (typeof name !== "string") throw malformed("an entry without a name");
  let segments: string[];
  try {
    segments = segmentsOf(name);
  } catch (error) {
    if (!(error instanceof FsError)) throw error;
    segments = [];
  }
  if (segments.length !== 1) throw malformed(`${JSON.stringify(name.slice(0, 80))} is not a name`);
  return name;
}

function decodeNode(entry: Record<string, unknown>, tree: MemoryTree, inos: Set<bigint>): MemoryNode {
  const ino = bigintOf(entry.ino, INO, "ino");
  if (ino === 0n || ino >= MAX_INO || inos.has(ino)) throw malformed(`inode number ${ino} is out of range or used twice`);
  inos.add(ino);
  const times = {
    ino,
    atimeNs: bigintOf(entry.atimeNs, TIME, "atimeNs"),
    mtimeNs: bigintOf(entry.mtimeNs, TIME, "mtimeNs"),
    ctimeNs: bigintOf(entry.ctimeNs, TIME, "ctimeNs"),
  };
  if (entry.type === "directory") return { kind: "directory", ...times, entries: new Map() };
  if (entry.type !== "file") throw malformed(`an entry of type ${JSON.stringify(String(entry.type).slice(0, 20))}`);
  const data = entry.data;
  if (typeof data !== "string" || !BASE64.test(data)) throw malformed("a file whose data is not base64");
  // Counted before it is decoded: an over-quota tree costs no allocation.
  const size = (data.length / 4) * 3 - (data.endsWith("==") ? 2 : data.endsWith("=") ? 1 : 0);
  if (tree.usedBytes + size > tree.limits.maxBytes)
    throw new FerryError("snapshot_limit", `memory tree: more than ${tree.limits.maxBytes} bytes`);
  tree.usedBytes += size;
  const bytes = new Uint8Array(Buffer.from(data, "base64"));
  const file: MemoryFile = { kind: "file", ...times, bytes, size, links: 1, opens: 0 };
  return file;
}

function bigintOf(value: unknown, shape: RegExp, field: string): bigint {
  if (typeof value !== "string" || !shape.test(value)) throw malformed(`${field} is not a decimal integer`);
  return BigInt(value);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
