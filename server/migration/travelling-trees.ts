// The directories that travel with a job (moved or copied, by the binding table — the others stay,
// reached by global reference, or are rebound): what the target makes of the tree bundle at the end
// of a PRE-COPY or PREPARE body. Pre-copy rounds bring blobs early (kept with the base); the PREPARE
// names the trees as they were when the job stopped and carries only the blobs the rounds did not.
// Every tree the job's configuration says travels must be there, no other, and every file's bytes
// must be in hand — or the transfer is refused (400) and the job stays at its source.

import { decodeTreeBundle, encodeTreeBundle, missingBlob, type TreeLimits } from "../../runtime/index.js";
import { ServerError } from "../errors.js";
import { travellingDirs } from "../job-wasi.js";
import type { TransferHeader } from "./transfer-header.js";

/** A pre-copy round's bundle: its blobs added to those earlier rounds brought (the manifests are the PREPARE's business). */
export function roundBlobs(
  bytes: Uint8Array | undefined,
  earlier: ReadonlyMap<string, Uint8Array> | undefined,
  limits: Required<TreeLimits>,
): Map<string, Uint8Array> | undefined {
  if (!bytes) return earlier ? new Map(earlier) : undefined;
  const bundle = decodeTreeBundle(bytes, limits);
  // Copied out of the request body, which is let go.
  const blobs = new Map([...(earlier ?? []), ...[...bundle.blobs].map(([sha, b]) => [sha, new Uint8Array(b)] as const)]);
  // Held in memory until the PREPARE: all the rounds together within the owner's quota, or a peer's
  // rounds (a fresh base each time, never counted against the round limit) would pile up without end.
  let held = 0;
  for (const b of blobs.values()) held += b.byteLength;
  if (held > limits.maxBytes)
    throw new ServerError("bad_request", `transfer: the pre-copy rounds bring more than ${limits.maxBytes} bytes of directory files`);
  return blobs;
}

/**
 * The PREPARE's trees, whole — one bundle with every blob its manifests name — as the target stores
 * them until the job runs here; undefined when none travel.
 */
export function incomingTrees(
  header: TransferHeader,
  bytes: Uint8Array | undefined,
  earlier: ReadonlyMap<string, Uint8Array> | undefined,
  limits: Required<TreeLimits>,
): Uint8Array | undefined {
  const expected = travellingDirs(header.wasi ?? null).map((d) => d.guest);
  if (!bytes) {
    if (expected.length > 0) throw new ServerError("bad_request", `transfer: directory "${expected[0]}" travels, but no trees came`);
    return undefined;
  }
  const bundle = decodeTreeBundle(bytes, limits);
  const names = [...bundle.trees.keys()];
  if (names.length !== expected.length || !expected.every((g) => bundle.trees.has(g)))
    throw new ServerError(
      "bad_request",
      `transfer: the trees are ${JSON.stringify(names)}, but the directories that travel are ${JSON.stringify(expected)}`,
    );
  const blob = (sha: string) => bundle.blobs.get(sha) ?? earlier?.get(sha);
  const missing = missingBlob(bundle.trees, (sha) => blob(sha) !== undefined);
  if (missing) throw new ServerError("bad_request", `transfer: no bytes came for ${missing}`);
  const used = new Map<string, Uint8Array>();
  for (const manifest of bundle.trees.values())
    for (const e of manifest.entries) if (e.type === "file" && !used.has(e.sha256)) used.set(e.sha256, blob(e.sha256)!);
  return encodeTreeBundle({ trees: bundle.trees, blobs: used });
}
