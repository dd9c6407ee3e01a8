// The PREPARE message: a JSON transfer header (sent base64url in the `x-ferry-transfer` HTTP header,
// and the only thing the node signature covers) and the snapshot bytes as the raw body (strong) or no
// body (weak). The snapshot needs no second hash: the header names the sha256 digest the snapshot
// already ends with, and decoding the snapshot checks that digest against its contents.

import { ServerError } from "../errors.js";
import type { JobSandbox, JobTrust, Json } from "../store/records.js";

export const TRANSFER_HEADER = "x-ferry-transfer";
export const TRANSFER_VERSION = 2;

/** The FERRYSNP digest is the last 32 bytes (docs/snapshot-format.md). */
const SNAPSHOT_DIGEST_BYTES = 32;
const MAX_HEADER_BYTES = 64 * 1024;

export interface TransferHeader {
  v: typeof TRANSFER_VERSION;
  /** strong / weak: PREPARE. base: a pre-copy of a running job's snapshot, sent before it stops. */
  kind: "strong" | "weak" | "base";
  jobId: string;
  /** The epoch the job will have at the target: the source's epoch + 1. */
  epoch: number;
  source: string;
  target: string;
  codeHash: string;
  entry: string;
  args: Json[];
  owner: string | null;
  trust: JobTrust;
  sandbox: JobSandbox;
  fuelLimit: number | null;
  fuelUsed: number;
  /** Strong and base: the snapshot's own trailing sha256 (hex), binding the body to this signed header. */
  snapshotSha256: string | null;
  /**
   * Strong after a pre-copy, or a later pre-copy round: the body is a delta against the base the
   * target stored under this blob hash.
   */
  baseHash: string | null;
  /** Weak transfers carry the input inline (base64); strong ones have it inside the snapshot. */
  input: string | null;
}

/** The trailing digest of an encoded snapshot, hex. */
export function snapshotDigest(snapshot: Uint8Array): string {
  if (snapshot.byteLength < SNAPSHOT_DIGEST_BYTES) throw new ServerError("bad_request", "transfer: snapshot is shorter than its digest");
  return Buffer.from(snapshot.buffer, snapshot.byteOffset + snapshot.byteLength - SNAPSHOT_DIGEST_BYTES, SNAPSHOT_DIGEST_BYTES).toString("hex");
}

/** The header as it travels (base64url) and as it is signed (its UTF-8 bytes). */
export function encodeTransferHeader(header: TransferHeader): { text: string; signed: Uint8Array } {
  const signed = Buffer.from(JSON.stringify(header), "utf8");
  return { text: signed.toString("base64url"), signed };
}

export function decodeTransferHeader(text: string | undefined | null): { header: TransferHeader; signed: Uint8Array } {
  const bad = (detail: string): never => {
    throw new ServerError("bad_request", `transfer: ${detail}`);
  };
  if (!text) return bad(`the ${TRANSFER_HEADER} header is missing`);
  if (text.length > (MAX_HEADER_BYTES * 4) / 3 || !/^[A-Za-z0-9_-]+$/.test(text)) bad(`${TRANSFER_HEADER} must be base64url of at most ${MAX_HEADER_BYTES} bytes`);
  const signed = Buffer.from(text, "base64url");
  let header: TransferHeader;
  try {
    header = JSON.parse(signed.toString("utf8")) as TransferHeader;
  } catch {
    return bad("header is not JSON");
  }
  if (header === null || typeof header !== "object" || Array.isArray(header)) bad("header is not an object");
  if (header.v !== TRANSFER_VERSION) bad(`version ${String(header.v)}, expected ${TRANSFER_VERSION}`);
  if (header.kind !== "strong" && header.kind !== "weak" && header.kind !== "base") bad("kind must be strong, weak or base");
  for (const key of ["jobId", "source", "target", "codeHash", "entry"] as const) if (typeof header[key] !== "string") bad(`${key} must be a string`);
  if (!Number.isSafeInteger(header.epoch) || header.epoch < 1) bad("epoch must be a positive integer");
  if (!Array.isArray(header.args)) bad("args must be an array");
  if (header.trust !== "anonymous" && header.trust !== "authenticated") bad("bad trust class");
  if (header.sandbox !== "in-process" && header.sandbox !== "isolated") bad("bad sandbox");
  if (header.kind !== "weak" && (typeof header.snapshotSha256 !== "string" || !/^[0-9a-f]{64}$/.test(header.snapshotSha256))) {
    bad("a strong or base transfer names its snapshot's sha256");
  }
  if (header.baseHash !== undefined && header.baseHash !== null && (header.kind === "weak" || !/^[0-9a-f]{64}$/.test(header.baseHash))) {
    bad("only a strong or base transfer names a base, by its sha256");
  }
  header.baseHash ??= null;
  return { header, signed };
}

/** The body must be exactly the snapshot the signed header names (strong), or empty (weak). */
export function checkTransferBody(header: TransferHeader, body: Uint8Array): Uint8Array | undefined {
  if (header.kind === "weak") {
    if (body.byteLength > 0) throw new ServerError("bad_request", "transfer: a weak transfer carries no snapshot");
    return undefined;
  }
  if (body.byteLength === 0) throw new ServerError("bad_request", "transfer: a strong transfer needs a snapshot");
  if (snapshotDigest(body) !== header.snapshotSha256) throw new ServerError("bad_request", "transfer: the snapshot is not the one the signed header names");
  return body;
}
