// The peers file (`ferry serve --peers FILE`): a JSON array of entries `{ nodeId, url, publicKey }`,
// the same shape `ferry node info`, `GET /node` and `ferry serve --json` print for a node, so one
// node's entry can be pasted into another's file as it is. Older spellings of the id (`node`, as
// `serve --json` printed it, and `clientId`, as node-key.json held it) are still read, each with a
// deprecation note naming the entry.

import { readFileSync } from "node:fs";
import { keyFingerprint } from "../formats/keys.js";
import { parsePublicKey } from "../auth/keys.js";
import { ServerError } from "../errors.js";
import { checkPeerUrl } from "./peer-url.js";

/** One node as its peers know it. `nodeId` is the fingerprint of `publicKey` (auth/keys.ts). */
export interface PeerEntry {
  nodeId: string;
  url: string;
  /** Ed25519 SPKI, PEM. */
  publicKey: string;
}

/** Id field names read for compatibility, newest first after `nodeId`. */
const LEGACY_ID_FIELDS = ["node", "clientId"] as const;

/**
 * One entry from untrusted JSON, checked: a string id (under `nodeId`, or a legacy name — then
 * `notes` gets a deprecation note), an http(s) URL and an Ed25519 public key. `where` names the
 * entry in errors and notes. Extra fields are ignored (`serve --json` prints a few more).
 */
export function parsePeerEntry(value: unknown, where: string, notes?: string[]): PeerEntry {
  const entry = value as Record<string, unknown> | null;
  if (entry === null || typeof entry !== "object" || Array.isArray(entry))
    throw new ServerError("bad_request", `${where}: expected an object { nodeId, url, publicKey }`);
  let nodeId = entry.nodeId;
  if (nodeId === undefined) {
    const legacy = LEGACY_ID_FIELDS.find((f) => typeof entry[f] === "string");
    if (legacy) {
      nodeId = entry[legacy];
      notes?.push(`${where}: "${legacy}" is the old name of the node id; write "nodeId" (read as nodeId for now)`);
    }
  }
  if (typeof nodeId !== "string" || typeof entry.url !== "string" || typeof entry.publicKey !== "string") {
    throw new ServerError("bad_request", `${where}: needs string nodeId, url and publicKey`);
  }
  try {
    parsePublicKey(entry.publicKey);
    checkPeerUrl(entry.url);
  } catch (e) {
    throw new ServerError("bad_request", `${where} (${nodeId}): ${e instanceof ServerError ? (e.detail ?? e.message) : String(e)}`, {
      cause: e,
    });
  }
  return { nodeId, url: entry.url, publicKey: entry.publicKey };
}

/**
 * A peers file, every entry checked; errors and `notes` (deprecation notes) name the file — as
 * `label`, e.g. "--peers FILE" — and the entry.
 */
export function readPeersFile(path: string, notes?: string[], label = `peers file ${path}`): PeerEntry[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    const why = (e as NodeJS.ErrnoException).code ?? (e instanceof Error ? e.message : String(e));
    throw new ServerError("bad_request", `${label}: ${why}`, { cause: e });
  }
  if (!Array.isArray(parsed)) throw new ServerError("bad_request", `${label}: expected a JSON array of { nodeId, url, publicKey }`);
  return parsed.map((p: unknown, i) => parsePeerEntry(p, `${label}: entry ${i}`, notes));
}

/**
 * An entry a node announced about itself (GET /node): its id must be its key's fingerprint, so a
 * node cannot claim another's id with its own key.
 */
export function checkSelfEntry(entry: PeerEntry, where: string): PeerEntry {
  const fingerprint = keyFingerprint(parsePublicKey(entry.publicKey));
  if (fingerprint !== entry.nodeId)
    throw new ServerError("bad_request", `${where}: node id ${entry.nodeId} is not its key's fingerprint ${fingerprint}`);
  return entry;
}
