// The PREPARE message body: a length-prefixed JSON header, then the snapshot bytes (strong) or
// nothing (weak). Binary, because a 64 MiB snapshot as base64 JSON would be 85 MiB to parse.

import { ServerError } from "../errors.js";
import type { JobSandbox, JobTrust, Json } from "../store/records.js";

export const ENVELOPE_VERSION = 1;

export interface TransferHeader {
  v: typeof ENVELOPE_VERSION;
  kind: "strong" | "weak";
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
  /** Weak transfers carry the input inline (base64); strong ones have it inside the snapshot. */
  input: string | null;
}

const MAX_HEADER_BYTES = 64 * 1024;

export function encodeEnvelope(header: TransferHeader, snapshot: Uint8Array | undefined): Uint8Array {
  const json = Buffer.from(JSON.stringify(header), "utf8");
  const out = Buffer.allocUnsafe(4 + json.byteLength + (snapshot?.byteLength ?? 0));
  out.writeUInt32BE(json.byteLength, 0);
  json.copy(out, 4);
  if (snapshot) out.set(snapshot, 4 + json.byteLength);
  return out;
}

export function decodeEnvelope(body: Uint8Array): { header: TransferHeader; snapshot: Uint8Array | undefined } {
  const bad = (detail: string): never => {
    throw new ServerError("bad_request", `transfer: ${detail}`);
  };
  if (body.byteLength < 4) bad("body shorter than its length prefix");
  const length = Buffer.from(body.buffer, body.byteOffset, body.byteLength).readUInt32BE(0);
  if (length > MAX_HEADER_BYTES || 4 + length > body.byteLength) bad(`header length ${length} is out of range`);
  let header: TransferHeader;
  try {
    header = JSON.parse(Buffer.from(body.buffer, body.byteOffset + 4, length).toString("utf8")) as TransferHeader;
  } catch {
    return bad("header is not JSON");
  }
  if (header === null || typeof header !== "object") bad("header is not an object");
  if (header.v !== ENVELOPE_VERSION) bad(`version ${String(header.v)}, expected ${ENVELOPE_VERSION}`);
  if (header.kind !== "strong" && header.kind !== "weak") bad("kind must be strong or weak");
  for (const key of ["jobId", "source", "target", "codeHash", "entry"] as const) if (typeof header[key] !== "string") bad(`${key} must be a string`);
  if (!Number.isSafeInteger(header.epoch) || header.epoch < 1) bad("epoch must be a positive integer");
  if (!Array.isArray(header.args)) bad("args must be an array");
  if (header.trust !== "anonymous" && header.trust !== "authenticated") bad("bad trust class");
  if (header.sandbox !== "in-process" && header.sandbox !== "isolated") bad("bad sandbox");
  const snapshot = body.byteLength > 4 + length ? body.subarray(4 + length) : undefined;
  if (header.kind === "strong" && !snapshot) bad("a strong transfer needs a snapshot");
  if (header.kind === "weak" && snapshot) bad("a weak transfer carries no snapshot");
  return { header, snapshot };
}
