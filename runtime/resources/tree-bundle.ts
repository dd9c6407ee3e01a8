// Directory trees as one byte string, for a transfer body: the manifests of the trees that travel
// (moved or copied, by name) and the blobs the receiver lacks, each once however many files share it.
//
//   "FERRYTB1" · u32 LE index length · index (UTF-8 JSON: { trees: { name: manifest }, blobs: [[sha256, bytes], …] }) · the blobs, in index order
//
// The receiver reads it strictly (tree_malformed): the magic, the index's shape, every manifest by
// readManifest's rules, the blobs' lengths adding up to exactly what follows, and each blob against
// its digest — so what a bundle hands out is what it claims to be. A manifest may name blobs the
// bundle does not carry (sent before, in a pre-copy round): applying it checks that they are all there.

import { FerryError } from "../errors.js";
import { digest, readManifest, type TreeLimits, type TreeManifest } from "./tree-transfer.js";

const MAGIC = "FERRYTB1";
const MAGIC_BYTES = 8;
const PREFIX_BYTES = MAGIC_BYTES + 4;
/** The index is JSON of manifests: at most this many bytes (10,000 entries of long paths fit). */
const MAX_INDEX_BYTES = 8 * 1024 * 1024;
const SHA256 = /^[0-9a-f]{64}$/;

export interface TreeBundle {
  trees: Map<string, TreeManifest>;
  blobs: Map<string, Uint8Array>;
}

function malformed(detail: string): FerryError {
  return new FerryError("tree_malformed", `tree bundle: ${detail}`);
}

export function encodeTreeBundle(bundle: TreeBundle): Uint8Array {
  const blobs = [...bundle.blobs];
  const index = Buffer.from(
    JSON.stringify({ trees: Object.fromEntries(bundle.trees), blobs: blobs.map(([sha, b]) => [sha, b.byteLength]) }),
    "utf8",
  );
  const prefix = Buffer.alloc(PREFIX_BYTES);
  prefix.write(MAGIC, 0, "latin1");
  prefix.writeUInt32LE(index.byteLength, MAGIC_BYTES);
  return Buffer.concat([prefix, index, ...blobs.map(([, b]) => b)]);
}

/**
 * A bundle from elsewhere, checked (tree_malformed). `limits` bound each tree and, together, all the
 * blobs carried (maxBytes) and all the entries (maxEntries). The blobs are views into `bytes`.
 * `verified`: the bundle's bytes as a whole were checked against a digest of them (read back from a
 * content-addressed store that was given a checked bundle): the blobs are not hashed again.
 */
export function decodeTreeBundle(bytes: Uint8Array, limits: Required<TreeLimits>, options: { verified?: boolean } = {}): TreeBundle {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.byteLength < PREFIX_BYTES || buf.toString("latin1", 0, MAGIC_BYTES) !== MAGIC) throw malformed(`it does not start with ${MAGIC}`);
  const indexBytes = buf.readUInt32LE(MAGIC_BYTES);
  if (indexBytes > MAX_INDEX_BYTES || PREFIX_BYTES + indexBytes > buf.byteLength)
    throw malformed(`an index of ${indexBytes} bytes does not fit`);
  let index: { trees?: unknown; blobs?: unknown };
  try {
    index = JSON.parse(buf.toString("utf8", PREFIX_BYTES, PREFIX_BYTES + indexBytes)) as typeof index;
  } catch {
    throw malformed("the index is not JSON");
  }
  if (typeof index !== "object" || index === null) throw malformed("the index is not an object");
  const trees = readTrees(index.trees, limits);
  const blobs = new Map<string, Uint8Array>();
  if (!Array.isArray(index.blobs)) throw malformed("blobs is not a list");
  let at = PREFIX_BYTES + indexBytes;
  for (const [i, entry] of index.blobs.entries()) {
    const [sha, size] = Array.isArray(entry) ? entry : [];
    if (typeof sha !== "string" || !SHA256.test(sha) || !Number.isSafeInteger(size) || size < 0)
      throw malformed(`blob ${i} is not [sha256, length]`);
    if (at + size > buf.byteLength) throw malformed(`blob ${i} runs past the end`);
    const blob = bytes.subarray(at, at + size);
    if (!options.verified && digest(blob) !== sha) throw malformed(`blob ${i} does not match its digest`);
    blobs.set(sha, blob);
    at += size;
  }
  if (at !== buf.byteLength) throw malformed(`${buf.byteLength - at} bytes follow the last blob`);
  if (at - PREFIX_BYTES - indexBytes > limits.maxBytes) throw malformed(`the blobs hold more than ${limits.maxBytes} bytes`);
  return { trees, blobs };
}

function readTrees(raw: unknown, limits: Required<TreeLimits>): Map<string, TreeManifest> {
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw malformed("trees is not an object");
  const trees = new Map<string, TreeManifest>();
  // The limits bound all the trees together, as laid down: trees sharing blobs still write each file.
  let entries = 0;
  let bytes = 0;
  for (const [name, manifest] of Object.entries(raw)) {
    const read = readManifest(manifest, { maxEntries: limits.maxEntries - entries, maxBytes: limits.maxBytes });
    entries += read.entries.length;
    bytes += read.bytes;
    if (bytes > limits.maxBytes) throw malformed(`the trees' files hold more than ${limits.maxBytes} bytes`);
    trees.set(name, read);
  }
  return trees;
}

/** Whether `blob` has every file of every tree in `trees`; the first path that lacks its bytes, if any. */
export function missingBlob(trees: Map<string, TreeManifest>, has: (sha256: string) => boolean): string | undefined {
  for (const [name, manifest] of trees)
    for (const e of manifest.entries) if (e.type === "file" && !has(e.sha256)) return `${name}: ${e.path}`;
  return undefined;
}
